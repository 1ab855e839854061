//! The demo's police subscriber (公安 GA-500000): enrolled at the city as a read-only subscriber
//! to the whole city's feed, it reads the Feed service over mTLS like any subscriber would, and
//! the demo prints what it has received, so that one sees the police side move with the campaign.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::pki::{self, Role, TlsMaterial, Validity};
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::{FigureRow, SubscribeRequest, feed_event};

use crate::local::LocalUnit;

/// The subscriber's unit code (the city police bureau).
pub const CODE: &str = "GA-500000";

/// What the police subscriber has received so far.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Rows of the snapshot it started from.
    pub snapshot: u64,
    /// Changes since.
    pub changes: u64,
    /// The city's totals as last received.
    pub city: Option<FigureRow>,
    /// The last change of a unit other than the city.
    pub latest: Option<FigureRow>,
    /// Whether the stream is open now.
    pub connected: bool,
}

/// Enrolls the subscriber at the city (once: a folder that has it keeps it); its folder.
pub async fn enroll(dir: &Path, city: &LocalUnit) -> Result<PathBuf> {
    let data = dir.join(CODE);
    if TlsMaterial::load(&data).is_ok() {
        return Ok(data);
    }
    std::fs::create_dir_all(&data)?;
    let unit = UnitCode::parse(CODE)?;
    let request = pki::make_request(&data, &unit, false)?;
    let bundle = city
        .issue(
            &request,
            &unit,
            Role::Subscriber,
            Some(city.code.clone()),
            Validity::days(365),
        )
        .await?;
    pki::join(&data, &unit, &bundle)?;
    Ok(data)
}

/// Reads the city's feed until the task is aborted, reconnecting (from the last cursor) when the
/// stream breaks; what it receives goes into `seen`.
pub async fn follow(data: PathBuf, city: UnitCode, url: String, seen: Arc<Mutex<Seen>>) {
    let mut cursor = 0u64;
    loop {
        let outcome: Result<()> = async {
            let tls = TlsMaterial::load(&data)?;
            let channel = yinglian_node::federation::net::connect(&tls, &url, &city).await?;
            let mut stream = FeedClient::new(channel)
                .subscribe(SubscribeRequest {
                    scope: city.to_string(),
                    cursor,
                })
                .await?
                .into_inner();
            seen.lock().unwrap().connected = true;
            while let Some(e) = stream.message().await? {
                let mut s = seen.lock().unwrap();
                let kind = feed_event::Kind::try_from(e.kind);
                match kind {
                    Ok(feed_event::Kind::Snapshot) => s.snapshot += 1,
                    Ok(feed_event::Kind::SnapshotEnd) => cursor = e.cursor,
                    _ => {
                        s.changes += 1;
                        cursor = e.cursor;
                    }
                }
                if let Some(row) = e.row {
                    if row.unit == city.as_str() {
                        s.city = Some(row);
                    } else if kind != Ok(feed_event::Kind::Snapshot) {
                        s.latest = Some(row);
                    }
                }
            }
            Ok(())
        }
        .await;
        seen.lock().unwrap().connected = false;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, cursor, "police feed interrupted; resuming");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One line for the demo's output: what the police subscriber sees now.
pub fn line(s: &Seen) -> String {
    let rate = |r: Option<f64>| r.map(|x| format!("{x:.2}%")).unwrap_or_else(|| "—".into());
    let mut out = format!(
        "  公安订阅 {CODE}：{}，快照 {} 行，此后收到变更 {} 条",
        if s.connected { "在线" } else { "连接中" },
        s.snapshot,
        s.changes
    );
    if let Some(c) = &s.city {
        out += &format!(
            "；全市 已联网 {}/{}（联网率 {}）",
            c.networked,
            c.must_network,
            rate(c.networking_rate)
        );
    }
    if let Some(l) = &s.latest {
        out += &format!(
            "；最新：{} 已联网 {}/{}，完好率 {}",
            l.name,
            l.networked,
            l.must_network,
            rate(l.intact_rate)
        );
    }
    out
}
