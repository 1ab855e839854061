//! 报送 across a real federation (TLS, stores, daemons): institutions submit (one on time, one
//! late, one not at all), the district sees each state, the figures checked against its replicas
//! and its rates, returns one with a reason that the institution reads offline, the institution
//! resubmits, the district submits to the city, and the city sees its whole tree's rates without
//! holding the hospitals' submissions. Then the hostile cases: a child writing its parent's
//! review, a child writing a sibling's submission, a parent forging a child's submission; each
//! refused and recorded, nothing kept. And the commands' output.

use std::process::Command;

use chrono::{Duration, Utc};
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::app::submission::{Check, LevelStatus, decide, status, submit};
use yinglian_node::app::zh::judgement;
use yinglian_node::docs::document::{DocId, DocKind};
use yinglian_node::docs::profile;
use yinglian_node::docs::submission::{append_decision, append_submission};
use yinglian_node::domain::campaign::{Campaign, Figure, Milestone};
use yinglian_node::domain::contacts::{Contact, ContactRole};
use yinglian_node::domain::figures::beijing_today;
use yinglian_node::domain::submission::{Decision, State, Submission, Verdict, to_millis};
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_tests::hostile::{doc_frame, hello, raw, refusals, wait_refusal};
use yinglian_tests::pages::Pages;
use yinglian_tests::{PATIENCE, converge, federation};

const HUB: &str = env!("CARGO_BIN_EXE_yl-test-hub");
const NODE: &str = env!("CARGO_BIN_EXE_yl-test-node");

/// The campaign of the test: the statistics table due today (Beijing), the archive later.
fn campaign() -> (Campaign, String) {
    let today = beijing_today();
    let mut c = Campaign::seed();
    c.milestones = vec![
        Milestone {
            title: "报送统计表（附件2）".into(),
            deadline: today,
            figure: Figure::Reported,
            target: 100.0,
        },
        Milestone {
            title: "摸底建档完成".into(),
            deadline: today + chrono::Days::new(30),
            figure: Figure::ArchiveRate,
            target: 100.0,
        },
    ];
    (c, today.to_string())
}

async fn set_liaison(unit: &LocalUnit, name: &str, phone: &str) {
    let c = Contact {
        name: name.into(),
        position: "保卫科科长".into(),
        phone: phone.into(),
        remarks: String::new(),
    };
    unit.store
        .edit(&DocId::profile(&unit.code), "test", "liaison", |d| {
            Ok(profile::set_contact(d, ContactRole::Liaison, &c)?)
        })
        .await
        .unwrap();
}

/// Waits until `unit`'s status for `due` satisfies `ok`, and returns it.
async fn wait_status(
    unit: &LocalUnit,
    due: &str,
    what: &str,
    ok: impl Fn(&LevelStatus) -> bool,
) -> LevelStatus {
    wait_until(PATIENCE, what, || async {
        status(&unit.store, due).await.is_ok_and(|s| ok(&s))
    })
    .await
    .unwrap();
    status(&unit.store, due).await.unwrap()
}

fn state_of(s: &LevelStatus, unit: &LocalUnit) -> State {
    s.children
        .iter()
        .find(|c| c.unit == unit.code.as_str())
        .map(|c| c.judgement.state)
        .unwrap_or(State::Missing)
}

fn run(bin: &str, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .arg("--data")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institutions_submit_the_district_reviews_and_the_city_sees_the_whole_trees_rates() {
    let mut fed = federation(1, 3).await.unwrap();
    let (c, due) = campaign();
    yinglian_node::app::campaign::publish(&fed.city.store, &c)
        .await
        .unwrap();
    for (i, inst) in fed.institutions[0].iter().enumerate() {
        inst.generate_cameras("500103", 4 + i, 40 + i as u64)
            .await
            .unwrap();
    }
    set_liaison(&fed.institutions[0][2], "张敏", "023-63811234").await;
    fed.start_all().await.unwrap();
    let campaign_doc = DocId {
        kind: DocKind::Campaign,
        unit: fed.city.code.clone(),
        generation: 0,
    };
    let everyone: Vec<&LocalUnit> = fed.all().skip(1).collect();
    converge(&fed.city, &everyone, &campaign_doc).await.unwrap();
    let district = &fed.districts[0];
    let [on_time, late, silent] = [0, 1, 2].map(|i| &fed.institutions[0][i]);

    // A milestone that is not in the campaign is refused in Chinese, and nothing is written.
    let (ok, _, err) = run(
        NODE,
        &on_time.dir,
        &[
            "report",
            "submit",
            "--milestone",
            "2021-08-26",
            "--reviewer",
            "王审核",
            "--filler",
            "李填表",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("工作方案中没有截止日期为2021年8月26日的节点"),
        "{err}"
    );
    assert!(
        on_time
            .heads(&DocId::submission(&on_time.code))
            .await
            .is_empty()
    );

    // One on time, through the command (now, today being the deadline); one late (as if made
    // two days later); one not at all.
    let (ok, out, err) = run(
        NODE,
        &on_time.dir,
        &[
            "report",
            "submit",
            "--milestone",
            &due,
            "--reviewer",
            "王审核",
            "--filler",
            "李填表",
        ],
    );
    assert!(ok, "{err}");
    let own = on_time.store.counts(on_time.code.as_str()).await.unwrap().0;
    assert!(
        out.contains(&format!(
            "已建 {} · 应联网 {} · 已联网 {}",
            own.built, own.must_network, own.networked
        )),
        "{out}"
    );
    let two_days_later = Utc::now() + Duration::days(2);
    let late_sub = submit(
        &late.store,
        "test",
        &due,
        "赵审核",
        "钱填表",
        two_days_later,
    )
    .await
    .unwrap();
    assert_eq!(
        late_sub.counts,
        late.store.counts(late.code.as_str()).await.unwrap().0,
        "the figures of the moment are frozen"
    );

    let s = wait_status(district, &due, "the district sees both submissions", |s| {
        state_of(s, on_time) == State::OnTime && state_of(s, late) == State::Late
    })
    .await;
    assert_eq!(state_of(&s, silent), State::Missing);
    for c in s.children.iter().filter(|c| c.unit != silent.code.as_str()) {
        assert_eq!(c.verified, Check::Matches, "{}", c.unit);
    }
    let first = &s.children[0].judgement.submission.as_ref().unwrap();
    assert_eq!(
        (first.reviewer.as_str(), first.filler.as_str(), first.counts),
        ("王审核", "李填表", own)
    );
    assert_eq!(
        (s.level.expected, s.level.reported, s.level.on_time),
        (3, 2, 1)
    );
    assert_eq!(
        (s.level.completeness(), s.level.timeliness()),
        (Some(66.67), Some(33.33))
    );
    let missing: Vec<_> = s.not_reported().map(|c| c.unit.clone()).collect();
    assert_eq!(missing, vec![silent.code.to_string()]);

    // The command prints the same: states, rates, and whom to call.
    let (ok, out, err) = run(
        HUB,
        &district.dir,
        &["report", "status", "--milestone", &due],
    );
    assert!(ok, "{err}");
    for want in [
        "按时报送（待审核）",
        "逾期报送（待审核）",
        "未报送",
        "与本级副本一致",
        "报送率 66.67% · 及时率 33.33%",
        "500103-0003",
        "张敏 023-63811234",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
    let (ok, out, _) = run(
        HUB,
        &district.dir,
        &["report", "status", "--milestone", &due, "--json"],
    );
    assert!(ok);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let states: Vec<&str> = j["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["on-time", "late", "missing"]);
    assert_eq!(j["level"]["reported"], 2);

    // The district returns the late one with a reason, by the command.
    let (ok, out, err) = run(
        HUB,
        &district.dir,
        &[
            "report",
            "return",
            "--unit",
            late.code.as_str(),
            "--milestone",
            &due,
            "--reason",
            "已联网数与台账不符，请核实后重报",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("已退回 500103-0002"), "{out}");
    // A return without a reason is refused, in Chinese.
    let (ok, _, err) = run(
        HUB,
        &district.dir,
        &[
            "report",
            "return",
            "--unit",
            "500103-0002",
            "--milestone",
            &due,
            "--reason",
            " ",
        ],
    );
    assert!(!ok && err.contains("退回原因必须填写"), "{err}");

    // The institution reads the reason from its own store, offline.
    wait_until(PATIENCE, "the return reaches the institution", || async {
        status(&late.store, &due)
            .await
            .is_ok_and(|s| s.own.is_some_and(|j| j.state == State::Returned))
    })
    .await
    .unwrap();
    fed.institutions[0][1].stop().await;
    let late = &fed.institutions[0][1];
    let own = status(&late.store, &due).await.unwrap().own.unwrap();
    assert_eq!(judgement(&own), "已退回：已联网数与台账不符，请核实后重报");
    // It resubmits (three days later), and comes back online.
    submit(
        &late.store,
        "test",
        &due,
        "赵审核",
        "钱填表",
        Utc::now() + Duration::days(3),
    )
    .await
    .unwrap();
    fed.institutions[0][1].start().await.unwrap();
    let (district, late) = (&fed.districts[0], &fed.institutions[0][1]);
    let s = wait_status(
        district,
        &due,
        "the resubmission reaches the district",
        |s| state_of(s, late) == State::Late,
    )
    .await;
    assert_eq!(s.level.returned, 0);
    let row = s.children.iter().find(|c| c.unit == late.code.as_str());
    assert_eq!(row.unwrap().judgement.submissions, 2, "history kept");
    decide(
        &district.store,
        "test",
        fed.institutions[0][0].code.as_str(),
        &due,
        Verdict::Accepted,
        "",
        Utc::now(),
    )
    .await
    .unwrap();

    // The district submits to the city; the city sees the district and, from its rollup, the
    // whole tree: 4 units, 3 reported, 2 on time, 1 accepted.
    let (ok, _, err) = run(
        HUB,
        &district.dir,
        &[
            "report",
            "submit",
            "--milestone",
            &due,
            "--reviewer",
            "孙科长",
            "--filler",
            "周干事",
        ],
    );
    assert!(ok, "{err}");
    let s = wait_status(&fed.city, &due, "the city sees its whole tree", |s| {
        s.tree.expected == 4 && s.tree.reported == 3 && s.tree.accepted == 1
    })
    .await;
    assert_eq!(state_of(&s, district), State::OnTime);
    assert_eq!(s.children[0].verified, Check::Matches);
    assert_eq!(
        (s.tree.on_time, s.tree.completeness(), s.tree.timeliness()),
        (2, Some(75.0), Some(50.0))
    );
    assert_eq!((s.level.expected, s.level.reported), (1, 1));
    for inst in &fed.institutions[0] {
        assert!(
            fed.city
                .heads(&DocId::submission(&inst.code))
                .await
                .is_empty(),
            "a hospital's submission stops at its district"
        );
    }

    // A submission whose figures are not those of the ledger shows as a mismatch at the parent.
    let silent = &fed.institutions[0][2];
    let mut doctored = submit(&silent.store, "test", &due, "吴审核", "郑填表", Utc::now())
        .await
        .unwrap();
    doctored.at += Duration::seconds(1);
    doctored.counts.built += 100;
    silent
        .store
        .edit(
            &DocId::submission(&silent.code),
            "test",
            "a doctored report",
            |d| {
                Ok(append_submission(d, c.milestones[0].deadline, &doctored)
                    .map_err(yinglian_node::docs::ledger::LedgerError::from)?)
            },
        )
        .await
        .unwrap();
    let s = wait_status(
        &fed.districts[0],
        &due,
        "the doctored figures reach the district",
        |s| {
            s.children.iter().any(|c| {
                c.unit == silent.code.as_str() && matches!(c.verified, Check::Differs { .. })
            })
        },
    )
    .await;
    let row = s.children.iter().find(|c| c.unit == silent.code.as_str());
    let Check::Differs { fields } = &row.unwrap().verified else {
        unreachable!()
    };
    assert_eq!(fields[0].0, "built");
    assert_eq!(fields[0].1, fields[0].2 + 100);
    // One that names a point of the ledger the district has never seen cannot be checked yet.
    let mut unseen = doctored.clone();
    unseen.at += Duration::seconds(1);
    unseen.counts.built -= 100;
    unseen.source = vec!["0".repeat(64)];
    silent
        .store
        .edit(
            &DocId::submission(&silent.code),
            "test",
            "a report from an unseen ledger",
            |d| {
                Ok(append_submission(d, c.milestones[0].deadline, &unseen)
                    .map_err(yinglian_node::docs::ledger::LedgerError::from)?)
            },
        )
        .await
        .unwrap();
    wait_status(
        &fed.districts[0],
        &due,
        "the unseen report is pending",
        |s| {
            s.children
                .iter()
                .any(|c| c.unit == silent.code.as_str() && c.verified == Check::Pending)
        },
    )
    .await;
    fed.stop_all().await;
}

/// A sync message that hands `doc` whole to a peer that holds none of it.
fn whole(doc: &mut automerge::AutoCommit) -> Vec<u8> {
    use automerge::sync::SyncDoc;
    let mut state = automerge::sync::State::new();
    state.their_heads = Some(vec![]);
    state.their_need = Some(vec![]);
    state.their_have = Some(vec![Default::default()]);
    doc.sync()
        .generate_sync_message(&mut state)
        .unwrap()
        .encode()
}

fn a_submission() -> Submission {
    Submission {
        at: to_millis(Utc::now()),
        reviewer: "冒名".into(),
        filler: "冒名".into(),
        by: "attacker".into(),
        counts: Default::default(),
        rows: vec![],
        source: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_unit_submits_and_only_its_parent_decides() {
    let mut fed = federation(1, 2).await.unwrap();
    let (c, _) = campaign();
    let due = c.milestones[0].deadline;
    yinglian_node::app::campaign::publish(&fed.city.store, &c)
        .await
        .unwrap();
    fed.start_all().await.unwrap();
    let (district, inst, sibling) = (
        &fed.districts[0],
        &fed.institutions[0][0],
        &fed.institutions[0][1],
    );
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let me = format!("urn:yinglian:node:{}", inst.code);

    // A child writes its own review: accepted, by itself.
    let review = DocId::review(&inst.code);
    let mut doc = review.genesis();
    let s = a_submission();
    append_decision(
        &mut doc,
        due,
        &Decision {
            at: s.at,
            verdict: Verdict::Accepted,
            reason: String::new(),
            by: "self".into(),
            submitted_at: s.at,
        },
    )
    .unwrap();
    doc.commit();
    let _ = raw(
        &tls,
        district,
        vec![
            hello(inst.code.as_str()),
            doc_frame(&review, whole(&mut doc)),
        ],
    )
    .await;
    let (peer, reason) = wait_refusal(district, &review.to_string()).await;
    assert_eq!(peer, me);
    assert!(reason.contains("may not change"), "{reason}");
    assert!(district.heads(&review).await.is_empty(), "nothing kept");

    // A child writes its sibling's submission.
    let forged = DocId::submission(&sibling.code);
    let mut doc = forged.genesis();
    append_submission(&mut doc, due, &a_submission()).unwrap();
    doc.commit();
    let _ = raw(
        &tls,
        district,
        vec![
            hello(inst.code.as_str()),
            doc_frame(&forged, whole(&mut doc)),
        ],
    )
    .await;
    let (peer, reason) = wait_refusal(district, &forged.to_string()).await;
    assert_eq!(peer, me);
    assert!(reason.contains("may not read or write"), "{reason}");
    assert!(district.heads(&forged).await.is_empty());

    // A parent forges its child's submission: the child's engine, in a session with its parent
    // (a parent running other software), refuses it.
    fed.institutions[0][0].stop().await;
    let inst = &fed.institutions[0][0];
    let engine = yinglian_node::federation::sync::Engine::with_limits(
        inst.store.clone(),
        &inst.dir,
        Default::default(),
    )
    .await
    .unwrap();
    let own = DocId::submission(&inst.code);
    let mut doc = own.genesis();
    append_submission(&mut doc, due, &a_submission()).unwrap();
    doc.commit();
    let frames = vec![
        Ok(hello(fed.districts[0].code.as_str())),
        Ok(doc_frame(&own, whole(&mut doc))),
    ];
    let (out, mut back) = tokio::sync::mpsc::channel(64);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let peer = yinglian_node::federation::authz::Peer {
        unit: fed.districts[0].code.clone(),
        role: yinglian_node::federation::pki::Role::Hub,
        relation: yinglian_node::federation::authz::Relation::Parent,
    };
    let drain = tokio::spawn(async move { while back.recv().await.is_some() {} });
    let _ = engine
        .run_session(peer, tokio_stream::iter(frames), out, shutdown, None)
        .await;
    drain.await.unwrap();
    let (peer, reason) = wait_refusal(inst, &own.to_string()).await;
    assert_eq!(peer, format!("urn:yinglian:hub:{}", fed.districts[0].code));
    assert!(reason.contains("may not change"), "{reason}");
    assert!(inst.heads(&own).await.is_empty(), "nothing kept");
    assert_eq!(refusals(inst, "submission/").await.len(), 1);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_returns_on_its_page_and_the_institution_reads_why_on_its_own() {
    let mut fed = federation(1, 2).await.unwrap();
    let (c, due) = campaign();
    yinglian_node::app::campaign::publish(&fed.city.store, &c)
        .await
        .unwrap();
    fed.institutions[0][0]
        .generate_cameras("500103", 5, 7)
        .await
        .unwrap();
    set_liaison(&fed.institutions[0][1], "刘洋", "023-63810001").await;
    fed.start_all().await.unwrap();
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let campaign_doc = DocId {
        kind: DocKind::Campaign,
        unit: fed.city.code.clone(),
        generation: 0,
    };
    converge(&fed.city, &[district, inst], &campaign_doc)
        .await
        .unwrap();

    // The institution submits on its page.
    let mine = Pages::editor(inst).await;
    let (_, home) = mine.get("/").await;
    assert!(
        home.contains("href=\"/reports\""),
        "linked from the dashboard"
    );
    let (st, page) = mine
        .post(
            "/reports/submit",
            &[
                ("milestone", &due),
                ("reviewer", "王审核"),
                ("filler", "李填表"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("按时报送（待审核）"), "{page}");

    // The district's page: the state, the check, the rates, whom to call.
    wait_status(district, &due, "the submission reaches the district", |s| {
        state_of(s, inst) == State::OnTime
    })
    .await;
    let theirs = Pages::editor(district).await;
    let (st, page) = theirs.get(&format!("/reports?milestone={due}")).await;
    assert_eq!(st, 200);
    for want in [
        "按时报送（待审核）",
        "与本级副本一致",
        "本级报送率",
        "50.00",
        "刘洋 023-63810001",
        "王审核",
    ] {
        assert!(page.contains(want), "{want} in {page}");
    }
    // A return without a reason is refused beside it; with one, written.
    let unit = inst.code.to_string();
    let (st, page) = theirs
        .post(
            "/reports/return",
            &[("milestone", &due), ("unit", &unit), ("reason", "")],
        )
        .await;
    assert_eq!(st, 422);
    assert!(page.contains("退回原因必须填写"), "{page}");
    assert!(district.heads(&DocId::review(&inst.code)).await.is_empty());
    let (st, page) = theirs
        .post(
            "/reports/return",
            &[
                ("milestone", &due),
                ("unit", &unit),
                ("reason", "附件2未盖章"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("已退回：附件2未盖章"), "{page}");

    // The institution's own page says why, from its own store.
    wait_until(PATIENCE, "the return reaches the institution", || async {
        mine.get("/reports").await.1.contains("已退回：附件2未盖章")
    })
    .await
    .unwrap();
    let (_, page) = mine.get("/reports").await;
    assert!(page.contains("重新报送"), "{page}");
    fed.stop_all().await;
}
