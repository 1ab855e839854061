//! The police catalogue of the units below a hub child (a hospital hub's sub-units), which only
//! that child holds: its parent asks it (`Reports.Catalogue`) on behalf of a reader the parent
//! admitted, carrying the reader; the child answers its parent only, checks the reader against
//! the grants the parent published (its own, or those it relays from its parent) and the scope,
//! records the read in `reads/<unit>` of each unit read (the reader, and the hub it asked), and
//! streams the rows as the `Catalogue` service does. Refusals are recorded at the gate.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status};
use yinglian_proto::v1 as pb;

use crate::app::catalogue::{self, Answer};
use crate::docs::document::DocId;
use crate::domain::catalogue::{Entry, Grant};
use crate::domain::unit::{Role, UnitCode};
use crate::federation::admission::{Admission, Caller, Gate};
use crate::federation::catalogue::{CALL, stream_answer, within};
use crate::federation::pki::identity_uri;
use crate::store::Store;

/// The reader's identity as `reads/<unit>` names it.
pub fn reader_uri(r: &pb::CatalogueReader) -> String {
    match UnitCode::parse(&r.unit) {
        Ok(u) => identity_uri(Role::Subscriber.as_str(), &u),
        Err(_) => format!("urn:yinglian:subscriber:{}", r.unit.escape_default()),
    }
}

/// Answers a parent asking, on a reader's behalf, for the catalogue of `unit` below this hub.
pub(super) async fn answer(
    gate: &Arc<Gate>,
    store: &Arc<Store>,
    admission: Admission,
    r: pb::CatalogueRequest,
) -> Result<Response<ReceiverStream<Result<pb::CatalogueEvent, Status>>>, Status> {
    let me = store.unit().clone();
    let Caller::Parent { unit: parent } = admission.caller.clone() else {
        unreachable!("admitted as the parent")
    };
    let who = admission.cert.to_string();
    let refuse = |reason: String| async move {
        gate.refuse(&who, &reason).await;
        Err(Status::permission_denied(reason))
    };
    let Some(reader) = r.reader.clone() else {
        return refuse(format!(
            "{parent} asked {me} for the catalogue without the reader it reads for"
        ))
        .await;
    };
    let unit =
        UnitCode::parse(r.unit.trim()).map_err(|e| Status::invalid_argument(e.to_string()))?;
    if !within(store, &unit, &me).await {
        return refuse(format!(
            "{parent} asked {me} for the catalogue of {unit}, which {me} does not hold"
        ))
        .await;
    }
    // The reader as the parent published it: granted by the parent, or by the parent's parent
    // (relayed); the exact certificate, and the scope as published, not as carried.
    let (own, relayed, grandparent) = store
        .read_document(&DocId::profile(&parent), |d| {
            (
                crate::docs::grants::read(d),
                crate::docs::grants::read_relayed(d),
                crate::docs::document::root_text(d, "parent"),
            )
        })
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let find = |list: &[Grant]| {
        list.iter()
            .find(|g| g.unit == reader.unit && g.fingerprint == reader.fingerprint)
            .cloned()
    };
    let uri = reader_uri(&reader);
    let Some(grant) = find(&own).or_else(|| find(&relayed)) else {
        return refuse(format!(
            "{parent} asked {me} for the catalogue on behalf of {uri}, whom {parent} has not published as granted the catalogue (certificate {})",
            short(&reader.fingerprint)
        ))
        .await;
    };
    let scope =
        UnitCode::parse(&grant.scope).map_err(|e| Status::invalid_argument(e.to_string()))?;
    // Within the scope: the scope is the unit, or above it here, or (a grant the parent relays
    // from its own parent) that parent, above every unit here.
    let relayed_from_above = find(&own).is_none() && grandparent.as_deref() == Some(scope.as_str());
    if !relayed_from_above && !within(store, &unit, &scope).await {
        return refuse(format!(
            "{parent} asked {me} for the catalogue of {unit} on behalf of {uri}, which was granted the catalogue of {scope} only"
        ))
        .await;
    }
    let cursor = (!r.cursor.trim().is_empty()).then_some(r.cursor.trim());
    let mut answer = catalogue::read(store, &unit, cursor)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    // This hub's own cameras the parent holds and answers itself.
    answer.rows.retain(|(u, _, _)| u != me.as_str());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (u, _, e) in &answer.rows {
        if e.is_some() {
            *counts.entry(u.clone()).or_default() += 1;
        }
    }
    // A read that sent nothing is recorded for the unit asked, unless that is this hub itself
    // (whose own cameras the parent answered).
    if !(counts.is_empty() && unit == me) {
        catalogue::record_reads(
            store,
            &uri,
            CALL,
            &unit,
            &counts,
            answer.full,
            parent.as_str(),
        )
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    }
    Ok(Response::new(stream_answer(admission, answer)))
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// Asks the hub child `child` for the catalogue of `unit` (the child or a unit below it), for
/// the reader `reader`, after `cursor`: the rows of the units below the child.
pub async fn forward_catalogue(
    store: &Store,
    data: &std::path::Path,
    child: &UnitCode,
    unit: &UnitCode,
    cursor: Option<&str>,
    reader: pb::CatalogueReader,
) -> anyhow::Result<Answer> {
    let channel = super::child_channel(store, data, child).await?;
    let mut stream = pb::reports_client::ReportsClient::new(channel)
        .catalogue(pb::CatalogueRequest {
            unit: unit.to_string(),
            cursor: cursor.unwrap_or_default().to_string(),
            reader: Some(reader),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{child} 拒绝了点位目录的读取：{}", s.message()))?
        .into_inner();
    let mut rows = Vec::new();
    while let Some(ev) = stream
        .message()
        .await
        .map_err(|s| anyhow::anyhow!("{child}：{}", s.message()))?
    {
        let entry = ev.entry.unwrap_or_default();
        // Only rows of units below the child: nothing else is believed.
        if !UnitCode::parse(&entry.unit).is_ok_and(|u| u.is_under(child))
            && ev.kind != pb::catalogue_event::Kind::End as i32
        {
            bail!("{child} 答复了不在其下级范围内的点位（{}）", entry.unit);
        }
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
                return Ok(Answer {
                    rows,
                    full: ev.full,
                    cursor: ev.cursor,
                });
            }
            _ => {}
        }
    }
    Err(anyhow::anyhow!("{child} 在目录读完之前中断了连接")).context("请稍后重试")
}
