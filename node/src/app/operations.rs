//! Operations (安全运维) at this unit: for every ledger held here (its own and the replicas of
//! its children's), the last 30 days' figures — time in service, faults, time to repair, faulty
//! now — and the filings (建设备案) and removal reports (撤除报告) waiting for the supervising
//! level's acknowledgement; at a hub, the figures of its whole tree its rollup holds
//! (`operations_tree`); and the acknowledgement itself, a supervision write, so that it
//! reaches the unit like any other, is audited, and shows in the camera's history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::cameras::{self, CameraError};
use crate::docs::document::DocId;
use crate::docs::ledger;
use crate::domain::camera::Value;
use crate::domain::device_code::DeviceCode;
use crate::domain::operations::{self, Acknowledge, Event, Operations, Pending};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// One ledger's operations.
#[derive(Debug, Clone, Serialize)]
pub struct UnitOperations {
    pub unit: String,
    pub name: String,
    pub operations: Operations,
    /// Filings and removals not yet acknowledged, oldest first.
    pub pending: Vec<Pending>,
    /// Faulty now: device code, name, since (when its fault event says).
    pub faulty: Vec<(String, String, Option<DateTime<Utc>>)>,
}

/// Every ledger held here, and their sum.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub at: DateTime<Utc>,
    pub window_days: i64,
    pub units: Vec<UnitOperations>,
    pub total: Operations,
    /// At a hub, for the whole tree: per direct child its subtree's figures and the hub's
    /// whole subtree's, as its rollup holds them (the city's only operations figures).
    pub tree: Option<crate::app::operations_tree::Tree>,
}

/// The operations of every ledger held here (or of `unit`'s subtree), as of `now`.
pub async fn view_at(
    store: &Store,
    unit: Option<&UnitCode>,
    now: DateTime<Utc>,
) -> Result<View, StoreError> {
    let rows = store.cameras_under(unit.map(UnitCode::as_str)).await?;
    let mut by_unit: BTreeMap<String, Vec<crate::domain::camera::Camera>> = BTreeMap::new();
    for r in rows {
        by_unit.entry(r.unit).or_default().push(r.camera);
    }
    let mut units = Vec::new();
    let mut total = Operations::default();
    for (u, cams) in by_unit {
        let Ok(code) = UnitCode::parse(&u) else {
            continue;
        };
        let (events, since): (Vec<Event>, _) = store
            .read_document(&DocId::ledger(&code), |d| {
                (ledger::events(d), ledger::faulty_since(d))
            })
            .await?;
        let ops = operations::operations(&cams, &events, now);
        total.add(&ops);
        let faulty = cams
            .iter()
            .filter(|c| c.state() == crate::domain::camera::State::Faulty)
            .map(|c| {
                let code = c.device_code.to_string();
                let at = since.get(&code).copied();
                (
                    code,
                    c.text(crate::domain::camera::Field::Name)
                        .unwrap_or("")
                        .to_string(),
                    at,
                )
            })
            .collect();
        units.push(UnitOperations {
            name: store.unit_name(&u).await?,
            unit: u,
            operations: ops,
            pending: operations::pending(&cams, &events),
            faulty,
        });
    }
    let tree = match unit {
        None => crate::app::operations_tree::tree(store).await?,
        Some(_) => None,
    };
    Ok(View {
        at: now,
        window_days: operations::WINDOW_DAYS,
        units,
        total,
        tree,
    })
}

/// [`view_at`] now.
pub async fn view(store: &Store, unit: Option<&UnitCode>) -> Result<View, StoreError> {
    view_at(store, unit, Utc::now()).await
}

/// The maintenance events of one camera of `unit`'s ledger held here, newest first.
pub async fn camera_events(
    store: &Store,
    unit: &UnitCode,
    code: &str,
) -> Result<Vec<Event>, StoreError> {
    let mut events: Vec<Event> = store
        .read_document(&DocId::ledger(unit), |d| ledger::events(d))
        .await?
        .into_iter()
        .filter(|e| e.device_code == code)
        .collect();
    events.reverse();
    Ok(events)
}

/// The supervising level acknowledges a child's filing or removal report of `code`: refused for
/// this unit's own ledger (the supervising level acknowledges), for a camera not in the child's
/// ledger held here, and when nothing of the kind waits.
pub async fn acknowledge(
    store: &Store,
    who: &str,
    child: &UnitCode,
    code: &DeviceCode,
    what: Acknowledge,
) -> Result<(), CameraError> {
    if child == store.unit() {
        return Err(CameraError::OwnUnit(child.clone()));
    }
    let (cams, events) = store
        .read_document(&DocId::ledger(child), |d| {
            let cam = ledger::read_camera(d, code.as_str())
                .ok()
                .flatten()
                .map(|c| c.camera);
            (cam, ledger::events(d))
        })
        .await
        .map_err(|e| CameraError::of(e, code, child))?;
    let Some(cam) = cams else {
        return Err(CameraError::NotFound {
            code: code.clone(),
            unit: child.clone(),
        });
    };
    if !operations::pending(std::slice::from_ref(&cam), &events)
        .iter()
        .any(|p| p.what == what)
    {
        return Err(CameraError::NothingToAcknowledge {
            what,
            code: code.clone(),
            unit: child.clone(),
        });
    }
    cameras::supervise(
        store,
        who,
        child,
        code,
        &[(what.field(), Some(Value::Bool(true)))],
    )
    .await?;
    Ok(())
}
