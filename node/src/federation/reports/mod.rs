//! Camera-level detail as a federated query (the `Reports` service). Ledgers stop at the parent,
//! so a higher level asks the hub below, which answers from the replica it holds, and only to its
//! own parent, and records each read in `reads/<unit>` (who, when, how many records), which goes
//! down to the unit read. A hub publishes where it can be reached as the `endpoint` of its profile. Records
//! travel typed (`record`).

mod catalogue;
mod record;

pub use catalogue::{forward_catalogue, reader_uri};

use std::sync::Arc;

use tonic::{Request, Response, Status};
use yinglian_proto::v1 as pb;

use crate::docs::document::{DocId, root_text};
use crate::docs::ledger::CameraState;
use crate::domain::unit::UnitCode;
use crate::federation::admission::{Caller, Gate, Service};
use crate::federation::net::ConnInfo;
use crate::federation::pki::{TlsMaterial, identity_uri};
use crate::store::{CameraQuery, Store, StoreError};

/// The call as `reads/<unit>` names it.
pub const CALL: &str = "Reports.Cameras";

/// Records where this hub can be reached, in its profile (which travels to its parent).
pub async fn publish_endpoint(store: &Store, url: &str) -> Result<(), StoreError> {
    let me = store.unit().clone();
    let url = url.to_string();
    store
        .edit(
            &DocId::profile(&me),
            "serve",
            "publish the hub's address",
            |d| {
                if root_text(d, "endpoint").as_deref() != Some(url.as_str()) {
                    crate::docs::profile::set_text(d, "endpoint", Some(&url))?;
                }
                Ok(())
            },
        )
        .await?;
    Ok(())
}

/// The camera records of `unit` held here (from this store's projection), and how many match.
pub async fn held_cameras(
    store: &Store,
    unit: &str,
    q: &CameraQuery,
) -> Result<(u64, Vec<CameraState>), StoreError> {
    let (rows, total) = store.cameras(unit, q).await?;
    let list = rows
        .into_iter()
        .map(|r| CameraState {
            camera: r.camera,
            conflicts: r.conflicts,
        })
        .collect();
    Ok((total as u64, list))
}

/// The `Reports` service of a hub: camera-level detail, to the parent it joined only.
pub struct ReportsService {
    pub gate: Arc<Gate>,
    pub store: Arc<Store>,
}

/// Refuses whoever is not the parent this hub joined.
fn parent_only(me: &UnitCode, c: &Caller) -> Result<(), String> {
    match c {
        Caller::Parent { .. } => Ok(()),
        Caller::Child { unit, role } => Err(format!(
            "{} is not the parent of {me}: camera details are answered to the parent only",
            identity_uri(role.as_str(), unit)
        )),
        Caller::Subscriber { unit, .. } | Caller::Delegate { unit, .. } => Err(format!(
            "{} is not the parent of {me}: camera details are answered to the parent only",
            identity_uri(crate::domain::unit::Role::Subscriber.as_str(), unit)
        )),
    }
}

#[tonic::async_trait]
impl pb::reports_server::Reports for ReportsService {
    type CatalogueStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::CatalogueEvent, Status>>;

    async fn catalogue(
        &self,
        request: Request<pb::CatalogueRequest>,
    ) -> Result<Response<Self::CatalogueStream>, Status> {
        let me = self.store.unit().clone();
        let admission = self
            .gate
            .admit(
                request.extensions().get::<ConnInfo>(),
                Service::Reports,
                |c| parent_only(&me, c),
            )
            .await?;
        catalogue::answer(&self.gate, &self.store, admission, request.into_inner()).await
    }

    async fn cameras(
        &self,
        request: Request<pb::CamerasRequest>,
    ) -> Result<Response<pb::CamerasReply>, Status> {
        let me = self.store.unit().clone();
        let admission = self
            .gate
            .admit(
                request.extensions().get::<ConnInfo>(),
                Service::Reports,
                |c| parent_only(&me, c),
            )
            .await?;
        let r = request.into_inner();
        let unit = UnitCode::parse(&r.unit).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let held = self
            .store
            .heads(&DocId::ledger(&unit))
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if held.is_empty() {
            return Err(Status::not_found(format!(
                "no ledger of unit {unit} is held by {}",
                self.store.unit()
            )));
        }
        let q = CameraQuery {
            search: (!r.search.is_empty()).then_some(r.search),
            limit: (r.limit > 0).then_some(r.limit as i64),
            offset: r.offset as i64,
            ..Default::default()
        };
        let (total, list) = held_cameras(&self.store, unit.as_str(), &q)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        // The unit whose cameras a higher level read sees who, when and how many.
        let counts = std::collections::BTreeMap::from([(unit.to_string(), list.len() as u64)]);
        crate::app::catalogue::record_reads(
            &self.store,
            &admission.cert.to_string(),
            CALL,
            &unit,
            &counts,
            false,
            "",
        )
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::CamerasReply {
            total,
            cameras: list.iter().map(pb::CameraRecord::from).collect(),
        }))
    }
}

/// A connection to the hub child `child`, at the address its profile publishes.
pub(crate) async fn child_channel(
    store: &Store,
    data: &std::path::Path,
    child: &UnitCode,
) -> anyhow::Result<tonic::transport::Channel> {
    let endpoint = store
        .read_document(&DocId::profile(child), |d| root_text(d, "endpoint"))
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "hub {child} has not published its address yet (it publishes it when it serves)"
            )
        })?;
    let tls = TlsMaterial::load(data)?;
    Ok(crate::federation::net::connect(&tls, &endpoint, child).await?)
}

/// Asks the child hub under which `unit` lies for its camera records.
pub async fn forward_cameras(
    store: &Store,
    data: &std::path::Path,
    unit: &UnitCode,
    q: &CameraQuery,
) -> anyhow::Result<(u64, Vec<CameraState>)> {
    let child = store
        .child_toward(unit)
        .await?
        .ok_or_else(|| anyhow::anyhow!("单位 {unit} 不在 {} 的下级范围内", store.unit()))?;
    let channel = child_channel(store, data, &child).await?;
    let reply = pb::reports_client::ReportsClient::new(channel)
        .cameras(pb::CamerasRequest {
            unit: unit.to_string(),
            search: q.search.clone().unwrap_or_default(),
            limit: q.limit.unwrap_or(0).max(0) as u32,
            offset: q.offset.max(0) as u32,
        })
        .await?
        .into_inner();
    let list = reply
        .cameras
        .into_iter()
        .map(CameraState::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((reply.total, list))
}
