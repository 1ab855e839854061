//! The stage breakdown of the bench: each hub process's per-stage counters read from its
//! `/metrics` (and the bench process's own, for the institutions it runs) before and after a
//! phase, and what each stage cost per edit at each level (institution, district, city).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs and seconds of each stage, by stage name.
pub type Totals = BTreeMap<String, (u64, f64)>;

/// The stage counters of this process (the institutions the bench runs).
pub fn own() -> Totals {
    yinglian_node::store::stages::totals()
        .into_iter()
        .map(|(s, runs, secs)| (s.name().to_string(), (runs, secs)))
        .collect()
}

/// The stage counters of the hub whose `/metrics` is at `addr`.
pub async fn scrape(addr: SocketAddr) -> Result<Totals> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("/metrics at {addr}"))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    Ok(parse(&text))
}

/// Reads `yl_stage_runs_total{stage="…"} N` and `yl_stage_seconds_total{stage="…"} S` lines.
fn parse(text: &str) -> Totals {
    let mut out = Totals::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let runs = line.starts_with("yl_stage_runs");
        if !runs && !line.starts_with("yl_stage_seconds") {
            continue;
        }
        let Some(stage) = line
            .split_once("stage=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(s, _)| s.to_string())
        else {
            continue;
        };
        let Some(value) = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok())
        else {
            continue;
        };
        let e = out.entry(stage).or_default();
        if runs {
            e.0 += value as u64;
        } else {
            e.1 += value;
        }
    }
    out
}

/// Adds `b` into `a`.
pub fn add(a: &mut Totals, b: &Totals) {
    for (k, (r, s)) in b {
        let e = a.entry(k.clone()).or_default();
        e.0 += r;
        e.1 += s;
    }
}

/// Each stage that ran between `before` and `after`: its name, runs and milliseconds.
fn deltas<'a>(
    before: &'a Totals,
    after: &'a Totals,
) -> impl Iterator<Item = (&'a String, u64, f64)> + 'a {
    after.iter().filter_map(|(stage, (runs, secs))| {
        let (r0, s0) = before.get(stage).copied().unwrap_or_default();
        let runs = runs.saturating_sub(r0);
        (runs > 0).then(|| (stage, runs, (secs - s0).max(0.0) * 1000.0))
    })
}

/// What each stage cost between `before` and `after`, per edit: runs and milliseconds.
pub fn per_edit(
    level: &str,
    before: &Totals,
    after: &Totals,
    edits: usize,
) -> Vec<serde_json::Value> {
    let n = edits.max(1) as f64;
    deltas(before, after)
        .map(|(stage, runs, ms)| {
            json!({
                "level": level,
                "stage": stage,
                "runs_per_edit": runs as f64 / n,
                "ms_per_edit": ms / n,
                "ms_per_run": ms / runs as f64,
            })
        })
        .collect()
}

/// What each stage cost between `before` and `after` in all (a phase such as the cold start):
/// runs, milliseconds, and milliseconds per arriving ledger.
pub fn during(
    level: &str,
    before: &Totals,
    after: &Totals,
    ledgers: usize,
) -> Vec<serde_json::Value> {
    deltas(before, after)
        .map(|(stage, runs, ms)| {
            json!({
                "level": level,
                "stage": stage,
                "runs": runs,
                "ms": ms,
                "ms_per_ledger": ms / ledgers.max(1) as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stage_lines_are_read_and_others_skipped() {
        let text = "# HELP yl_stage_runs x\nyl_stage_runs_total{stage=\"commit\"} 12\n\
                    yl_stage_seconds_total{stage=\"commit\"} 0.5\nyl_refusals_total 3\n";
        let t = super::parse(text);
        assert_eq!(t.len(), 1);
        assert_eq!(t["commit"], (12, 0.5));
    }
}
