//! The Feed service at the city: exact figures after an edit at an institution, resume from a
//! cursor with every change exactly once, scopes, and a slow subscriber cut off.

use std::time::Duration;

use tokio_stream::StreamExt;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::figures::rate;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::pki::{self, Role, TlsMaterial, Validity};
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::{FeedEvent, FigureRow, SubscribeRequest, feed_event};
use yinglian_tests::{Fed, PATIENCE, converge, federation, network_one};

/// A federation with cameras everywhere, started, with the city's totals caught up.
async fn running() -> Fed {
    let mut fed = federation(2, 2).await.unwrap();
    for (d, list) in fed.institutions.iter().enumerate() {
        for (i, inst) in list.iter().enumerate() {
            inst.generate_cameras(fed.districts[d].code.as_str(), 40, (d * 10 + i + 1) as u64)
                .await
                .unwrap();
        }
    }
    let mut want = 0;
    for list in &fed.institutions {
        for inst in list {
            want += inst.store.counts(inst.code.as_str()).await.unwrap().0.built;
        }
    }
    fed.start_all().await.unwrap();
    let city = &fed.city;
    wait_until(PATIENCE, "the city's totals are caught up", || async {
        subtree_stats(&city.store, None).await.unwrap().built == want
    })
    .await
    .unwrap();
    // The institutions' places in the tree (their profiles) known at the city too: a row whose
    // unit the city cannot place yet is not in a snapshot.
    for list in &fed.institutions {
        for inst in list {
            converge(inst, &[&fed.city], &DocId::profile(&inst.code))
                .await
                .unwrap();
        }
    }
    fed
}

/// A subscriber enrolled at the city with `scope`; its TLS material.
async fn subscriber(fed: &Fed, code: &str, scope: &UnitCode) -> (tempfile::TempDir, TlsMaterial) {
    let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
    let unit = UnitCode::parse(code).unwrap();
    let request = pki::make_request(dir.path(), &unit, false).unwrap();
    let bundle = fed
        .city
        .issue(
            &request,
            &unit,
            Role::Subscriber,
            Some(scope.clone()),
            Validity::days(30),
        )
        .await
        .unwrap();
    pki::join(dir.path(), &unit, &bundle).unwrap();
    let tls = TlsMaterial::load(dir.path()).unwrap();
    (dir, tls)
}

async fn subscribe(
    tls: &TlsMaterial,
    city: &LocalUnit,
    scope: &str,
    cursor: u64,
) -> Result<tonic::Streaming<FeedEvent>, tonic::Status> {
    let channel = yinglian_node::federation::net::connect(tls, &city.url(), &city.code)
        .await
        .unwrap();
    Ok(FeedClient::new(channel)
        .subscribe(SubscribeRequest {
            scope: scope.into(),
            cursor,
        })
        .await?
        .into_inner())
}

async fn next(stream: &mut tonic::Streaming<FeedEvent>) -> FeedEvent {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("an event in time")
        .expect("no error")
        .expect("the stream goes on")
}

/// Reads the snapshot; returns its rows and the cursor changes continue from.
async fn snapshot(stream: &mut tonic::Streaming<FeedEvent>) -> (Vec<FeedEvent>, u64) {
    let mut rows = Vec::new();
    loop {
        let e = next(stream).await;
        if e.kind == feed_event::Kind::SnapshotEnd as i32 {
            return (rows, e.cursor);
        }
        assert_eq!(e.kind, feed_event::Kind::Snapshot as i32);
        rows.push(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_networked_at_an_institution_reaches_the_city_feed() {
    let mut fed = running().await;
    let (_dir, tls) = subscriber(&fed, "GA-500000", &fed.city.code.clone()).await;
    let mut stream = subscribe(&tls, &fed.city, "500000", 0).await.unwrap();
    let (rows, _) = snapshot(&mut stream).await;
    let row_of = |unit: &str| {
        rows.iter()
            .find(|e| e.row.as_ref().unwrap().unit == unit)
            .unwrap()
            .row
            .clone()
            .unwrap()
    };
    let district = fed.districts[0].code.to_string();
    let (d0, c0) = (row_of(&district), row_of("500000"));
    // The snapshot: the city's totals, both districts, and the institutions below them.
    assert_eq!(rows.len(), 1 + 2 + 4, "{rows:?}");

    network_one(&fed.institutions[0][0]).await;
    let (mut d1, mut c1) = (None, None);
    // A row also changes when only its data-quality findings do: those changes carry the same
    // figures, and are passed over here.
    let figures = |r: &FigureRow| FigureRow {
        findings_errors: 0,
        findings_warnings: 0,
        as_of: String::new(),
        ..r.clone()
    };
    while d1.is_none() || c1.is_none() {
        let e = next(&mut stream).await;
        assert_eq!(e.kind, feed_event::Kind::Change as i32);
        let r = e.row.unwrap();
        if r.hub == "500000" && r.unit == district && figures(&r) != figures(&d0) {
            d1 = Some(r);
        } else if r.unit == "500000" && figures(&r) != figures(&c0) {
            c1 = Some(r);
        }
    }
    let (d1, c1) = (d1.unwrap(), c1.unwrap());

    assert_eq!(d1.networked, d0.networked + 1);
    assert_eq!(d1.must_network, d0.must_network);
    assert_eq!(d1.networking_rate, rate(d0.networked + 1, d0.must_network));
    assert_eq!(c1.networked, c0.networked + 1);
    assert_eq!(c1.networking_rate, rate(c0.networked + 1, c0.must_network));
    assert_eq!(c1.built, c0.built);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resumes_from_its_cursor_with_every_change_once() {
    let mut fed = running().await;
    let (_dir, tls) = subscriber(&fed, "GA-500000", &fed.city.code.clone()).await;
    let mut stream = subscribe(&tls, &fed.city, "500000", 0).await.unwrap();
    let (_, cursor) = snapshot(&mut stream).await;
    drop(stream); // the subscriber is killed

    for list in &fed.institutions {
        network_one(&list[1]).await;
    }
    let city = &fed.city;
    // Wait until the city has the changes of both districts.
    wait_until(PATIENCE, "both changes reach the city", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM feed_events WHERE seq > ? AND hub = '500000' AND unit = '500000'",
        )
        .bind(cursor as i64)
        .fetch_one(city.store.pool())
        .await
        .unwrap();
        n >= 1 && {
            let s = subtree_stats(&city.store, None).await.unwrap();
            let mut want = 0;
            for list in &fed.institutions {
                for inst in list {
                    want += inst
                        .store
                        .counts(inst.code.as_str())
                        .await
                        .unwrap()
                        .0
                        .networked;
                }
            }
            // And the data-quality findings settled: every row of the city as its district counts.
            let mut settled = s.findings().is_some();
            for d in &fed.districts {
                let theirs = subtree_stats(&d.store, None).await.unwrap().findings();
                settled &= s
                    .children
                    .iter()
                    .any(|c| c.unit == d.code.as_str() && c.findings() == theirs);
            }
            s.networked == want && settled
        }
    })
    .await
    .unwrap();
    // What the feed must deliver: every event after the cursor that the scope shows.
    let expected: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM feed_events WHERE seq > ? AND (hub != unit OR unit = '500000') ORDER BY seq",
    )
    .bind(cursor as i64)
    .fetch_all(city.store.pool())
    .await
    .unwrap();
    assert!(!expected.is_empty());
    let mut stream = subscribe(&tls, city, "500000", cursor).await.unwrap();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let e = next(&mut stream).await;
        assert_eq!(
            e.kind,
            feed_event::Kind::Change as i32,
            "a resume has no snapshot"
        );
        got.push(e.cursor as i64);
    }
    assert_eq!(got, expected, "every change once, in order, none missing");
    // Nothing is delivered twice: whatever comes next is a later change (the data-quality task
    // may still count a finding a moment after the figures), never one already delivered.
    if let Ok(Ok(Some(more))) =
        tokio::time::timeout(Duration::from_millis(300), stream.message()).await
    {
        assert!(
            more.cursor as i64 > *expected.last().unwrap(),
            "delivered again: {more:?}"
        );
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_scoped_to_one_district_sees_nothing_of_another() {
    let mut fed = running().await;
    let x = fed.districts[0].code.clone();
    let y = fed.districts[1].code.clone();
    let (_dir, tls) = subscriber(&fed, "GA-500103", &x).await;
    // Its own district only.
    let err = subscribe(&tls, &fed.city, y.as_str(), 0).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let err = subscribe(&tls, &fed.city, "500000", 0).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    let mut stream = subscribe(&tls, &fed.city, x.as_str(), 0).await.unwrap();
    let (rows, _) = snapshot(&mut stream).await;
    let units: Vec<String> = rows
        .iter()
        .map(|e| e.row.as_ref().unwrap().unit.clone())
        .collect();
    assert_eq!(units.len(), 3, "{units:?}"); // X's totals and its two institutions
    assert!(units.iter().all(|u| u.starts_with(x.as_str())), "{units:?}");
    // A change in Y, then one in X: only X's arrives.
    network_one(&fed.institutions[1][0]).await;
    network_one(&fed.institutions[0][1]).await;
    let inst_x = fed.institutions[0][1].code.to_string();
    loop {
        let e = next(&mut stream).await;
        let r = e.row.unwrap();
        assert!(
            r.unit.starts_with(x.as_str()) && r.hub.starts_with(x.as_str()),
            "{r:?}"
        );
        if r.unit == inst_x {
            break;
        }
    }
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_cut_off_with_a_bounded_queue() {
    let mut fed = running().await;
    let city = fed.city.store.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let cut = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    // The hub's own pump behind one subscription, with a queue of four that nobody reads.
    let pump = tokio::spawn(yinglian_node::federation::feed::pump(
        city.clone(),
        "urn:yinglian:subscriber:GA-slow".into(),
        "500000".into(),
        0,
        tx,
        cut.clone(),
        stop,
    ));
    // The snapshot alone (seven rows and its end) overflows the queue.
    tokio::time::timeout(PATIENCE, pump)
        .await
        .expect("the pump gives up")
        .unwrap();
    let mut stream = yinglian_node::federation::feed::FeedStream { rx, cut };
    let mut delivered = 0;
    let status = loop {
        match stream.next().await {
            Some(Ok(_)) => delivered += 1,
            Some(Err(s)) => break s,
            None => panic!("the stream must end with the reason"),
        }
    };
    assert_eq!(delivered, 4, "no more than the queue holds");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status.message().contains("did not keep up"),
        "{}",
        status.message()
    );
    fed.stop_all().await;
}

/// What a subscriber holds: the latest row of each (hub, unit) it was sent.
type Held = std::collections::BTreeMap<(String, String), FigureRow>;

fn hold(held: &mut Held, e: &FeedEvent) {
    if let Some(r) = &e.row {
        held.insert((r.hub.clone(), r.unit.clone()), r.clone());
    }
}

/// The city's feed: (events, rows) held, and how many of the events lie after `cursor`.
async fn feed_table(city: &LocalUnit, cursor: u64) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT 1 FROM feed_events GROUP BY hub, unit)),
                (SELECT COUNT(*) FROM feed_events WHERE seq > ?) FROM feed_events",
    )
    .bind(cursor as i64)
    .fetch_one(city.store.pool())
    .await
    .unwrap()
}

/// Networks one camera at each institution `rounds` times, and waits for the city's figures and
/// its data-quality findings to settle.
async fn edit_and_settle(fed: &Fed, rounds: usize) {
    for _ in 0..rounds {
        for list in &fed.institutions {
            for inst in list {
                network_one(inst).await;
            }
        }
    }
    let mut want = 0;
    for list in &fed.institutions {
        for inst in list {
            want += inst
                .store
                .counts(inst.code.as_str())
                .await
                .unwrap()
                .0
                .networked;
        }
    }
    let city = &fed.city;
    wait_until(PATIENCE, "the edits reach the city's feed", || async {
        let s = subtree_stats(&city.store, None).await.unwrap();
        let mut settled = s.networked == want && s.findings().is_some();
        for d in &fed.districts {
            let theirs = subtree_stats(&d.store, None).await.unwrap();
            settled &= s.children.iter().any(|c| {
                c.unit == d.code.as_str()
                    && c.findings() == theirs.findings()
                    && c.networked == theirs.networked
            });
        }
        // The city's own totals in its feed say the same.
        let fed_networked: Option<i64> = sqlx::query_scalar(
            "SELECT networked FROM feed_events WHERE hub = '500000' AND unit = '500000'
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(city.store.pool())
        .await
        .unwrap();
        settled && fed_networked == Some(want as i64)
    })
    .await
    .unwrap();
}

/// The rows of a fresh subscription (a snapshot) and the cursor it stands at.
async fn fresh(tls: &TlsMaterial, city: &LocalUnit) -> (Held, u64) {
    let mut stream = subscribe(tls, city, "500000", 0).await.unwrap();
    let (rows, cursor) = snapshot(&mut stream).await;
    let mut held = Held::new();
    for e in &rows {
        hold(&mut held, e);
    }
    (held, cursor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_compacted_behind_the_slowest_subscriber_and_resumes_converge() {
    let mut fed = running().await;
    let city = &fed.city;
    let (_dir, tls) = subscriber(&fed, "GA-500000", &city.code).await;
    let (mut held, c0) = fresh(&tls, city).await;
    wait_until(
        PATIENCE,
        "the hub notes the subscriber's cursor",
        || async {
            let noted: Option<i64> = sqlx::query_scalar(
            "SELECT cursor FROM feed_cursors WHERE subscriber = 'GA-500000' AND scope = '500000'",
        )
        .fetch_optional(city.store.pool())
        .await
        .unwrap();
            noted == Some(c0 as i64)
        },
    )
    .await
    .unwrap();

    // Many edits while the subscriber is away; then the hub compacts.
    edit_and_settle(&fed, 3).await;
    let (events_before, rows, _) = feed_table(city, c0).await;
    let done = yinglian_node::federation::feed::compact(&city.store)
        .await
        .unwrap();
    assert_eq!(done.point, c0, "held back by the subscriber away");
    assert!(done.removed > 0, "the cold start's events behind it went");
    let (events, rows_after, since) = feed_table(city, c0).await;
    assert_eq!(events_before - done.removed as i64, events);
    assert_eq!(rows_after, rows, "no row lost");
    assert!(
        events <= rows + since,
        "{events} events held for {rows} rows and {since} events after the cursor"
    );

    // It resumes from its cursor: the changes only, and then it holds what a fresh one holds.
    let (now, at) = fresh(&tls, city).await;
    let last_shown: i64 = sqlx::query_scalar(
        "SELECT MAX(seq) FROM feed_events WHERE seq > ? AND seq <= ? AND (hub != unit OR unit = '500000')",
    )
    .bind(c0 as i64)
    .bind(at as i64)
    .fetch_one(city.store.pool())
    .await
    .unwrap();
    let mut stream = subscribe(&tls, city, "500000", c0).await.unwrap();
    loop {
        let e = next(&mut stream).await;
        assert_eq!(e.kind, feed_event::Kind::Change as i32, "no snapshot");
        hold(&mut held, &e);
        if e.cursor as i64 >= last_shown {
            break;
        }
    }
    drop(stream);
    assert_eq!(
        held, now,
        "resumed from its cursor, it holds what a fresh one holds"
    );

    // A week later nobody holds the compaction back: each row's newest event only, and a
    // subscriber resuming from its old cursor starts again from a snapshot.
    sqlx::query("UPDATE feed_cursors SET seen_at = '2026-01-01T00:00:00.000Z'")
        .execute(city.store.pool())
        .await
        .unwrap();
    edit_and_settle(&fed, 1).await;
    let done = yinglian_node::federation::feed::compact(&city.store)
        .await
        .unwrap();
    let (events, rows, _) = feed_table(city, 0).await;
    assert_eq!(done.point, city.store.feed_cursor().await.unwrap());
    assert_eq!(events, rows, "the newest event of each row");
    let (now, at) = fresh(&tls, city).await;
    let mut stream = subscribe(&tls, city, "500000", c0).await.unwrap();
    let (rows, cursor) = snapshot(&mut stream).await;
    assert_eq!(cursor, at);
    let mut again = Held::new();
    for e in &rows {
        hold(&mut again, e);
    }
    assert_eq!(
        again, now,
        "from behind the compaction: a snapshot as a fresh one's"
    );
    drop(stream);
    fed.stop_all().await;
}
