//! The liaison directory: the contacts a unit may see — its own subtree (the profiles that travel
//! up to it) and the unit it reports to (whose profile travels one level down) — searchable by
//! unit, name or phone, with missing contacts listed as such. Read by `yl-hub directory`, the
//! web pages and the `Directory` gRPC service.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::domain::contacts::{Contact, ContactRole};
use crate::store::{Store, StoreError};

/// One unit in the directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub unit: String,
    pub name: String,
    pub kind: Option<String>,
    pub parent: Option<String>,
    pub leader: Option<Contact>,
    pub liaison: Option<Contact>,
    /// `leader`, `liaison`: what the unit has not reported.
    pub missing: Vec<String>,
}

/// The units of `root`'s subtree (itself included), from the profiles this store holds.
pub async fn subtree(store: &Store, root: &str) -> Result<BTreeSet<String>, StoreError> {
    let rows = store.unit_parents().await?;
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for (u, p) in rows {
        if let Some(p) = p {
            children.entry(p).or_default().push(u);
        }
    }
    let mut out = BTreeSet::from([root.to_string()]);
    let mut todo = vec![root.to_string()];
    while let Some(u) = todo.pop() {
        for c in children.get(&u).into_iter().flatten() {
            if out.insert(c.clone()) {
                todo.push(c.clone());
            }
        }
    }
    Ok(out)
}

/// The entries of `root`'s subtree and of the `extra` units, matching `query`.
pub async fn entries(
    store: &Store,
    root: &str,
    extra: &[String],
    query: Option<&str>,
) -> Result<Vec<Entry>, StoreError> {
    let mut units = subtree(store, root).await?;
    units.extend(extra.iter().cloned());
    let q = query
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let mut out = Vec::new();
    for u in units {
        let Some(p) = store.profile(&u).await? else {
            continue;
        };
        let leader = p.contact(ContactRole::Leader).cloned();
        let liaison = p.contact(ContactRole::Liaison).cloned();
        if let Some(q) = &q {
            let mut hay = vec![p.unit.to_lowercase(), p.name.to_lowercase()];
            for c in [&leader, &liaison].into_iter().flatten() {
                hay.push(c.name.to_lowercase());
                hay.push(c.phone.to_lowercase());
            }
            if !hay.iter().any(|h| h.contains(q.as_str())) {
                continue;
            }
        }
        let mut missing = Vec::new();
        if leader.is_none() {
            missing.push("leader".to_string());
        }
        if liaison.is_none() {
            missing.push("liaison".to_string());
        }
        out.push(Entry {
            unit: p.unit,
            name: p.name,
            kind: p.kind,
            parent: p.parent,
            leader,
            liaison,
            missing,
        });
    }
    Ok(out)
}

/// The directory as this unit sees it: its own subtree and the unit it reports to, matching
/// `query` (unit code, name, contact name or phone).
pub async fn visible(store: &Store, query: Option<&str>) -> Result<Vec<Entry>, StoreError> {
    let parent: Vec<String> = store.meta("parent_unit").await?.into_iter().collect();
    entries(store, store.unit().as_str(), &parent, query).await
}
