//! The contract as a table: what each kind of peer may do with each document in every situation
//! this unit can be in when it decides, and which camera fields an ancestor may change. Every
//! combination is enumerated; each must match exactly one row, and a rule that changes fails the
//! rows it contradicts, by name.

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT};

use super::*;
use crate::docs::document::{DocKind, scalar_of};
use crate::docs::ledger;
use crate::domain::camera::{Camera, FieldKind, Value};
use crate::domain::device_code::DeviceCode;

use DocKind::{Campaign, Ledger, Profile, Reads, Review, Rollup, Submission};
use Held::{FromOther, FromPeer, Local, No};
use Owner::{InPeersNamespace, Outside, Own, Peers, Root};
use Who::{HubChild, NodeChild, Parent, ParentBelowRoot, Subscriber};

/// Who is at the other end, and so who this unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// This unit is district 500103; the peer is its parent, the root 500000.
    Parent,
    /// This unit is hospital 500103-0001; the peer is its parent, hub 500103, below the root.
    ParentBelowRoot,
    /// This unit is district 500103; the peer is hospital 500103-0001, a leaf it enrolled.
    NodeChild,
    /// This unit is the root 500000; the peer is district 500103, a hub it enrolled.
    HubChild,
    /// This unit is the root 500000; the peer is the police, GA-500000 (a subscriber).
    Subscriber,
}

const WHO: [Who; 5] = [Parent, ParentBelowRoot, NodeChild, HubChild, Subscriber];
const CHILDREN: &[Who] = &[NodeChild, HubChild, Subscriber];
const PARENTS: &[Who] = &[Parent, ParentBelowRoot];

/// Whose document it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// This unit's.
    Own,
    /// The peer's.
    Peers,
    /// A unit of the peer's namespace (`<peer>-0077`).
    InPeersNamespace,
    /// A unit outside the peer's namespace (a hospital of the sibling district 500104).
    Outside,
    /// The root's, where the root is neither this unit nor the peer.
    Root,
}

const OTHERS: &[Owner] = &[Peers, InPeersNamespace, Outside, Root];
const ANYONE: &[Owner] = &[Own, Peers, InPeersNamespace, Outside, Root];

/// Whether this store holds the document, and where its replica came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    No,
    /// Held, written here (no origin).
    Local,
    /// Held, first brought by this peer.
    FromPeer,
    /// Held, first brought by another peer (a child of this unit).
    FromOther,
}

const HELD: [Held; 4] = [No, Local, FromPeer, FromOther];
const ANY: &[Held] = &HELD;
const NOT_FROM_OTHER: &[Held] = &[No, Local, FromPeer];
const EITHER: &[bool] = &[false, true];

/// The answers.
const NOTHING: Access = Access::NONE;
const SEND: Access = Access {
    send: true,
    write: Write::None,
};
const TAKE: Access = Access {
    send: false,
    write: Write::Any,
};
const SEND_TAKE: Access = Access {
    send: true,
    write: Write::Any,
};
const TAKE_OWN_ENTRIES: Access = Access {
    send: false,
    write: Write::OwnEntries,
};
const SEND_SUPERVISE: Access = Access {
    send: true,
    write: Write::Supervision,
};

/// One rule: for these peers, kinds, owners, holdings, with this unit forwarding ledgers or
/// not, and with the owner a child this unit enrolled or not, the answer.
struct Rule {
    why: &'static str,
    who: &'static [Who],
    kinds: &'static [DocKind],
    owners: &'static [Owner],
    held: &'static [Held],
    forwarding: &'static [bool],
    enrolled: &'static [bool],
    answer: Access,
}

#[allow(clippy::too_many_arguments)]
const fn rule(
    who: &'static [Who],
    kinds: &'static [DocKind],
    owners: &'static [Owner],
    held: &'static [Held],
    forwarding: &'static [bool],
    enrolled: &'static [bool],
    answer: Access,
    why: &'static str,
) -> Rule {
    Rule {
        why,
        who,
        kinds,
        owners,
        held,
        forwarding,
        enrolled,
        answer,
    }
}

#[rustfmt::skip]
const RULES: &[Rule] = &[
    //    who                kinds                 owners                 held            forwarding  enrolled  answer
    // ---- towards the parent --------------------------------------------------------------------------------------------
    rule(PARENTS,            &[Ledger],            &[Own],                ANY,            EITHER,     EITHER,   SEND_SUPERVISE,
         "this unit's ledger goes up; the parent supervises it"),
    rule(PARENTS,            &[Profile, Rollup],   &[Own],                ANY,            EITHER,     EITHER,   SEND,
         "this unit's profile and rollup go up, read-only"),
    rule(PARENTS,            &[Campaign],          &[Own],                ANY,            EITHER,     EITHER,   NOTHING,
         "a campaign of a unit below the root flows nowhere"),
    rule(PARENTS,            &[Ledger],            OTHERS,                &[FromOther],   &[true],    EITHER,   SEND_SUPERVISE,
         "a forwarding unit sends its subtree's ledgers up; the parent supervises them"),
    rule(PARENTS,            &[Ledger],            OTHERS,                &[FromOther],   &[false],   EITHER,   NOTHING,
         "ledgers stop at the parent unless forwarded"),
    rule(PARENTS,            &[Ledger],            OTHERS,                NOT_FROM_OTHER, EITHER,     EITHER,   NOTHING,
         "a ledger that did not come from the subtree is not exchanged with the parent"),
    rule(PARENTS,            &[Profile],           OTHERS,                &[FromOther],   EITHER,     EITHER,   SEND,
         "the subtree's profiles go up, read-only"),
    rule(PARENTS,            &[Profile],           &[Peers],              NOT_FROM_OTHER, EITHER,     EITHER,   TAKE,
         "the parent's profile comes down: whom to call"),
    rule(PARENTS,            &[Profile],           &[InPeersNamespace, Outside, Root],
                                                                          NOT_FROM_OTHER, EITHER,     EITHER,   NOTHING,
         "no other profile comes down"),
    rule(PARENTS,            &[Rollup],            OTHERS,                ANY,            EITHER,     EITHER,   NOTHING,
         "rollups go up only"),
    rule(&[Parent],          &[Campaign],          &[Peers],              ANY,            EITHER,     EITHER,   TAKE,
         "the root's campaign comes down from the root"),
    rule(&[ParentBelowRoot], &[Campaign],          &[Root],               ANY,            EITHER,     EITHER,   TAKE,
         "the root's campaign comes down through every hub"),
    rule(&[ParentBelowRoot], &[Campaign],          &[Peers],              ANY,            EITHER,     EITHER,   NOTHING,
         "a hub's own campaign does not come down; only the root's"),
    rule(PARENTS,            &[Campaign],          &[InPeersNamespace, Outside],
                                                                          ANY,            EITHER,     EITHER,   NOTHING,
         "no other campaign comes down"),
    rule(PARENTS,            &[Submission],        &[Own],                ANY,            EITHER,     EITHER,   SEND,
         "this unit's submissions go up, read-only"),
    rule(PARENTS,            &[Review],            &[Own],                ANY,            EITHER,     EITHER,   TAKE,
         "the parent's decisions on this unit's submissions come down"),
    rule(PARENTS,            &[Reads],             &[Own],                ANY,            EITHER,     EITHER,   TAKE_OWN_ENTRIES,
         "who read this unit's cameras at its parent comes down: the parent's own new entries only"),
    rule(PARENTS,            &[Reads],             OTHERS,                ANY,            EITHER,     EITHER,   NOTHING,
         "no other unit's reads are exchanged with the parent"),
    rule(PARENTS,            &[Submission, Review], OTHERS,               ANY,            EITHER,     EITHER,   NOTHING,
         "no other unit's submissions or decisions are exchanged with the parent"),
    // ---- towards a child -----------------------------------------------------------------------------------------------
    rule(CHILDREN,           &[Ledger],            &[Peers],              ANY,            EITHER,     EITHER,   SEND_TAKE,
         "a child's ledger is its own; this unit's supervision of it goes back down"),
    rule(CHILDREN,           &[Profile],           &[Peers],              ANY,            EITHER,     EITHER,   TAKE,
         "a child's profile comes up"),
    rule(&[HubChild],        &[Rollup],            &[Peers],              ANY,            EITHER,     EITHER,   TAKE,
         "a hub child's rollup comes up"),
    rule(&[NodeChild, Subscriber], &[Rollup],      &[Peers],              ANY,            EITHER,     EITHER,   NOTHING,
         "a leaf has no rollup: its figures come from its ledger"),
    rule(CHILDREN,           &[Profile],           &[Own],                ANY,            EITHER,     EITHER,   SEND,
         "this unit's profile goes down, read-only"),
    rule(CHILDREN,           &[Campaign],          ANYONE,                &[Local, FromPeer, FromOther],
                                                                                          EITHER,     EITHER,   SEND,
         "a campaign held here goes down, read-only"),
    rule(CHILDREN,           &[Campaign],          ANYONE,                &[No],          EITHER,     EITHER,   NOTHING,
         "a campaign not held here is not offered"),
    rule(&[HubChild],        &[Ledger],            &[InPeersNamespace],   NOT_FROM_OTHER, EITHER,     &[false], SEND_TAKE,
         "a hub child speaks for its subtree's forwarded ledgers; this unit's supervision goes back"),
    rule(&[HubChild],        &[Profile],           &[InPeersNamespace],   NOT_FROM_OTHER, EITHER,     &[false], TAKE,
         "a hub child speaks for its subtree's profiles"),
    rule(&[HubChild],        &[Ledger, Profile],   &[InPeersNamespace],   NOT_FROM_OTHER, EITHER,     &[true],  NOTHING,
         "a unit this unit enrolled itself speaks for itself"),
    rule(&[HubChild],        &[Ledger, Profile],   &[InPeersNamespace],   &[FromOther],   EITHER,     EITHER,   NOTHING,
         "another child brought it first"),
    rule(&[NodeChild, Subscriber], &[Ledger, Profile], &[InPeersNamespace], ANY,          EITHER,     EITHER,   NOTHING,
         "only a hub speaks for a namespace"),
    rule(CHILDREN,           &[Ledger],            &[Own, Outside, Root], ANY,            EITHER,     EITHER,   NOTHING,
         "no other ledger is exchanged with a child"),
    rule(CHILDREN,           &[Profile],           &[Outside, Root],      ANY,            EITHER,     EITHER,   NOTHING,
         "no other profile is exchanged with a child"),
    rule(CHILDREN,           &[Rollup],            &[Own, InPeersNamespace, Outside, Root],
                                                                          ANY,            EITHER,     EITHER,   NOTHING,
         "no other rollup is exchanged with a child"),
    rule(&[NodeChild, HubChild], &[Submission],    &[Peers],              ANY,            EITHER,     EITHER,   TAKE,
         "a child's submissions come up"),
    rule(&[NodeChild, HubChild], &[Review],        &[Peers],              ANY,            EITHER,     EITHER,   SEND,
         "this unit's decisions on a child's submissions go down to it, read-only"),
    rule(&[Subscriber],      &[Submission, Review], &[Peers],             ANY,            EITHER,     EITHER,   NOTHING,
         "a subscriber reports nothing"),
    rule(&[NodeChild, HubChild], &[Reads],         &[Peers],              ANY,            EITHER,     EITHER,   SEND,
         "who read a child's cameras here goes down to it, read-only"),
    rule(&[Subscriber],      &[Reads],             &[Peers],              ANY,            EITHER,     EITHER,   NOTHING,
         "a subscriber holds no cameras"),
    rule(CHILDREN,           &[Reads],             &[Own, InPeersNamespace, Outside, Root],
                                                                          ANY,            EITHER,     EITHER,   NOTHING,
         "no other unit's reads are exchanged with a child"),
    rule(CHILDREN,           &[Submission, Review], &[Own, InPeersNamespace, Outside, Root],
                                                                          ANY,            EITHER,     EITHER,   NOTHING,
         "no other submission or decision is exchanged with a child"),
];

/// A change a peer makes to a ledger that holds one camera with every field filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Set(Field),
    Clear(Field),
    AddCamera,
    RemoveCamera,
    AppendEvent,
    RootKey,
}

/// Which camera fields a supervising level (an ancestor) may change: the supervision fields.
#[rustfmt::skip]
const ANCESTOR_MAY_CHANGE: &[(Field, bool)] = &[
    (Field::Name,               false),
    (Field::Address,            false),
    (Field::CameraType,         false),
    (Field::PointClass,         false),
    (Field::Area,               false),
    (Field::InstallDate,        false),
    (Field::Longitude,          false),
    (Field::Latitude,           false),
    (Field::MustNetwork,        false),
    (Field::Networked,          false),
    (Field::State,              false),
    (Field::Network,            false),
    (Field::Platform,           false),
    (Field::Labels,             false),
    (Field::Direction,          false),
    (Field::FillLight,          false),
    (Field::RecordDays,         false),
    (Field::NetworkedConfirmed, true),
    (Field::PointClassRuled,    true),
    (Field::SupervisionNote,    true),
    (Field::FilingAcknowledged, true),
    (Field::RemovalAcknowledged, true),
];

/// Nor anything but fields of existing cameras.
#[rustfmt::skip]
const ANCESTOR_MAY_ALSO: &[(Change, bool)] = &[
    (Change::AddCamera,    false),
    (Change::RemoveCamera, false),
    (Change::AppendEvent,  false),
    (Change::RootKey,      false),
];

fn u(s: &str) -> UnitCode {
    UnitCode::parse(s).unwrap()
}

/// This unit, its parent, the peer, and the unit of each kind of owner (no `Root` where the root
/// is this unit or the peer already).
struct Scene {
    me: UnitCode,
    parent: Option<UnitCode>,
    peer: Peer,
    owners: Vec<(Owner, UnitCode)>,
}

fn scene(who: Who) -> Scene {
    let (me, parent, peer, role, relation) = match who {
        Parent => (
            "500103",
            Some("500000"),
            "500000",
            Role::Hub,
            Relation::Parent,
        ),
        ParentBelowRoot => (
            "500103-0001",
            Some("500103"),
            "500103",
            Role::Hub,
            Relation::Parent,
        ),
        NodeChild => (
            "500103",
            Some("500000"),
            "500103-0001",
            Role::Node,
            Relation::Child,
        ),
        HubChild => ("500000", None, "500103", Role::Hub, Relation::Child),
        Subscriber => (
            "500000",
            None,
            "GA-500000",
            Role::Subscriber,
            Relation::Child,
        ),
    };
    let mut owners = vec![
        (Own, u(me)),
        (Peers, u(peer)),
        (InPeersNamespace, u(&format!("{peer}-0077"))),
        (Outside, u("500104-0001")),
    ];
    if me != ROOT_UNIT && peer != ROOT_UNIT {
        owners.push((Root, u(ROOT_UNIT)));
    }
    Scene {
        me: u(me),
        parent: parent.map(u),
        peer: Peer {
            unit: u(peer),
            role,
            relation,
        },
        owners,
    }
}

const ROOT_UNIT: &str = "500000";

fn value(f: Field, second: bool) -> Value {
    match f.kind() {
        FieldKind::Bool => Value::Bool(second),
        FieldKind::PointClass => Value::Int(if second { 2 } else { 1 }),
        FieldKind::Days => Value::Int(if second { 90 } else { 30 }),
        FieldKind::Longitude => Value::Float(if second { 106.6 } else { 106.5 }),
        FieldKind::Latitude => Value::Float(if second { 29.6 } else { 29.5 }),
        _ => Value::Text(if second { "乙" } else { "甲" }.into()),
    }
}

const CODE: &str = "50010312091320000001";

/// Whether `check_effect` keeps `change`, made by a peer whose access to the ledger is `write`.
fn kept(write: Write, change: Change) -> bool {
    let id = DocId::ledger(&u("500103-0001"));
    let mut doc = id.genesis().with_actor(ActorId::from(b"owner".as_slice()));
    let mut cam = Camera::new(DeviceCode::parse(CODE).unwrap());
    for f in Field::ALL {
        cam.fields.insert(f, value(f, false));
    }
    ledger::add_camera(&mut doc, &cam).unwrap();
    doc.commit();
    let before = doc.get_heads();
    let mut theirs = doc.fork().with_actor(ActorId::from(b"peer".as_slice()));
    match change {
        Change::Set(f) => {
            ledger::set_fields(&mut theirs, CODE, &[(f, Some(value(f, true)))]).unwrap();
        }
        Change::Clear(f) => {
            ledger::set_fields(&mut theirs, CODE, &[(f, None)]).unwrap();
        }
        Change::AddCamera => {
            let mut other = Camera::new(DeviceCode::parse("50010312091320000002").unwrap());
            other.fields.insert(Field::Name, value(Field::Name, true));
            ledger::add_camera(&mut theirs, &other).unwrap();
        }
        Change::RemoveCamera => ledger::purge_camera(&mut theirs, CODE).unwrap(),
        Change::AppendEvent => {
            ledger::append_event(&mut theirs, "removal", CODE, "撤除", "peer").unwrap()
        }
        Change::RootKey => {
            theirs.put(ROOT, "unit", "500104-0001").unwrap();
            theirs
                .put_object(ROOT, "extra", ObjType::Map)
                .map(|o| theirs.put(&o, "k", scalar_of(&value(Field::Name, true))))
                .unwrap()
                .unwrap();
        }
    }
    theirs.commit();
    doc.merge(&mut theirs).unwrap();
    check_effect(&mut doc, &before, write, &id, &u("500103"), &[]).is_ok()
}

fn show(a: Access) -> &'static str {
    match (a.send, a.write) {
        (false, Write::None) => "NOTHING",
        (true, Write::None) => "SEND",
        (false, Write::Any) => "TAKE",
        (true, Write::Any) => "SEND_TAKE",
        (true, Write::Supervision) => "SEND_SUPERVISE",
        (false, Write::Supervision) => "SUPERVISE",
        (false, Write::OwnEntries) => "TAKE_OWN_ENTRIES",
        (true, Write::OwnEntries) => "SEND_TAKE_OWN_ENTRIES",
    }
}

/// One situation: a peer, a document, what this unit knows of it.
struct Case {
    who: Who,
    owner: Owner,
    doc: DocId,
    held: Held,
    forwarding: bool,
    enrolled: bool,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} × {} ({:?}; held {:?}, forwarding {}, enrolled {})",
            self.who, self.doc, self.owner, self.held, self.forwarding, self.enrolled
        )
    }
}

/// Every peer × every kind × every owner × every holding × forwarding or not × enrolled or not.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for who in WHO {
        for kind in [Ledger, Profile, Rollup, Campaign, Submission, Review, Reads] {
            for (owner, unit) in scene(who).owners {
                for held in HELD {
                    for (forwarding, enrolled) in
                        [(false, false), (false, true), (true, false), (true, true)]
                    {
                        out.push(Case {
                            who,
                            owner,
                            doc: DocId {
                                kind,
                                unit: unit.clone(),
                                generation: 0,
                            },
                            held,
                            forwarding,
                            enrolled,
                        });
                    }
                }
            }
        }
    }
    out
}

/// What `access` answers in that situation.
fn decide(c: &Case) -> Access {
    let s = scene(c.who);
    let origin = match c.held {
        No | Local => None,
        FromPeer => Some(s.peer.unit.to_string()),
        FromOther => Some("500103-0002".to_string()),
    };
    access(
        &s.me,
        s.parent.as_ref(),
        &s.peer,
        &c.doc,
        Known {
            held: c.held != No,
            origin: origin.as_deref(),
            is_my_child: c.enrolled,
            forward_ledgers: c.forwarding,
            root: Some(&u(ROOT_UNIT)),
        },
    )
}

#[test]
fn every_peer_document_and_field_answers_as_the_table_says() {
    // What an ancestor may change, once for every field and every other kind of change.
    let mut changes: Vec<(Change, bool)> = Vec::new();
    for f in Field::ALL {
        let rows: Vec<bool> = ANCESTOR_MAY_CHANGE
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|(_, may)| *may)
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "field {f} needs exactly one row in the table"
        );
        changes.push((Change::Set(f), rows[0]));
        changes.push((Change::Clear(f), rows[0]));
    }
    changes.extend_from_slice(ANCESTOR_MAY_ALSO);
    // `check_effect` depends on the kind of write only: each change is tried once per kind.
    let effects: Vec<(Write, Vec<bool>)> = [Write::None, Write::Supervision, Write::Any]
        .into_iter()
        .map(|w| (w, changes.iter().map(|(c, _)| kept(w, *c)).collect()))
        .collect();

    let cases = cases();
    let mut wrong = Vec::new();
    let mut used = vec![0usize; RULES.len()];
    for case in &cases {
        let matching: Vec<usize> = (0..RULES.len())
            .filter(|i| {
                let r = &RULES[*i];
                r.who.contains(&case.who)
                    && r.kinds.contains(&case.doc.kind)
                    && r.owners.contains(&case.owner)
                    && r.held.contains(&case.held)
                    && r.forwarding.contains(&case.forwarding)
                    && r.enrolled.contains(&case.enrolled)
            })
            .collect();
        let [i] = matching[..] else {
            let names: Vec<_> = matching.iter().map(|i| RULES[*i].why).collect();
            wrong.push(format!(
                "{case}: {} rules match, not one: {names:?}",
                names.len()
            ));
            continue;
        };
        used[i] += 1;
        let rule = &RULES[i];
        let got = decide(case);
        if got != rule.answer {
            wrong.push(format!(
                "rule \"{}\": {case}: {} expected, {} given",
                rule.why,
                show(rule.answer),
                show(got)
            ));
            continue;
        }
        // In a ledger: which camera fields (and other parts) the peer's changes may touch.
        if case.doc.kind != Ledger {
            continue;
        }
        let (_, kept) = effects
            .iter()
            .find(|(w, _)| *w == got.write)
            .expect("every kind of write");
        for ((change, ancestor_may), kept) in changes.iter().zip(kept) {
            let want = match got.write {
                Write::None => false,
                Write::Any => true,
                Write::Supervision => *ancestor_may,
                // Not a reads document: nothing of a ledger is a hub's own entry of reads.
                Write::OwnEntries => false,
            };
            if *kept != want {
                let word = |k: bool| if k { "kept" } else { "refused" };
                wrong.push(format!(
                    "rule \"{}\": {case}: {change:?} {} expected, {} given",
                    rule.why,
                    word(want),
                    word(*kept),
                ));
            }
        }
    }
    for (rule, n) in RULES.iter().zip(&used) {
        if *n == 0 {
            wrong.push(format!("rule \"{}\" matches no case", rule.why));
        }
    }
    assert!(cases.len() > 1000, "{} cases", cases.len());
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from the table:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_units_own_history_coming_back_is_kept_whatever_it_touches() {
    let id = DocId::ledger(&u("500103-0001"));
    let past = ActorId::from(b"before the restore".as_slice());
    let mut doc = id.genesis().with_actor(past.clone());
    let mut cam = Camera::new(DeviceCode::parse(CODE).unwrap());
    cam.fields.insert(Field::Name, value(Field::Name, false));
    let restored = doc.clone();
    ledger::add_camera(&mut doc, &cam).unwrap();
    doc.commit();
    let mut now = restored.with_actor(ActorId::from(b"after".as_slice()));
    let before = now.get_heads();
    now.merge(&mut doc).unwrap();
    assert!(
        check_effect(
            &mut now.clone(),
            &before,
            Write::Supervision,
            &id,
            &u("500103"),
            &[past]
        )
        .is_ok()
    );
    let err = check_effect(
        &mut now,
        &before,
        Write::Supervision,
        &id,
        &u("500103"),
        &[],
    )
    .unwrap_err();
    assert!(err.0.contains("existing cameras"), "{err}");
}
