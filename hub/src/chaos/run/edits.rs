//! The chaos run's edits: cameras added, edited, imported (sometimes killed part of the way)
//! and supervised through the real command line, each recorded with what it assigned.

use super::*;

impl Run {
    pub(super) fn next_code(&mut self, i: usize) -> String {
        let parent = self.units[i].parent.expect("an institution has a district");
        let district = self.units[parent].code.clone();
        let n = i - self.institutions().start + 1;
        let serial = self.units[i].serial;
        self.units[i].serial += 1;
        format!("{district}{:02}09132{}{serial:06}", n % 100, 0)
    }

    pub(super) fn yes_no(&mut self) -> (&'static str, Json) {
        if self.rng.random_bool(0.5) {
            ("是", Json::Bool(true))
        } else {
            ("否", Json::Bool(false))
        }
    }

    /// Records an edit and what it assigned: acknowledged (exit 0) or not.
    pub(super) fn record(
        &mut self,
        kind: &'static str,
        at: usize,
        what: String,
        outcome: Result<String, String>,
        adds: &[(usize, String)],
        assigns: Vec<Assign>,
    ) {
        let id = self.edits.len();
        self.edits.push(EditRecord {
            kind,
            at: self.units[at].code.clone(),
            what,
        });
        match outcome {
            Ok(_) => {
                self.report.edits_checked += 1;
                *self.report.edits_by_kind.entry(kind.into()).or_default() += 1;
                for (inst, code) in adds {
                    let e = self.expect.entry((*inst, code.clone())).or_default();
                    e.added.get_or_insert(id);
                }
                for a in assigns {
                    let e = self.expect.entry((a.inst, a.code)).or_default();
                    let f = e.fields.entry(a.field).or_default();
                    f.last = Some((id, a.value));
                    f.maybe.clear();
                }
            }
            Err(why) => {
                self.report.edits_not_acknowledged += 1;
                if self.report.notes.len() < 10 && !why.starts_with("killed after") {
                    self.report.notes.push(format!(
                        "not acknowledged: {kind} at {}: {why}",
                        self.units[at].code
                    ));
                }
                for a in assigns {
                    if let Some(e) = self.expect.get_mut(&(a.inst, a.code)) {
                        e.fields.entry(a.field).or_default().maybe.push(a.value);
                    }
                }
            }
        }
    }

    pub(super) async fn add(&mut self, i: usize) {
        let code = self.next_code(i);
        let name = format!("点位{}", self.edits.len());
        let (yn, v) = self.yes_no();
        let out = self
            .cli(
                i,
                &[
                    "camera",
                    "add",
                    "--code",
                    &code,
                    "--name",
                    &name,
                    "--networked",
                    yn,
                ],
            )
            .await;
        let assigns = name_and_networked(i, &code, name, v);
        self.record(
            "add",
            i,
            format!("camera add {code}"),
            out,
            &[(i, code)],
            assigns,
        );
    }

    /// A camera of institution `i` whose creation was acknowledged.
    pub(super) fn known_camera(&mut self, i: usize) -> Option<String> {
        let known: Vec<&String> = self
            .expect
            .iter()
            .filter(|((inst, _), e)| *inst == i && e.added.is_some())
            .map(|((_, c), _)| c)
            .collect();
        if known.is_empty() {
            return None;
        }
        Some(known[self.rng.random_range(0..known.len())].clone())
    }

    pub(super) async fn edit(&mut self, i: usize) {
        let Some(code) = self.known_camera(i) else {
            return self.add(i).await;
        };
        let name = format!("改名{}", self.edits.len());
        let (yn, v) = self.yes_no();
        let out = self
            .cli(
                i,
                &["camera", "edit", &code, "--name", &name, "--networked", yn],
            )
            .await;
        let assigns = name_and_networked(i, &code, name, v);
        self.record("edit", i, format!("camera edit {code}"), out, &[], assigns);
    }

    pub(super) async fn import(&mut self, i: usize, rows: usize) {
        self.import_killed(i, rows, None).await
    }

    /// A sheet of `rows` new cameras imported at institution `i`; with `kill`, the command is
    /// killed (SIGKILL) after that long if it has not ended (then it is not acknowledged).
    pub(super) async fn import_killed(&mut self, i: usize, rows: usize, kill: Option<Duration>) {
        let id = self.edits.len();
        let mut csv = String::from("\u{feff}设备编码,点位名称,是否已联网,设备状态\n");
        let mut adds = Vec::new();
        let mut assigns = Vec::new();
        for r in 0..rows {
            let code = self.next_code(i);
            let name = format!("导入{id}-{r}");
            let (yn, v) = self.yes_no();
            let state = if self.rng.random_bool(0.1) {
                "故障"
            } else {
                "在用"
            };
            csv.push_str(&format!("{code},{name},{yn},{state}\n"));
            adds.push((i, code.clone()));
            assigns.push(Assign {
                inst: i,
                code: code.clone(),
                field: "name",
                value: Json::String(name),
            });
            assigns.push(Assign {
                inst: i,
                code,
                field: "networked",
                value: v,
            });
        }
        let file = self.cfg.dir.join("pki").join(format!("import-{id}.csv"));
        let out = match std::fs::write(&file, csv) {
            Ok(()) => {
                let limit = kill.unwrap_or(Duration::from_secs(60));
                let r = self
                    .cli_within(i, &["camera", "import", &file.to_string_lossy()], limit)
                    .await;
                if kill.is_some() && r.as_ref().is_err_and(|e| e.starts_with("killed after")) {
                    self.report.killed_imports += 1;
                }
                r
            }
            Err(e) => Err(format!("cannot write {}: {e}", file.display())),
        };
        self.record(
            "import",
            i,
            format!("camera import of {rows} rows"),
            out,
            &adds,
            assigns,
        );
    }

    /// The district writes supervision fields of one of its institution's cameras.
    pub(super) async fn supervise(&mut self, i: usize) {
        let Some(code) = self.known_camera(i) else {
            return self.add(i).await;
        };
        let d = self.units[i].parent.expect("a district");
        let note = format!("督导{}", self.edits.len());
        let (yn, v) = self.yes_no();
        let inst = self.units[i].code.clone();
        let out = self
            .cli(
                d,
                &[
                    "camera",
                    "supervise",
                    "--unit",
                    &inst,
                    &code,
                    "--note",
                    &note,
                    "--networked-confirmed",
                    yn,
                ],
            )
            .await;
        let assigns = vec![
            Assign {
                inst: i,
                code: code.clone(),
                field: "supervision_note",
                value: Json::String(note),
            },
            Assign {
                inst: i,
                code: code.clone(),
                field: "networked_confirmed",
                value: v,
            },
        ];
        self.record(
            "supervise",
            d,
            format!("camera supervise --unit {inst} {code}"),
            out,
            &[],
            assigns,
        );
    }
}

/// What `camera add` and `camera edit --name … --networked …` assign to camera `code`.
pub(super) fn name_and_networked(
    inst: usize,
    code: &str,
    name: String,
    networked: Json,
) -> Vec<Assign> {
    vec![
        Assign {
            inst,
            code: code.to_string(),
            field: "name",
            value: Json::String(name),
        },
        Assign {
            inst,
            code: code.to_string(),
            field: "networked",
            value: networked,
        },
    ]
}
