//! What the data-quality check reads from the projection: every camera record held here, of the
//! whole store, of one unit's subtree, or of one unit alone.

use crate::store::query::camera_row;
use crate::store::{CameraRow, Store, StoreError};

impl Store {
    /// The camera records held here: of every ledger (`None`), or of `unit` and the units under
    /// it, ordered by unit and device code.
    pub async fn cameras_under(&self, unit: Option<&str>) -> Result<Vec<CameraRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT unit, record, conflicts, updated_at FROM cameras
             WHERE ?1 IS NULL OR unit = ?1 OR unit LIKE ?1 || '-%'
             ORDER BY unit, device_code",
        )
        .bind(unit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(camera_row).collect()
    }

    /// The camera records of `unit`'s own ledger held here, ordered by device code.
    pub async fn cameras_of(&self, unit: &str) -> Result<Vec<CameraRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT unit, record, conflicts, updated_at FROM cameras WHERE unit = ?1
             ORDER BY device_code",
        )
        .bind(unit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(camera_row).collect()
    }
}
