//! `check`: the data-quality check of the camera records held here (this unit's ledger, or at a
//! district its units' replicas) against the campaign's rules; `--rules` shows the rules and, at
//! the root, `--publish-rules FILE` publishes a new set.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Common;
use crate::domain::quality::RuleSet;
use crate::domain::unit::UnitCode;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// 只核查这个单位及其下辖单位（上级节点的下级单位）
    #[arg(long)]
    pub unit: Option<String>,
    /// 以 JSON 格式输出
    #[arg(long)]
    pub json: bool,
    /// 改为显示现行的核查规则（加 --json 时输出 `--publish-rules` 可用的文件格式）
    #[arg(long)]
    pub rules: bool,
    /// 根单位用：发布此 JSON 文件中的核查规则
    ///
    /// 文件格式即 `check --rules --json` 的输出；规则随工作方案逐级下发。
    #[arg(long, conflicts_with_all = ["rules", "unit"])]
    pub publish_rules: Option<PathBuf>,
}

pub async fn run(common: &Common, a: CheckArgs) -> Result<()> {
    let store = common.open().await?;
    if let Some(path) = a.publish_rules {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("无法读取 {}", path.display()))?;
        let rules: RuleSet = serde_json::from_str(&text)
            .with_context(|| format!("{} 不是一套核查规则", path.display()))?;
        crate::app::campaign::publish_rules(&store, &rules).await?;
        println!(
            "已发布 {} 条核查规则；随工作部署下发到每个单位",
            rules.rules.len()
        );
        return Ok(());
    }
    if a.rules {
        let rules = crate::app::campaign::rules(&store).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&rules)?);
            return Ok(());
        }
        let mut t = comfy_table::Table::new();
        t.set_header(vec!["规则", "名称", "级别", "参数", "说明"]);
        for r in &rules.rules {
            let params = [
                r.km.map(|k| format!("km={k}")),
                r.days.map(|d| format!("days={d}")),
                r.after.map(|d| format!("after={d}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            t.add_row(vec![
                r.id.clone(),
                r.name.clone(),
                r.severity.chinese().to_string(),
                params,
                r.explanation.clone(),
            ]);
        }
        println!("{t}");
        return Ok(());
    }
    let unit = a.unit.as_deref().map(UnitCode::parse).transpose()?;
    let report = crate::app::quality::check(&store, unit.as_ref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if !report.findings.is_empty() {
        let mut t = comfy_table::Table::new();
        t.set_header(vec!["单位", "设备编码", "名称", "问题", "级别", "详情"]);
        for f in &report.findings {
            let name = report
                .rules
                .get(&f.rule)
                .map(|r| r.name.as_str())
                .unwrap_or(&f.rule);
            t.add_row(vec![
                f.unit.clone(),
                f.device_code.clone(),
                f.camera_name.clone(),
                name.to_string(),
                f.severity.chinese().to_string(),
                f.detail.clone(),
            ]);
        }
        println!("{t}");
    }
    if !report.shared.is_empty() {
        // Found by keyed codes: the units holding each, never their cameras.
        let mut t = comfy_table::Table::new();
        t.set_header(vec!["跨单位重复编码", "登记单位"]);
        for sh in &report.shared {
            let holders = sh.holders.iter().cloned().collect();
            t.add_row(vec![
                format!("{}…", sh.key.get(..12).unwrap_or(&sh.key)),
                crate::app::zh::quality_elsewhere(&holders),
            ]);
        }
        println!("{t}");
    }
    let errors: u64 = report.units.values().map(|t| t.errors).sum();
    let warnings: u64 = report.units.values().map(|t| t.warnings).sum();
    let with = report.units.values().filter(|t| t.total() > 0).count();
    println!(
        "核查 {} 个单位，{with} 个有问题：错误 {errors} 条，提示 {warnings} 条；与本级不持有档案的单位重复的编码 {} 个",
        report.units.len(),
        report.shared.len()
    );
    Ok(())
}
