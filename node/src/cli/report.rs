//! `report`: submit this unit's report for a milestone (报送), accept or return a child's
//! (接受 / 退回), and where this level stands (`report status`): each child's state and time,
//! who has not reported with the liaison to call, and the completeness and timeliness rates.

use anyhow::Result;
use clap::Subcommand;

use super::Common;
use crate::app::submission::{self, LevelStatus, PaperError};
use crate::app::zh::{Zh, beijing_date, beijing_time, check, judgement};
use crate::domain::figures::{Stats, show_rate};
use crate::domain::submission::{Judgement, Tally, Verdict};

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// 向上级单位报送本单位某一节点的数字（以此刻的数字为准）
    Submit {
        /// 节点，以截止日期表示（YYYY-MM-DD）
        #[arg(long)]
        milestone: String,
        /// 审核人
        #[arg(long)]
        reviewer: String,
        /// 填表人
        #[arg(long)]
        filler: String,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 接受下级单位的报送（仅上级节点）
    Accept {
        /// 下级单位编码
        #[arg(long)]
        unit: String,
        /// 节点，以截止日期表示（YYYY-MM-DD）
        #[arg(long)]
        milestone: String,
    },
    /// 退回下级单位的报送并说明原因，改正后重新报送（仅上级节点）
    Return {
        /// 下级单位编码
        #[arg(long)]
        unit: String,
        /// 节点，以截止日期表示（YYYY-MM-DD）
        #[arg(long)]
        milestone: String,
        /// 退回原因
        #[arg(long)]
        reason: String,
    },
    /// 本单位及下级单位在某一节点的报送情况
    Status {
        /// 节点，以截止日期表示（YYYY-MM-DD）
        #[arg(long)]
        milestone: String,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
}

fn chinese(e: PaperError) -> anyhow::Error {
    anyhow::anyhow!(e.zh())
}

/// The figures of Attachment 2 in one line.
fn figures_line(c: &crate::domain::figures::Counts) -> String {
    let s = Stats::from_counts("", "", c, String::new());
    format!(
        "已建 {} · 应联网 {} · 已联网 {} · 联网率 {}%",
        s.built,
        s.must_network,
        s.networked,
        show_rate(s.networking_rate)
    )
}

fn when(j: &Judgement) -> String {
    j.submission
        .as_ref()
        .map(|s| beijing_time(s.at))
        .unwrap_or_default()
}

fn rates(label: &str, t: &Tally) -> String {
    format!(
        "{label}：应报 {} · 已报 {}（按时 {} · 逾期 {}）· 退回 {} · 未报 {} · 已接受 {} · 报送率 {}% · 及时率 {}%",
        t.expected,
        t.reported,
        t.on_time,
        t.late(),
        t.returned,
        t.missing(),
        t.accepted,
        show_rate(t.completeness()),
        show_rate(t.timeliness())
    )
}

fn print_status(s: &LevelStatus) {
    println!(
        "{} {} · {}（截止 {}）",
        s.unit,
        s.name,
        s.milestone.title,
        beijing_date(s.milestone.deadline)
    );
    if let Some(j) = &s.own {
        print!("本单位报送：{}", judgement(j));
        if let Some(sub) = &j.submission {
            print!(
                " · {} · 审核人 {} · 填表人 {} · {}",
                beijing_time(sub.at),
                sub.reviewer,
                sub.filler,
                figures_line(&sub.counts)
            );
        }
        println!();
    }
    if s.children.is_empty() {
        return;
    }
    let mut t = comfy_table::Table::new();
    t.set_header(vec![
        "单位",
        "名称",
        "状态",
        "报送时间",
        "审核人",
        "填表人",
        "核对",
        "联络员",
    ]);
    for c in &s.children {
        let sub = c.judgement.submission.as_ref();
        t.add_row(vec![
            c.unit.clone(),
            c.name.clone(),
            judgement(&c.judgement),
            when(&c.judgement),
            sub.map(|s| s.reviewer.clone()).unwrap_or_default(),
            sub.map(|s| s.filler.clone()).unwrap_or_default(),
            check(&c.verified),
            c.liaison
                .as_ref()
                .map(|l| format!("{} {}", l.name, l.phone))
                .unwrap_or_else(|| "未报送联络人".into()),
        ]);
    }
    println!("{t}");
    println!("{}", rates("本级", &s.level));
    println!("{}", rates("全辖", &s.tree));
    let missing: Vec<_> = s.not_reported().collect();
    if missing.is_empty() {
        println!("下级单位均已报送。");
    } else {
        println!("未报送或被退回（{} 个）：", missing.len());
        for c in missing {
            println!(
                "  {} {} {} · 联络员 {}",
                c.unit,
                c.name,
                judgement(&c.judgement),
                c.liaison
                    .as_ref()
                    .map(|l| format!("{} {}", l.name, l.phone))
                    .unwrap_or_else(|| "未报送联络人".into())
            );
        }
    }
}

pub async fn run(common: &Common, cmd: ReportCmd) -> Result<()> {
    let store = common.open().await?;
    let who = format!("cli:{}", common.who());
    match cmd {
        ReportCmd::Submit {
            milestone,
            reviewer,
            filler,
            json,
        } => {
            // The figures are frozen from this unit's rollup: bring it up to date first.
            crate::app::figures::refresh_rollup(&store).await?;
            let s = submission::submit(
                &store,
                &who,
                &milestone,
                &reviewer,
                &filler,
                chrono::Utc::now(),
            )
            .await
            .map_err(chinese)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "已报送 {}（截止 {}）：{} · 审核人 {} · 填表人 {} · {}",
                    store.unit(),
                    crate::app::zh::date_text(&milestone),
                    beijing_time(s.at),
                    s.reviewer,
                    s.filler,
                    figures_line(&s.counts)
                );
            }
            Ok(())
        }
        ReportCmd::Accept { unit, milestone } => {
            let d = submission::decide(
                &store,
                &who,
                &unit,
                &milestone,
                Verdict::Accepted,
                "",
                chrono::Utc::now(),
            )
            .await
            .map_err(chinese)?;
            println!(
                "已接受 {} 于 {} 的报送（{}）",
                unit.trim(),
                beijing_time(d.submitted_at),
                beijing_time(d.at)
            );
            Ok(())
        }
        ReportCmd::Return {
            unit,
            milestone,
            reason,
        } => {
            let d = submission::decide(
                &store,
                &who,
                &unit,
                &milestone,
                Verdict::Returned,
                &reason,
                chrono::Utc::now(),
            )
            .await
            .map_err(chinese)?;
            println!(
                "已退回 {} 于 {} 的报送：{}",
                unit.trim(),
                beijing_time(d.submitted_at),
                d.reason
            );
            Ok(())
        }
        ReportCmd::Status { milestone, json } => {
            crate::app::figures::refresh_rollup(&store).await?;
            let s = submission::status(&store, &milestone)
                .await
                .map_err(chinese)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_status(&s);
            }
            Ok(())
        }
    }
}
