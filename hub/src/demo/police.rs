//! The demo's police subscriber (公安 GA-500000): enrolled at the city as a read-only subscriber
//! to the whole city's feed and granted the city's camera catalogue, with its own store and an account, it runs as
//! `yl-hub subscribe --web` runs (`Subscriber::start`): it follows the Feed over mTLS like any
//! subscriber and serves the police page (公安视图); the demo also prints what it received, so
//! that one sees the police side move with the campaign.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use yinglian_node::app::accounts::{self, Role as AccountRole};
use yinglian_node::daemon::{Subscriber, SubscriberConfig, WebConfig};
use yinglian_node::domain::unit::{UnitCode, UnitKind};
use yinglian_node::federation::membership::{grant_catalogue, join_bundle};
use yinglian_node::federation::pki::{self, Role, Validity};
use yinglian_node::store::{STORE_FILE, Store};

use crate::local::LocalUnit;

/// The subscriber's unit code (the city police bureau).
pub const CODE: &str = "GA-500000";
/// Its name.
pub const NAME: &str = "重庆市公安局";

/// The subscriber's store, enrolled at the city with the account "demo" (once: a folder that has
/// it keeps it; a folder of an older demo, whose police had keys but no store, enrolls it again).
pub async fn enroll(dir: &Path, city: &LocalUnit, password: &str) -> Result<Arc<Store>> {
    let data = dir.join(CODE);
    if data.join(STORE_FILE).exists() {
        return Ok(Arc::new(Store::open(&data).await?));
    }
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let unit = UnitCode::parse(CODE)?;
    let store = Store::init(&data, &unit, NAME, UnitKind::Subscriber, Role::Hub).await?;
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
    join_bundle(&store, &data, &bundle).await?;
    // Granted the camera catalogue (一机一档) of the whole city, read at the district hubs.
    grant_catalogue(&city.store, &unit).await?;
    accounts::add_user(&store, "demo", AccountRole::ReadOnly, password).await?;
    Ok(Arc::new(store))
}

/// Follows the city's feed and serves the police page on `at`.
pub async fn start(store: Arc<Store>, at: SocketAddr) -> Result<Subscriber> {
    let config = SubscriberConfig {
        follow: Default::default(),
        web: Some(WebConfig::http(at)),
    };
    Subscriber::start(store, config, |_| {}).await
}

/// One line for the demo's output: what the police subscriber sees now.
pub async fn line(sub: &Subscriber) -> String {
    let s = sub.state.borrow().clone();
    let rows = sub.store.subscribed_rows("").await.unwrap_or_default();
    let recent = sub
        .store
        .subscribed_changes("", 20)
        .await
        .unwrap_or_default();
    let rate = |r: Option<f64>| r.map(|x| format!("{x:.2}%")).unwrap_or_else(|| "—".into());
    let mut out = format!(
        "  公安订阅 {CODE}：{}，快照 {} 行，此后收到变更 {} 条",
        match (&s.refused, s.connected) {
            (Some(_), _) => "已被拒绝",
            (None, true) => "在线",
            (None, false) => "连接中",
        },
        s.snapshot_rows,
        s.changes
    );
    let city = rows.iter().find(|r| r.hub == r.stats.unit);
    if let Some(c) = city {
        let c = &c.stats;
        out += &format!(
            "；全市 已联网 {}/{}（联网率 {}）",
            c.networked,
            c.must_network,
            rate(c.networking_rate)
        );
    }
    if let Some(l) = recent
        .iter()
        .find(|c| city.is_none_or(|city| c.row.stats.unit != city.stats.unit))
    {
        let l = &l.row.stats;
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
