//! The projections: what a document change does to the SQL tables (cameras and stats, units and
//! contacts, rollup rows and their feed events) and the audit rows, inside the write's transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use automerge::patches::PatchAction;
use automerge::{AutoCommit, ChangeHash, Prop};
use serde_json::json;
use sqlx::{Row, SqliteConnection};

use crate::docs::document::{DocId, DocKind};
use crate::docs::ledger::{self, CameraState};
use crate::docs::profile::{self, Profile};
use crate::domain::camera::{Camera, Field};
use crate::domain::contacts::ContactRole;
use crate::domain::figures::{CameraFlags, Counts};
use crate::domain::unit::UnitCode;
use crate::store::counts::{
    ASSIGN_EXCLUDED, COLUMNS, Findings, PLACEHOLDERS, SUMS, bind_counts, counts_at, findings_at,
};
use crate::store::feed::{ROWS_PER_STATEMENT, append_feed};
use crate::store::{Store, StoreError, now};

impl Store {
    /// Rewrites the projections of what changed in `doc` since `before`, with audit rows.
    pub(super) async fn project(
        &self,
        conn: &mut SqliteConnection,
        doc_id: &DocId,
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        who: &str,
        touched: Option<&[String]>,
    ) -> Result<usize, StoreError> {
        match doc_id.kind {
            DocKind::Ledger if before.is_empty() && doc_id.unit != *self.unit() => {
                // A replica arriving whole: every camera is new here, and the child's own
                // history is their audit; one pass, a few multi-row statements.
                let codes = ledger::camera_codes(doc)?;
                for batch in codes.chunks(UPSERT_ROWS) {
                    let states: Vec<(String, CameraState)> = ledger::read_cameras(doc, batch)?
                        .into_iter()
                        .filter_map(|(code, state)| state.map(|s| (code, s)))
                        .collect();
                    upsert_cameras(conn, doc_id.unit.as_str(), &states).await?;
                }
                refresh_stats(conn, doc_id.unit.as_str()).await?;
                Ok(codes.len())
            }
            DocKind::Ledger => {
                let after = doc.get_heads();
                let codes: Vec<String> = match touched {
                    Some(t) => t.to_vec(),
                    None => touched_cameras(doc, before, &after).into_iter().collect(),
                };
                let n = codes.len();
                // In batches: a large import's records are not all held at once, and each
                // batch's old records, audit rows and projections are a few multi-row
                // statements, not three round trips to the connection's thread a camera.
                for batch in codes.chunks(2_000) {
                    let states = ledger::read_cameras(doc, batch)?;
                    project_cameras(conn, doc_id, states, who, before.is_empty()).await?;
                }
                refresh_stats(conn, doc_id.unit.as_str()).await?;
                Ok(n)
            }
            DocKind::Profile => {
                let mut p = profile::read_profile(doc)?;
                p.parent = believed_parent(conn, self.unit(), doc_id, p.parent.take()).await?;
                project_profile(conn, doc_id, &p, who).await?;
                Ok(1)
            }
            DocKind::Rollup => {
                let old = old_rows(conn, doc_id.unit.as_str()).await?;
                let mut r = if doc_id.unit == *self.unit() {
                    // This hub's own: a row whose as-of time it wrote is as projected.
                    crate::docs::rollup::read_reusing(doc, |unit, as_of| {
                        old.get(unit)
                            .filter(|o| !o.as_of.is_empty() && o.as_of == as_of)
                            .map(|o| (o.name.clone(), o.counts))
                    })
                } else {
                    crate::docs::rollup::read(doc)
                };
                if doc_id.unit != *self.unit() {
                    // A child hub's rollup speaks for its own namespace only, and its totals for
                    // itself, whatever it wrote.
                    r.children.retain(|unit, _| {
                        UnitCode::parse(unit).is_ok_and(|u| u.is_under(&doc_id.unit))
                    });
                    if let Some(t) = r.totals.as_mut() {
                        t.unit = doc_id.unit.to_string();
                    }
                }
                project_rollup(conn, doc_id.unit.as_str(), &r, &old).await
            }
            DocKind::Campaign
            | DocKind::Submission
            | DocKind::Review
            | DocKind::Reads
            | DocKind::Codes => Ok(0),
        }
    }
}

/// Device codes whose records changed between `before` and `after`.
fn touched_cameras(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    debug_assert_eq!(doc.get_heads(), after);
    for p in crate::docs::document::diff_since(doc, before) {
        let in_cameras = matches!(p.path.first(), Some((_, Prop::Map(k))) if k == "cameras");
        if !in_cameras {
            continue;
        }
        if let Some((_, Prop::Map(code))) = p.path.get(1) {
            codes.insert(code.clone());
        } else if p.path.len() == 1 {
            match &p.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
                    codes.insert(key.clone());
                }
                PatchAction::Conflict {
                    prop: Prop::Map(key),
                } => {
                    codes.insert(key.clone());
                }
                _ => {}
            }
        }
    }
    codes
}

fn fields_json(c: &Camera, fields: &[Field]) -> String {
    let m: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter_map(|f| {
            c.get(*f).map(|v| {
                (
                    f.key().to_string(),
                    serde_json::to_value(v).unwrap_or_default(),
                )
            })
        })
        .collect();
    serde_json::Value::Object(m).to_string()
}

/// Rows of a batch's statements: old records asked for, audit rows, removals (a few bound values
/// each, well within SQLite's limit on bound values).
const BATCH_ROWS: usize = 500;

/// `statement` (reading or deleting rows of `cameras`) for the rows of `unit` whose device code
/// is one of `codes`.
fn of_codes<'a>(
    statement: &str,
    unit: &'a str,
    codes: impl Iterator<Item = &'a str>,
) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut q = sqlx::QueryBuilder::new(statement);
    q.push(" WHERE unit = ")
        .push_bind(unit)
        .push(" AND device_code IN (");
    let mut list = q.separated(", ");
    for code in codes {
        list.push_bind(code);
    }
    list.push_unseparated(")");
    q
}

/// Projects cameras and audits each one's change. `first` says the document held nothing
/// before this change (a replica arriving whole): there is no earlier record to read. A code
/// named twice is projected once (its state is read from the document, the same both times).
async fn project_cameras(
    conn: &mut SqliteConnection,
    doc_id: &DocId,
    mut states: Vec<(String, Option<CameraState>)>,
    who: &str,
    first: bool,
) -> Result<(), StoreError> {
    let unit = doc_id.unit.as_str();
    let mut seen = std::collections::HashSet::new();
    states.retain(|(code, _)| seen.insert(code.clone()));
    let mut old: HashMap<String, Camera> = HashMap::new();
    if !first {
        for batch in states.chunks(BATCH_ROWS) {
            let codes = batch.iter().map(|(code, _)| code.as_str());
            let mut q = of_codes("SELECT device_code, record FROM cameras", unit, codes);
            for row in q.build().fetch_all(&mut *conn).await? {
                let record: String = row.get(1);
                if let Ok(c) = serde_json::from_str::<Camera>(&record) {
                    old.insert(row.get(0), c);
                }
            }
        }
    }
    let at = now();
    // (record, action, fields, old value, new value)
    type Audit = (String, &'static str, String, Option<String>, Option<String>);
    let mut audits: Vec<Audit> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut kept: Vec<(String, CameraState)> = Vec::new();
    for (code, state) in states {
        let old = old.get(&code);
        let (action, changed, old_json, new_json) = match (old, &state) {
            (None, None) => continue,
            (None, Some(s)) => {
                let fields: Vec<Field> = s.camera.fields.keys().copied().collect();
                let new = fields_json(&s.camera, &fields);
                ("add", fields, None, Some(new))
            }
            (Some(o), None) => {
                let fields: Vec<Field> = o.fields.keys().copied().collect();
                let was = fields_json(o, &fields);
                ("remove", fields, Some(was), None)
            }
            (Some(o), Some(s)) => {
                let fields: Vec<Field> = Field::ALL
                    .into_iter()
                    .filter(|f| o.get(*f) != s.camera.get(*f))
                    .collect();
                let (was, new) = (fields_json(o, &fields), fields_json(&s.camera, &fields));
                ("edit", fields, Some(was), Some(new))
            }
        };
        if !changed.is_empty() || action != "edit" {
            let names: Vec<&str> = changed.iter().map(|f| f.key()).collect();
            audits.push((code.clone(), action, names.join(","), old_json, new_json));
        }
        match state {
            None => removed.push(code),
            Some(s) => kept.push((code, s)),
        }
    }
    let doc = doc_id.to_string();
    for batch in audits.chunks(BATCH_ROWS) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO audit (at, who, doc_id, record, action, fields, old_value, new_value) ",
        );
        q.push_values(batch, |mut b, (record, action, fields, was, now)| {
            b.push_bind(&at)
                .push_bind(who)
                .push_bind(&doc)
                .push_bind(record.as_str())
                .push_bind(*action)
                .push_bind(fields.as_str())
                .push_bind(was.as_deref())
                .push_bind(now.as_deref());
        });
        q.build().execute(&mut *conn).await?;
    }
    for batch in removed.chunks(BATCH_ROWS) {
        let codes = batch.iter().map(String::as_str);
        let mut q = of_codes("DELETE FROM cameras", unit, codes);
        q.build().execute(&mut *conn).await?;
    }
    for batch in kept.chunks(UPSERT_ROWS) {
        upsert_cameras(conn, unit, batch).await?;
    }
    Ok(())
}

/// Cameras written by one statement when a ledger arrives whole (16 values each, well within
/// SQLite's limit on bound values).
const UPSERT_ROWS: usize = 200;

/// Writes the projections of new cameras in one multi-row statement.
async fn upsert_cameras(
    conn: &mut SqliteConnection,
    unit: &str,
    states: &[(String, CameraState)],
) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    let at = now();
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO cameras (unit, device_code, name, address, point_class, area, state, built,
            must_network, networked, archived, geo_tagged, in_service, record, conflicts, updated_at) ",
    );
    q.push_values(states, |mut b, (code, s)| {
        let c = &s.camera;
        let f = CameraFlags::of(c);
        let conflicts = (!s.conflicts.is_empty())
            .then(|| serde_json::to_string(&s.conflicts).unwrap_or_default());
        b.push_bind(unit)
            .push_bind(code.as_str())
            .push_bind(c.name().to_string())
            .push_bind(c.text(Field::Address).map(str::to_string))
            .push_bind(c.point_class().map(|p| p as i64))
            .push_bind(c.area().map(|a| a.as_str()))
            .push_bind(c.state().as_str())
            .push_bind(f.built)
            .push_bind(f.must_network)
            .push_bind(f.networked)
            .push_bind(f.archived)
            .push_bind(f.geo_tagged)
            .push_bind(f.in_service)
            .push_bind(serde_json::to_string(c).unwrap_or_default())
            .push_bind(conflicts)
            .push_bind(at.clone());
    });
    q.push(
        " ON CONFLICT (unit, device_code) DO UPDATE SET name = excluded.name,
            address = excluded.address, point_class = excluded.point_class, area = excluded.area,
            state = excluded.state, built = excluded.built, must_network = excluded.must_network,
            networked = excluded.networked, archived = excluded.archived,
            geo_tagged = excluded.geo_tagged, in_service = excluded.in_service,
            record = excluded.record, conflicts = excluded.conflicts, updated_at = excluded.updated_at",
    );
    q.build().execute(&mut *conn).await?;
    Ok(())
}

async fn refresh_stats(conn: &mut SqliteConnection, unit: &str) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO stats (unit, {COLUMNS}, as_of)
             SELECT ?1, {SUMS}, ?2 FROM cameras WHERE unit = ?1
             ON CONFLICT (unit) DO UPDATE SET {ASSIGN_EXCLUDED}, as_of = excluded.as_of",
            COLUMNS = *COLUMNS,
            SUMS = *SUMS,
            ASSIGN_EXCLUDED = *ASSIGN_EXCLUDED,
        )
    });
    sqlx::query(SQL.as_str())
        .bind(unit)
        .bind(now())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A rollup row as projected.
struct OldRow {
    name: String,
    counts: Counts,
    findings: Findings,
    as_of: String,
}

/// The rows of `hub`'s rollup as projected, by unit.
async fn old_rows(
    conn: &mut SqliteConnection,
    hub: &str,
) -> Result<HashMap<String, OldRow>, StoreError> {
    static OLD: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT unit, name, {}, findings_errors, findings_warnings, as_of FROM rollup_rows WHERE hub = ?",
            *COLUMNS
        )
    });
    let old = sqlx::query(OLD.as_str())
        .bind(hub)
        .fetch_all(&mut *conn)
        .await?;
    Ok(old
        .iter()
        .map(|r| {
            (
                r.get(0),
                OldRow {
                    name: r.get(1),
                    counts: counts_at(r, 2),
                    findings: findings_at(r, 12),
                    as_of: r.get(14),
                },
            )
        })
        .collect())
}

/// Rewrites the rows of one rollup that differ from `old` (as projected), with a feed event for
/// each.
async fn project_rollup(
    conn: &mut SqliteConnection,
    hub: &str,
    r: &crate::docs::rollup::Rollup,
    old: &HashMap<String, OldRow>,
) -> Result<usize, StoreError> {
    static ONE: LazyLock<String> =
        LazyLock::new(|| format!("(?, ?, ?, {}, ?, ?, ?)", *PLACEHOLDERS));
    let mut rows: Vec<&crate::docs::rollup::Row> = r.children.values().collect();
    if let Some(t) = &r.totals {
        rows.push(t);
    }
    let at = now();
    let changed: Vec<&crate::docs::rollup::Row> = rows
        .iter()
        .copied()
        .filter(|row| {
            !old.get(&row.unit).is_some_and(|o| {
                o.name == row.name && o.counts == row.counts && o.findings == row.findings
            })
        })
        .collect();
    // The changed rows in one statement, and their feed events in another.
    for batch in changed.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO rollup_rows (hub, unit, name, {COLUMNS}, as_of, findings_errors, findings_warnings)
             VALUES {VALUES}
             ON CONFLICT (hub, unit) DO UPDATE SET name = excluded.name, {ASSIGN_EXCLUDED},
                as_of = excluded.as_of, findings_errors = excluded.findings_errors,
                findings_warnings = excluded.findings_warnings",
            COLUMNS = *COLUMNS,
            VALUES = vec![ONE.as_str(); batch.len()].join(", "),
            ASSIGN_EXCLUDED = *ASSIGN_EXCLUDED,
        );
        // Built from constant column lists and placeholders only: every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            q = bind_counts(q.bind(hub).bind(&row.unit).bind(&row.name), &row.counts)
                .bind(&row.as_of)
                .bind(row.findings.errors as i64)
                .bind(row.findings.warnings as i64);
        }
        q.execute(&mut *conn).await?;
    }
    append_feed(conn, hub, &changed, &at).await?;
    let mut n = changed.len();
    for unit in old.keys() {
        let kept = rows.iter().any(|r| &r.unit == unit);
        if !kept {
            sqlx::query("DELETE FROM rollup_rows WHERE hub = ? AND unit = ?")
                .bind(hub)
                .bind(unit)
                .execute(&mut *conn)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The parent a profile names, as far as this unit believes it: its own profile's parent; a
/// unit of the parent's namespace (`500103-0001` under `500103`); or this unit, for a unit it
/// enrolled. Otherwise none: a profile a child brought cannot place a unit in another subtree.
async fn believed_parent(
    conn: &mut SqliteConnection,
    me: &UnitCode,
    doc_id: &DocId,
    parent: Option<String>,
) -> Result<Option<String>, StoreError> {
    let Some(p) = parent else { return Ok(None) };
    let unit = &doc_id.unit;
    if unit == me || UnitCode::parse(&p).is_ok_and(|p| unit.is_under(&p)) {
        return Ok(Some(p));
    }
    if p == me.as_str() {
        let enrolled: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM children WHERE unit = ?")
            .bind(unit.as_str())
            .fetch_one(&mut *conn)
            .await?;
        if enrolled {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Every contact of `unit` in the projection, by role, in one query.
pub(super) async fn contacts_of(
    conn: &mut SqliteConnection,
    unit: &str,
) -> Result<HashMap<String, crate::domain::contacts::Contact>, StoreError> {
    Ok(
        sqlx::query("SELECT role, name, position, phone, remarks FROM contacts WHERE unit = ?")
            .bind(unit)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    crate::domain::contacts::Contact {
                        name: r.get(1),
                        position: r.get(2),
                        phone: r.get(3),
                        remarks: r.get(4),
                    },
                )
            })
            .collect(),
    )
}

async fn project_profile(
    conn: &mut SqliteConnection,
    doc_id: &DocId,
    p: &Profile,
    who: &str,
) -> Result<(), StoreError> {
    let unit = doc_id.unit.as_str();
    let old = sqlx::query("SELECT name, kind, address, parent FROM units WHERE unit = ?")
        .bind(unit)
        .fetch_optional(&mut *conn)
        .await?;
    let mut old_map = serde_json::Map::new();
    let mut new_map = serde_json::Map::new();
    let olds: [Option<String>; 4] = match &old {
        Some(r) => [Some(r.get(0)), r.get(1), r.get(2), r.get(3)],
        None => [None, None, None, None],
    };
    let news = [
        Some(p.name.clone()),
        p.kind.clone(),
        p.address.clone(),
        p.parent.clone(),
    ];
    for (i, k) in ["name", "kind", "address", "parent"].iter().enumerate() {
        if olds[i] != news[i] {
            old_map.insert(k.to_string(), json!(olds[i]));
            new_map.insert(k.to_string(), json!(news[i]));
        }
    }
    sqlx::query(
        "INSERT INTO units (unit, name, kind, address, parent, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (unit) DO UPDATE SET name = excluded.name, kind = excluded.kind,
            address = excluded.address, parent = excluded.parent, updated_at = excluded.updated_at",
    )
    .bind(unit)
    .bind(&p.name)
    .bind(&p.kind)
    .bind(&p.address)
    .bind(&p.parent)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    let mut held = contacts_of(conn, unit).await?;
    for role in ContactRole::ALL {
        let old = held.remove(role.as_str());
        let new = p.contact(role).cloned();
        if old == new {
            continue;
        }
        old_map.insert(role.as_str().into(), json!(old));
        new_map.insert(role.as_str().into(), json!(new));
        match new {
            Some(c) => {
                sqlx::query(
                    "INSERT INTO contacts (unit, role, name, position, phone, remarks) VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (unit, role) DO UPDATE SET name = excluded.name,
                        position = excluded.position, phone = excluded.phone, remarks = excluded.remarks",
                )
                .bind(unit)
                .bind(role.as_str())
                .bind(&c.name)
                .bind(&c.position)
                .bind(&c.phone)
                .bind(&c.remarks)
                .execute(&mut *conn)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM contacts WHERE unit = ? AND role = ?")
                    .bind(unit)
                    .bind(role.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    if !new_map.is_empty() {
        let fields: Vec<String> = new_map.keys().cloned().collect();
        sqlx::query(
            "INSERT INTO audit (at, who, doc_id, record, action, fields, old_value, new_value)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now())
        .bind(who)
        .bind(doc_id.to_string())
        .bind(unit)
        .bind(if old.is_some() { "edit" } else { "add" })
        .bind(fields.join(","))
        .bind(serde_json::Value::Object(old_map).to_string())
        .bind(serde_json::Value::Object(new_map).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::docs::document::DocId;
    use crate::docs::ledger;
    use crate::domain::camera::{Field, Value};

    /// Records projected in batches (more than one of each statement's rows): each added,
    /// edited or removed record has its projection and its own audit row, with the fields that
    /// changed and their values before and after.
    #[tokio::test]
    async fn records_in_batches_are_projected_and_audited_each() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let doc = DocId::ledger(store.unit());
        let code = crate::store::testing::code;
        crate::store::testing::add_cameras(&store, 0..1_200).await;
        let count = |sql: &'static str| {
            let store = &store;
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&store.pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(count("SELECT COUNT(*) FROM cameras").await, 1_200);
        assert_eq!(
            count("SELECT COUNT(*) FROM audit WHERE action = 'add' AND fields = 'name'").await,
            1_200
        );

        // 600 renamed and 550 removed: more old records, audit rows and removals than one
        // statement's rows (500).
        store
            .edit(&doc, "t", "edit", |d| {
                for n in 0..600 {
                    let name = Some(Value::Text(format!("新点位{n}")));
                    ledger::set_fields(d, &code(n), &[(Field::Name, name)])?;
                }
                for n in 600..1_150 {
                    ledger::purge_camera(d, &code(n))?;
                }
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM cameras").await, 650);
        let name_of = |n: u32| {
            let store = &store;
            let code = code(n);
            async move {
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT name FROM cameras WHERE device_code = ?",
                )
                .bind(code)
                .fetch_optional(&store.pool)
                .await
                .unwrap()
                .flatten()
            }
        };
        assert_eq!(name_of(0).await.as_deref(), Some("新点位0"));
        assert_eq!(name_of(599).await.as_deref(), Some("新点位599"));
        assert_eq!(name_of(600).await, None);
        assert_eq!(name_of(1_149).await, None);
        assert_eq!(name_of(1_150).await.as_deref(), Some("点位1150"));
        let audit = |n: u32| {
            let store = &store;
            let code = code(n);
            async move {
                let a = &store.audit(Some(&code), 1).await.unwrap()[0];
                (
                    a["action"].as_str().unwrap().to_string(),
                    a["fields"].as_str().unwrap().to_string(),
                    a["old"]["name"].as_str().unwrap_or("").to_string(),
                    a["new"]["name"].as_str().unwrap_or("").to_string(),
                )
            }
        };
        let row = |action: &str, old: &str, new: &str| {
            (
                action.to_string(),
                "name".to_string(),
                old.to_string(),
                new.to_string(),
            )
        };
        assert_eq!(audit(0).await, row("edit", "点位0", "新点位0"));
        assert_eq!(audit(599).await, row("edit", "点位599", "新点位599"));
        assert_eq!(audit(600).await, row("remove", "点位600", ""));
        assert_eq!(audit(1_149).await, row("remove", "点位1149", ""));
        assert_eq!(audit(1_150).await, row("add", "", "点位1150"));
        assert_eq!(
            count("SELECT COUNT(*) FROM audit WHERE action = 'edit' AND fields = 'name'").await,
            600
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM audit WHERE action = 'remove'").await,
            550
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM audit WHERE doc_id LIKE 'ledger/%'").await,
            2_350
        );
    }
}
