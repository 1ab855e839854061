//! The campaign held by this unit: published at the root, read wherever it has flowed.

use crate::docs::campaign::{read, write};
use crate::domain::campaign::Campaign;

/// On the root: publishes the seed's campaign as `campaign/<root>`, to flow down the tree.
pub async fn publish(
    store: &crate::store::Store,
    c: &Campaign,
) -> Result<(), crate::store::StoreError> {
    let doc = crate::docs::document::DocId {
        kind: crate::docs::document::DocKind::Campaign,
        unit: store.unit().clone(),
    };
    store
        .edit(&doc, "campaign", "publish the campaign", |d| {
            Ok(write(d, c).map_err(crate::docs::ledger::LedgerError::from)?)
        })
        .await?;
    Ok(())
}

/// The campaign this store holds (the root's, flowed down), if any.
pub async fn held(
    store: &crate::store::Store,
) -> Result<Option<Campaign>, crate::store::StoreError> {
    let docs = store.documents().await?;
    let Some(row) = docs
        .iter()
        .find(|d| d.doc_id.kind == crate::docs::document::DocKind::Campaign)
    else {
        return Ok(None);
    };
    store.read_document(&row.doc_id, |d| read(d)).await
}
