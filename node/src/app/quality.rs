//! The data-quality check (数据质量核查) where the records can be seen: an institution over its own
//! ledger, a district over its units' replicas, against the rules the campaign publishes; the
//! duplicates no level sees both records of, through keyed codes (what hub children publish, what
//! the parent tells); the findings, and their counts per unit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use crate::app::doubt::Doubts;
use crate::app::zh;
use crate::docs::document::{DocId, DocKind, heads_hex};
use crate::docs::ledger;
use crate::docs::quality::{read_codes, read_notices};
use crate::domain::camera::State;
use crate::domain::crosscheck::{Notices, Shared, Source, duplicates, sharing};
use crate::domain::figures::beijing;
use crate::domain::quality::{self, Check, CodeKey, Finding, RuleSet, Subject, code_key};
use crate::domain::unit::UnitCode;
use crate::store::{CameraRow, Store, StoreError};

/// How many findings a unit has.
pub use crate::domain::quality::Tally;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The day the check was made for (Beijing time).
    pub date: NaiveDate,
    pub rules: RuleSet,
    /// Units checked (those holding at least one camera record here), with their findings' tally.
    pub units: BTreeMap<String, Tally>,
    pub findings: Vec<Finding>,
    /// Device codes (as keyed hashes) registered at two units or more below this unit whose
    /// records it does not all hold — a duplicate across districts, at the city — with the units
    /// holding them; never the cameras.
    pub shared: Vec<Shared>,
    /// What each child must be told (per keyed code, the other units holding it): a hub child
    /// for the duplicates it cannot see, a leaf child for every duplicate of its codes.
    #[serde(skip)]
    pub told: BTreeMap<String, Notices>,
    /// The keyed hashes of every device code in this unit's subtree (what it publishes up; none
    /// at the root).
    #[serde(skip)]
    pub codes: BTreeSet<CodeKey>,
}

impl Report {
    /// The findings of one unit.
    pub fn of_unit<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.unit == unit)
    }
}

/// What one check keeps for the next, so that a hub's data-quality task reads and checks again
/// only what changed since: per ledger held, its records at the ledger's heads and their findings
/// under the rules, key and day in force; per hub child, its keyed codes at the heads of its
/// `codes/<hub>` and rollup; the notices from the parent at their heads. A check from an empty one
/// (a page's) reads everything.
#[derive(Default)]
pub struct Cache {
    /// How long each hub child's keyed codes have been in doubt (more of them than its figures
    /// count cameras, or not keyed codes), and what was recorded.
    pub(crate) doubts: Doubts,
    /// The rules (as JSON), the code key and the day the findings and keys were made for.
    context: Option<(String, Option<Vec<u8>>, NaiveDate)>,
    units: BTreeMap<String, Held>,
    hubs: BTreeMap<String, Published>,
    inherited: Option<(Vec<String>, Notices)>,
    /// The heads of every document held, as of the last check.
    pub(crate) heads: HashMap<DocId, Vec<String>>,
    /// What the data-quality task last read or wrote of its own `codes/<hub>`, at its heads.
    pub(crate) published: Option<(Vec<String>, BTreeSet<CodeKey>)>,
    /// The same of each child's `review/<child>` notices (child → heads, notices).
    pub(crate) notices: BTreeMap<String, (Vec<String>, Notices)>,
}

/// One ledger held here, as of its heads.
struct Held {
    heads: Vec<String>,
    rows: Vec<CameraRow>,
    /// Since when each faulty camera has been faulty (device code → day).
    since: BTreeMap<String, NaiveDate>,
    /// The findings of every rule but the duplicates (which look across ledgers).
    findings: Option<Vec<Finding>>,
    /// The keyed code of each record not removed (with its index in `rows`).
    keys: Option<Vec<(CodeKey, usize)>>,
}

/// A hub child's published keyed codes, as of the heads they were read and judged at.
struct Published {
    at: (Vec<String>, Option<(DocId, Vec<String>)>),
    /// Shared with each check that reads them, not copied (a city holds some 200,000), sorted.
    keys: Arc<[CodeKey]>,
    /// Why they are not believed, if they are not.
    doubted: Option<String>,
}

impl Cache {
    /// An empty cache whose checks record a doubt about a hub child's keyed codes after `grace`
    /// instead of [`crate::app::doubt::DOUBT_GRACE`] (zero: at once).
    pub fn with_grace(grace: std::time::Duration) -> Cache {
        Cache {
            doubts: Doubts::with_grace(grace),
            ..Cache::default()
        }
    }

    /// The current generation of `unit`'s rollup held here, with its heads (from the snapshot).
    pub(crate) fn rollup_of(&self, unit: &UnitCode) -> Option<(DocId, Vec<String>)> {
        self.heads
            .iter()
            .filter(|(d, _)| d.kind == DocKind::Rollup && &d.unit == unit)
            .max_by_key(|(d, _)| d.generation)
            .map(|(d, h)| (d.clone(), h.clone()))
    }
}

/// Reads again the ledgers whose heads moved (and forgets those no longer held), then makes what
/// is missing of each ledger's findings and keyed codes.
async fn refresh_held(
    store: &Store,
    cache: &mut Cache,
    rules: &RuleSet,
    key: Option<&[u8]>,
    today: NaiveDate,
) -> Result<(), StoreError> {
    let ledgers: Vec<(String, Vec<String>)> = cache
        .heads
        .iter()
        .filter(|(d, _)| d.kind == DocKind::Ledger)
        .map(|(d, h)| (d.unit.to_string(), h.clone()))
        .collect();
    cache
        .units
        .retain(|u, _| ledgers.iter().any(|(l, _)| l == u));
    for (u, heads) in ledgers {
        if cache.units.get(&u).is_some_and(|h| h.heads == heads) {
            continue;
        }
        let rows = store.cameras_of(&u).await?;
        let mut since = BTreeMap::new();
        let mut heads = heads;
        if rows.iter().any(|r| r.camera.state() == State::Faulty)
            && let Ok(code) = UnitCode::parse(&u)
        {
            let (read_at, starts) = store
                .read_document(&DocId::ledger(&code), |d| {
                    (heads_hex(&d.get_heads()), ledger::faulty_since(d))
                })
                .await?;
            // The records (read before) and the copy must be at the heads kept: a copy behind
            // what the database said (another process's write not yet reported), or ahead of
            // the records (a write of this process between the two reads), leaves none kept,
            // so that the next check reads both again.
            if read_at != heads {
                heads = Vec::new();
            }
            for (cam, at) in starts {
                since.insert(cam, at.with_timezone(&beijing()).date_naive());
            }
        }
        let held = Held {
            heads,
            rows,
            since,
            findings: None,
            keys: None,
        };
        cache.units.insert(u, held);
    }
    for (u, h) in cache.units.iter_mut() {
        let Ok(code) = UnitCode::parse(u) else {
            h.findings = Some(Vec::new());
            h.keys = Some(Vec::new());
            continue;
        };
        if h.findings.is_none() {
            let subjects: Vec<Subject> = h
                .rows
                .iter()
                .map(|r| Subject {
                    unit: &code,
                    camera: &r.camera,
                    faulty_since: h.since.get(r.camera.device_code.as_str()).copied(),
                })
                .collect();
            // One ledger alone: no code is at two units, so no duplicate among these.
            h.findings = Some(quality::check(rules, &subjects, today));
        }
        if h.keys.is_none() {
            h.keys = Some(match key {
                Some(key) => h
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.camera.state() != State::Removed)
                    .map(|(i, r)| (code_key(key, r.camera.device_code.as_str()), i))
                    .collect(),
                None => Vec::new(),
            });
        }
    }
    Ok(())
}

/// The hub children (those whose rollup or keyed codes are held here) with their published keyed
/// codes, and the notices this unit's parent sent it; read again only where heads moved.
async fn from_below_and_above(
    store: &Store,
    cache: &mut Cache,
) -> Result<(Vec<(String, Arc<[CodeKey]>)>, Notices), StoreError> {
    let mut hubs = Vec::new();
    let mut judged = BTreeSet::new();
    for c in store.syncing_children().await? {
        let Ok(code) = UnitCode::parse(&c) else {
            continue;
        };
        let id = DocId::codes(&code);
        let rollup = cache.rollup_of(&code);
        let Some(heads) = cache.heads.get(&id).cloned() else {
            cache.hubs.remove(&c);
            // Not published yet (or a child hub of a build before `codes/<hub>`): no codes.
            if rollup.is_some() {
                hubs.push((c, Arc::default()));
            }
            continue;
        };
        if let Some(p) = cache
            .hubs
            .get(&c)
            .filter(|p| p.at.0 == heads && p.at.1 == rollup)
        {
            let keys = p.keys.clone();
            let doubted = p.doubted.clone();
            cache.doubts.judge(store, &c, &id, doubted.as_deref()).await;
            judged.insert(c.clone());
            hubs.push((c, keys));
            continue;
        }
        // Kept at the heads of the copy read, not the database's: a copy behind them (another
        // process's write not yet reported) is read again at the next check.
        let (read_at, mut codes) = store
            .read_document(&id, |d| (heads_hex(&d.get_heads()), read_codes(d)))
            .await?;
        let at = (read_at, rollup);
        // What a hub child publishes is bounded by what it is: keyed codes of the form
        // `code_key` makes, no more of them than the cameras its own figures count. A child that
        // publishes more (to probe which codes others hold, or to blame them) is not believed.
        let cameras = store.rollup_totals(&c).await?.map_or(0, |r| r.counts.built);
        let well_formed = !codes.malformed;
        let mut doubted = None;
        if !well_formed || codes.keys.len() as u64 > cameras {
            let reason = format!(
                "the keyed device codes of {c} are not believed: {} of them for {cameras} cameras{}",
                codes.keys.len(),
                if well_formed {
                    ""
                } else {
                    ", some not keyed codes"
                }
            );
            codes.keys.clear();
            doubted = Some(reason);
        }
        cache.doubts.judge(store, &c, &id, doubted.as_deref()).await;
        judged.insert(c.clone());
        // In the set's order: sorted, each once.
        let keys: Arc<[CodeKey]> = codes.keys.into_iter().collect();
        cache.hubs.insert(
            c.clone(),
            Published {
                at,
                keys: keys.clone(),
                doubted,
            },
        );
        hubs.push((c, keys));
    }
    // A child not judged now (gone, or its codes not published) starts again from no doubt.
    cache.doubts.keep(&judged);
    let mine = DocId::review(store.unit());
    let inherited = match cache.heads.get(&mine).cloned() {
        None => Notices::new(),
        Some(heads) => match &cache.inherited {
            Some((at, n)) if *at == heads => n.clone(),
            _ => {
                let (read_at, n) = store
                    .read_document(&mine, |d| (heads_hex(&d.get_heads()), read_notices(d)))
                    .await?;
                cache.inherited = Some((read_at, n.clone()));
                n
            }
        },
    };
    Ok((hubs, inherited))
}

/// Checks the camera records held here — every ledger, or those of `unit`'s subtree — against
/// the rules in force, as of `today`; with the duplicates found through keyed codes: those a hub
/// child published (a duplicate between two districts, at the city) and those this unit's
/// parent told it about.
pub async fn check_at(
    store: &Store,
    unit: Option<&UnitCode>,
    today: NaiveDate,
) -> Result<Report, StoreError> {
    check_with(store, unit, today, &mut Cache::default()).await
}

/// [`check_at`], reading and checking again only what changed since the check that left `cache`.
pub async fn check_with(
    store: &Store,
    unit: Option<&UnitCode>,
    today: NaiveDate,
    cache: &mut Cache,
) -> Result<Report, StoreError> {
    let campaign = crate::app::campaign::held(store).await?;
    let rules = crate::app::campaign::rules(store)
        .await?
        .resolved(campaign.as_ref());
    let key = crate::app::campaign::code_key(store).await?;
    let context = (
        serde_json::to_string(&rules).unwrap_or_default(),
        key.clone(),
        today,
    );
    if cache.context.as_ref() != Some(&context) {
        for h in cache.units.values_mut() {
            h.findings = None;
            h.keys = None;
        }
        cache.context = Some(context);
    }
    cache.heads = store
        .documents()
        .await?
        .into_iter()
        .map(|r| (r.doc_id, r.heads))
        .collect();
    refresh_held(store, cache, &rules, key.as_deref(), today).await?;
    // Ordered by unit and device code, as the projection reads them.
    let rows: Vec<&CameraRow> = cache.units.values().flat_map(|h| h.rows.iter()).collect();
    let mut units: BTreeMap<String, Tally> = BTreeMap::new();
    for u in cache
        .units
        .keys()
        .filter(|u| !cache.units[*u].rows.is_empty())
    {
        units.entry(u.clone()).or_default();
    }
    let mut findings: Vec<Finding> = cache
        .units
        .values()
        .flat_map(|h| h.findings.iter().flatten().cloned())
        .collect();
    // The duplicates among the ledgers held here: a code not removed at two units or more.
    let mut holders: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rows.iter().filter(|r| r.camera.state() != State::Removed) {
        if UnitCode::parse(&r.unit).is_ok() {
            holders
                .entry(r.camera.device_code.as_str())
                .or_default()
                .push(r.unit.as_str());
        }
    }
    for rule in rules
        .rules
        .iter()
        .filter(|r| r.check == Check::DuplicateCode)
    {
        for r in rows.iter().filter(|r| r.camera.state() != State::Removed) {
            let code = r.camera.device_code.as_str();
            let Some(others) = holders.get(code) else {
                continue;
            };
            let others: Vec<&str> = others
                .iter()
                .copied()
                .filter(|u| *u != r.unit.as_str())
                .collect();
            if others.is_empty() {
                continue;
            }
            findings.push(Finding {
                rule: rule.id.clone(),
                check: rule.check,
                severity: rule.severity,
                unit: r.unit.clone(),
                device_code: code.to_string(),
                camera_name: r.camera.name().to_string(),
                detail: format!("同一编码也登记在：{}", others.join("、")),
            });
        }
    }
    // A duplicate among the records held here names each other unit as a person reads it.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.check == Check::DuplicateCode) {
        for r in rows.iter().filter(|r| {
            r.camera.device_code.as_str() == f.device_code
                && r.unit != f.unit
                && r.camera.state() != State::Removed
        }) {
            if !names.contains_key(&r.unit) {
                names.insert(r.unit.clone(), store.unit_name(&r.unit).await?);
            }
        }
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.check == Check::DuplicateCode)
    {
        let others: BTreeMap<String, String> = rows
            .iter()
            .filter(|r| {
                r.camera.device_code.as_str() == f.device_code
                    && r.unit != f.unit
                    && r.camera.state() != State::Removed
            })
            .map(|r| {
                (
                    r.unit.clone(),
                    names.get(&r.unit).cloned().unwrap_or_default(),
                )
            })
            .collect();
        if !others.is_empty() {
            f.detail = format!("同一编码也登记在：{}", zh::quality_elsewhere(&others));
        }
    }
    let (mut shared, mut told, mut published) = (Vec::new(), BTreeMap::new(), BTreeSet::new());
    if key.is_some() {
        let (hubs, inherited) = from_below_and_above(store, cache).await?;
        // Every source below (and at) this unit, with its keyed codes.
        let mut keyed: BTreeMap<CodeKey, Vec<(&str, &crate::domain::camera::Camera)>> =
            BTreeMap::new();
        let mut held: BTreeMap<String, BTreeSet<CodeKey>> = BTreeMap::new();
        // A removed camera's code is free again (no key); a record forwarded from a hub child's
        // subtree is that child's to publish (counted here too, it would be a duplicate of itself).
        let forwarded = |u: &str| {
            hubs.iter().any(|(c, _)| {
                u.strip_prefix(c.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
        };
        for (u, h) in cache.units.iter().filter(|(u, _)| !forwarded(u)) {
            for (k, i) in h.keys.iter().flatten() {
                keyed
                    .entry(*k)
                    .or_default()
                    .push((u.as_str(), &h.rows[*i].camera));
                held.entry(u.clone()).or_default().insert(*k);
            }
        }
        let mut sources: BTreeMap<String, Source> = held
            .into_iter()
            .map(|(u, keys)| {
                let s = Source {
                    unit: u.clone(),
                    name: String::new(),
                    held: true,
                    keys: keys.into_iter().collect(),
                };
                (u, s)
            })
            .collect();
        for (c, keys) in &hubs {
            // A hub child's subtree is its own: records of it held here (forwarded) are left to it.
            sources.insert(
                c.clone(),
                Source {
                    unit: c.clone(),
                    name: String::new(),
                    held: false,
                    keys: keys.clone(),
                },
            );
        }
        let mut list: Vec<Source> = sources.into_values().collect();
        // Names only where a person will read them: the sources a duplicate names.
        for i in sharing(&list, &inherited) {
            list[i].name = store.unit_name(&list[i].unit).await?;
        }
        // The root has nobody to publish to (and a city holds every district's codes).
        if store.meta("root").await?.as_deref() != Some(store.unit().as_str()) {
            published = list.iter().flat_map(|s| s.keys.iter().copied()).collect();
        }
        let (found, mut to_tell) = duplicates(&list, &inherited);
        shared = found;
        // Held units: the finding on their cameras, beside (or merged into) the plain check's.
        let dup_rule = rules.rules.iter().find(|r| r.check == Check::DuplicateCode);
        for (u, notices) in &to_tell {
            let (Some(rule), true) = (dup_rule, list.iter().any(|s| &s.unit == u && s.held)) else {
                continue;
            };
            for (k, others) in notices {
                let elsewhere = zh::quality_elsewhere(others);
                let held_here = CodeKey::from_hex(k).and_then(|k| keyed.get(&k));
                for (_, cam) in held_here.into_iter().flatten().filter(|(h, _)| h == u) {
                    let code = cam.device_code.as_str();
                    match findings
                        .iter_mut()
                        .find(|f| f.rule == rule.id && &f.unit == u && f.device_code == code)
                    {
                        Some(f) => f.detail = format!("{}、{elsewhere}", f.detail),
                        None => findings.push(Finding {
                            rule: rule.id.clone(),
                            check: rule.check,
                            severity: rule.severity,
                            unit: u.clone(),
                            device_code: code.to_string(),
                            camera_name: cam.name().to_string(),
                            detail: format!("同一编码也登记在：{elsewhere}"),
                        }),
                    }
                }
            }
        }
        // A leaf child is told every duplicate of its codes (it sees no other records): the
        // held units' among themselves too.
        let me = store.unit().as_str();
        for (k, holders) in &keyed {
            let units: BTreeSet<&str> = holders.iter().map(|(u, _)| *u).collect();
            if units.len() < 2 {
                continue;
            }
            for u in &units {
                if *u == me || hubs.iter().any(|(c, _)| c == u) {
                    continue;
                }
                let entry = to_tell
                    .entry(u.to_string())
                    .or_default()
                    .entry(k.hex())
                    .or_default();
                for o in units.iter().filter(|o| *o != u) {
                    entry.insert(o.to_string(), store.unit_name(o).await?);
                }
            }
        }
        told = to_tell;
    } else {
        // No key (no campaign yet): no child's codes are judged, so none stays in doubt.
        cache.doubts.keep(&BTreeSet::new());
    }
    findings.sort_by(|a, b| {
        let at = |f: &Finding| rules.rules.iter().position(|r| r.id == f.rule);
        (at(a), &a.unit, &a.device_code).cmp(&(at(b), &b.unit, &b.device_code))
    });
    for f in &findings {
        units.entry(f.unit.clone()).or_default().count(f.severity);
    }
    if let Some(u) = unit {
        let inside = |x: &str| x == u.as_str() || UnitCode::parse(x).is_ok_and(|x| x.is_under(u));
        units.retain(|x, _| inside(x));
        findings.retain(|f| inside(&f.unit));
        shared.retain(|s| s.holders.iter().any(|(x, _)| inside(x)));
        told.retain(|x, _| inside(x));
    }
    Ok(Report {
        date: today,
        rules,
        units,
        findings,
        shared,
        told,
        codes: published,
    })
}

/// [`check_at`] as of today in Beijing.
pub async fn check(store: &Store, unit: Option<&UnitCode>) -> Result<Report, StoreError> {
    check_at(store, unit, crate::domain::figures::beijing_today()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::cameras;
    use crate::domain::camera::{Field, Value};
    use crate::domain::device_code::DeviceCode;

    #[tokio::test]
    async fn a_clerks_ledger_is_checked_and_a_fix_clears_the_finding() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let code = DeviceCode::parse("50010312091320000101").unwrap();
        cameras::add(
            &store,
            "clerk",
            code.clone(),
            vec![
                (Field::Name, Value::Text("门诊大厅".into())),
                (Field::Networked, Value::Bool(true)),
                (Field::State, Value::Text("faulty".into())),
            ],
        )
        .await
        .unwrap();
        let later = crate::domain::figures::beijing_today() + chrono::Days::new(31);
        let r = check_at(&store, None, later).await.unwrap();
        let rules: Vec<&str> = r
            .of_unit(store.unit().as_str())
            .filter(|f| f.device_code == code.as_str())
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(rules, ["networked-archive", "networked-geo", "faulty-30d"]);
        let t = r.units[store.unit().as_str()];
        assert!(t.errors >= 2 && t.warnings >= 1, "{t:?}");
        // Repaired, networking undone: the findings of that camera are gone.
        cameras::edit(
            &store,
            "clerk",
            &code,
            &[
                (Field::State, Some(Value::Text("in-service".into()))),
                (Field::Networked, Some(Value::Bool(false))),
            ],
        )
        .await
        .unwrap();
        let r = check_at(&store, None, later).await.unwrap();
        assert!(
            r.findings.iter().all(|f| f.device_code != code.as_str()),
            "{:?}",
            r.findings
        );
    }

    #[tokio::test]
    async fn a_kept_cache_answers_as_a_fresh_check_after_edits_and_a_new_day() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let code = DeviceCode::parse("50010312091320000101").unwrap();
        let networked = vec![
            (Field::Name, Value::Text("门诊大厅".into())),
            (Field::Networked, Value::Bool(true)),
            (Field::State, Value::Text("faulty".into())),
        ];
        cameras::add(&store, "clerk", code.clone(), networked)
            .await
            .unwrap();
        let today = crate::domain::figures::beijing_today();
        let mut cache = Cache::default();
        let same = |a: &Report, b: &Report| a.findings == b.findings && a.units == b.units;
        let first = check_with(&store, None, today, &mut cache).await.unwrap();
        assert!(!first.findings.is_empty());
        assert!(same(&first, &check_at(&store, None, today).await.unwrap()));
        // An edit: the ledger's heads moved, its records are read again.
        cameras::edit(
            &store,
            "clerk",
            &code,
            &[(Field::Networked, Some(Value::Bool(false)))],
        )
        .await
        .unwrap();
        let edited = check_with(&store, None, today, &mut cache).await.unwrap();
        assert!(same(&edited, &check_at(&store, None, today).await.unwrap()));
        assert!(
            edited.findings.len() < first.findings.len(),
            "{:?}",
            edited.findings
        );
        // A month later: the rules with a date find more, from the same cached records.
        let later = today + chrono::Days::new(31);
        let aged = check_with(&store, None, later, &mut cache).await.unwrap();
        assert!(same(&aged, &check_at(&store, None, later).await.unwrap()));
        assert!(aged.findings.iter().any(|f| f.rule == "faulty-30d"));
    }

    #[tokio::test]
    async fn notices_another_process_wrote_are_read_once_it_is_reported() {
        // The daemon's check beside another writer of the same store: what a check reads of a
        // copy that is behind the database is not kept as if it were current.
        let (dir, store) = crate::store::testing::hospital().await;
        store.watching_other_writers();
        let code = DeviceCode::parse("50010312091320000101").unwrap();
        let name = vec![(Field::Name, Value::Text("门诊大厅".into()))];
        cameras::add(&store, "clerk", code.clone(), name)
            .await
            .unwrap();
        crate::app::campaign::publish(&store, &crate::domain::campaign::Campaign::seed())
            .await
            .unwrap();
        let key = crate::app::campaign::code_key(&store)
            .await
            .unwrap()
            .unwrap();
        let notice = |about: &str| -> Notices {
            let elsewhere = [("500104-0001".to_string(), "别的医院".to_string())].into();
            [(code_key(&key, about).hex(), elsewhere)].into()
        };
        async fn tell(s: &Store, n: Notices) {
            s.edit(&DocId::review(s.unit()), "sync", "notices", |d| {
                Ok(crate::docs::quality::write_notices(d, &n)
                    .map_err(crate::docs::ledger::LedgerError::from)?)
            })
            .await
            .unwrap();
        }
        let dup = |r: &Report| {
            r.findings
                .iter()
                .any(|f| f.device_code == code.as_str() && f.rule == "dup-code")
        };
        // The parent's notices so far are about another code.
        tell(&store, notice("50010312091320000199")).await;
        let today = crate::domain::figures::beijing_today();
        let mut cache = Cache::default();
        assert!(!dup(&check_with(&store, None, today, &mut cache)
            .await
            .unwrap()));
        let (_, watched) = store.versions_since(0).await.unwrap();

        // Another process saves notices about this hospital's camera; a check before the watch
        // reports it reads the copy it has.
        let other = Store::open(dir.path()).await.unwrap();
        tell(&other, notice(code.as_str())).await;
        other.close().await;
        let stale = check_with(&store, None, today, &mut cache).await.unwrap();
        assert!(
            !dup(&stale),
            "the copy it read is behind: {:?}",
            stale.findings
        );
        let (seen, _) = store.versions_since(watched).await.unwrap();
        let review = DocId::review(store.unit());
        assert!(seen.iter().any(|(d, _)| *d == review), "{seen:?}");
        for (d, v) in &seen {
            store.changed_elsewhere(d, *v);
        }
        let after = check_with(&store, None, today, &mut cache).await.unwrap();
        assert!(dup(&after), "{:?}", after.findings);
        assert_eq!(
            after.findings,
            check_at(&store, None, today).await.unwrap().findings
        );
    }

    #[tokio::test]
    async fn a_camera_another_process_marked_faulty_is_aged_once_it_is_reported() {
        // The records come from the projection, when each became faulty from the ledger's copy:
        // a copy behind the records is not kept under their heads.
        let (dir, store) = crate::store::testing::hospital().await;
        store.watching_other_writers();
        let code = DeviceCode::parse("50010312091320000101").unwrap();
        let fields = vec![(Field::Name, Value::Text("门诊大厅".into()))];
        cameras::add(&store, "clerk", code.clone(), fields)
            .await
            .unwrap();
        let later = crate::domain::figures::beijing_today() + chrono::Days::new(31);
        let aged = |r: &Report| {
            r.findings
                .iter()
                .any(|f| f.device_code == code.as_str() && f.rule == "faulty-30d")
        };
        let mut cache = Cache::default();
        assert!(!aged(
            &check_with(&store, None, later, &mut cache).await.unwrap()
        ));
        let (_, watched) = store.versions_since(0).await.unwrap();

        let other = Store::open(dir.path()).await.unwrap();
        let faulty = [(Field::State, Some(Value::Text("faulty".into())))];
        cameras::edit(&other, "cli", &code, &faulty).await.unwrap();
        other.close().await;
        let stale = check_with(&store, None, later, &mut cache).await.unwrap();
        assert!(
            !aged(&stale),
            "the copy it read is behind: {:?}",
            stale.findings
        );
        let (seen, _) = store.versions_since(watched).await.unwrap();
        assert!(!seen.is_empty());
        for (d, v) in &seen {
            store.changed_elsewhere(d, *v);
        }
        let after = check_with(&store, None, later, &mut cache).await.unwrap();
        assert!(aged(&after), "{:?}", after.findings);
        assert_eq!(
            after.findings,
            check_at(&store, None, later).await.unwrap().findings
        );
    }

    #[tokio::test]
    async fn the_generated_inventory_is_wrong_only_where_it_is_meant_to_be() {
        // The demo's and the tests' ledgers: incomplete on purpose (some records without an
        // address and install date, or without coordinates), otherwise clean.
        let (dir, store) = crate::store::testing::hospital().await;
        let sheet = dir.path().join("generated.csv");
        crate::app::sample::write_sheet(&sheet, "500103", 300, 7).unwrap();
        crate::app::import::import_file(&store, &sheet, "generator")
            .await
            .unwrap();
        let campaign = crate::domain::campaign::Campaign::seed();
        crate::app::campaign::publish(&store, &campaign)
            .await
            .unwrap();
        // Before the seed's deadline for class 1 and 2 (so that rule has nothing to find).
        let day = chrono::NaiveDate::from_ymd_opt(2022, 6, 1).unwrap();
        let r = check_at(&store, None, day).await.unwrap();
        let rules: std::collections::BTreeSet<&str> =
            r.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["networked-archive", "networked-geo"].into(),
            "{:?}",
            r.findings
        );
        // Completed, nothing is left.
        let incomplete: std::collections::BTreeSet<String> =
            r.findings.iter().map(|f| f.device_code.clone()).collect();
        for code in &incomplete {
            cameras::edit(
                &store,
                "clerk",
                &DeviceCode::parse(code).unwrap(),
                &[
                    (Field::Address, Some(Value::Text("门诊楼1楼".into()))),
                    (Field::InstallDate, Some(Value::Text("2020-05-01".into()))),
                    (Field::Longitude, Some(Value::Float(106.55))),
                    (Field::Latitude, Some(Value::Float(29.55))),
                ],
            )
            .await
            .unwrap();
        }
        let r = check_at(&store, None, day).await.unwrap();
        assert_eq!(
            r.findings,
            vec![],
            "a complete generated inventory is clean"
        );
        assert!(r.units.values().all(|t| t.total() == 0));
    }
}
