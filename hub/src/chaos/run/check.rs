//! The chaos run's checks: the records and figures held at each place against the
//! acknowledged edits, convergence after the heal, the stores' integrity, the report.

use super::*;

impl Run {
    /// Checks the records of institution `i` as seen at one place (code → record JSON): the
    /// acknowledged edits that are missing there, described.
    pub(super) fn missing(
        &self,
        i: usize,
        place: &str,
        seen: &BTreeMap<String, Json>,
    ) -> BTreeMap<usize, String> {
        missing(&self.expect, i, &self.units[i].code, place, seen)
    }

    /// The records of institution `i` held at unit `at`, from its projection.
    pub(super) async fn records(&self, at: usize, i: usize) -> Result<BTreeMap<String, Json>> {
        let store = self.units[at].store.as_ref().expect("opened");
        let (rows, _) = store
            .cameras(&self.units[i].code, &CameraQuery::default())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.camera.device_code.to_string(), r.camera.to_json()))
            .collect())
    }

    /// Why the federation has not converged yet, or `None`: every ledger's replica at its
    /// district has its heads, every acknowledged edit is at both, every rollup equals the sums.
    pub(super) async fn not_converged(&self) -> Result<Option<String>> {
        let store = |u: usize| self.units[u].store.as_ref().expect("opened");
        for i in self.institutions() {
            let d = self.units[i].parent.expect("a district");
            let code = UnitCode::parse(&self.units[i].code)?;
            let doc = DocId::ledger(&code);
            let mine = store(i).heads(&doc).await?;
            let theirs = store(d).heads(&doc).await?;
            if mine.is_empty() || mine != theirs {
                return Ok(Some(format!(
                    "the ledger of {} differs at its district",
                    self.units[i].code
                )));
            }
            for at in [i, d] {
                let seen = self.records(at, i).await?;
                if let Some((_, why)) = self
                    .missing(i, &self.units[at].code, &seen)
                    .into_iter()
                    .next()
                {
                    return Ok(Some(why));
                }
            }
        }
        if let Some(why) = self.figures_differ().await? {
            return Ok(Some(why));
        }
        Ok(None)
    }

    /// Every hub's rollup: a child's row equals the child's own figures, the totals equal the
    /// hub's own ledger plus its children.
    pub(super) async fn figures_differ(&self) -> Result<Option<String>> {
        let store = |u: usize| self.units[u].store.as_ref().expect("opened");
        let own = |u: usize| async move { store(u).counts(&self.units[u].code).await.map(|c| c.0) };
        let rows = |u: usize| async move { store(u).rollup_rows(&self.units[u].code).await };
        let mut totals: BTreeMap<usize, Counts> = BTreeMap::new();
        // Districts first (their totals are what the city must show), then the city.
        let hubs: Vec<usize> = self.districts().chain(std::iter::once(0)).collect();
        for h in hubs {
            let list = rows(h).await?;
            let mut sum = own(h).await?;
            for c in (0..self.units.len()).filter(|c| self.units[*c].parent == Some(h)) {
                let theirs = if self.units[c].hub {
                    match totals.get(&c) {
                        Some(t) => *t,
                        None => continue,
                    }
                } else {
                    own(c).await?
                };
                let row = list.iter().find(|r| r.unit == self.units[c].code);
                if row.map(|r| r.counts) != Some(theirs) {
                    return Ok(Some(format!(
                        "the rollup of {} shows {} as {:?}, its figures are {:?}",
                        self.units[h].code,
                        self.units[c].code,
                        row.map(|r| r.counts),
                        theirs
                    )));
                }
                sum.add(&theirs);
            }
            let total = list.iter().find(|r| r.unit == self.units[h].code);
            if total.map(|r| r.counts) != Some(sum) {
                return Ok(Some(format!(
                    "the totals of {} are {:?}, its ledgers sum to {:?}",
                    self.units[h].code,
                    total.map(|r| r.counts),
                    sum
                )));
            }
            totals.insert(h, sum);
        }
        Ok(None)
    }

    /// Waits (polling, bounded by the configured bound) until the federation converged.
    pub(super) async fn converge(&self) -> Result<(), String> {
        let deadline = Instant::now() + self.cfg.bound;
        let mut last = String::from("not checked");
        for _ in 0..100_000 {
            match self.not_converged().await {
                Ok(None) => return Ok(()),
                Ok(Some(why)) => last = why,
                Err(e) => last = format!("cannot read a store: {e:#}"),
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last)
    }

    /// `PRAGMA integrity_check` of every store.
    pub(super) async fn integrity(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for u in &self.units {
            let Some(s) = &u.store else { continue };
            match s.integrity_check().await {
                Ok(r) if r == ["ok"] => {}
                Ok(r) => bad.push(format!(
                    "the store of {} is damaged: {}",
                    u.code,
                    r.join("; ")
                )),
                Err(e) => bad.push(format!("integrity_check of {} failed: {e}", u.code)),
            }
        }
        bad
    }

    /// The final checks, through the CLI as a person would make them; then every process stops
    /// and every store is checked once more.
    pub(super) async fn finish(&mut self) -> Result<()> {
        self.tend(true)?;
        let healed = Instant::now();
        if let Err(why) = self.converge().await {
            self.report.problems.push(format!(
                "not converged {:.0} s after the final heal (seed {}): {why}",
                self.cfg.bound.as_secs_f64(),
                self.cfg.seed
            ));
        } else {
            self.say(&format!(
                "final heal → converged in {:.2} s; checking with the CLI",
                healed.elapsed().as_secs_f64()
            ));
        }
        let mut lost: BTreeMap<usize, String> = BTreeMap::new();
        let mut figures: BTreeMap<usize, BTreeMap<String, u64>> = BTreeMap::new();
        for i in self.institutions() {
            let d = self.units[i].parent.expect("a district");
            let code = self.units[i].code.clone();
            let here = self.cli_records(i, &["camera", "list", "--json"]).await?;
            lost.extend(self.missing(i, &code, &here));
            let there = self
                .cli_records(d, &["camera", "list", "--json", "--unit", &code])
                .await?;
            lost.extend(self.missing(i, &self.units[d].code, &there));
            let s: Json = serde_json::from_str(&self.must(i, &["stats", "--json"]).await?)?;
            figures.insert(i, counts_of(&s));
        }
        for h in self.districts().chain(std::iter::once(0)) {
            let s: Json = serde_json::from_str(&self.must(h, &["stats", "--json"]).await?)?;
            let mut sum: BTreeMap<String, u64> = BTreeMap::new();
            let children = s["children"].as_array().cloned().unwrap_or_default();
            for c in (0..self.units.len()).filter(|c| self.units[*c].parent == Some(h)) {
                let want = figures.get(&c).cloned().unwrap_or_default();
                let row = children
                    .iter()
                    .find(|r| r["unit"] == self.units[c].code.as_str())
                    .map(counts_of);
                if row.as_ref() != Some(&want) {
                    self.report.problems.push(format!(
                        "`stats --json` at {} shows {} as {:?}; its own figures are {:?}",
                        self.units[h].code, self.units[c].code, row, want
                    ));
                }
                for (k, v) in want {
                    *sum.entry(k).or_default() += v;
                }
            }
            let totals = counts_of(&s);
            if totals != sum {
                self.report.problems.push(format!(
                    "`stats --json` at {} totals {:?}; the sum of its ledgers is {:?}",
                    self.units[h].code, totals, sum
                ));
            }
            figures.insert(h, totals);
        }
        self.report.lost = lost.len() as u64;
        for (id, why) in &lost {
            let e = &self.edits[*id];
            self.report.lost_edits.push(format!(
                "edit #{id} ({}, `{}` at {}, seed {}): {why}",
                e.kind, e.what, e.at, self.cfg.seed
            ));
        }
        for u in &self.units {
            if let Some(p) = &u.proxy {
                use std::sync::atomic::Ordering::Relaxed;
                self.report.proxied_connections += p.stats.accepted.load(Relaxed);
                self.report.refused_connections += p.stats.refused.load(Relaxed);
            }
        }
        // Every process stops (SIGKILL once more); the stores must be intact.
        for u in &mut self.units {
            u.daemon = None;
            u.proxy = None;
        }
        for p in self.integrity().await {
            self.report.problems.push(p);
        }
        for u in &mut self.units {
            if let Some(s) = u.store.take() {
                s.close().await;
            }
        }
        let mut sorted = self.report.convergence_ms.clone();
        sorted.sort_unstable();
        self.report.p50_ms = percentile(&sorted, 0.50);
        self.report.p95_ms = percentile(&sorted, 0.95);
        self.report.max_ms = sorted.last().copied().unwrap_or(0);
        self.report.seconds = self.started.elapsed().as_secs_f64();
        Ok(())
    }

    pub(super) async fn cli_records(
        &self,
        u: usize,
        args: &[&str],
    ) -> Result<BTreeMap<String, Json>> {
        let out: Json = serde_json::from_str(&self.must(u, args).await?)?;
        Ok(out["cameras"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| {
                        (
                            c["device_code"].as_str().unwrap_or("").to_string(),
                            c.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The acknowledged edits of institution `i` (`unit`) that the records seen at `place` lack: a
/// record created by one is missing, or a field holds neither the last acknowledged value nor one
/// a later, failed command may have written.
pub(super) fn missing(
    expect: &BTreeMap<(usize, String), CameraExpect>,
    i: usize,
    unit: &str,
    place: &str,
    seen: &BTreeMap<String, Json>,
) -> BTreeMap<usize, String> {
    let mut lost = BTreeMap::new();
    for ((inst, code), e) in expect {
        if *inst != i {
            continue;
        }
        let rec = seen.get(code);
        if let Some(id) = e.added
            && rec.is_none()
        {
            lost.entry(id)
                .or_insert_with(|| format!("camera {code} of {unit} is missing at {place}"));
        }
        for (field, f) in &e.fields {
            let Some((id, want)) = &f.last else { continue };
            let got = rec
                .and_then(|r| r.get(*field))
                .cloned()
                .unwrap_or(Json::Null);
            if got != *want && !f.maybe.contains(&got) {
                lost.entry(*id).or_insert_with(|| {
                    format!(
                        "camera {code} of {unit} at {place}: {field} is {got}, the acknowledged edit wrote {want}"
                    )
                });
            }
        }
    }
    lost
}

/// The count fields of a `stats --json` object.
pub(super) fn counts_of(s: &Json) -> BTreeMap<String, u64> {
    COUNT_KEYS
        .iter()
        .map(|k| (k.to_string(), s[*k].as_u64().unwrap_or(u64::MAX)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_sees_a_lost_edit() {
        let mut expect: BTreeMap<(usize, String), CameraExpect> = BTreeMap::new();
        let code = "50010301091320000001".to_string();
        let e = expect.entry((3, code.clone())).or_default();
        e.added = Some(0);
        let f = e.fields.entry("name").or_default();
        f.last = Some((4, Json::String("new".into())));
        f.maybe.push(Json::String("failed later".into()));
        let seen = |name: &str| {
            BTreeMap::from([(
                code.clone(),
                serde_json::json!({"device_code": code, "name": name}),
            )])
        };
        assert!(missing(&expect, 3, "u", "p", &seen("new")).is_empty());
        assert!(missing(&expect, 3, "u", "p", &seen("failed later")).is_empty());
        assert_eq!(
            missing(&expect, 3, "u", "p", &seen("old"))
                .keys()
                .collect::<Vec<_>>(),
            [&4]
        );
        let gone = missing(&expect, 3, "u", "p", &BTreeMap::new());
        assert!(gone[&0].contains("missing"), "{gone:?}");
        assert!(missing(&expect, 2, "u", "p", &BTreeMap::new()).is_empty());
    }

    #[test]
    fn percentiles() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&v, 0.5), 5);
        assert_eq!(percentile(&v, 0.95), 10);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
