//! `reads/<unit>`: who read the unit's camera records (谁查看了本单位的点位). The hub that holds the
//! unit's ledger and answered a read (the police catalogue, a higher level's camera list) appends
//! one entry per read; the document goes down to that unit alone, so an institution reads it
//! offline. Only the newest `KEEP` entries are kept in the list.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};

use crate::docs::document::{obj_at, text_at, uint_at};
use crate::domain::catalogue::Read;

const READS: &str = "reads";

/// The entries a document keeps; older ones are dropped as new ones come.
pub const KEEP: usize = 500;

/// Appends one read and drops the oldest beyond `KEEP`: first the reads that returned no camera
/// (a reader's many "nothing changed since my cursor"), so that a flood of empty reads can never
/// push a read of camera records out of the list.
pub fn append(doc: &mut AutoCommit, r: &Read) -> Result<(), automerge::AutomergeError> {
    let list = match obj_at(doc, &ROOT, READS, ObjType::List) {
        Some(l) => l,
        None => doc.put_object(ROOT, READS, ObjType::List)?,
    };
    let at = doc.length(&list);
    let e = doc.insert_object(&list, at, ObjType::Map)?;
    doc.put(&e, "at", r.at.as_str())?;
    doc.put(&e, "reader", r.reader.as_str())?;
    doc.put(&e, "call", r.call.as_str())?;
    doc.put(&e, "hub", r.hub.as_str())?;
    doc.put(&e, "cameras", r.cameras)?;
    doc.put(&e, "full", r.full)?;
    while doc.length(&list) > KEEP {
        let empty = (0..doc.length(&list)).find(|i| match doc.get(&list, *i).ok().flatten() {
            Some((automerge::Value::Object(ObjType::Map), e)) => uint_at(doc, &e, "cameras") == 0,
            _ => true,
        });
        doc.delete(&list, empty.unwrap_or(0))?;
    }
    Ok(())
}

/// Every read kept, oldest first.
pub fn read(doc: &AutoCommit) -> Vec<Read> {
    let Some(list) = obj_at(doc, &ROOT, READS, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok().flatten() {
            Some((automerge::Value::Object(ObjType::Map), e)) => Some(Read {
                at: text_at(doc, &e, "at").unwrap_or_default(),
                reader: text_at(doc, &e, "reader").unwrap_or_default(),
                call: text_at(doc, &e, "call").unwrap_or_default(),
                hub: text_at(doc, &e, "hub").unwrap_or_default(),
                cameras: uint_at(doc, &e, "cameras"),
                full: matches!(
                    doc.get(&e, "full").ok().flatten(),
                    Some((automerge::Value::Scalar(s), _)) if matches!(s.as_ref(), automerge::ScalarValue::Boolean(true))
                ),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::document::DocId;
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
}
