//! `catalogue`: where a subscriber granted the catalogue has joined, the police catalogue of a
//! district read at the hub that holds it (all of it, or the changes after `--since`), printed
//! as JSON lines or written as the police platform's import file (`--out x.csv` / `x.xlsx`); and
//! `reads`: who read this unit's cameras (谁查看了本单位的点位).

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Common;
use crate::domain::catalogue::Entry;
use crate::domain::unit::UnitCode;

#[derive(Debug, clap::Args)]
pub struct CatalogueArgs {
    /// 要读取其摄像机的区县（或区县下的某个单位）
    #[arg(long)]
    pub unit: String,
    /// 上次读取时输出的位置（cursor）：只读其后的变化
    #[arg(long)]
    pub since: Option<String>,
    /// 按公安平台的导入格式写出摄像机：.csv（中文表头）或 .xlsx
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(common: &Common, a: CatalogueArgs) -> Result<()> {
    let store = common.open().await?;
    let unit = UnitCode::parse(a.unit.trim())?;
    let (hub, answer) =
        crate::federation::catalogue::fetch(&store, &common.data, &unit, a.since.as_deref())
            .await?;
    let present: Vec<Entry> = answer.rows.iter().filter_map(|r| r.2.clone()).collect();
    let removed: Vec<&(String, String, Option<Entry>)> =
        answer.rows.iter().filter(|r| r.2.is_none()).collect();
    if let Some(out) = &a.out {
        let bytes = crate::app::catalogue::export(&present, crate::app::report::is_xlsx(out))?;
        std::fs::write(out, bytes).with_context(|| format!("无法写入 {}", out.display()))?;
    } else {
        for e in &present {
            println!("{}", serde_json::json!({"kind": "entry", "entry": e}));
        }
        for (u, code, _) in &removed {
            println!(
                "{}",
                serde_json::json!({"kind": "removed", "unit": u, "device_code": code})
            );
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "kind": "end",
            "hub": hub.as_str(),
            "full": answer.full,
            "cameras": present.len(),
            "removed": removed.len(),
            "cursor": answer.cursor,
        })
    );
    Ok(())
}

/// `reads`: who read this unit's camera records (and, at a hub, its units'), newest first.
pub async fn reads(common: &Common, json: bool) -> Result<()> {
    let store = common.open().await?;
    let list = crate::app::catalogue::reads_seen(&store).await?;
    if list.is_empty() && !json {
        println!("还没有人查看过本单位的点位");
    }
    for (unit, r) in &list {
        if json {
            println!("{}", serde_json::json!({"unit": unit, "read": r}));
        } else {
            println!(
                "{}  {unit}  {}  {}  {} 个点位  ({}{})",
                crate::app::zh::beijing_stamp(&r.at),
                crate::app::zh::reader(&r.reader),
                crate::app::zh::read_call(&r.call),
                r.cameras,
                r.hub,
                crate::app::zh::read_via(&r.via)
            );
        }
    }
    Ok(())
}
