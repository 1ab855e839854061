//! The `Directory` gRPC service: the liaison directory (`app::directory`) as a child or a
//! subscriber may see it.

use tonic::{Request, Response, Status};
use yinglian_proto::v1 as pb;

use crate::domain::contacts::Contact;
use crate::federation::admission::{Caller, Gate, Service};
use crate::federation::net::ConnInfo;
use crate::store::{Store, StoreError};

use crate::app::directory::entries;

fn contact(c: &Option<Contact>) -> Option<pb::Contact> {
    c.as_ref().map(|c| pb::Contact {
        name: c.name.clone(),
        position: c.position.clone(),
        phone: c.phone.clone(),
    })
}

/// The `Directory` service of a hub: a child sees its own subtree and this unit, a subscriber
/// its scope.
pub struct DirectoryService {
    pub gate: std::sync::Arc<Gate>,
    pub store: std::sync::Arc<Store>,
}

#[tonic::async_trait]
impl pb::directory_server::Directory for DirectoryService {
    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupReply>, Status> {
        let admission = self
            .gate
            .admit(
                request.extensions().get::<ConnInfo>(),
                Service::Directory,
                |c| match c {
                    Caller::Parent { unit } => Err(format!(
                        "hub {unit} is the parent of {}: it holds the directory of its own subtree",
                        self.store.unit()
                    )),
                    Caller::Delegate { unit, .. } => Err(format!(
                        "subscriber {unit} was not enrolled by {}: it looks up the directory where it was enrolled",
                        self.store.unit()
                    )),
                    _ => Ok(()),
                },
            )
            .await?;
        let internal = |e: StoreError| Status::unavailable(e.to_string());
        let (root, extra) = match &admission.caller {
            // A child: its own subtree, and this unit (whom it reports to).
            Caller::Child { unit, .. } => (unit.to_string(), vec![self.store.unit().to_string()]),
            Caller::Subscriber { scope, .. } => (scope.to_string(), vec![]),
            Caller::Parent { .. } | Caller::Delegate { .. } => unreachable!("refused above"),
        };
        let q = request.get_ref().query.clone();
        let list = entries(&self.store, &root, &extra, Some(&q))
            .await
            .map_err(internal)?;
        // The hubs this unit enrolled publish their address in their profile.
        let mut endpoints = std::collections::HashMap::new();
        for hub in self.store.child_hubs().await.map_err(internal)? {
            if list.iter().any(|e| e.unit == hub)
                && let Ok(code) = crate::domain::unit::UnitCode::parse(&hub)
                && let Some(url) = self
                    .store
                    .read_document(&crate::docs::document::DocId::profile(&code), |d| {
                        crate::docs::document::root_text(d, "endpoint")
                    })
                    .await
                    .map_err(internal)?
            {
                endpoints.insert(hub, url);
            }
        }
        Ok(Response::new(pb::LookupReply {
            entries: list
                .into_iter()
                .map(|e| pb::DirectoryEntry {
                    endpoint: endpoints.get(&e.unit).cloned().unwrap_or_default(),
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
