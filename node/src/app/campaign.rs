//! The campaign held by this unit: published at the root (milestones, data-quality rules, the
//! assessment's weights, the key of the keyed device codes), read wherever it has flowed.

use crate::docs::campaign::{
    read, read_key, read_rules, read_weights, write, write_key, write_rules, write_weights,
};
use crate::docs::document::{DocId, DocKind};
use crate::domain::assessment::Weights;
use crate::domain::campaign::Campaign;
use crate::domain::quality::{RuleError, RuleSet};
use crate::store::{Store, StoreError};

fn own(store: &Store) -> DocId {
    DocId {
        kind: DocKind::Campaign,
        unit: store.unit().clone(),
        generation: 0,
    }
}

/// On the root: publishes a campaign as `campaign/<root>`, to flow down the tree; the first time,
/// with the seed's data-quality rules and a new random key for the keyed device codes.
pub async fn publish(store: &Store, c: &Campaign) -> Result<(), StoreError> {
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    store
        .edit(&own(store), "campaign", "publish the campaign", |d| {
            let e = crate::docs::ledger::LedgerError::from;
            write(d, c).map_err(e)?;
            if read_rules(d).is_none() {
                write_rules(d, &RuleSet::seed()).map_err(e)?;
            }
            if read_weights(d).is_none() {
                write_weights(d, &Weights::seed()).map_err(e)?;
            }
            write_key(d, &hex).map_err(e)?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Why rules cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "only the root of the federation publishes the campaign's rules and weights (`pki init-root`)"
    )]
    NotRoot,
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Weights(#[from] crate::domain::assessment::WeightsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// On the root: publishes a new set of data-quality rules, after checking every rule is usable.
pub async fn publish_rules(store: &Store, rules: &RuleSet) -> Result<(), PublishError> {
    if store.meta("root").await?.as_deref() != Some(store.unit().as_str()) {
        return Err(PublishError::NotRoot);
    }
    rules.validate()?;
    store
        .edit(
            &own(store),
            "campaign",
            "publish the data-quality rules",
            |d| Ok(write_rules(d, rules).map_err(crate::docs::ledger::LedgerError::from)?),
        )
        .await?;
    Ok(())
}

/// On the root: publishes new weights of the assessment, after checking they add up to 100.
pub async fn publish_weights(store: &Store, w: &Weights) -> Result<(), PublishError> {
    if store.meta("root").await?.as_deref() != Some(store.unit().as_str()) {
        return Err(PublishError::NotRoot);
    }
    w.validate()?;
    store
        .edit(
            &own(store),
            "campaign",
            "publish the assessment's weights",
            |d| Ok(write_weights(d, w).map_err(crate::docs::ledger::LedgerError::from)?),
        )
        .await?;
    Ok(())
}

async fn held_doc(store: &Store) -> Result<Option<DocId>, StoreError> {
    let docs = store.documents().await?;
    Ok(docs
        .into_iter()
        .find(|d| d.doc_id.kind == DocKind::Campaign)
        .map(|d| d.doc_id))
}

/// The campaign this store holds (the root's, flowed down), if any.
pub async fn held(store: &Store) -> Result<Option<Campaign>, StoreError> {
    let Some(id) = held_doc(store).await? else {
        return Ok(None);
    };
    store.read_document(&id, |d| read(d)).await
}

/// The data-quality rules in force here: the campaign's, or the seed's before one has flowed here.
pub async fn rules(store: &Store) -> Result<RuleSet, StoreError> {
    let Some(id) = held_doc(store).await? else {
        return Ok(RuleSet::seed());
    };
    Ok(store
        .read_document(&id, |d| read_rules(d))
        .await?
        .unwrap_or_else(RuleSet::seed))
}

/// The key of the keyed device codes, once the root's campaign has flowed here.
pub async fn code_key(store: &Store) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(id) = held_doc(store).await? else {
        return Ok(None);
    };
    store.read_document(&id, |d| read_key(d)).await
}

/// The assessment's weights in force here: the campaign's, or the seed's before one has flowed.
pub async fn weights(store: &Store) -> Result<Weights, StoreError> {
    let Some(id) = held_doc(store).await? else {
        return Ok(Weights::seed());
    };
    Ok(store
        .read_document(&id, |d| read_weights(d))
        .await?
        .unwrap_or_else(Weights::seed))
}
