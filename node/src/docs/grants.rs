//! The catalogue grants a hub publishes in its own profile (`catalogue_grants`): the subscribers
//! it enrolled with `--catalogue`, each by its exact certificate and scope. The profile goes down
//! to the hub's hub children, whose admission gate reads the grants to admit the city's police
//! to the catalogue of the district (nothing else). Beside them (`catalogue_relayed`), the grants
//! its own parent published, which it admits as delegates: a hub child asked on behalf of such a
//! reader (`Reports.Catalogue`) checks the reader there, and admits nobody directly by them.
//! Only the hub writes its profile.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};

use crate::docs::document::{obj_at, text_at};
use crate::domain::catalogue::Grant;

const GRANTS: &str = "catalogue_grants";
const RELAYED: &str = "catalogue_relayed";

/// The grants published, by subscriber.
pub fn read(doc: &AutoCommit) -> Vec<Grant> {
    read_at(doc, GRANTS)
}

/// The parent's grants this hub relays, by subscriber.
pub fn read_relayed(doc: &AutoCommit) -> Vec<Grant> {
    read_at(doc, RELAYED)
}

/// Makes the published grants `grants` (a change only where they differ). Returns whether
/// anything changed.
pub fn write(doc: &mut AutoCommit, grants: &[Grant]) -> Result<bool, automerge::AutomergeError> {
    write_at(doc, GRANTS, grants)
}

/// Makes the relayed grants `grants`, as `write` does.
pub fn write_relayed(
    doc: &mut AutoCommit,
    grants: &[Grant],
) -> Result<bool, automerge::AutomergeError> {
    write_at(doc, RELAYED, grants)
}

fn read_at(doc: &AutoCommit, key: &str) -> Vec<Grant> {
    let Some(map) = obj_at(doc, &ROOT, key, ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&map)
        .filter_map(|unit| {
            let g = obj_at(doc, &map, &unit, ObjType::Map)?;
            Some(Grant {
                fingerprint: text_at(doc, &g, "fingerprint")?,
                scope: text_at(doc, &g, "scope")?,
                unit,
            })
        })
        .collect()
}

fn write_at(
    doc: &mut AutoCommit,
    key: &str,
    grants: &[Grant],
) -> Result<bool, automerge::AutomergeError> {
    let mut now = read_at(doc, key);
    let mut want = grants.to_vec();
    now.sort_by(|a, b| a.unit.cmp(&b.unit));
    want.sort_by(|a, b| a.unit.cmp(&b.unit));
    if now == want {
        return Ok(false);
    }
    let map = match obj_at(doc, &ROOT, key, ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, key, ObjType::Map)?,
    };
    for old in &now {
        if !want.iter().any(|g| g.unit == old.unit) {
            doc.delete(&map, old.unit.as_str())?;
        }
    }
    for g in &want {
        if now.contains(g) {
            continue;
        }
        let e = doc.put_object(&map, g.unit.as_str(), ObjType::Map)?;
        doc.put(&e, "fingerprint", g.fingerprint.as_str())?;
        doc.put(&e, "scope", g.scope.as_str())?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::document::DocId;
    use crate::domain::unit::UnitCode;

    #[test]
    fn grants_are_replaced_as_a_whole() {
        let mut doc = DocId::profile(&UnitCode::parse("500000").unwrap()).genesis();
        let g = |u: &str, f: &str| Grant {
            unit: u.into(),
            fingerprint: f.into(),
            scope: "500000".into(),
        };
        assert!(write(&mut doc, &[g("GA-500000", "aa"), g("GA-500001", "bb")]).unwrap());
        assert!(!write(&mut doc, &[g("GA-500001", "bb"), g("GA-500000", "aa")]).unwrap());
        assert!(write(&mut doc, &[g("GA-500000", "cc")]).unwrap());
        assert_eq!(read(&doc), vec![g("GA-500000", "cc")]);
        assert!(write(&mut doc, &[]).unwrap());
        assert!(read(&doc).is_empty());
        // The relayed ones are apart: admitted by nobody directly.
        assert!(write_relayed(&mut doc, &[g("GA-500000", "dd")]).unwrap());
        assert!(read(&doc).is_empty());
        assert_eq!(read_relayed(&doc), vec![g("GA-500000", "dd")]);
    }
}
