//! What the `Reports` service asks of the store: under which direct child of this unit a unit of
//! its subtree lies (whom to ask for that unit's camera records).

use super::{Store, StoreError};
use crate::domain::unit::UnitCode;

impl Store {
    /// The direct child of this unit under which `unit` lies (the unit itself when it is one),
    /// walking up the parents the units table records, at most 16 levels; `None` when `unit` is
    /// not in this unit's subtree.
    pub async fn child_toward(&self, unit: &UnitCode) -> Result<Option<UnitCode>, StoreError> {
        let mut cur = unit.to_string();
        for _ in 0..16 {
            let parent: Option<Option<String>> =
                sqlx::query_scalar("SELECT parent FROM units WHERE unit = ?")
                    .bind(&cur)
                    .fetch_optional(&self.pool)
                    .await?;
            match parent.flatten() {
                Some(p) if p == self.unit().as_str() => {
                    return UnitCode::parse(&cur)
                        .map(Some)
                        .map_err(|e| StoreError::Refused(e.to_string()));
                }
                Some(p) => cur = p,
                None => break,
            }
        }
        Ok(None)
    }
}
