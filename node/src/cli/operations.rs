//! `operations`: the last 30 days' operations (安全运维) of the ledgers held here — time in
//! service, faults, repairs, mean time to repair, faulty now — and the filings and removal
//! reports waiting for acknowledgement (`camera acknowledge` acknowledges one); at a hub (the
//! city too) first its whole tree's figures per direct child, from its rollup.

use anyhow::Result;

use super::Common;
use crate::app::zh::beijing_time;
use crate::domain::operations::{Acknowledge, Operations};
use crate::domain::unit::UnitCode;

#[derive(Debug, clap::Args)]
pub struct OperationsArgs {
    /// 只看这个单位及其下辖单位
    #[arg(long)]
    pub unit: Option<String>,
    /// 以 JSON 格式输出
    #[arg(long)]
    pub json: bool,
}

pub async fn run(common: &Common, a: OperationsArgs) -> Result<()> {
    let store = common.open().await?;
    let unit = a.unit.as_deref().map(UnitCode::parse).transpose()?;
    let v = crate::app::operations::view(&store, unit.as_ref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "安全运维：近 {} 天（截至 {}）",
        v.window_days,
        beijing_time(v.at)
    );
    if let Some(tree) = &v.tree {
        let end = chrono::DateTime::parse_from_rfc3339(&tree.as_of)
            .map(|d| beijing_time(d.with_timezone(&chrono::Utc)))
            .unwrap_or_else(|_| "—".into());
        println!("各下级单位（含其下级），数据截至 {end}：");
        let mut t = table(&[]);
        for r in &tree.children {
            let label = format!("{} {}", r.unit, r.name);
            t.add_row(if r.row.refused {
                vec![label, "数据不可信，未计入".to_string()]
            } else {
                cells(label, &r.row.operations)
            });
        }
        t.add_row(cells("合计".to_string(), &tree.totals));
        println!("{t}");
    }
    if v.units.is_empty() {
        if v.tree.is_none() {
            println!("本级不持有摄像机台账，没有运维数据。");
        }
        return Ok(());
    }
    println!("本级持有的台账：");
    let mut t = table(&["待确认"]);
    for u in &v.units {
        let mut row = cells(format!("{} {}", u.unit, u.name), &u.operations);
        row.push(u.pending.len().to_string());
        t.add_row(row);
    }
    t.add_row(cells("合计".to_string(), &v.total));
    println!("{t}");
    let me = store.unit().as_str();
    for u in v.units.iter().filter(|u| !u.pending.is_empty()) {
        for p in &u.pending {
            let hint = if u.unit == me {
                "等待上级确认".to_string()
            } else {
                format!(
                    "camera acknowledge --unit {} {} --{}",
                    u.unit,
                    p.device_code,
                    match p.what {
                        Acknowledge::Filing => "filing",
                        Acknowledge::Removal => "removal",
                    }
                )
            };
            let why = if p.note.trim().is_empty() {
                String::new()
            } else {
                format!("，原因：{}", p.note.trim())
            };
            println!(
                "待确认 {} {} {} {}（{}{why}）：{hint}",
                p.what.chinese(),
                u.unit,
                p.device_code,
                p.camera_name,
                beijing_time(p.at)
            );
        }
    }
    Ok(())
}

/// A table of operations figures, its columns then `more`.
fn table(more: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    let mut header = vec![
        "单位",
        "摄像机",
        "时间完好率（近30天）",
        "故障次数",
        "已修复",
        "平均修复时长（小时）",
        "当前故障",
    ];
    header.extend_from_slice(more);
    t.set_header(header);
    t
}

/// The row of `label`'s figures `o` in a [`table`].
fn cells(label: String, o: &Operations) -> Vec<String> {
    vec![
        label,
        o.cameras.to_string(),
        o.service_rate()
            .map_or("—".to_string(), |r| format!("{r:.2}%")),
        o.faults.to_string(),
        o.repairs.to_string(),
        o.mean_repair_hours()
            .map_or("—".to_string(), |h| format!("{h:.1}")),
        o.open_faults.to_string(),
    ]
}
