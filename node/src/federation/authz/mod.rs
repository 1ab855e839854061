//! Authorization of the federation: which documents a peer may open a sync for, which it may
//! change, and, for a ledger written by an ancestor, that the change touches supervision fields
//! only (judged by its effect on the document, before anything is kept).

use automerge::patches::PatchAction;
use automerge::{AutoCommit, ChangeHash, Prop};

use crate::docs::document::{DocId, DocKind};
use crate::domain::camera::Field;
use crate::domain::unit::UnitCode;
use crate::federation::pki::Role;

/// What the peer is to this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The peer is this unit's parent (this unit dialled it).
    Parent,
    /// The peer is a child this unit enrolled (it dialled this unit).
    Child,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Parent => "parent",
            Relation::Child => "child",
        }
    }
}

/// Who is at the other end of a sync stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub unit: UnitCode,
    pub role: Role,
    pub relation: Relation,
}

/// What a peer may do to one document of this unit's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Nothing: the document is sent to the peer, never changed by it.
    None,
    /// Only supervision fields of existing camera records (an ancestor on a ledger).
    Supervision,
    /// Only new entries of the peer's own, each naming it as the hub that answered (a hub on
    /// `reads/<unit>` of a unit whose cameras it served): never another hub's, never one it
    /// recorded before (`docs::reads::check_added`).
    OwnEntries,
    /// Anything: the peer owns the document or speaks for the subtree that owns it.
    Any,
}

/// Where a document stands for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// This unit offers the document to the peer.
    pub send: bool,
    pub write: Write,
}

impl Access {
    pub const NONE: Access = Access {
        send: false,
        write: Write::None,
    };

    /// The document takes part in the session at all.
    pub fn shared(self) -> bool {
        self.send || self.write != Write::None
    }
}

/// What this unit knows about a document when it decides.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// Whether this store holds the document.
    pub held: bool,
    /// The peer the replica came from (`None` for this unit's own documents or one not held).
    pub origin: Option<&'a str>,
    /// The unit is a child this unit enrolled.
    pub is_my_child: bool,
    /// This unit forwards its children's camera ledgers to its parent (off by default: ledgers
    /// stop at the parent).
    pub forward_ledgers: bool,
    /// The root of the federation: its campaign is the one that flows down.
    pub root: Option<&'a UnitCode>,
}

/// The rules of the contract, for a unit `me` whose parent is `parent`.
pub fn access(
    me: &UnitCode,
    parent: Option<&UnitCode>,
    peer: &Peer,
    doc: &DocId,
    k: Known<'_>,
) -> Access {
    let owner = &doc.unit;
    match peer.relation {
        Relation::Parent => match doc.kind {
            // Own documents go up; the parent may supervise the ledger.
            DocKind::Ledger if owner == me => Access {
                send: true,
                write: Write::Supervision,
            },
            DocKind::Profile | DocKind::Rollup | DocKind::Codes if owner == me => Access {
                send: true,
                write: Write::None,
            },
            // The subtree's profiles (replicas that came from this unit's children) go up too.
            DocKind::Profile
                if k.held
                    && k.origin
                        .is_some_and(|o| Some(o) != parent.map(|p| p.as_str())) =>
            {
                Access {
                    send: true,
                    write: Write::None,
                }
            }
            // Forwarded ledgers of the subtree: the parent may supervise them too.
            DocKind::Ledger
                if k.forward_ledgers
                    && k.held
                    && k.origin
                        .is_some_and(|o| Some(o) != parent.map(|p| p.as_str())) =>
            {
                Access {
                    send: true,
                    write: Write::Supervision,
                }
            }
            // One level down: whom to call; and the campaign flows down the whole tree.
            DocKind::Profile if Some(owner) == Some(&peer.unit) => Access {
                send: false,
                write: Write::Any,
            },
            DocKind::Campaign if k.root == Some(owner) => Access {
                send: false,
                write: Write::Any,
            },
            // This unit's reports go up; the parent's decisions on them come down.
            DocKind::Submission if owner == me => Access {
                send: true,
                write: Write::None,
            },
            DocKind::Review if owner == me => Access {
                send: false,
                write: Write::Any,
            },
            // Who read this unit's cameras, as the hub that answered recorded it, comes down:
            // the parent adds its own entries, never another hub's nor one it wrote before.
            DocKind::Reads if owner == me => Access {
                send: false,
                write: Write::OwnEntries,
            },
            _ => Access::NONE,
        },
        Relation::Child => {
            let child = &peer.unit;
            match doc.kind {
                DocKind::Ledger if owner == child => Access {
                    send: true,
                    write: Write::Any,
                },
                DocKind::Profile if owner == child => Access {
                    send: false,
                    write: Write::Any,
                },
                // Only a hub has a rollup: a leaf's figures come from its ledger.
                DocKind::Rollup | DocKind::Codes if owner == child && peer.role == Role::Hub => {
                    Access {
                        send: false,
                        write: Write::Any,
                    }
                }
                DocKind::Profile if owner == me => Access {
                    send: true,
                    write: Write::None,
                },
                DocKind::Campaign if k.held => Access {
                    send: true,
                    write: Write::None,
                },
                // A child's reports come up; this unit's decisions on them go down to it alone.
                DocKind::Submission if owner == child && peer.role != Role::Subscriber => Access {
                    send: false,
                    write: Write::Any,
                },
                DocKind::Review if owner == child && peer.role != Role::Subscriber => Access {
                    send: true,
                    write: Write::None,
                },
                // Who read a child's cameras here goes down to it alone, read-only.
                DocKind::Reads if owner == child && peer.role != Role::Subscriber => Access {
                    send: true,
                    write: Write::None,
                },
                // A hub child speaks for its own subtree's profiles (and forwarded ledgers):
                // units of its namespace (the codes its CA may sign), that this unit did not
                // enroll itself, and that no other child brought first.
                DocKind::Profile | DocKind::Ledger
                    if peer.role == Role::Hub
                        && owner.is_under(child)
                        && !k.is_my_child
                        && k.origin.is_none_or(|o| o == child.as_str()) =>
                {
                    Access {
                        // This unit's supervision of a forwarded ledger goes back down.
                        send: doc.kind == DocKind::Ledger,
                        write: Write::Any,
                    }
                }
                _ => Access::NONE,
            }
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Checks the effect of what a peer (`writer`) wrote (the document now, against `before`). `own_past` are
/// the Automerge actors this unit wrote under before it was restored from a backup: changes all
/// by them are the unit's own history coming back from its parent, whatever fields they touch.
pub fn check_effect(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    write: Write,
    doc_id: &DocId,
    writer: &UnitCode,
    own_past: &[automerge::ActorId],
) -> Result<(), Refusal> {
    match write {
        Write::Any => Ok(()),
        Write::None => Err(Refusal(format!("the peer may not change {doc_id}"))),
        Write::OwnEntries => crate::docs::reads::check_added(doc, before, writer.as_str(), doc_id)
            .map_err(|why| Refusal(format!("{doc_id}: {why}"))),
        Write::Supervision
            if !own_past.is_empty()
                && doc
                    .get_changes(before)
                    .iter()
                    .all(|c| own_past.contains(c.actor_id())) =>
        {
            Ok(())
        }
        Write::Supervision => {
            // A full diff, not the index: a write that loses to a concurrent one changes no
            // visible value, but it still may not touch a field the ancestor does not own.
            doc.reset_diff_cursor();
            let after = doc.get_heads();
            for p in doc.diff(before, &after) {
                let field = match (&p.path[..], &p.action) {
                    (
                        [(_, Prop::Map(cams)), (_, Prop::Map(_code))],
                        PatchAction::PutMap { key, .. }
                        | PatchAction::DeleteMap { key }
                        | PatchAction::Conflict {
                            prop: Prop::Map(key),
                        },
                    ) if cams == "cameras" => Some(key.as_str()),
                    _ => None,
                };
                match field.and_then(|k| Field::lookup(k).filter(|f| f.key() == k)) {
                    Some(f) if f.is_supervision() => {}
                    Some(f) => {
                        return Err(Refusal(format!(
                            "only supervision fields of {doc_id} may be written by a supervising level, not {}",
                            f.key()
                        )));
                    }
                    None => {
                        return Err(Refusal(format!(
                            "a supervising level may only write supervision fields of existing cameras in {doc_id}"
                        )));
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UnitCode {
        UnitCode::parse(s).unwrap()
    }

    fn peer(unit: &str, role: Role, relation: Relation) -> Peer {
        Peer {
            unit: u(unit),
            role,
            relation,
        }
    }

    #[test]
    fn what_a_compromised_neighbour_may_bring() {
        let (city, x) = (u("500000"), u("500103"));
        let k = Known {
            root: Some(&city),
            ..Known::default()
        };
        // A hub child brings its own namespace only.
        let district = peer("500103", Role::Hub, Relation::Child);
        for (doc, ok) in [
            (DocId::profile(&u("500103-0001")), true),
            (DocId::profile(&u("500104-0001")), false),
            (DocId::profile(&u("5001030")), false),
            (DocId::profile(&city), false),
            (DocId::ledger(&u("500104")), false),
        ] {
            let a = access(&city, None, &district, &doc, k);
            assert_eq!(a.write != Write::None, ok, "{doc}");
        }
        // A leaf has no rollup to bring; a hub has.
        let inst = peer("500103-0001", Role::Node, Relation::Child);
        let rollup: DocId = "rollup/500103-0001".parse().unwrap();
        assert_eq!(
            access(&x, Some(&city), &inst, &rollup, k).write,
            Write::None
        );
        let rollup: DocId = "rollup/500103".parse().unwrap();
        assert_eq!(access(&city, None, &district, &rollup, k).write, Write::Any);
        // From the parent, only the root's campaign flows down.
        let parent = peer("500000", Role::Hub, Relation::Parent);
        let me = u("500103-0001");
        let campaign = |c: &str| format!("campaign/{c}").parse::<DocId>().unwrap();
        assert_eq!(
            access(&me, Some(&x), &parent, &campaign("500000"), k).write,
            Write::Any
        );
        assert_eq!(
            access(&me, Some(&x), &parent, &campaign("500103"), k).write,
            Write::None
        );
    }
}

#[cfg(test)]
mod table;
