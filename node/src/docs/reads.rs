//! `reads/<unit>`: who read the unit's camera records (谁查看了本单位的点位). The hub that holds the
//! unit's ledger and answered a read (the police catalogue, a higher level's camera list) appends
//! one entry per read to its own list in the document (`by:<hub>`), never to another hub's; the
//! document goes down to that unit alone, so an institution reads it offline, and the unit keeps
//! of what a hub sends only new entries of that hub's own list (`check_added`): a parent cannot
//! delete or alter what another hub recorded, nor hide its own reads except by the trim of its
//! list to the newest `KEEP`. The `reads` list of the first schema (one list for every writer) is
//! read still and written no more.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};

use crate::docs::document::{DocId, obj_at, text_at, uint_at};
use crate::domain::catalogue::Read;

/// The list of the first schema.
const LEGACY: &str = "reads";
/// The prefix of a hub's own list: `by:500103`.
const BY: &str = "by:";

/// The entries a hub's list keeps; older ones are dropped as new ones come.
pub const KEEP: usize = 500;

fn own_key(hub: &str) -> String {
    format!("{BY}{hub}")
}

/// Appends one read to the list of the hub that answered it (`r.hub`) and drops the oldest of
/// that list beyond `KEEP`: first the reads that returned no camera (a reader's many "nothing
/// changed since my cursor"), so that a flood of empty reads can never push a read of camera
/// records out of the list.
pub fn append(doc: &mut AutoCommit, r: &Read) -> Result<(), automerge::AutomergeError> {
    let key = own_key(&r.hub);
    let list = match obj_at(doc, &ROOT, &key, ObjType::List) {
        Some(l) => l,
        None => doc.put_object(ROOT, key.as_str(), ObjType::List)?,
    };
    let at = doc.length(&list);
    let e = doc.insert_object(&list, at, ObjType::Map)?;
    doc.put(&e, "at", r.at.as_str())?;
    doc.put(&e, "reader", r.reader.as_str())?;
    doc.put(&e, "call", r.call.as_str())?;
    doc.put(&e, "hub", r.hub.as_str())?;
    doc.put(&e, "cameras", r.cameras)?;
    doc.put(&e, "full", r.full)?;
    if !r.via.is_empty() {
        doc.put(&e, "via", r.via.as_str())?;
    }
    while doc.length(&list) > KEEP {
        let empty = (0..doc.length(&list)).find(|i| match doc.get(&list, *i).ok().flatten() {
            Some((automerge::Value::Object(ObjType::Map), e)) => uint_at(doc, &e, "cameras") == 0,
            _ => true,
        });
        doc.delete(&list, empty.unwrap_or(0))?;
    }
    Ok(())
}

fn entry(doc: &AutoCommit, e: &ObjId) -> Read {
    Read {
        at: text_at(doc, e, "at").unwrap_or_default(),
        reader: text_at(doc, e, "reader").unwrap_or_default(),
        call: text_at(doc, e, "call").unwrap_or_default(),
        hub: text_at(doc, e, "hub").unwrap_or_default(),
        cameras: uint_at(doc, e, "cameras"),
        full: matches!(
            doc.get(e, "full").ok().flatten(),
            Some((automerge::Value::Scalar(s), _)) if matches!(s.as_ref(), automerge::ScalarValue::Boolean(true))
        ),
        via: text_at(doc, e, "via").unwrap_or_default(),
    }
}

/// A list's entries, each with its object (`None`: a value that is not an entry).
type Entries = Vec<(Option<ObjId>, Read)>;

/// The entries of the list at `key` of the root, each with its object (its identity across
/// replicas); a value that is not an entry counts as one with no identity.
fn entries(doc: &AutoCommit, key: &str) -> Option<(ObjId, Entries)> {
    let list = obj_at(doc, &ROOT, key, ObjType::List)?;
    let all = (0..doc.length(&list))
        .map(|i| match doc.get(&list, i).ok().flatten() {
            Some((automerge::Value::Object(ObjType::Map), e)) => {
                let r = entry(doc, &e);
                (Some(e), r)
            }
            _ => (None, Read::default()),
        })
        .collect();
    Some((list, all))
}

/// Every read kept: the first schema's list, then each hub's list (by hub code), oldest first
/// within each.
pub fn read(doc: &AutoCommit) -> Vec<Read> {
    let mut keys: Vec<String> = doc.keys(ROOT).filter(|k| k.starts_with(BY)).collect();
    keys.sort();
    std::iter::once(LEGACY.to_string())
        .chain(keys)
        .filter_map(|k| entries(doc, &k))
        .flat_map(|(_, list)| {
            list.into_iter()
                .filter(|(e, _)| e.is_some())
                .map(|(_, r)| r)
        })
        .collect()
}

/// Checks what `writer` (the hub that sent the changes) did to the document since `before`: it
/// may only add entries to its own list (`by:<writer>`, each naming it as the hub that answered),
/// and drop from that list only as `append` trims it (no more than it added, the empty reads
/// first, then the oldest, and only down to `KEEP`); every other part of the document, and every
/// entry already there, stays as it was.
pub fn check_added(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    writer: &str,
    id: &DocId,
) -> Result<(), String> {
    let mut old = doc
        .fork_at(before)
        .map_err(|e| format!("the state before the change cannot be read: {e}"))?;
    // The document as every replica begins it counts as there before (the first changes a unit
    // receives of it bring the genesis along).
    old.merge(&mut id.genesis())
        .map_err(|e| format!("the genesis cannot be merged: {e}"))?;
    let own = own_key(writer);
    // Everything but the writer's own list: the same before and after.
    let mut keys: Vec<String> = old.keys(ROOT).chain(doc.keys(ROOT)).collect();
    keys.sort();
    keys.dedup();
    for k in keys.iter().filter(|k| **k != own) {
        let same = match (old.get(ROOT, k.as_str()), doc.get(ROOT, k.as_str())) {
            (
                Ok(Some((automerge::Value::Scalar(a), _))),
                Ok(Some((automerge::Value::Scalar(b), _))),
            ) => a == b,
            (Ok(None), Ok(None)) => true,
            (
                Ok(Some((automerge::Value::Object(_), a))),
                Ok(Some((automerge::Value::Object(_), b))),
            ) => a == b && entries(&old, k) == entries(doc, k),
            _ => false,
        };
        if !same {
            return Err(if k.starts_with(BY) || k == LEGACY {
                format!(
                    "{writer} may not change the reads another hub recorded ({k}): a hub adds its own reads only"
                )
            } else {
                format!("{writer} may not change {k} of a reads document")
            });
        }
    }
    let Some((list, now)) = entries(doc, &own) else {
        return match old.get(ROOT, own.as_str()) {
            Ok(None) => Ok(()),
            _ => Err(format!("{writer} may not remove its list of reads")),
        };
    };
    let then = match entries(&old, &own) {
        Some((was, then)) if was == list => then,
        Some(_) => return Err(format!("{writer} may not replace its list of reads")),
        None => Vec::new(),
    };
    // The entries kept are the ones before, unchanged and in order, then the new ones.
    let mut kept = Vec::new();
    let mut added = 0usize;
    let mut cursor = 0usize;
    for (id, r) in &now {
        let Some(id) = id else {
            return Err(format!("{writer} may add read entries only to its list"));
        };
        match then.iter().position(|(e, _)| e.as_ref() == Some(id)) {
            Some(i) if i >= cursor && added == 0 => {
                if then[i].1 != *r {
                    return Err(format!(
                        "{writer} may not alter a read it recorded (of {})",
                        then[i].1.at
                    ));
                }
                cursor = i + 1;
                kept.push(i);
            }
            Some(_) => return Err(format!("{writer} may not reorder the reads it recorded")),
            None => {
                if r.hub != writer {
                    return Err(format!(
                        "{writer} may add only reads it answered itself, not one of hub {}",
                        if r.hub.is_empty() { "?" } else { &r.hub }
                    ));
                }
                if r.reader.is_empty() || r.call.is_empty() || r.at.is_empty() {
                    return Err(format!(
                        "{writer} added a read without its reader, call or time"
                    ));
                }
                added += 1;
            }
        }
    }
    let dropped: Vec<usize> = (0..then.len()).filter(|i| !kept.contains(i)).collect();
    if dropped.is_empty() {
        return Ok(());
    }
    if dropped.len() > added || now.len() < KEEP {
        return Err(format!(
            "{writer} may not delete the reads it recorded ({} dropped, {} added, {} kept of {KEEP})",
            dropped.len(),
            added,
            now.len()
        ));
    }
    // As `append` trims: a read of cameras goes only once no empty read is left before the
    // change's end, and only after every older one.
    for &d in &dropped {
        if then[d].1.cameras == 0 {
            continue;
        }
        let empty_left = kept.iter().any(|&k| then[k].1.cameras == 0);
        let older_left = kept.iter().any(|&k| k < d);
        if empty_left || older_left {
            return Err(format!(
                "{writer} may not delete the read of {} it recorded (only the oldest go, the empty ones first)",
                then[d].1.at
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::unit::UnitCode;

    #[test]
    fn reads_read_back_and_the_oldest_go() {
        let mut doc = DocId::reads(&UnitCode::parse("500103-0001").unwrap()).genesis();
        let r = |n: u64| Read {
            at: format!("2026-11-26T02:01:{:02}Z", n % 60),
            reader: "urn:yinglian:subscriber:GA-500000".into(),
            call: "Catalogue.Read".into(),
            hub: "500103".into(),
            cameras: n,
            full: n == 0,
            via: String::new(),
        };
        append(&mut doc, &r(0)).unwrap();
        append(&mut doc, &r(3)).unwrap();
        doc.commit();
        assert_eq!(read(&doc), vec![r(0), r(3)]);
        for n in 0..KEEP as u64 {
            append(&mut doc, &r(10 + n)).unwrap();
        }
        let all = read(&doc);
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].cameras, 10);
    }

    #[test]
    fn a_flood_of_empty_reads_never_pushes_out_a_read_of_cameras() {
        let mut doc = DocId::reads(&UnitCode::parse("500103-0001").unwrap()).genesis();
        let r = |n: u64, cameras: u64| Read {
            at: format!("2026-11-26T02:{:02}:{:02}Z", n / 60 % 60, n % 60),
            reader: "urn:yinglian:subscriber:GA-500000".into(),
            call: "Catalogue.Read".into(),
            hub: "500103".into(),
            cameras,
            full: cameras > 0,
            via: String::new(),
        };
        append(&mut doc, &r(0, 2000)).unwrap();
        for n in 1..=(KEEP as u64 + 100) {
            append(&mut doc, &r(n, 0)).unwrap();
        }
        let all = read(&doc);
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0], r(0, 2000), "the bulk read is kept");
        assert_eq!(all[KEEP - 1], r(KEEP as u64 + 100, 0));
    }

    fn read_by(hub: &str, n: u64, cameras: u64) -> Read {
        Read {
            at: format!("2026-11-26T03:{:02}:{:02}Z", n / 60 % 60, n % 60),
            reader: "urn:yinglian:subscriber:GA-500000".into(),
            call: "Catalogue.Read".into(),
            hub: hub.into(),
            cameras,
            full: true,
            via: String::new(),
        }
    }

    /// A reads document at the hospital 500103-0099 holding one read its district 500103
    /// recorded and one the hospital recorded itself (a read of its own cameras), and what the
    /// district then does to a copy of it, checked as it arrives.
    fn arriving(change: impl FnOnce(&mut AutoCommit)) -> (Result<(), String>, Vec<Read>) {
        let mut doc = DocId::reads(&UnitCode::parse("500103-0099").unwrap()).genesis();
        append(&mut doc, &read_by("500103", 1, 7)).unwrap();
        append(&mut doc, &read_by("500103-0099", 2, 3)).unwrap();
        doc.commit();
        let before = doc.get_heads();
        let mut theirs = doc
            .fork()
            .with_actor(automerge::ActorId::from(b"district".as_slice()));
        change(&mut theirs);
        theirs.commit();
        doc.merge(&mut theirs).unwrap();
        let id = DocId::reads(&UnitCode::parse("500103-0099").unwrap());
        (check_added(&mut doc, &before, "500103", &id), read(&doc))
    }

    #[test]
    fn the_first_read_arrives_with_the_genesis() {
        let id = DocId::reads(&UnitCode::parse("500103-0099").unwrap());
        let mut theirs = id.genesis();
        append(&mut theirs, &read_by("500103", 1, 7)).unwrap();
        theirs.commit();
        let mut here = AutoCommit::new();
        here.merge(&mut theirs).unwrap();
        assert_eq!(check_added(&mut here, &[], "500103", &id), Ok(()));
        assert_eq!(read(&here), vec![read_by("500103", 1, 7)]);
        // Not in another hub's name, even the first.
        let mut theirs = id.genesis();
        append(&mut theirs, &read_by("500103-0099", 1, 7)).unwrap();
        theirs.commit();
        let mut here = AutoCommit::new();
        here.merge(&mut theirs).unwrap();
        assert!(check_added(&mut here, &[], "500103", &id).is_err());
    }

    #[test]
    fn a_parent_adds_its_own_reads_and_nothing_else() {
        let (ok, all) = arriving(|d| append(d, &read_by("500103", 3, 5)).unwrap());
        assert_eq!(ok, Ok(()));
        assert_eq!(all.len(), 3);
        // Deleting the hospital's own read, or its own earlier one; altering one; adding one
        // in another hub's name or in another hub's list; writing elsewhere in the document.
        type Change = Box<dyn FnOnce(&mut AutoCommit)>;
        let refused: Vec<(&str, Change)> = vec![
            (
                "another hub recorded",
                Box::new(|d: &mut AutoCommit| {
                    let l = obj_at(d, &ROOT, "by:500103-0099", ObjType::List).unwrap();
                    d.delete(&l, 0).unwrap();
                }),
            ),
            (
                "may not delete the reads it recorded",
                Box::new(|d: &mut AutoCommit| {
                    let l = obj_at(d, &ROOT, "by:500103", ObjType::List).unwrap();
                    d.delete(&l, 0).unwrap();
                }),
            ),
            (
                "may not alter a read",
                Box::new(|d: &mut AutoCommit| {
                    let l = obj_at(d, &ROOT, "by:500103", ObjType::List).unwrap();
                    let (_, e) = d.get(&l, 0).unwrap().unwrap();
                    d.put(&e, "cameras", 0_u64).unwrap();
                }),
            ),
            (
                "only reads it answered itself",
                Box::new(|d: &mut AutoCommit| {
                    let mut r = read_by("500103", 3, 5);
                    r.hub = "500000".into();
                    let l = obj_at(d, &ROOT, "by:500103", ObjType::List).unwrap();
                    let e = d.insert_object(&l, 1, ObjType::Map).unwrap();
                    d.put(&e, "hub", r.hub.as_str()).unwrap();
                }),
            ),
            (
                "another hub recorded",
                Box::new(|d: &mut AutoCommit| append(d, &read_by("500103-0099", 4, 1)).unwrap()),
            ),
            (
                "may not replace its list",
                Box::new(|d: &mut AutoCommit| {
                    d.put_object(ROOT, "by:500103", ObjType::List).unwrap();
                }),
            ),
            (
                "may not change unit",
                Box::new(|d: &mut AutoCommit| d.put(ROOT, "unit", "500104").unwrap()),
            ),
        ];
        for (why, change) in refused {
            let (got, all) = arriving(change);
            let err = got.expect_err(why);
            assert!(err.contains(why), "{why:?} not in {err:?}");
            assert!(all.len() <= 3, "{all:?}");
        }
    }

    #[test]
    fn a_parent_trims_its_own_list_as_append_does_and_no_other_way() {
        let id = DocId::reads(&UnitCode::parse("500103-0099").unwrap());
        let mut doc = id.genesis();
        append(&mut doc, &read_by("500103-0099", 0, 9)).unwrap();
        for n in 0..KEEP as u64 {
            append(&mut doc, &read_by("500103", n, 1 + n % 2)).unwrap();
        }
        doc.commit();
        let before = doc.get_heads();
        // One more: the oldest of the district's own goes, the hospital's stays.
        let mut honest = doc.fork();
        append(&mut honest, &read_by("500103", 999, 4)).unwrap();
        honest.commit();
        let mut ok = doc.clone();
        ok.merge(&mut honest).unwrap();
        assert_eq!(check_added(&mut ok, &before, "500103", &id), Ok(()));
        assert_eq!(read(&ok).len(), KEEP + 1);
        assert!(read(&ok).iter().any(|r| r.hub == "500103-0099"));
        // One more, but a newer read dropped instead of the oldest: refused.
        let mut sly = doc.fork();
        let l = obj_at(&sly, &ROOT, "by:500103", ObjType::List).unwrap();
        let e = sly.insert_object(&l, KEEP, ObjType::Map).unwrap();
        let r = read_by("500103", 999, 4);
        for (k, v) in [
            ("at", r.at.as_str()),
            ("reader", &r.reader),
            ("call", &r.call),
            ("hub", &r.hub),
        ] {
            sly.put(&e, k, v).unwrap();
        }
        sly.put(&e, "cameras", 4_u64).unwrap();
        sly.delete(&l, 250).unwrap();
        sly.commit();
        let mut bad = doc.clone();
        bad.merge(&mut sly).unwrap();
        let err = check_added(&mut bad, &before, "500103", &id).unwrap_err();
        assert!(err.contains("only the oldest go"), "{err}");
    }
}
