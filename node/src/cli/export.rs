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
    /// Attachment 2 as it stood at the end of this day (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<String>,
}

fn counts_of(s: &crate::figures::Stats) -> Counts {
    Counts {
        built: s.built,
        must_network: s.must_network,
        networked: s.networked,
        ..Default::default()
    }
}

pub async fn run(common: &Common, a: ExportArgs) -> Result<()> {
    let store = common.open().await?;
    super::refresh_rollup(&store).await?;
    write(&store, &a).await?;
    println!("wrote {} to {}", a.table, a.out.display());
    Ok(())
}

/// Writes the table `a.table` to `a.out` (the web pages' downloads use this too).
pub async fn write(store: &crate::store::Store, a: &ExportArgs) -> Result<()> {
    let a = ExportArgs {
        table: a.table.clone(),
        out: a.out.clone(),
        reviewer: a.reviewer.clone(),
        filler: a.filler.clone(),
        position: a.position.clone(),
        phone: a.phone.clone(),
        date: a.date.clone(),
        as_of: a.as_of.clone(),
    };
    let unit = store.unit().clone();
    let profile = store.profile(unit.as_str()).await?.unwrap_or_default();
    match a.table.as_str() {
        "attachment1" | "附件1" => {
            // A hub reports its whole subtree; a leaf itself.
            let mut list = vec![profile.clone()];
            if store.identity().role == "hub" {
                for e in crate::directory::entries(store, unit.as_str(), &[], None).await? {
                    if e.unit != unit.as_str()
                        && let Some(p) = store.profile(&e.unit).await?
                    {
                        list.push(p);
                    }
                }
            }
            report::write_attachment1(&a.out, &list)?
        }
        "attachment2" | "附件2" => {
            let as_of = a
                .as_of
                .as_deref()
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                        anyhow::anyhow!("--as-of \"{d}\" is not a date: write it as YYYY-MM-DD")
                    })
                })
                .transpose()?;
            // The unit's own cameras first; a hub adds one row per direct child (its subtree).
            let own = match as_of {
                Some(d) => {
                    let t = crate::history::end_of_day(d);
                    let c = crate::history::ledger_counts_at(store, &unit, t).await?;
                    Counts {
                        built: c.built,
                        must_network: c.must_network,
                        networked: c.networked,
                        ..Default::default()
                    }
                }
                None => counts_of(&store.stats(unit.as_str()).await?),
            };
            let children = if store.identity().role == "hub" {
                match as_of {
                    Some(d) => super::stats_as_of(store, None, d).await?.children,
                    None => super::subtree_stats(store, None).await?.children,
                }
            } else {
                Vec::new()
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
            let mut rows = vec![Attachment2Row {
                name: profile.name.clone(),
                address: profile.address.clone().unwrap_or_default(),
                counts: own,
                contact: report::contact_line(&profile),
            }];
            for c in &children {
                let p = store.profile(&c.unit).await?.unwrap_or_default();
                rows.push(Attachment2Row {
                    name: c.name.clone(),
                    address: p.address.clone().unwrap_or_default(),
                    counts: counts_of(c),
                    contact: report::contact_line(&p),
                });
            }
            report::write_attachment2(&a.out, &h, &rows)?;
        }
        other => anyhow::bail!("unknown table \"{other}\": use attachment1 or attachment2"),
    }
    Ok(())
}
