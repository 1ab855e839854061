//! Membership of the federation: making the root, enrolling a child (the one path of `enroll`,
//! the demo, the bench and the tests, with the tree's namespace rules), installing the bundle a
//! parent gave, and revoking a child.

use anyhow::{Result, bail};

use crate::docs::document::DocId;
use crate::docs::{grants, profile};
use crate::domain::catalogue::Grant;
use crate::domain::unit::{Role, UnitCode};
use crate::federation::pki::{self, Bundle, Enrollment};
use crate::store::Store;
use crate::store::membership::{ChildCertificate, Revocation};

/// Makes this unit the root of a federation: the root CA (valid `days`), its own certificate,
/// and the seed's campaign published to flow down the tree.
pub async fn make_root(store: &Store, data: &std::path::Path, days: i64) -> Result<()> {
    if store.meta("parent_unit").await?.is_some() {
        bail!("本单位已有上级：只有联盟的根单位才能建立根证书");
    }
    pki::init_root(data, store.unit(), days)?;
    store.set_meta("root", store.unit().as_str()).await?;
    crate::app::campaign::publish(store, &crate::domain::campaign::Campaign::seed()).await?;
    Ok(())
}

/// Signs a child's request and registers the child: the one path of `enroll`, the demo and the
/// tests. Beyond the PKI's namespace rule, refuses a code this hub knows to be enrolled elsewhere
/// in the tree (a profile with another parent), or one in the namespace of a hub child of its
/// own (which that hub enrolls).
pub async fn enroll_child(
    store: &Store,
    data: &std::path::Path,
    request: &str,
    e: &Enrollment,
) -> Result<Bundle> {
    let me = store.unit();
    if e.role == Role::Subscriber && e.scope.is_none() {
        bail!("a subscriber needs a scope: the subtree it may see (--scope CODE)");
    }
    if !store.is_child(e.unit.as_str()).await? {
        if let Some(p) = store.parent_of(e.unit.as_str()).await?
            && p != me.as_str()
        {
            bail!(
                "单位 {} 已登记在 {p} 之下：同一单位编码在全市只能登记一次，请核对编码",
                e.unit
            );
        }
        let hubs = store.child_hubs().await?;
        if let Some(h) = hubs
            .iter()
            .find(|h| UnitCode::parse(h).is_ok_and(|h| e.unit.is_under(&h)))
        {
            bail!(
                "单位 {} 属于下级枢纽 {h} 的编码空间，须由 {h} 签发证书",
                e.unit
            );
        }
    }
    let bundle = pki::enroll(data, me, request, e)?;
    register_child(store, &bundle).await?;
    Ok(bundle)
}

/// Registers (or re-registers, replacing an older certificate) a child this hub enrolled: its
/// exact certificate, so that every earlier one of the unit stays refused.
pub async fn register_child(store: &Store, bundle: &Bundle) -> Result<()> {
    store
        .register_child(&ChildCertificate {
            unit: &bundle.unit,
            role: bundle.role,
            scope: bundle.scope.as_deref(),
            serial: &bundle.serial,
            fingerprint: &bundle.fingerprint()?,
            not_after: &bundle.not_after,
        })
        .await?;
    Ok(())
}

/// Installs a bundle: certificate, trust root, parent address; records the parent in the profile.
pub async fn join_bundle(store: &Store, data: &std::path::Path, bundle: &Bundle) -> Result<()> {
    pki::join(data, store.unit(), bundle)?;
    store.set_meta("parent_unit", &bundle.parent_unit).await?;
    store.set_meta("parent_url", &bundle.parent_url).await?;
    let parent = bundle.parent_unit.clone();
    store
        .edit(
            &DocId::profile(store.unit()),
            "join",
            "record the parent unit",
            |doc| Ok(profile::set_text(doc, "parent", Some(&parent))?),
        )
        .await?;
    Ok(())
}

/// Grants a subscriber enrolled here the catalogue of its scope (`enroll --catalogue`), and
/// publishes the grants for the hubs below.
pub async fn grant_catalogue(store: &Store, unit: &UnitCode) -> Result<()> {
    if !store.set_catalogue_grant(unit.as_str(), true).await? {
        bail!(
            "单位 {unit} 不是本单位登记的订阅方：只有订阅方（--role subscriber）可以授予点位目录"
        );
    }
    publish_after_change(store).await;
    Ok(())
}

/// Publishes the grants after a change of the enrollments made here. The change stands if that
/// fails: the hub's admission gate publishes them on seeing the enrollments move (at its start,
/// if it is not running), and retries until that succeeds.
async fn publish_after_change(store: &Store) {
    if let Err(e) = publish_grants(store).await {
        tracing::warn!(
            error = %e,
            "the enrollments changed but the catalogue grants could not be published now; the running hub publishes them"
        );
    }
}

/// Writes into this hub's profile the catalogue grants of the subscribers it enrolled (not
/// revoked), by exact certificate, and the grants its parent published (relayed: a hub child
/// checks against them a reader this hub asks for on such a delegate's behalf); the profile
/// carries them down to its hub children. A change only when they differ. Returns whether they
/// changed. One publication at a time in this process; one that failed is tried again by the
/// admission gate's next refresh (`Store::grants_due`).
pub async fn publish_grants(store: &Store) -> Result<bool, crate::store::StoreError> {
    store.publishing_grants(publish_grants_now(store)).await
}

/// Publications checked again after a write that another process's change overtook, before the
/// publication is left due.
const PUBLISH_ROUNDS: usize = 4;

async fn publish_grants_now(store: &Store) -> Result<bool, crate::store::StoreError> {
    let me = DocId::profile(store.unit());
    let parent = match store.parent_of(store.unit().as_str()).await? {
        Some(p) => UnitCode::parse(&p).ok().map(|p| DocId::profile(&p)),
        None => None,
    };
    let relayed_now = |parent: Option<DocId>| async move {
        match parent {
            Some(p) => store.read_document(&p, |d| grants::read(d)).await,
            None => Ok(Vec::new()),
        }
    };
    let same = |a: &[Grant], b: &[Grant]| a.len() == b.len() && a.iter().all(|g| b.contains(g));
    let mut changed = false;
    for _ in 0..PUBLISH_ROUNDS {
        let version = store.enrollments_version().await?;
        let grants: Vec<Grant> = store
            .enrollments()
            .await?
            .into_iter()
            .filter(|e| e.role == Role::Subscriber && e.catalogue && e.revoked_at.is_none())
            .filter_map(|e| {
                Some(Grant {
                    fingerprint: e.fingerprint?,
                    scope: e.scope?,
                    unit: e.unit,
                })
            })
            .collect();
        // The parent's profile unreadable: this hub's own grants (a revocation's withdrawal
        // above all) are written still, the relayed ones kept as they are, and the publication
        // stays due.
        let relayed = relayed_now(parent.clone()).await;
        let (written, _) = store
            .edit(&me, "enroll", "publish the catalogue grants", |d| {
                let a =
                    grants::write(d, &grants).map_err(crate::docs::ledger::LedgerError::from)?;
                let b = match &relayed {
                    Ok(r) => grants::write_relayed(d, r)
                        .map_err(crate::docs::ledger::LedgerError::from)?,
                    Err(_) => false,
                };
                Ok(a || b)
            })
            .await?;
        changed |= written;
        let relayed = relayed?;
        // Another process (`yl-hub enroll`, `revoke` beside the daemon, or the daemon beside
        // them) may have published from what it read after these reads, and this write
        // overtaken it: read again, and publish again if anything moved.
        if store.enrollments_version().await? == version
            && same(&relayed_now(parent.clone()).await?, &relayed)
        {
            return Ok(changed);
        }
    }
    Err(crate::store::StoreError::Refused(format!(
        "the enrollments or the parent's grants kept changing over {PUBLISH_ROUNDS} publications of the catalogue grants"
    )))
}

/// Marks a child revoked: its new connections are refused and its open sessions end (and a
/// catalogue grant it had is withdrawn from the hubs below).
pub async fn revoke_unit(store: &Store, unit: &UnitCode) -> Result<()> {
    match store.revoke_child(unit).await? {
        Revocation::Revoked => {
            publish_after_change(store).await;
            Ok(())
        }
        Revocation::AlreadyRevoked => bail!("unit {unit} is already revoked"),
        Revocation::NotAChild => bail!("unit {unit} is not a child of {}", store.unit()),
    }
}
