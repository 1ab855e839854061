//! `export attachment1|attachment2`: the official tables of this unit.

use std::path::PathBuf;

use anyhow::Result;

use super::Common;
use crate::figures::Counts;
use crate::report::{self, Attachment2Header, Attachment2Row};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// attachment1 (contacts) or attachment2 (statistics table).
    pub table: String,
    /// .xlsx for the official layout, .csv for a plain table.
    #[arg(long)]
    pub out: PathBuf,
    /// 审核人.
    #[arg(long, default_value = "")]
    pub reviewer: String,
    /// 填表人 (default: the liaison).
    #[arg(long)]
    pub filler: Option<String>,
    /// 单位及职务 of the person filling in (default: the liaison's position).
    #[arg(long)]
    pub position: Option<String>,
    /// 联系电话 (default: the liaison's phone).
    #[arg(long)]
    pub phone: Option<String>,
    /// 填表日期 (default: today).
    #[arg(long)]
    pub date: Option<String>,
}

pub async fn run(common: &Common, a: ExportArgs) -> Result<()> {
    let store = common.open().await?;
    let unit = store.unit().clone();
    let profile = store.profile(unit.as_str()).await?.unwrap_or_default();
    match a.table.as_str() {
        "attachment1" | "附件1" => {
            report::write_attachment1(&a.out, std::slice::from_ref(&profile))?
        }
        "attachment2" | "附件2" => {
            let s = store.stats(unit.as_str()).await?;
            let counts = Counts {
                built: s.built,
                must_network: s.must_network,
                networked: s.networked,
                ..Default::default()
            };
            let liaison = profile.liaison.clone().unwrap_or_default();
            let h = Attachment2Header {
                unit_name: profile.name.clone(),
                reviewer: a.reviewer,
                filler: a.filler.unwrap_or(liaison.name.clone()),
                filler_position: a.position.unwrap_or(liaison.position.clone()),
                phone: a.phone.unwrap_or(liaison.phone.clone()),
                date: a
                    .date
                    .unwrap_or_else(|| chrono::Local::now().date_naive().to_string()),
            };
            let row = Attachment2Row {
                name: profile.name.clone(),
                address: profile.address.clone().unwrap_or_default(),
                counts,
                contact: report::contact_line(&profile),
            };
            report::write_attachment2(&a.out, &h, &[row])?;
        }
        other => anyhow::bail!("unknown table \"{other}\": use attachment1 or attachment2"),
    }
    println!("wrote {} to {}", a.table, a.out.display());
    Ok(())
}
