//! `contacts set|show`: the leader in charge and the liaison (Attachment 1).

use anyhow::Result;
use clap::Subcommand;

use super::Common;
use crate::domain::contacts::{Contact, ContactRole};

#[derive(Debug, Subcommand)]
pub enum ContactsCmd {
    /// Name the leader in charge (分管领导) or the liaison (联络员).
    Set {
        /// leader or liaison.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        position: String,
        #[arg(long)]
        phone: String,
        #[arg(long, default_value = "")]
        remarks: String,
    },
    /// Show both contacts.
    Show {
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
                            "  {}  {} · {} · {} {}",
                            role.chinese(),
                            c.name,
                            c.position,
                            c.phone,
                            c.remarks
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
