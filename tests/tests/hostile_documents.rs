//! The federation against a compromised unit, its documents: a hub child that brings a profile of
//! another subtree or a unit placed elsewhere, an institution forging a rollup, and sessions that
//! open more documents than allowed. Each is refused and recorded, and nothing of it is kept.

use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::admission::Limits;
use yinglian_node::federation::pki::TlsMaterial;
use yinglian_proto::v1::{DocHeads, Hello, SyncFrame, sync_frame};
use yinglian_tests::attacker::wait_refused_as;
use yinglian_tests::hostile::{doc_frame, hello, raw, refusals, started, wait_refusal};
use yinglian_tests::{PATIENCE, converge, federation};

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

/// A hello from `unit` that announces `doc` as `id`.
fn hello_offering(unit: &str, id: &DocId, doc: &mut automerge::AutoCommit) -> SyncFrame {
    SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: unit.to_string(),
            protocol: 1,
            docs: vec![DocHeads {
                doc_id: id.to_string(),
                heads: doc.get_heads().iter().map(|h| h.0.to_vec()).collect(),
            }],
        })),
    }
}

/// `doc`, as `id`, brought to `hub` by its hub child `from` (as that child's session saves it):
/// the heads `hub` then holds.
async fn brought_by(
    hub: &LocalUnit,
    from: &LocalUnit,
    id: &DocId,
    doc: &mut automerge::AutoCommit,
) -> Vec<String> {
    use automerge::sync::Message;
    hub.store
        .receive_sync(
            id,
            &format!("urn:yinglian:hub:{}", from.code),
            from.code.as_str(),
            &mut automerge::sync::State::new(),
            Message::decode(&whole(doc)).unwrap(),
            |_, _| Ok(()),
        )
        .await
        .unwrap();
    let held = hub.heads(id).await;
    assert!(!held.is_empty());
    held
}

/// A new profile of unit `code` named `name`.
fn profile_of(code: &str, name: &str) -> (DocId, automerge::AutoCommit) {
    let id = DocId::profile(&UnitCode::parse(code).unwrap());
    let mut doc = id.genesis();
    yinglian_node::docs::profile::set_text(&mut doc, "name", Some(name)).unwrap();
    doc.commit();
    (id, doc)
}

/// `doc` with another name, as a squatter would rename it.
fn renamed(doc: &mut automerge::AutoCommit) -> automerge::AutoCommit {
    let mut theirs = doc.fork();
    yinglian_node::docs::profile::set_text(&mut theirs, "name", Some("冒名医院")).unwrap();
    theirs.commit();
    theirs
}

/// `child` says `hello` on its stream `out` to `hub`, then sends `doc` whole as `id`: `hub`
/// refuses it, records the refusal with the child's identity, and still holds `held`.
async fn sent_and_refused(
    out: &tokio::sync::mpsc::Sender<SyncFrame>,
    hello: SyncFrame,
    (hub, child): (&LocalUnit, &LocalUnit),
    (id, doc): (&DocId, &mut automerge::AutoCommit),
    held: &[String],
) {
    out.send(hello).await.unwrap();
    out.send(doc_frame(id, whole(doc))).await.unwrap();
    let (peer, _) = wait_refusal(hub, &id.to_string()).await;
    assert_eq!(peer, format!("urn:yinglian:hub:{}", child.code));
    assert_eq!(hub.heads(id).await, held, "nothing of it is kept");
}

/// A sync stream opened to `hub` with `unit`'s certificate, once `hub` said its hello: the
/// frames to send, the hello, the frames that come.
async fn stream_as(
    unit: &LocalUnit,
    hub: &LocalUnit,
) -> (
    tokio::sync::mpsc::Sender<SyncFrame>,
    Hello,
    tonic::Streaming<SyncFrame>,
) {
    use tokio_stream::StreamExt;
    let tls = TlsMaterial::load(&unit.dir).unwrap();
    let channel = yinglian_node::federation::net::connect(&tls, &hub.url(), &hub.code)
        .await
        .unwrap();
    let (out, frames) = tokio::sync::mpsc::channel::<SyncFrame>(4);
    let mut inbound = yinglian_proto::v1::sync_client::SyncClient::new(channel)
        .sync(tokio_stream::wrappers::ReceiverStream::new(frames))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(PATIENCE, inbound.next())
        .await
        .unwrap();
    let Some(Ok(SyncFrame {
        kind: Some(sync_frame::Kind::Hello(hello)),
    })) = first
    else {
        panic!("{first:?}");
    };
    (out, hello, inbound)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_cannot_squat_a_unit_outside_its_subtree() {
    let mut fed = started(2, 1).await;
    let (city, x) = (&fed.city, &fed.districts[0]);
    // District X brings the profile of a unit of district Y's namespace, saying it is its own.
    let squatted = UnitCode::parse("500104-0077").unwrap();
    let mut doc = automerge::AutoCommit::new();
    yinglian_node::docs::profile::set_text(&mut doc, "name", Some("冒名医院")).unwrap();
    yinglian_node::docs::profile::set_text(&mut doc, "parent", Some("500103")).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let id = DocId::profile(&squatted);
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let hello = hello_offering(x.code.as_str(), &id, &mut doc);
    let _ = raw(&tls, city, vec![hello, doc_frame(&id, msg)]).await;
    let (peer, reason) = wait_refusal(city, &id.to_string()).await;
    assert_eq!(peer, "urn:yinglian:hub:500103");
    assert!(!reason.is_empty());
    assert!(city.heads(&id).await.is_empty(), "nothing of it is kept");
    let known: Option<String> = sqlx::query_scalar("SELECT name FROM units WHERE unit = ?")
        .bind(squatted.as_str())
        .fetch_optional(city.store.pool())
        .await
        .unwrap();
    assert_eq!(known, None);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_cannot_place_a_unit_in_another_subtree() {
    let mut fed = started(2, 0).await;
    let (city, x) = (&fed.city, &fed.districts[0]);
    // District X brings a unit of its own namespace that says it belongs to district Y.
    let unit = UnitCode::parse("500103-7777").unwrap();
    let mut doc = DocId::profile(&unit).genesis();
    yinglian_node::docs::profile::set_text(&mut doc, "name", Some("假冒联系人")).unwrap();
    yinglian_node::docs::profile::set_text(&mut doc, "parent", Some("500104")).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let id = DocId::profile(&unit);
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let hello = hello_offering(x.code.as_str(), &id, &mut doc);
    let _ = raw(&tls, city, vec![hello, doc_frame(&id, msg)]).await;
    wait_until(PATIENCE, "the city holds the profile", || async {
        !city.heads(&id).await.is_empty()
    })
    .await
    .unwrap();
    let parent: Option<Option<String>> =
        sqlx::query_scalar("SELECT parent FROM units WHERE unit = ?")
            .bind(unit.as_str())
            .fetch_optional(city.store.pool())
            .await
            .unwrap();
    assert_eq!(
        parent,
        Some(None),
        "the claimed parent 500104 is not believed"
    );
    let y_subtree = yinglian_node::app::directory::subtree(&city.store, "500104")
        .await
        .unwrap();
    assert!(!y_subtree.contains(unit.as_str()), "{y_subtree:?}");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_cannot_forge_figures_through_a_rollup() {
    let mut fed = started(1, 2).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let rollup: DocId = format!("rollup/{}", inst.code).parse().unwrap();
    let mut doc = automerge::AutoCommit::new();
    use automerge::transaction::Transactable;
    let totals = doc
        .put_object(automerge::ROOT, "totals", automerge::ObjType::Map)
        .unwrap();
    doc.put(&totals, "built", 999_u64).unwrap();
    doc.commit();
    let msg = whole(&mut doc);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let _ = raw(
        &tls,
        district,
        vec![hello(inst.code.as_str()), doc_frame(&rollup, msg)],
    )
    .await;
    let (peer, _) = wait_refusal(district, &rollup.to_string()).await;
    assert_eq!(peer, format!("urn:yinglian:node:{}", inst.code));
    assert!(district.heads(&rollup).await.is_empty());
    let forged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollup_rows WHERE hub = ?")
        .bind(inst.code.as_str())
        .fetch_one(district.store.pool())
        .await
        .unwrap();
    assert_eq!(forged, 0);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_of_100000_documents_is_refused() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let docs = (0..100_000)
        .map(|i| DocHeads {
            doc_id: format!("ledger/{}-{i}", inst.code),
            heads: vec![],
        })
        .collect();
    let hello = SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: inst.code.to_string(),
            protocol: 1,
            docs,
        })),
    };
    let (_, end) = raw(&tls, district, vec![hello]).await.unwrap();
    let end = end.expect("the stream ends with a status");
    assert_eq!(end.code(), tonic::Code::ResourceExhausted, "{end:?}");
    let rows = wait_refused_as(district, &format!("urn:yinglian:node:{}", inst.code)).await;
    assert!(
        rows.iter()
            .any(|r| r.contains("100000 documents, over the limit of 20000 per session")),
        "{rows:?}"
    );
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(district.store.pool())
        .await
        .unwrap();
    assert!(held < 20, "nothing of it was kept: {held} documents");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_opened_after_the_hello_count_against_the_session() {
    let mut fed = federation(1, 0).await.unwrap();
    fed.city.limits = Limits {
        docs_per_session: 20,
        ..Limits::default()
    };
    fed.start_all().await.unwrap();
    let (city, x) = (&fed.city, &fed.districts[0]);
    let held = || async {
        // Only the forged profiles: the district's own session goes on beside the raw one.
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM documents WHERE doc_id LIKE 'profile/500103-%'",
        )
        .fetch_one(city.store.pool())
        .await
        .unwrap()
    };
    let tls = TlsMaterial::load(&x.dir).unwrap();
    let mut frames = vec![hello(x.code.as_str())];
    for i in 0..100 {
        let unit = UnitCode::parse(&format!("500103-{i:05}")).unwrap();
        let mut doc = DocId::profile(&unit).genesis();
        yinglian_node::docs::profile::set_text(&mut doc, "name", Some("批量")).unwrap();
        doc.commit();
        let msg = whole(&mut doc);
        frames.push(doc_frame(&DocId::profile(&unit), msg));
    }
    let before = held().await;
    let (got, end) = raw(&tls, city, frames).await.unwrap();
    assert_eq!(
        end.as_ref().map(|e| e.code()),
        Some(tonic::Code::ResourceExhausted),
        "{} frames back, {} documents held, refusals {:?}",
        got.len(),
        held().await,
        refusals(city, "").await
    );
    assert!(
        held().await - before <= 20,
        "{} documents kept",
        held().await - before
    );
    let rows = wait_refused_as(city, "urn:yinglian:hub:500103").await;
    assert!(
        rows.iter().any(|r| r.contains("the limit per session")),
        "{rows:?}"
    );
    fed.stop_all().await;
}

/// A document the peer names another way (a trailing space) is the same document: the district,
/// holding the same heads, says nothing of it, instead of starting it twice and sending it whole
/// as if the peer held none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_named_another_way_in_a_hello_is_the_same_document() {
    let mut fed = started(1, 1).await;
    let (district, inst) = (&fed.districts[0], &fed.institutions[0][0]);
    let ledger = DocId::ledger(&inst.code);
    wait_until(
        PATIENCE,
        "the district holds the institution's ledger",
        || async {
            let h = district.heads(&ledger).await;
            !h.is_empty() && h == inst.heads(&ledger).await
        },
    )
    .await
    .unwrap();
    fed.institutions[0][0].stop().await;
    let inst = &fed.institutions[0][0];
    let district = &fed.districts[0];
    let spaced = format!("{ledger} ");
    assert_eq!(spaced.parse::<DocId>().ok(), Some(ledger.clone()));
    let heads: Vec<Vec<u8>> = inst
        .store
        .read_document(&ledger, |d| {
            d.get_heads().iter().map(|h| h.0.to_vec()).collect()
        })
        .await
        .unwrap();
    let hello = SyncFrame {
        kind: Some(sync_frame::Kind::Hello(Hello {
            unit: inst.code.to_string(),
            protocol: 1,
            docs: vec![DocHeads {
                doc_id: spaced,
                heads,
            }],
        })),
    };
    let tls = TlsMaterial::load(&inst.dir).unwrap();
    let (frames, _) = raw(&tls, district, vec![hello]).await.unwrap();
    let said: Vec<String> = frames
        .iter()
        .filter_map(|f| match &f.kind {
            Some(sync_frame::Kind::Doc(d)) => Some(d.doc_id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        frames
            .iter()
            .any(|f| matches!(f.kind, Some(sync_frame::Kind::Hello(_)))),
        "the district answered"
    );
    assert!(
        !said.iter().any(|d| d.trim() == ledger.to_string()),
        "nothing said of a ledger both hold: {said:?}"
    );
    fed.stop_all().await;
}

/// A hub child cannot take over a unit's document that another child brought first, though the
/// unit is of its namespace — nor by waiting, its stream open, until the other child has brought
/// it: what the city holds, and where from, is read once the child's hello is in (a hello judged
/// on what was held when the city's own was sent, or that took offered documents as not held,
/// gave it to write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_cannot_take_over_what_another_child_brought_first() {
    let mut fed = started(2, 0).await;
    let (city, x, y) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    let (id, mut doc) = profile_of(&format!("{}-0777", x.code), "第七医院");
    // X opens its stream and waits for the city's hello before saying anything.
    let (out, _, _inbound) = stream_as(x, city).await;
    // Meanwhile the profile of a unit of X's namespace comes to the city from district Y.
    let held = brought_by(city, y, &id, &mut doc).await;
    // Then X offers the same document, renamed, and sends it.
    let mut theirs = renamed(&mut doc);
    let offer = hello_offering(x.code.as_str(), &id, &mut theirs);
    sent_and_refused(&out, offer, (city, x), (&id, &mut theirs), &held).await;
    drop(out);
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_cannot_write_what_another_child_brought_before_it_called() {
    let mut fed = started(2, 0).await;
    let (city, x, y) = (&fed.city, &fed.districts[0], &fed.districts[1]);
    let (id, mut doc) = profile_of(&format!("{}-0778", x.code), "第八医院");
    // The profile of a unit of X's namespace came to the city from district Y first.
    let held = brought_by(city, y, &id, &mut doc).await;
    // Then X opens a stream: the city's hello does not count that document among those X may
    // share, and X's change to it, not offered in its hello, is refused.
    let (out, hello, _inbound) = stream_as(x, city).await;
    assert!(
        hello.docs.iter().all(|d| d.doc_id != id.to_string()),
        "{hello:?}"
    );
    let mut theirs = renamed(&mut doc);
    let plain = yinglian_tests::hostile::hello(x.code.as_str());
    sent_and_refused(&out, plain, (city, x), (&id, &mut theirs), &held).await;
    drop(out);
    fed.stop_all().await;
}

/// A hub child cannot speak for a unit of its namespace that its parent enrolled itself: the
/// city enrolled hospital 500109-0001 before district 500109 was enrolled, and the district brings
/// that hospital's profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_child_cannot_speak_for_a_unit_its_parent_enrolled_itself() {
    use yinglian_node::domain::unit::{Role, UnitKind};
    let mut fed = started(1, 0).await;
    let city = &fed.city;
    let at = |code: &str| fed.tmp.path().join(code);
    let direct = LocalUnit::create(
        &at("500109-0001"),
        "500109-0001",
        "市直管医院",
        UnitKind::Institution,
        Role::Node,
    )
    .await
    .unwrap();
    city.enroll(&direct).await.unwrap();
    let x = LocalUnit::create(
        &at("500109"),
        "500109",
        "新设区卫健委",
        UnitKind::District,
        Role::Hub,
    )
    .await
    .unwrap();
    city.enroll(&x).await.unwrap();
    let (id, mut doc) = profile_of("500109-0001", "冒名医院");
    let (out, _, _inbound) = stream_as(&x, city).await;
    let offer = hello_offering(x.code.as_str(), &id, &mut doc);
    sent_and_refused(&out, offer, (city, &x), (&id, &mut doc), &[]).await;
    drop(out);
    fed.stop_all().await;
}

/// A session of institution B is sent nothing of what another institution of its district
/// writes: a compromised B reads every frame of its session while A's ledger changes at the
/// district, and then the district's profile (which B may read) changes; nothing of A's ledger
/// came before that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_is_sent_nothing_of_its_neighbours_ledger_as_it_changes() {
    use automerge::sync::Message;
    use yinglian_node::domain::camera::{Field, Value};
    let mut fed = started(1, 2).await;
    let district = &fed.districts[0];
    let (a, b) = (&fed.institutions[0][0], &fed.institutions[0][1]);
    let neighbours = DocId::ledger(&a.code);
    converge(a, &[district], &neighbours).await.unwrap();
    let (out, _, mut inbound) = stream_as(b, district).await;
    out.send(hello(b.code.as_str())).await.unwrap();
    // A adds a camera; it reaches the district while B's session is open.
    let code =
        yinglian_node::domain::device_code::DeviceCode::parse("50010312091320009901").unwrap();
    let name = vec![(Field::Name, Value::Text("新装门岗".into()))];
    yinglian_node::app::cameras::add(&a.store, "clerk", code, name)
        .await
        .unwrap();
    converge(a, &[district], &neighbours).await.unwrap();
    // Then the district's profile changes.
    let profile = DocId::profile(&district.code);
    district
        .store
        .edit(&profile, "clerk", "a new phone", |d| {
            Ok(yinglian_node::docs::profile::set_text(
                d,
                "phone",
                Some("023-63000000"),
            )?)
        })
        .await
        .unwrap();
    let now = district.heads(&profile).await;
    let mut said = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        use tokio_stream::StreamExt;
        while let Some(Ok(frame)) = inbound.next().await {
            let Some(sync_frame::Kind::Doc(d)) = frame.kind else {
                continue;
            };
            said.push(d.doc_id.clone());
            let heads: Vec<String> = Message::decode(&d.message)
                .map(|m| m.heads.iter().map(|h| h.to_string()).collect())
                .unwrap_or_default();
            if d.doc_id == profile.to_string() && now.iter().all(|h| heads.contains(h)) {
                return;
            }
        }
        panic!("the session ended: {said:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("the profile's change never came: {said:?}"));
    assert!(
        !said.contains(&neighbours.to_string()),
        "sent {neighbours}: {said:?}"
    );
    drop(out);
    fed.stop_all().await;
}
