//! Keeping a hub's rollup current: recomputed from the replicas it holds whenever an input changes.

use crate::docs::document::{DocId, DocKind};
use crate::docs::rollup::{Rollup, Row, write};

/// Recomputes this hub's rollup from what its store holds: a hub child's row is that child's
/// own rollup totals, a leaf child's row its ledger's figures. Returns the units whose rows changed.
pub async fn recompute(
    store: &crate::store::Store,
) -> Result<Vec<String>, crate::store::StoreError> {
    recompute_parts(store, true).await
}

/// `recompute`; with `paperwork` false the reporting counts are kept as they are (nothing they
/// follow changed: a ledger or a profile did), which spares reading every child's submission.
async fn recompute_parts(
    store: &crate::store::Store,
    paperwork: bool,
) -> Result<Vec<String>, crate::store::StoreError> {
    let me = store.unit().clone();
    let children = store.syncing_children().await?;
    let mut next = Rollup::default();
    let (own, _) = store.counts(me.as_str()).await?;
    let mut totals = own;
    for c in children {
        let subtree = store
            .rollup_rows(&c)
            .await?
            .into_iter()
            .find(|r| r.unit == c);
        let counts = match subtree {
            Some(r) => r.counts,
            None => store.counts(&c).await?.0,
        };
        totals.add(&counts);
        let name = store.unit_name(&c).await?;
        next.children.insert(
            c.clone(),
            Row {
                unit: c,
                name,
                counts,
                as_of: String::new(),
            },
        );
    }
    next.totals = Some(Row {
        unit: me.to_string(),
        name: store.identity().name.clone(),
        counts: totals,
        as_of: String::new(),
    });
    if paperwork {
        next.reporting = crate::app::submission::tree_tallies(store).await?;
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let doc = DocId {
        kind: DocKind::Rollup,
        unit: me,
    };
    let (changed, _) = store
        .edit(&doc, "rollup", "recompute the rollup", |d| {
            if !paperwork {
                next.reporting = crate::docs::rollup::read(d).reporting;
            }
            Ok(write(d, &next, &now).map_err(crate::docs::ledger::LedgerError::from)?)
        })
        .await?;
    Ok(changed)
}

/// Whether a change of `doc` can change this hub's rollup.
fn feeds_rollup(me: &crate::domain::unit::UnitCode, doc: &DocId) -> bool {
    match doc.kind {
        DocKind::Ledger | DocKind::Profile => true,
        _ => feeds_reporting(me, doc),
    }
}

/// Whether a change of `doc` can change the reporting counts: the milestones, a child's
/// submissions, this unit's decisions on them, a hub child's rollup (its subtree's counts).
fn feeds_reporting(me: &crate::domain::unit::UnitCode, doc: &DocId) -> bool {
    match doc.kind {
        DocKind::Ledger | DocKind::Profile => false,
        DocKind::Campaign => true,
        DocKind::Rollup | DocKind::Submission | DocKind::Review => doc.unit != *me,
    }
}

/// Keeps this hub's rollup current until `shutdown`: recomputed at once when an input changes
/// (a child's ledger, rollup or profile, or the hub's own ledger; the reporting counts only when
/// the campaign, a child's submission, a decision or a child's rollup did), then at most every
/// 20 ms while changes keep coming, so a burst of edits costs one recompute, not one per keystroke.
pub async fn maintain(
    store: std::sync::Arc<crate::store::Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let me = store.unit().clone();
    let mut changes = store.subscribe();
    // Whether an input changed, and whether one of the reporting counts' did (the first pass
    // computes everything).
    let (mut dirty, mut paper) = (true, true);
    loop {
        if dirty {
            if let Err(e) = recompute_parts(&store, paper).await {
                tracing::warn!(error = %e, "could not recompute the rollup");
            }
            (dirty, paper) = (false, false);
            // Coalesce what arrives meanwhile.
            let window = tokio::time::sleep(std::time::Duration::from_millis(20));
            tokio::pin!(window);
            loop {
                tokio::select! {
                    _ = &mut window => break,
                    c = changes.recv() => match c {
                        Ok(doc) => {
                            dirty |= feeds_rollup(&me, &doc);
                            paper |= feeds_reporting(&me, &doc);
                        }
                        Err(RecvError::Lagged(_)) => (dirty, paper) = (true, true),
                        Err(RecvError::Closed) => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
            continue;
        }
        tokio::select! {
            c = changes.recv() => match c {
                Ok(doc) => {
                    dirty = feeds_rollup(&me, &doc);
                    paper = feeds_reporting(&me, &doc);
                }
                Err(RecvError::Lagged(_)) => (dirty, paper) = (true, true),
                Err(RecvError::Closed) => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}
