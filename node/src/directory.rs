//! The liaison directory: the contacts a unit may see — its own subtree (the profiles that travel
//! up to it) and the unit it reports to (whose profile travels one level down) — searchable by
//! unit, name or phone, with missing contacts listed as such. Served locally by
//! `yl-hub directory` and remotely by the `Directory` gRPC service.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use tonic::{Request, Response, Status};
use yinglian_proto::v1 as pb;

use crate::contacts::{Contact, ContactRole};
use crate::net::ConnInfo;
use crate::pki::Role;
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
    let rows: Vec<(String, Option<String>)> = sqlx::query_as("SELECT unit, parent FROM units")
        .fetch_all(store.pool())
        .await?;
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

fn contact(c: &Option<Contact>) -> Option<pb::Contact> {
    c.as_ref().map(|c| pb::Contact {
        name: c.name.clone(),
        position: c.position.clone(),
        phone: c.phone.clone(),
    })
}

/// The `Directory` service of a hub.
pub struct DirectoryService {
    pub store: std::sync::Arc<Store>,
}

#[tonic::async_trait]
impl pb::directory_server::Directory for DirectoryService {
    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupReply>, Status> {
        let cert = request
            .extensions()
            .get::<ConnInfo>()
            .and_then(|i| i.peer.clone())
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let internal = |e: StoreError| Status::unavailable(e.to_string());
        let row: Option<(String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT role, scope, revoked_at FROM children WHERE unit = ?")
                .bind(cert.unit.as_str())
                .fetch_optional(self.store.pool())
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
        let (root, extra) = match row {
            Some((role, _, None))
                if role == cert.role.as_str() && cert.role != Role::Subscriber =>
            {
                // A child: its own subtree, and this unit (whom it reports to).
                (cert.unit.to_string(), vec![self.store.unit().to_string()])
            }
            Some((role, Some(scope), None))
                if role == "subscriber" && cert.role == Role::Subscriber =>
            {
                (scope, vec![])
            }
            _ => {
                let reason = format!(
                    "{cert} is not a child or subscriber of {}",
                    self.store.unit()
                );
                tracing::warn!(peer = %cert, reason, "directory refused");
                return Err(Status::permission_denied(reason));
            }
        };
        let q = request.get_ref().query.clone();
        let list = entries(&self.store, &root, &extra, Some(&q))
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::LookupReply {
            entries: list
                .into_iter()
                .map(|e| pb::DirectoryEntry {
                    unit: e.unit,
                    name: e.name,
                    kind: e.kind.unwrap_or_default(),
                    parent: e.parent.unwrap_or_default(),
                    leader: contact(&e.leader),
                    liaison: contact(&e.liaison),
                    missing: e.missing,
                })
                .collect(),
        }))
    }
}
