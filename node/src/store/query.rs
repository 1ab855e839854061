//! Reading the projections: cameras, figures, units and their profiles, rollup rows, and the
//! documents held here.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use sqlx::Row;

use crate::docs::document::{DocId, DocKind};
use crate::docs::profile::Profile;
use crate::domain::camera::{Camera, Field, Value};
use crate::domain::figures::{Counts, Stats};
use crate::store::counts::{COLUMNS, counts_at};
use crate::store::{Store, StoreError, now};

/// A camera as the projection holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRow {
    pub unit: String,
    pub camera: Camera,
    pub conflicts: BTreeMap<Field, Vec<Value>>,
    pub updated_at: String,
}

/// A document held by this store.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRow {
    pub doc_id: DocId,
    pub heads: Vec<String>,
    /// The peer the replica first came from; `None` for this unit's own documents.
    pub origin: Option<String>,
    /// Grows with every write, across all documents.
    pub version: i64,
    /// The bytes its saved chunks take.
    pub bytes: i64,
}

/// The documents of one kind held here (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentKind {
    /// `ledger`, `profile`, `rollup`, `campaign`.
    pub kind: String,
    pub documents: i64,
    pub bytes: i64,
}

/// How to list cameras.
#[derive(Debug, Clone, Default)]
pub struct CameraQuery {
    /// Matches the device code, name or address.
    pub search: Option<String>,
    pub state: Option<String>,
    pub networked: Option<bool>,
    pub point_class: Option<i64>,
    pub conflicts_only: bool,
    /// `code` (default), `name`, `updated`.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub offset: i64,
}

impl Store {
    /// Whether this store holds `doc` and, if it does, the peer its replica first came from
    /// (`Some(None)`: held, and this unit's own).
    pub async fn replica_origin(&self, doc: &DocId) -> Result<Option<Option<String>>, StoreError> {
        // A replica's origin, once saved, never changes (the write keeps the first): kept here.
        // So is the holding of this unit's own documents, which are never given up (but its
        // rollups' generations; a replica saved without an origin, from a file, gets one from
        // its first peer, so only an own document's missing origin is final).
        if let Some(o) = self.origins.lock().expect("origins").get(doc) {
            return Ok(Some(o.clone()));
        }
        let origin: Option<Option<String>> =
            sqlx::query_scalar("SELECT origin FROM documents WHERE doc_id = ?")
                .bind(doc.to_string())
                .fetch_optional(&self.pool)
                .await?;
        match &origin {
            Some(Some(o)) => self.note_origin(doc, o.clone()),
            Some(None) if doc.unit == self.identity.unit && doc.kind != DocKind::Rollup => {
                self.origins
                    .lock()
                    .expect("origins")
                    .entry(doc.clone())
                    .or_insert(None);
            }
            _ => {}
        }
        Ok(origin)
    }

    /// Of `docs`, those held here, each with the peer its replica came from (`None`: this unit's
    /// own, or saved from a file): [`Store::replica_origin`] for many documents, a statement for
    /// each 500 of them.
    pub async fn replica_origins(
        &self,
        docs: &[DocId],
    ) -> Result<HashMap<DocId, Option<String>>, StoreError> {
        let mut held = HashMap::new();
        for batch in docs.chunks(500) {
            let mut q =
                sqlx::QueryBuilder::new("SELECT doc_id, origin FROM documents WHERE doc_id IN (");
            let mut list = q.separated(", ");
            for d in batch {
                list.push_bind(d.to_string());
            }
            list.push_unseparated(")");
            let rows: Vec<(String, Option<String>)> =
                q.build_query_as().fetch_all(&self.pool).await?;
            for (id, origin) in rows {
                if let Ok(doc) = id.parse::<DocId>() {
                    held.insert(doc, origin);
                }
            }
        }
        Ok(held)
    }

    /// `doc` is held here with `origin` (which never changes once saved).
    pub(crate) fn note_origin(&self, doc: &DocId, origin: String) {
        self.origins
            .lock()
            .expect("origins")
            .entry(doc.clone())
            .or_insert(Some(origin));
    }

    /// The newest document version written here (0 before any).
    pub async fn newest_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM documents")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The documents written after version `after` (by this process or another), and the newest
    /// version among them (`after` when there is none).
    pub async fn changed_since(&self, after: i64) -> Result<(Vec<DocId>, i64), StoreError> {
        let (docs, newest) = self.versions_since(after).await?;
        Ok((docs.into_iter().map(|(d, _)| d).collect(), newest))
    }

    /// The documents written after version `after`, each with its version, and the newest.
    pub async fn versions_since(&self, after: i64) -> Result<(Vec<(DocId, i64)>, i64), StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT doc_id, version FROM documents WHERE version > ?")
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
        let newest = rows.iter().map(|r| r.1).fold(after, i64::max);
        Ok((
            rows.into_iter()
                .filter_map(|(d, v)| Some((d.parse().ok()?, v)))
                .collect(),
            newest,
        ))
    }

    /// How many documents of each kind are held here, and their saved bytes, by kind.
    pub async fn document_kinds(&self) -> Result<Vec<DocumentKind>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT substr(doc_id, 1, instr(doc_id, '/') - 1) AS kind, COUNT(*), COALESCE(SUM(bytes), 0)
             FROM documents GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, documents, bytes)| DocumentKind {
                kind,
                documents,
                bytes,
            })
            .collect())
    }

    /// The parent a unit's profile names, as projected here (`None`: no profile, or no parent).
    pub async fn parent_of(&self, unit: &str) -> Result<Option<String>, StoreError> {
        let parent: Option<Option<String>> =
            sqlx::query_scalar("SELECT parent FROM units WHERE unit = ?")
                .bind(unit)
                .fetch_optional(&self.pool)
                .await?;
        Ok(parent.flatten())
    }

    /// Every document held here: id, heads, the peer it came from (`None` for own) and version.
    pub async fn documents(&self) -> Result<Vec<DocumentRow>, StoreError> {
        self.documents_since(-1).await
    }

    /// [`Store::documents`] written after version `after` (by this process or another).
    pub async fn documents_since(&self, after: i64) -> Result<Vec<DocumentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc_id, heads, origin, version, bytes FROM documents WHERE version > ? ORDER BY doc_id",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let id: String = r.get(0);
                let heads: String = r.get(1);
                Some(DocumentRow {
                    doc_id: id.parse().ok()?,
                    heads: serde_json::from_str(&heads).unwrap_or_default(),
                    origin: r.get(2),
                    version: r.get(3),
                    bytes: r.get(4),
                })
            })
            .collect())
    }

    /// The heads of a document as saved here (empty when this store does not hold it).
    pub async fn heads(&self, doc_id: &DocId) -> Result<Vec<String>, StoreError> {
        if let Some(heads) = self.heads_cached(doc_id) {
            return Ok(heads);
        }
        let h: Option<String> = sqlx::query_scalar("SELECT heads FROM documents WHERE doc_id = ?")
            .bind(doc_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(h.and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default())
    }

    /// One camera from the projection.
    pub async fn camera(&self, unit: &str, code: &str) -> Result<Option<CameraRow>, StoreError> {
        let row = sqlx::query(
            "SELECT unit, record, conflicts, updated_at FROM cameras WHERE unit = ? AND device_code = ?",
        )
        .bind(unit)
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| camera_row(&r)).transpose()
    }

    /// Cameras of a unit matching the query, and how many match in all.
    pub async fn cameras(
        &self,
        unit: &str,
        q: &CameraQuery,
    ) -> Result<(Vec<CameraRow>, i64), StoreError> {
        let like = q.search.as_ref().map(|s| format!("%{}%", s.trim()));
        let order = match q.sort.as_deref() {
            Some("name") => "ORDER BY name, device_code",
            Some("updated") => "ORDER BY updated_at DESC, device_code",
            _ => "ORDER BY device_code",
        };
        const WHERE: &str = " FROM cameras WHERE unit = ?1
            AND (?2 IS NULL OR device_code LIKE ?2 OR name LIKE ?2 OR address LIKE ?2)
            AND (?3 IS NULL OR state = ?3)
            AND (?4 IS NULL OR networked = ?4)
            AND (?5 IS NULL OR point_class = ?5)
            AND (?6 = 0 OR conflicts IS NOT NULL) ";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*){WHERE}")))
            .bind(unit)
            .bind(&like)
            .bind(&q.state)
            .bind(q.networked)
            .bind(q.point_class)
            .bind(q.conflicts_only)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT unit, record, conflicts, updated_at{WHERE}{order} LIMIT ?7 OFFSET ?8"
        )))
        .bind(unit)
        .bind(&like)
        .bind(&q.state)
        .bind(q.networked)
        .bind(q.point_class)
        .bind(q.conflicts_only)
        .bind(q.limit.unwrap_or(-1))
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(camera_row).collect::<Result<Vec<_>, _>>()?;
        Ok((list, total))
    }

    /// The counts of one unit's own ledger, and when they last changed.
    pub async fn counts(&self, unit: &str) -> Result<(Counts, String), StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {}, as_of FROM stats WHERE unit = ?", *COLUMNS));
        let row = sqlx::query(SQL.as_str())
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => (counts_at(&r, 0), r.get::<String, _>(10)),
            None => (Counts::default(), now()),
        })
    }

    /// The name of a unit, as its profile gives it.
    pub async fn unit_name(&self, unit: &str) -> Result<String, StoreError> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM units WHERE unit = ?")
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?;
        Ok(name.unwrap_or_default())
    }

    /// The figures of one unit's own ledger.
    pub async fn stats(&self, unit: &str) -> Result<Stats, StoreError> {
        let name = self.unit_name(unit).await?;
        let (counts, as_of) = self.counts(unit).await?;
        Ok(Stats::from_counts(unit, &name, &counts, as_of))
    }

    /// Every unit this store holds a profile of, with the parent it reports.
    pub async fn unit_parents(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT unit, parent FROM units")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The hub whose rollup has a row for `unit`: any (`with_own`, its own totals included) or
    /// another hub's row (its parent's).
    pub async fn rollup_holding(
        &self,
        unit: &str,
        with_own: bool,
    ) -> Result<Option<String>, StoreError> {
        let sql = if with_own {
            "SELECT hub FROM rollup_rows WHERE unit = ? LIMIT 1"
        } else {
            "SELECT hub FROM rollup_rows WHERE unit = ? AND hub != unit LIMIT 1"
        };
        Ok(sqlx::query_scalar(sql)
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The rows of a rollup held here (`hub`'s children, then `hub` itself for its totals).
    pub async fn rollup_rows(
        &self,
        hub: &str,
    ) -> Result<Vec<crate::docs::rollup::Row>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("{} WHERE hub = ? ORDER BY unit = ?, unit", *ROLLUP_ROWS));
        let rows = sqlx::query(SQL.as_str())
            .bind(hub)
            .bind(hub)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rollup_row).collect())
    }

    /// The totals row of `hub`'s rollup held here (its subtree's figures), if any: one row of
    /// [`Store::rollup_rows`].
    pub async fn rollup_totals(
        &self,
        hub: &str,
    ) -> Result<Option<crate::docs::rollup::Row>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("{} WHERE hub = ? AND unit = ?", *ROLLUP_ROWS));
        let row = sqlx::query(SQL.as_str())
            .bind(hub)
            .bind(hub)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| rollup_row(&r)))
    }

    /// What a hub's rollup shows of its child `unit`, in one statement: its name (empty when
    /// unknown) and its figures — the totals of its own rollup when it is a hub whose rollup is
    /// held here, else its ledger's (zero when neither is). As [`Store::unit_name`],
    /// [`Store::rollup_totals`] and [`Store::counts`] would say, in one round trip instead of
    /// three.
    pub async fn child_figures(&self, unit: &str) -> Result<(String, Counts), StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let pick = Counts::FIELDS
                .map(|k| {
                    format!("CASE WHEN r.unit IS NOT NULL THEN r.{k} ELSE COALESCE(s.{k}, 0) END")
                })
                .join(", ");
            format!(
                "SELECT COALESCE(n.name, ''), {pick}
                 FROM (SELECT ?1 AS unit) c
                 LEFT JOIN units n ON n.unit = c.unit
                 LEFT JOIN rollup_rows r ON r.hub = c.unit AND r.unit = c.unit
                 LEFT JOIN stats s ON s.unit = c.unit"
            )
        });
        let row = sqlx::query(SQL.as_str())
            .bind(unit)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.get(0), counts_at(&row, 1)))
    }

    /// The profile of a unit from the projection.
    pub async fn profile(&self, unit: &str) -> Result<Option<Profile>, StoreError> {
        let row = sqlx::query("SELECT name, kind, address, parent FROM units WHERE unit = ?")
            .bind(unit)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let mut p = Profile {
            unit: unit.to_string(),
            name: r.get(0),
            kind: r.get(1),
            address: r.get(2),
            parent: r.get(3),
            leader: None,
            liaison: None,
        };
        let mut conn = self.pool.acquire().await?;
        for (role, c) in crate::store::project::contacts_of(&mut conn, unit).await? {
            match role.as_str() {
                "leader" => p.leader = Some(c),
                _ => p.liaison = Some(c),
            }
        }
        Ok(Some(p))
    }
}

pub(super) fn camera_row(r: &sqlx::sqlite::SqliteRow) -> Result<CameraRow, StoreError> {
    let record: String = r.get(1);
    let camera: Camera = serde_json::from_str(&record)
        .map_err(|e| StoreError::Refused(format!("damaged camera projection: {e}")))?;
    let conflicts: Option<String> = r.get(2);
    let conflicts = conflicts
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    Ok(CameraRow {
        unit: r.get(0),
        camera,
        conflicts,
        updated_at: r.get(3),
    })
}

/// The rows of `rollup_rows` as [`rollup_row`] reads them.
static ROLLUP_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT unit, name, {}, as_of, findings_errors, findings_warnings FROM rollup_rows",
        *COLUMNS
    )
});

/// A row of [`ROLLUP_ROWS`].
fn rollup_row(r: &sqlx::sqlite::SqliteRow) -> crate::docs::rollup::Row {
    crate::docs::rollup::Row {
        unit: r.get(0),
        name: r.get(1),
        counts: counts_at(r, 2),
        findings: crate::store::counts::findings_at(r, 13),
        as_of: r.get(12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::rollup::{Rollup, write};
    use crate::domain::unit::{Role, UnitCode, UnitKind};

    /// The documents a peer offers are looked up at once: held or not, and where from, as one
    /// question each would say.
    #[tokio::test]
    async fn the_origins_of_many_documents_are_read_at_once() {
        use automerge::sync::SyncDoc;
        let (_dir, store) = crate::store::testing::hospital().await;
        let other = UnitCode::parse("500103-0002").unwrap();
        let mut theirs = DocId::profile(&other).genesis();
        crate::docs::profile::set_text(&mut theirs, "name", Some("另一家医院")).unwrap();
        theirs.commit();
        // The whole document, as to a peer that holds none of it.
        let mut state = automerge::sync::State::new();
        state.their_heads = Some(vec![]);
        state.their_need = Some(vec![]);
        state.their_have = Some(vec![Default::default()]);
        let message = theirs.sync().generate_sync_message(&mut state).unwrap();
        let replica = DocId::profile(&other);
        store
            .receive_sync(
                &replica,
                "t",
                "500103",
                &mut automerge::sync::State::new(),
                message,
                |_, _| Ok(()),
            )
            .await
            .unwrap();
        let own = DocId::ledger(store.unit());
        let absent = DocId::ledger(&other);
        let asked = [own.clone(), replica.clone(), absent.clone()];
        let held = store.replica_origins(&asked).await.unwrap();
        assert_eq!(held.len(), 2, "{held:?}");
        assert_eq!(held[&own], None, "this unit's own");
        assert_eq!(held[&replica].as_deref(), Some("500103"));
        for d in &asked {
            assert_eq!(store.replica_origin(d).await.unwrap(), held.get(d).cloned());
        }
    }

    /// A child's name and figures in one statement say what the three questions they replace
    /// say: a leaf's ledger, a hub's rollup totals over its own ledger, nothing for a stranger.
    #[tokio::test]
    async fn a_childs_figures_in_one_statement_are_those_of_three() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let three = |unit: &'static str| {
            let store = &store;
            async move {
                let counts = match store.rollup_totals(unit).await.unwrap() {
                    Some(r) => r.counts,
                    None => store.counts(unit).await.unwrap().0,
                };
                (store.unit_name(unit).await.unwrap(), counts)
            }
        };
        let me = store.unit().to_string();
        crate::store::testing::add_cameras(&store, 1..=3).await;
        let leaf = store.child_figures(&me).await.unwrap();
        assert_eq!(leaf.1.built, 3, "{leaf:?}");
        assert_eq!(leaf.0, "重庆市渝中区人民医院");
        assert_eq!(leaf, three("500103-0001").await);
        // Its rollup (as if it were a hub) outweighs its ledger.
        let totals = crate::docs::rollup::Row {
            unit: me.clone(),
            name: "渝中区人民医院".into(),
            counts: Counts {
                built: 7,
                key_industry_in_service: 2,
                ..Default::default()
            },
            findings: Default::default(),
            as_of: String::new(),
        };
        let rollup = Rollup {
            totals: Some(totals),
            ..Default::default()
        };
        store
            .edit(&DocId::rollup(store.unit(), 0), "t", "rollup", |doc| {
                Ok(write(doc, &rollup, "2026-11-27T00:00:00.000Z")
                    .map_err(crate::docs::ledger::LedgerError::from)?)
            })
            .await
            .unwrap();
        let hub = store.child_figures(&me).await.unwrap();
        assert_eq!(
            (hub.1.built, hub.1.key_industry_in_service),
            (7, 2),
            "{hub:?}"
        );
        assert_eq!(hub, three("500103-0001").await);
        let stranger = store.child_figures("500103-0002").await.unwrap();
        assert_eq!(stranger, (String::new(), Counts::default()));
        assert_eq!(stranger, three("500103-0002").await);
    }

    /// An own document's holding is remembered after the first question, but not a rollup
    /// generation's: another process (`yl-hub` beside the daemon) may give it up, and the next
    /// question must see it gone.
    #[tokio::test]
    async fn own_documents_are_remembered_held_but_not_a_rollup_another_process_gave_up() {
        let dir = tempfile::tempdir().unwrap();
        let hub = UnitCode::parse("500103").unwrap();
        let store = Store::init(
            dir.path(),
            &hub,
            "渝中区卫生健康委员会",
            UnitKind::District,
            Role::Hub,
        )
        .await
        .unwrap();
        let other = Store::open(dir.path()).await.unwrap();
        let profile = DocId::profile(&hub);
        let (old, new) = (DocId::rollup(&hub, 0), DocId::rollup(&hub, 1));
        for d in [&old, &new] {
            store
                .edit(d, "t", "rollup", |doc| {
                    Ok(write(doc, &Rollup::default(), "2026-11-27T00:00:00.000Z")
                        .map_err(crate::docs::ledger::LedgerError::from)?)
                })
                .await
                .unwrap();
        }
        store
            .edit(&profile, "t", "name", |doc| {
                Ok(crate::docs::profile::set_text(
                    doc,
                    "name",
                    Some("渝中区卫健委"),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(store.replica_origin(&profile).await.unwrap(), Some(None));
        assert_eq!(store.replica_origin(&old).await.unwrap(), Some(None));
        assert_eq!(other.retire_rollups(&new, &[]).await.unwrap(), 1);
        assert_eq!(
            store.replica_origin(&old).await.unwrap(),
            None,
            "given up by another process"
        );
        assert_eq!(store.replica_origin(&new).await.unwrap(), Some(None));
        assert_eq!(store.replica_origin(&profile).await.unwrap(), Some(None));
        assert!(store.origins.lock().unwrap().contains_key(&profile));
    }
}
