//! `contacts set|show`: the leader in charge and the liaison (Attachment 1).

use anyhow::Result;
use clap::Subcommand;

use super::Common;
use crate::domain::contacts::{Contact, ContactRole};

#[derive(Debug, Subcommand)]
pub enum ContactsCmd {
    /// 填写分管领导或联络员
    Set {
        /// leader（分管领导）或 liaison（联络员）
        #[arg(long)]
        role: String,
        /// 姓名
        #[arg(long)]
        name: String,
        /// 单位及职务
        #[arg(long, default_value = "")]
        position: String,
        /// 联系电话
        #[arg(long)]
        phone: String,
        /// 备注
        #[arg(long, default_value = "")]
        remarks: String,
    },
    /// 查看两名联系人
    Show {
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(common: &Common, cmd: ContactsCmd) -> Result<()> {
    let store = common.open().await?;
    let unit = store.unit().clone();
    match cmd {
        ContactsCmd::Set {
            role,
            name,
            position,
            phone,
            remarks,
        } => {
            let role: ContactRole = role.parse()?;
            let c = Contact {
                name: name.trim().into(),
                position: position.trim().into(),
                phone: phone.trim().into(),
                remarks: remarks.trim().into(),
            };
            crate::app::contacts::set(&store, &common.who(), &[(role, c.clone())]).await?;
            println!("单位 {unit} 的{}：{} {}", role.chinese(), c.name, c.phone);
        }
        ContactsCmd::Show { json } => {
            let p = store.profile(unit.as_str()).await?.unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!("{} {}", p.unit, p.name);
                for role in ContactRole::ALL {
                    match p.contact(role) {
                        Some(c) => println!(
                            "  {}  {}",
                            role.chinese(),
                            [&c.name, &c.position, &c.phone, &c.remarks]
                                .into_iter()
                                .filter(|t| !t.trim().is_empty())
                                .map(String::as_str)
                                .collect::<Vec<_>>()
                                .join(" · ")
                        ),
                        None => {
                            println!("  {}  （未报送：工作部署要求报送）", role.chinese())
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
