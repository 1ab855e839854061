//! A property of the whole federation: after any sequence of edits (additions, removals, class
//! changes, networking), offline periods and reconnections, every hub's figures — at every level —
//! equal the figures computed straight from the ledgers, once synced.

use proptest::prelude::*;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::figures::subtree_stats;
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::{Camera, Field};
use yinglian_node::domain::device_code::DeviceCode;
use yinglian_node::domain::figures::Counts;
use yinglian_tests::{Fed, PATIENCE, federation};

#[derive(Debug, Clone)]
enum Op {
    Add {
        unit: usize,
        class: u8,
        networked: bool,
    },
    Remove {
        unit: usize,
        pick: usize,
    },
    Class {
        unit: usize,
        pick: usize,
        class: u8,
    },
    Network {
        unit: usize,
        pick: usize,
        on: bool,
    },
    Offline {
        unit: usize,
    },
    Online {
        unit: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let unit = 0usize..6;
    prop_oneof![
        4 => (unit.clone(), 1u8..=3, any::<bool>()).prop_map(|(unit, class, networked)| Op::Add { unit, class, networked }),
        1 => (unit.clone(), any::<usize>()).prop_map(|(unit, pick)| Op::Remove { unit, pick }),
        2 => (unit.clone(), any::<usize>(), 1u8..=3).prop_map(|(unit, pick, class)| Op::Class { unit, pick, class }),
        2 => (unit.clone(), any::<usize>(), any::<bool>()).prop_map(|(unit, pick, on)| Op::Network { unit, pick, on }),
        1 => unit.clone().prop_map(|unit| Op::Offline { unit }),
        1 => unit.prop_map(|unit| Op::Online { unit }),
    ]
}

/// Units 0 and 1 are the districts; 2..6 the institutions (two each).
fn unit(fed: &mut Fed, i: usize) -> &mut LocalUnit {
    if i < 2 {
        &mut fed.districts[i]
    } else {
        &mut fed.institutions[(i - 2) / 2][(i - 2) % 2]
    }
}

async fn codes(u: &LocalUnit) -> Vec<String> {
    let (rows, _) = u
        .store
        .cameras(u.code.as_str(), &Default::default())
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| r.camera.device_code.to_string())
        .collect()
}

async fn set(u: &LocalUnit, code: &str, f: Field, v: &str) {
    u.store
        .edit(&DocId::ledger(&u.code), "prop", "edit", |d| {
            let value = f.parse_value(v)?;
            Ok(ledger::set_fields(d, code, &[(f, value)])?)
        })
        .await
        .unwrap();
}

async fn apply(fed: &mut Fed, ops: &[Op]) {
    let mut serial = 0;
    for op in ops {
        match op.clone() {
            Op::Add {
                unit: i,
                class,
                networked,
            } => {
                serial += 1;
                let u = unit(fed, i);
                let district = &u.code.as_str()[..6];
                let code =
                    DeviceCode::parse(&format!("{district}{i:02}091320{serial:06}")).unwrap();
                let mut cam = Camera::new(code);
                cam.fields.insert(
                    Field::Name,
                    Field::Name.parse_value("点位").unwrap().unwrap(),
                );
                cam.fields.insert(
                    Field::PointClass,
                    Field::PointClass
                        .parse_value(&class.to_string())
                        .unwrap()
                        .unwrap(),
                );
                if networked {
                    cam.fields.insert(
                        Field::Networked,
                        Field::Networked.parse_value("是").unwrap().unwrap(),
                    );
                }
                u.store
                    .edit(&DocId::ledger(&u.code), "prop", "add", |d| {
                        Ok(ledger::add_camera(d, &cam)?)
                    })
                    .await
                    .unwrap();
            }
            Op::Remove { unit: i, pick } => {
                let u = unit(fed, i);
                let c = codes(u).await;
                if !c.is_empty() {
                    set(u, &c[pick % c.len()], Field::State, "已撤除").await;
                }
            }
            Op::Class {
                unit: i,
                pick,
                class,
            } => {
                let u = unit(fed, i);
                let c = codes(u).await;
                if !c.is_empty() {
                    set(u, &c[pick % c.len()], Field::PointClass, &class.to_string()).await;
                }
            }
            Op::Network { unit: i, pick, on } => {
                let u = unit(fed, i);
                let c = codes(u).await;
                if !c.is_empty() {
                    set(
                        u,
                        &c[pick % c.len()],
                        Field::Networked,
                        if on { "是" } else { "否" },
                    )
                    .await;
                }
            }
            Op::Offline { unit: i } => unit(fed, i).stop().await,
            Op::Online { unit: i } => unit(fed, i).start().await.unwrap(),
        }
    }
}

async fn own(u: &LocalUnit) -> Counts {
    u.store.counts(u.code.as_str()).await.unwrap().0
}

fn same(s: &yinglian_node::domain::figures::Stats, c: &Counts) -> bool {
    (
        s.built,
        s.must_network,
        s.networked,
        s.archived,
        s.geo_tagged,
        s.in_service,
    ) == (
        c.built,
        c.must_network,
        c.networked,
        c.archived,
        c.geo_tagged,
        c.in_service,
    )
}

async fn check(ops: Vec<Op>) {
    let mut fed = federation(2, 2).await.unwrap();
    fed.start_all().await.unwrap();
    apply(&mut fed, &ops).await;
    fed.start_all().await.unwrap(); // everyone back online
    // What every level must show, straight from the owners' ledgers.
    let mut districts = Vec::new();
    let mut city = own(&fed.city).await;
    for (d, list) in fed.institutions.iter().enumerate() {
        let mut c = own(&fed.districts[d]).await;
        for i in list {
            c.add(&own(i).await);
        }
        city.add(&c);
        districts.push(c);
    }
    for (d, want) in districts.iter().enumerate() {
        let hub = &fed.districts[d];
        wait_until(
            PATIENCE,
            &format!("district {} equals its ledgers", hub.code),
            || async { same(&subtree_stats(&hub.store, None).await.unwrap(), want) },
        )
        .await
        .unwrap();
    }
    let c = &fed.city;
    wait_until(PATIENCE, "the city equals every ledger", || async {
        let s = subtree_stats(&c.store, None).await.unwrap();
        same(&s, &city)
            && s.children.len() == 2
            && s.children
                .iter()
                .zip(&districts)
                .all(|(row, want)| same(row, want))
    })
    .await
    .unwrap();
    fed.stop_all().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn every_hub_equals_its_ledgers(ops in proptest::collection::vec(op(), 5..30)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(ops));
    }
}
