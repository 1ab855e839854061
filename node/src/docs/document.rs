//! Document identities (`ledger/<unit>`, `profile/<unit>`, …) and their deterministic genesis, so
//! that every replica of one document, wherever it was first created, shares the same root objects;
//! and the reads and writes every document kind shares (a value at a key, a map read in one pass,
//! a map written where it differs).

use std::fmt;
use std::str::FromStr;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use crate::domain::camera::Value;
use crate::domain::unit::UnitCode;

/// The kinds of document the federation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    Ledger,
    Profile,
    Rollup,
    Campaign,
    /// `submission/<unit>`: the unit's reports per milestone, written by the unit.
    Submission,
    /// `review/<unit>`: the decisions on the unit's reports, written by the unit's parent (named
    /// after the unit it is about, so that it travels down to that unit alone).
    Review,
    /// `reads/<unit>`: who read the unit's camera records (the police catalogue, a higher level's
    /// camera list), written by the hub that holds its ledger and answered; down to that unit alone.
    Reads,
    /// `codes/<hub>`: the keyed hashes of the device codes in the hub's subtree, written by the
    /// hub, up to its parent alone (its duplicate check across children); one document, not
    /// rolled into generations, changing only when a code does.
    Codes,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Ledger => "ledger",
            DocKind::Profile => "profile",
            DocKind::Rollup => "rollup",
            DocKind::Campaign => "campaign",
            DocKind::Submission => "submission",
            DocKind::Review => "review",
            DocKind::Reads => "reads",
            DocKind::Codes => "codes",
        }
    }
}

/// `<kind>/<unit>`: the name of one document, owned by one unit. A rollup is kept in
/// generations (`rollup/<unit>/<generation>` from the first on; the generation 0 is named
/// `rollup/<unit>`): each generation starts with the figures of the one before and no history,
/// so that a rollup's document stays small however often it is recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId {
    pub kind: DocKind,
    pub unit: UnitCode,
    /// 0 for every kind but a rollup past its first generation.
    pub generation: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a document name (ledger/<unit>, profile/<unit>, rollup/<unit>[/<generation>], campaign/<unit>, submission/<unit>, review/<unit>, reads/<unit>, codes/<unit>)"
)]
pub struct DocIdError(pub String);

impl DocId {
    pub fn ledger(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Ledger,
            unit: unit.clone(),
            generation: 0,
        }
    }

    pub fn profile(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Profile,
            unit: unit.clone(),
            generation: 0,
        }
    }

    pub fn submission(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Submission,
            unit: unit.clone(),
            generation: 0,
        }
    }

    /// A hub's rollup, its generation `generation`.
    pub fn rollup(unit: &UnitCode, generation: u32) -> Self {
        DocId {
            kind: DocKind::Rollup,
            unit: unit.clone(),
            generation,
        }
    }

    /// The same document's next generation (a rollup's).
    pub fn next_generation(&self) -> Self {
        DocId {
            generation: self.generation + 1,
            ..self.clone()
        }
    }

    pub fn review(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Review,
            unit: unit.clone(),
            generation: 0,
        }
    }

    pub fn reads(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Reads,
            unit: unit.clone(),
            generation: 0,
        }
    }

    /// A hub's published keyed codes.
    pub fn codes(unit: &UnitCode) -> Self {
        DocId {
            kind: DocKind::Codes,
            unit: unit.clone(),
            generation: 0,
        }
    }

    /// The document as it exists before anyone writes to it: the same bytes on every replica.
    pub fn genesis(&self) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"yinglian-genesis"));
        let put = |doc: &mut AutoCommit, k: &str, v: &str| {
            doc.put(ROOT, k, v).expect("genesis put");
        };
        put(&mut doc, "kind", self.kind.as_str());
        put(&mut doc, "unit", self.unit.as_str());
        doc.put(ROOT, "schema", 1_i64).expect("genesis put");
        if self.generation > 0 {
            doc.put(ROOT, "generation", self.generation as i64)
                .expect("genesis put");
        }
        match self.kind {
            DocKind::Ledger => {
                doc.put_object(ROOT, "cameras", ObjType::Map)
                    .expect("genesis");
                doc.put_object(ROOT, "events", ObjType::List)
                    .expect("genesis");
            }
            DocKind::Profile => {
                let contacts = doc
                    .put_object(ROOT, "contacts", ObjType::Map)
                    .expect("genesis");
                doc.put_object(&contacts, "leader", ObjType::Map)
                    .expect("genesis");
                doc.put_object(&contacts, "liaison", ObjType::Map)
                    .expect("genesis");
            }
            DocKind::Rollup => {
                doc.put_object(ROOT, "children", ObjType::Map)
                    .expect("genesis");
            }
            DocKind::Campaign => {
                doc.put_object(ROOT, "milestones", ObjType::List)
                    .expect("genesis");
            }
            DocKind::Submission | DocKind::Review => {
                doc.put_object(ROOT, "milestones", ObjType::Map)
                    .expect("genesis");
            }
            DocKind::Reads => {
                doc.put_object(ROOT, "reads", ObjType::List)
                    .expect("genesis");
            }
            DocKind::Codes => {
                doc.put_object(ROOT, "buckets", ObjType::Map)
                    .expect("genesis");
            }
        }
        doc.commit_with(
            CommitOptions::default()
                .with_time(0)
                .with_message(format!("genesis {self}")),
        );
        doc
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.unit)?;
        if self.generation > 0 {
            write!(f, "/{}", self.generation)?;
        }
        Ok(())
    }
}

impl FromStr for DocId {
    type Err = DocIdError;
    fn from_str(s: &str) -> Result<Self, DocIdError> {
        let err = || DocIdError(s.to_string());
        let (k, rest) = s.split_once('/').ok_or_else(err)?;
        let (u, generation) = match rest.split_once('/') {
            // Only a rollup has generations, and the first is named without one.
            Some((u, g)) if k == "rollup" => match g.parse::<u32>() {
                Ok(n) if n > 0 && n.to_string() == g => (u, n),
                _ => return Err(err()),
            },
            Some(_) => return Err(err()),
            None => (rest, 0),
        };
        let kind = match k {
            "ledger" => DocKind::Ledger,
            "profile" => DocKind::Profile,
            "rollup" => DocKind::Rollup,
            "campaign" => DocKind::Campaign,
            "submission" => DocKind::Submission,
            "review" => DocKind::Review,
            "reads" => DocKind::Reads,
            "codes" => DocKind::Codes,
            _ => return Err(err()),
        };
        Ok(DocId {
            kind,
            unit: UnitCode::parse(u).map_err(|_| err())?,
            generation,
        })
    }
}

/// Commit options for a change made now by this replica.
pub fn commit_now(message: &str) -> CommitOptions {
    CommitOptions::default()
        .with_time(crate::domain::clock::now_ms())
        .with_message(message.to_string())
}

/// A document value as one of ours; objects and unknown scalars are not field values.
pub fn value_of(v: &automerge::Value<'_>) -> Option<Value> {
    match v {
        automerge::Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(t) => Some(Value::Text(t.to_string())),
            ScalarValue::Int(n) => Some(Value::Int(*n)),
            ScalarValue::Uint(n) => Some(Value::Int(*n as i64)),
            ScalarValue::F64(x) => Some(Value::Float(*x)),
            ScalarValue::Boolean(b) => Some(Value::Bool(*b)),
            _ => None,
        },
        automerge::Value::Object(_) => None,
    }
}

/// One of our values as an Automerge scalar.
pub fn scalar_of(v: &Value) -> ScalarValue {
    match v {
        Value::Text(t) => ScalarValue::Str(t.as_str().into()),
        Value::Int(n) => ScalarValue::Int(*n),
        Value::Float(x) => ScalarValue::F64(*x),
        Value::Bool(b) => ScalarValue::Boolean(*b),
    }
}

/// Reads a text at `key` of the root.
pub fn root_text(doc: &AutoCommit, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok().flatten() {
        Some((v, _)) => match value_of(&v) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        },
        None => None,
    }
}

/// The text at `key` of `obj`, if it is a string.
pub fn text_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => s.as_str().map(str::to_string),
        _ => None,
    }
}

/// The number at `key` of `obj` (an integer or a float), if any.
pub fn num_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<f64> {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::F64(f) => Some(*f),
            ScalarValue::Int(i) => Some(*i as f64),
            ScalarValue::Uint(i) => Some(*i as f64),
            _ => None,
        },
        _ => None,
    }
}

/// The scalar values of map `obj`, read in one pass over it: a `get` per key costs a search of
/// the document's operations each (most of a hub's time reading or rewriting a row of counts).
#[derive(Debug, Default)]
pub struct Scalars(std::collections::HashMap<String, ScalarValue>);

impl Scalars {
    /// The scalars of `obj` (nested objects left out); empty when `obj` is not a map.
    pub fn of(doc: &AutoCommit, obj: &ObjId) -> Scalars {
        Scalars(
            doc.map_range(obj, ..)
                .filter_map(|item| match item.value {
                    automerge::ValueRef::Scalar(s) => Some((item.key.into_owned(), s.into())),
                    automerge::ValueRef::Object(_) => None,
                })
                .collect(),
        )
    }

    /// As [`uint_at`]: 0 when absent, not a number or negative.
    pub fn uint(&self, key: &str) -> u64 {
        self.present_uint(key).unwrap_or(0)
    }

    /// As [`uint_at`], `None` when nothing is at `key`.
    fn present_uint(&self, key: &str) -> Option<u64> {
        self.0.get(key).map(|s| match s {
            ScalarValue::Uint(n) => *n,
            ScalarValue::Int(n) => (*n).max(0) as u64,
            _ => 0,
        })
    }

    /// As [`text_at`].
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(ScalarValue::Str(t)) => Some(t.as_str()),
            _ => None,
        }
    }

    /// Whether `key` holds `true`.
    pub fn is_true(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(ScalarValue::Boolean(true)))
    }
}

/// The maps held in map `obj`, by key, read in one pass (instead of its keys and a `get` each).
pub fn maps_of(doc: &AutoCommit, obj: &ObjId) -> Vec<(String, ObjId)> {
    doc.map_range(obj, ..)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
        .map(|item| {
            let id = item.id();
            (item.key.into_owned(), id)
        })
        .collect()
}

/// A scalar of a map written by [`put_map`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Put<'a> {
    Uint(u64),
    Text(&'a str),
    Bool(bool),
}

impl Put<'_> {
    fn scalar(self) -> ScalarValue {
        match self {
            Put::Uint(n) => ScalarValue::Uint(n),
            Put::Text(t) => ScalarValue::Str(t.into()),
            Put::Bool(b) => ScalarValue::Boolean(b),
        }
    }

    /// Whether `was` holds this at `key` already: the same count (an integer read as a count,
    /// as [`uint_at`] does), the same text (absent reads as empty, as a row's name and as-of time
    /// always have), the same flag.
    fn is_at(self, was: &Scalars, key: &str) -> bool {
        match self {
            Put::Uint(n) => was.present_uint(key) == Some(n),
            Put::Text(t) => was.text(key).unwrap_or_default() == t,
            Put::Bool(b) => matches!(was.0.get(key), Some(ScalarValue::Boolean(x)) if *x == b),
        }
    }
}

/// Writes the map at `key` of `parent` with `fields` (a map only its writer changes: a hub's own
/// rollup). Made whole in one batch when it is not there, or when most of its fields differ (one
/// splice of the document's operations instead of one a field: most of a hub's time writing its
/// rollup in a cold start); otherwise each field that differs is written, the map read once.
/// `fields` are the map's whole content: a field of the old map not among them is not carried
/// over when the map is made anew.
pub fn put_map(
    doc: &mut AutoCommit,
    parent: &ObjId,
    key: &str,
    fields: &[(&str, Put<'_>)],
) -> Result<(), automerge::AutomergeError> {
    let (obj, differ) = match obj_at(doc, parent, key, ObjType::Map) {
        None => (None, fields.iter().collect::<Vec<_>>()),
        Some(obj) => {
            let was = Scalars::of(doc, &obj);
            let differ: Vec<_> = fields.iter().filter(|(k, v)| !v.is_at(&was, k)).collect();
            (Some(obj), differ)
        }
    };
    match obj {
        Some(obj) if differ.len() * 2 <= fields.len() => {
            for (k, v) in differ {
                doc.put(&obj, *k, v.scalar())?;
            }
        }
        _ => {
            let map: std::collections::HashMap<&str, automerge::hydrate::Value> = fields
                .iter()
                .map(|(k, v)| (*k, automerge::hydrate::Value::Scalar(v.scalar())))
                .collect();
            doc.batch_create_object(
                parent,
                key,
                &automerge::hydrate::Value::Map(map.into()),
                false,
            )?;
        }
    }
    Ok(())
}

/// `counts` as the fields of [`put_map`].
pub fn uints<'k>(counts: impl IntoIterator<Item = (&'k str, u64)>) -> Vec<(&'k str, Put<'static>)> {
    counts.into_iter().map(|(k, n)| (k, Put::Uint(n))).collect()
}

/// The count at `key` of `obj`: 0 when absent, not a number or negative.
pub fn uint_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> u64 {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Uint(n) => *n,
            ScalarValue::Int(n) => (*n).max(0) as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// The object of type `kind` at `key` of `obj`, if that is what is there.
pub fn obj_at(doc: &AutoCommit, obj: &ObjId, key: &str, kind: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok().flatten() {
        Some((automerge::Value::Object(k), id)) if k == kind => Some(id),
        _ => None,
    }
}

/// Hex form of the heads, for storage and display.
pub fn heads_hex(heads: &[automerge::ChangeHash]) -> Vec<String> {
    heads.iter().map(|h| h.to_string()).collect()
}

/// What changed in `doc` since `before`, as patches. Uses the document's diff index when the
/// caller set it (`update_diff_cursor` at `before`); a change whose only effect is to resolve a
/// conflict leaves no indexed patch, so an empty indexed result is checked by a full diff.
pub fn diff_since(doc: &mut AutoCommit, before: &[automerge::ChangeHash]) -> Vec<automerge::Patch> {
    let after = doc.get_heads();
    if before == after.as_slice() {
        return Vec::new();
    }
    let patches = doc.diff(before, &after);
    if !patches.is_empty() {
        return patches;
    }
    // Automerge caches the last diff by range, so the full diff is asked for backwards: the same
    // keys change, and the empty indexed answer is not returned again.
    doc.reset_diff_cursor();
    doc.diff(&after, before)
}

/// Lets go of what Automerge keeps of the last change and the last diff: the change's patch
/// events (recorded while the diff index is on, and even while it is off when changes arrive
/// in a batch) and the last diff's patches, both held inside the document. Emptying the index
/// keeps its buffers (`Vec::clear`): a copy kept in the document cache would hold, as long as
/// it stays cached, room for the largest change it ever took — five times the document itself
/// after an import (`node/tests/retained.rs`), some 7 MiB over a city's cached copies at
/// 41 × 50. The index is dropped; an empty diff from a new one at the current heads (which reads
/// nothing of the document) replaces the cached diff, and that index is dropped too: the next
/// write starts its own.
pub fn forget_last_change(doc: &mut AutoCommit) {
    doc.reset_diff_cursor();
    doc.update_diff_cursor();
    let heads = doc.get_heads();
    let none = doc.diff(&heads, &heads);
    debug_assert!(none.is_empty());
    doc.reset_diff_cursor();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_read_in_one_pass_reads_as_a_get_per_key_and_counts_are_written_where_they_differ() {
        let mut doc = AutoCommit::new();
        let m = doc.put_object(ROOT, "row", ObjType::Map).unwrap();
        doc.put(&m, "built", 7u64).unwrap();
        doc.put(&m, "online", ScalarValue::Int(-3)).unwrap();
        doc.put(&m, "name", "渝中区").unwrap();
        doc.put(&m, "refused", true).unwrap();
        doc.put_object(&m, "nested", ObjType::Map).unwrap();
        doc.commit();
        let was = Scalars::of(&doc, &m);
        for k in ["built", "online", "name", "refused", "nested", "absent"] {
            assert_eq!(was.uint(k), uint_at(&doc, &m, k), "{k}");
            assert_eq!(was.text(k).map(str::to_string), text_at(&doc, &m, k), "{k}");
        }
        assert!(was.is_true("refused") && !was.is_true("built"));
        assert_eq!(
            maps_of(&doc, &m),
            vec![(
                "nested".to_string(),
                obj_at(&doc, &m, "nested", ObjType::Map).unwrap()
            )]
        );
        // Equal values (an Int read as a count included) are not written again; a different
        // one and an absent one are.
        doc.commit();
        let root = ROOT;
        put_map(
            &mut doc,
            &root,
            "row",
            &[
                ("built", Put::Uint(7)),
                ("online", Put::Uint(0)),
                ("name", Put::Text("渝中区")),
                ("refused", Put::Bool(true)),
                ("issues", Put::Uint(0)),
            ],
        )
        .unwrap();
        assert_eq!(doc.pending_ops(), 1, "only the absent count is written");
        let mut fields = uints([("built", 8), ("online", 0), ("issues", 0)]);
        fields.extend([("name", Put::Text("渝中区")), ("refused", Put::Bool(true))]);
        put_map(&mut doc, &root, "row", &fields).unwrap();
        assert_eq!(doc.pending_ops(), 2, "one of five differs: written alone");
        assert_eq!(uint_at(&doc, &m, "built"), 8);
        assert_eq!(uint_at(&doc, &m, "issues"), 0);
        assert!(doc.get(&m, "issues").unwrap().is_some());
        // Most fields differing: the map is made anew in one batch, and reads back the same.
        let before = doc.pending_ops();
        put_map(
            &mut doc,
            &root,
            "row",
            &[
                ("built", Put::Uint(9)),
                ("online", Put::Uint(4)),
                ("name", Put::Text("渝中区")),
                ("refused", Put::Bool(false)),
                ("issues", Put::Uint(0)),
            ],
        )
        .unwrap();
        assert_eq!(doc.pending_ops() - before, 6, "one map and its five fields");
        let row = obj_at(&doc, &ROOT, "row", ObjType::Map).expect("still a map");
        let was = Scalars::of(&doc, &row);
        assert_eq!((was.uint("built"), was.uint("online")), (9, 4));
        assert_eq!(was.text("name"), Some("渝中区"));
        assert!(!was.is_true("refused"));
        // A map not there is made whole, and reads back as written field by field.
        put_map(
            &mut doc,
            &root,
            "fresh",
            &[
                ("built", Put::Uint(3)),
                ("name", Put::Text("北碚区")),
                ("refused", Put::Bool(false)),
            ],
        )
        .unwrap();
        let fresh = obj_at(&doc, &ROOT, "fresh", ObjType::Map).expect("made");
        let was = Scalars::of(&doc, &fresh);
        assert_eq!((was.uint("built"), was.text("name")), (3, Some("北碚区")));
        assert!(!was.is_true("refused") && doc.get(&fresh, "refused").unwrap().is_some());
    }

    #[test]
    fn genesis_is_the_same_everywhere() {
        let unit = UnitCode::parse("500103-0001").unwrap();
        let mut a = DocId::ledger(&unit).genesis();
        let mut b = DocId::ledger(&unit).genesis();
        assert_eq!(a.get_heads(), b.get_heads());
        let mut other = DocId::ledger(&UnitCode::parse("500103-0002").unwrap()).genesis();
        assert_ne!(a.get_heads(), other.get_heads());
        assert_eq!(
            "profile/LJXQ".parse::<DocId>().unwrap(),
            DocId::profile(&UnitCode::parse("LJXQ").unwrap())
        );
        assert!("ledger/a/b".parse::<DocId>().is_err());
        assert!("bogus/x".parse::<DocId>().is_err());
    }
}
