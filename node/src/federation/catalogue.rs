//! The `Catalogue` service (the police catalogue of a district, read at the hub that holds its
//! ledgers) and its client, as a subscriber's node uses it. Who may read is decided by the one
//! admission gate: a subscriber enrolled here with the catalogue granted, or one the parent
//! granted it (the city's police at a district hub), each within its scope; every other caller
//! and every read outside the scope is refused and recorded. Every read is recorded in
//! `reads/<unit>` of the units whose cameras it sent (`app::catalogue::record_reads`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use yinglian_proto::v1 as pb;

use crate::app::catalogue::{self, Answer};
use crate::domain::catalogue::Entry;
use crate::domain::unit::UnitCode;
use crate::federation::admission::{Admission, Caller, Gate, Service};
use crate::federation::net::ConnInfo;
use crate::federation::pki::{TlsMaterial, identity_uri};
use crate::store::Store;

/// The call as `reads/<unit>` names it.
pub const CALL: &str = "Catalogue.Read";

impl From<&Entry> for pb::CatalogueEntry {
    fn from(e: &Entry) -> Self {
        pb::CatalogueEntry {
            unit: e.unit.clone(),
            unit_name: e.unit_name.clone(),
            device_code: e.device_code.clone(),
            name: e.name.clone(),
            address: e.address.clone(),
            longitude: e.longitude,
            latitude: e.latitude,
            point_class: e.point_class,
            networked: e.networked,
        }
    }
}

impl From<pb::CatalogueEntry> for Entry {
    fn from(e: pb::CatalogueEntry) -> Self {
        Entry {
            unit: e.unit,
            unit_name: e.unit_name,
            device_code: e.device_code,
            name: e.name,
            address: e.address,
            longitude: e.longitude,
            latitude: e.latitude,
            point_class: e.point_class,
            networked: e.networked,
        }
    }
}

/// Whether `unit` is `ancestor` or lies below it in the tree as this store knows it (the parent
/// recorded in each unit's profile).
pub async fn within(store: &Store, unit: &UnitCode, ancestor: &UnitCode) -> bool {
    let mut cur = unit.to_string();
    for _ in 0..16 {
        if cur == ancestor.as_str() {
            return true;
        }
        match store.parent_of(&cur).await.ok().flatten() {
            Some(p) => cur = p,
            None => return false,
        }
    }
    false
}

/// The `Catalogue` service of a hub.
pub struct CatalogueService {
    pub gate: Arc<Gate>,
    pub store: Arc<Store>,
    /// The unit's folder (its keys, to ask a hub child for the units only it holds).
    pub data: std::path::PathBuf,
}

/// The hub children holding part of `unit`'s subtree that this hub does not hold (a hospital
/// hub's sub-units), each with the unit to ask it for: the child itself when it lies in the
/// subtree, or `unit` when `unit` lies below the child. Only hubs of this hub's own namespace (an
/// institution's hub under its district): a district is never asked by the city, whose police
/// read each district's catalogue at the district hub.
async fn children_to_ask(
    store: &Store,
    unit: &UnitCode,
) -> anyhow::Result<Vec<(UnitCode, UnitCode)>> {
    let mut out = Vec::new();
    for e in store.enrollments().await? {
        if e.role != crate::domain::unit::Role::Hub || e.revoked_at.is_some() {
            continue;
        }
        let Ok(child) = UnitCode::parse(&e.unit) else {
            continue;
        };
        if !child.is_under(store.unit()) {
            continue;
        }
        if child == *unit || child.is_under(unit) {
            out.push((child.clone(), child));
        } else if unit.is_under(&child) {
            out.push((child, unit.clone()));
        }
    }
    Ok(out)
}

/// The catalogue of `unit` for `reader`: this hub's rows, and the rows of the units below its
/// hub children that only those children hold, asked of them (`Reports.Catalogue`), under one
/// cursor of a part per hub. When one part cannot resume (not given, too old), every part is
/// read in full, so that `full` holds for the whole answer.
async fn read_across(
    store: &Store,
    data: &std::path::Path,
    unit: &UnitCode,
    cursor: Option<&str>,
    reader: &pb::CatalogueReader,
) -> Result<Answer, Status> {
    let me = store.unit().clone();
    let children = children_to_ask(store, unit)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut cursor = cursor;
    loop {
        let mut answer = catalogue::read(store, unit, cursor)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut parts: Vec<crate::domain::catalogue::Cursor> =
            crate::domain::catalogue::cursor_parts(&answer.cursor);
        let mut mixed = false;
        for (child, ask) in &children {
            // A part of the cursor only where this hub's own part resumes.
            let theirs = if answer.full { None } else { cursor };
            let got = crate::federation::reports::forward_catalogue(
                store,
                data,
                child,
                ask,
                theirs,
                reader.clone(),
            )
            .await
            .map_err(|e| {
                tracing::warn!(hub = %me, child = %child, error = %format!("{e:#}"), "a hub child did not answer the catalogue");
                Status::unavailable(format!(
                    "下级枢纽 {child} 暂时无法答复（{e:#}），点位目录未读完，请稍后重试"
                ))
            })?;
            mixed |= got.full != answer.full;
            let mut held = std::collections::HashMap::new();
            for row in got.rows {
                // A unit whose ledger this hub holds too is answered from here.
                let here = match held.get(&row.0) {
                    Some(h) => *h,
                    None => {
                        let h = match UnitCode::parse(&row.0) {
                            Ok(u) => !store
                                .heads(&crate::docs::document::DocId::ledger(&u))
                                .await
                                .map_err(|e| Status::unavailable(e.to_string()))?
                                .is_empty(),
                            Err(_) => true,
                        };
                        held.insert(row.0.clone(), h);
                        h
                    }
                };
                if !here {
                    answer.rows.push(row);
                }
            }
            parts.extend(crate::domain::catalogue::cursor_parts(&got.cursor));
        }
        if mixed && cursor.is_some() {
            // Some part resumed and another did not: the whole catalogue, every part.
            cursor = None;
            continue;
        }
        answer.cursor = crate::domain::catalogue::join_cursors(&parts);
        return Ok(answer);
    }
}

#[tonic::async_trait]
impl pb::catalogue_server::Catalogue for CatalogueService {
    type ReadStream = ReceiverStream<Result<pb::CatalogueEvent, Status>>;

    async fn read(
        &self,
        request: Request<pb::CatalogueRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let me = self.store.unit().clone();
        let admission = self
            .gate
            .admit(
                request.extensions().get::<ConnInfo>(),
                Service::Catalogue,
                |c| match c {
                    Caller::Subscriber {
                        catalogue: true, ..
                    }
                    | Caller::Delegate { .. } => Ok(()),
                    Caller::Subscriber { unit, .. } => Err(format!(
                        "subscriber {unit} was not granted the catalogue at enrollment (enroll --role subscriber --catalogue)"
                    )),
                    Caller::Child { unit, role } => Err(format!(
                        "{} is not a subscriber: the catalogue is read by subscribers granted it",
                        identity_uri(role.as_str(), unit)
                    )),
                    Caller::Parent { unit } => Err(format!(
                        "hub {unit} is the parent of {me}: camera records do not travel above the hub that holds them"
                    )),
                },
            )
            .await?;
        let who = admission.cert.to_string();
        let scope = match &admission.caller {
            Caller::Subscriber { scope, .. } | Caller::Delegate { scope, .. } => scope.clone(),
            _ => unreachable!("admitted as a reader of the catalogue"),
        };
        let r = request.into_inner();
        let unit = if r.unit.trim().is_empty() {
            me.clone()
        } else {
            UnitCode::parse(r.unit.trim()).map_err(|e| Status::invalid_argument(e.to_string()))?
        };
        let refuse = |reason: String| async {
            self.gate.refuse(&who, &reason).await;
            Err(Status::permission_denied(reason))
        };
        if !within(&self.store, &unit, &me).await {
            return refuse(format!(
                "{who} asked {me} for the catalogue of {unit}, which {me} does not hold"
            ))
            .await;
        }
        if !within(&self.store, &unit, &scope).await {
            return refuse(format!(
                "{who} was granted the catalogue of {scope}, not of {unit}"
            ))
            .await;
        }
        let cursor = (!r.cursor.trim().is_empty()).then_some(r.cursor.trim());
        let reader = pb::CatalogueReader {
            unit: match &admission.caller {
                Caller::Subscriber { unit, .. } | Caller::Delegate { unit, .. } => unit.to_string(),
                _ => unreachable!("admitted as a reader of the catalogue"),
            },
            fingerprint: admission.cert.fingerprint.clone(),
            scope: scope.to_string(),
            granted_by: match &admission.caller {
                Caller::Delegate { granted_by, .. } => granted_by.to_string(),
                _ => me.to_string(),
            },
        };
        let answer = read_across(&self.store, &self.data, &unit, cursor, &reader).await?;
        // The units read here; the units below a hub child are recorded by that child.
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (u, _, e) in &answer.rows {
            if e.is_some()
                && let Ok(code) = UnitCode::parse(u)
                && !self
                    .store
                    .heads(&crate::docs::document::DocId::ledger(&code))
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?
                    .is_empty()
            {
                *counts.entry(u.clone()).or_default() += 1;
            }
        }
        catalogue::record_reads(&self.store, &who, CALL, &unit, &counts, answer.full, "")
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(stream_answer(admission, answer)))
    }
}

/// The answer as the stream a reader receives: the rows, then END with the cursor; the
/// admission held until the stream ends.
pub(crate) fn stream_answer(
    admission: Admission,
    answer: Answer,
) -> ReceiverStream<Result<pb::CatalogueEvent, Status>> {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        let _admission = admission;
        for (u, code, e) in answer.rows {
            let ev = match e {
                Some(e) => pb::CatalogueEvent {
                    kind: pb::catalogue_event::Kind::Entry as i32,
                    entry: Some(pb::CatalogueEntry::from(&e)),
                    ..Default::default()
                },
                None => pb::CatalogueEvent {
                    kind: pb::catalogue_event::Kind::Removed as i32,
                    entry: Some(pb::CatalogueEntry {
                        unit: u,
                        device_code: code,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            };
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
        let _ = tx
            .send(Ok(pb::CatalogueEvent {
                kind: pb::catalogue_event::Kind::End as i32,
                cursor: answer.cursor,
                full: answer.full,
                ..Default::default()
            }))
            .await;
    });
    ReceiverStream::new(rx)
}

/// Which hub holds `unit`'s cameras and where it is: the parent this subscriber joined when the
/// unit is the parent or directly below it, otherwise the hub below the parent that the parent's
/// directory names (its published address).
async fn hub_for(
    store: &Store,
    tls: &TlsMaterial,
    unit: &UnitCode,
) -> anyhow::Result<(UnitCode, String)> {
    let parent = tls
        .parent_unit
        .clone()
        .context("本单位尚未加入联邦（先 join）")?;
    let parent_url = store
        .meta("parent_url")
        .await?
        .context("本单位尚未加入联邦（先 join）")?;
    if *unit == parent {
        return Ok((parent, parent_url));
    }
    let channel = crate::federation::net::connect(tls, &parent_url, &parent).await?;
    let mut dir = pb::directory_client::DirectoryClient::new(channel);
    let mut code = unit.to_string();
    for _ in 0..8 {
        let reply = dir
            .lookup(pb::LookupRequest {
                query: code.clone(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("{}：{}", parent, s.message()))?
            .into_inner();
        let Some(e) = reply.entries.into_iter().find(|e| e.unit == code) else {
            bail!("单位 {code} 不在本订阅方的范围内（{parent} 的目录中没有它）");
        };
        if !e.endpoint.is_empty() {
            return Ok((UnitCode::parse(&e.unit)?, e.endpoint));
        }
        if e.parent == parent.as_str() || e.parent.is_empty() {
            return Ok((parent, parent_url));
        }
        code = e.parent;
    }
    bail!("找不到保存单位 {unit} 点位的枢纽")
}

/// Reads the catalogue of `unit` at the hub that holds it (the changes after `cursor`, or all of
/// it): what a subscriber's `catalogue` command and page do.
pub async fn fetch(
    store: &Store,
    data: &std::path::Path,
    unit: &UnitCode,
    cursor: Option<&str>,
) -> anyhow::Result<(UnitCode, Answer)> {
    let tls = TlsMaterial::load(data)?;
    let (hub, url) = hub_for(store, &tls, unit).await?;
    let channel = crate::federation::net::connect(&tls, &url, &hub).await?;
    let mut stream = pb::catalogue_client::CatalogueClient::new(channel)
        .read(pb::CatalogueRequest {
            unit: unit.to_string(),
            cursor: cursor.unwrap_or_default().to_string(),
            reader: None,
        })
        .await
        .map_err(|s| {
            let why = format!("{hub} 拒绝了点位目录的读取：{}", s.message());
            anyhow::Error::new(s).context(why)
        })?
        .into_inner();
    let mut rows = Vec::new();
    while let Some(ev) = stream
        .message()
        .await
        .map_err(|s| anyhow::anyhow!("{hub}：{}", s.message()))?
    {
        let entry = ev.entry.unwrap_or_default();
        match pb::catalogue_event::Kind::try_from(ev.kind) {
            Ok(pb::catalogue_event::Kind::Entry) => rows.push((
                entry.unit.clone(),
                entry.device_code.clone(),
                Some(Entry::from(entry)),
            )),
            Ok(pb::catalogue_event::Kind::Removed) => {
                rows.push((entry.unit, entry.device_code, None))
            }
            Ok(pb::catalogue_event::Kind::End) => {
                return Ok((
                    hub,
                    Answer {
                        rows,
                        full: ev.full,
                        cursor: ev.cursor,
                    },
                ));
            }
            _ => {}
        }
    }
    bail!("{hub} 在目录读完之前中断了连接，请重试")
}
