//! The architecture, kept honest: each top-level module of `node/` and `hub/` may use only the
//! modules its row of `LAYERS` names (the layers below it). A `use crate::…` (or a path through
//! `crate::`) into any other module fails this test, naming the file, the line and the module.
//! And SQL stays in the store: `sqlx` in code outside `node/src/store/` fails
//! `sql_only_in_the_store`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which top-level modules each top-level module of a crate may use. Written once; the crate
/// docs (`node/src/lib.rs`) and the README draw the same picture.
const LAYERS: &[(&str, &str, &[&str])] = &[
    // crate, module, the modules it may use
    ("node", "domain", &[]),
    ("node", "docs", &["domain"]),
    ("node", "store", &["domain", "docs"]),
    ("node", "app", &["domain", "docs", "store"]),
    ("node", "federation", &["domain", "docs", "store", "app"]),
    (
        "node",
        "http",
        &["domain", "docs", "store", "app", "federation"],
    ),
    (
        "node",
        "daemon",
        &["domain", "docs", "store", "app", "federation", "http"],
    ),
    (
        "node",
        "cli",
        &[
            "domain",
            "docs",
            "store",
            "app",
            "federation",
            "http",
            "daemon",
        ],
    ),
    ("hub", "local", &[]),
    ("hub", "bench", &["local"]),
    ("hub", "demo", &["local"]),
    ("hub", "chaos", &["local"]),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code of a line: without a `//` comment (doc comments included), outside string literals
/// as far as a line can tell.
fn code(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") {
        return "";
    }
    match line.find("//") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

/// The code of a file (comments removed, lines kept), so that a `use` group split over several
/// lines is read whole.
fn code_of(text: &str) -> String {
    text.lines().map(code).collect::<Vec<_>>().join("\n")
}

/// The top-level modules of the `crate::` paths in `code`, each with its line (1-based),
/// including every item of a `use crate::{a::…, b::{…}}` group, however it is nested or split
/// over lines.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        let line = code[..at].matches('\n').count() + 1;
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `yinglian_node::…`-like paths, or part of a longer name
        }
        let rest = &code[from..];
        let Some(group) = rest.trim_start().strip_prefix('{') else {
            out.push((line, ident(rest)));
            continue;
        };
        // The items at the group's first level: split at its commas, up to its closing brace.
        let mut depth = 0;
        let mut item = String::new();
        let mut items = Vec::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut item));
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        items.push(item);
        for it in items {
            let name = ident(&it);
            if !name.is_empty() {
                out.push((line, name));
            }
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let mut broken = Vec::new();
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for krate in ["node", "hub"] {
        let src = workspace().join(krate).join("src");
        let allowed: BTreeMap<&str, &[&str]> = LAYERS
            .iter()
            .filter(|(c, _, _)| *c == krate)
            .map(|(_, m, deps)| (*m, *deps))
            .collect();
        for file in sources(&src) {
            let rel = file.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" || top == "main" {
                continue; // the crate root declares the modules and may use them all
            }
            let Some((module, deps)) = allowed.get_key_value(top.as_str()) else {
                broken.push(format!(
                    "{krate}/src/{}: top-level module `{top}` has no row in LAYERS",
                    rel.display()
                ));
                continue;
            };
            *seen.entry((krate, module)).or_default() += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, used) in crate_paths(&code_of(&text)) {
                if used == top || used == "self" || used == "super" {
                    continue;
                }
                if allowed.contains_key(used.as_str()) && !deps.contains(&used.as_str()) {
                    broken.push(format!(
                        "{krate}/src/{}:{line}: `{top}` uses `{used}`, which is not below it",
                        rel.display(),
                    ));
                }
            }
        }
    }
    // The table names no module that does not exist.
    for (krate, module, _) in LAYERS {
        assert!(
            seen.contains_key(&(*krate, *module)),
            "LAYERS names {krate}::{module}, which has no source file"
        );
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

/// Whether the code of a line uses the `sqlx` crate (a path through it, or an import of it).
fn uses_sqlx(code: &str) -> bool {
    code.match_indices("sqlx").any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = &code[i + "sqlx".len()..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with("::")
                || code[..i].trim_end().ends_with("use")
                || code[..i].trim_end().ends_with("crate"))
    })
}

/// SQL is the store's: no file of `node/` outside `node/src/store/`, and none of `hub/`, uses
/// `sqlx` (they call the store's typed methods).
#[test]
fn sql_only_in_the_store() {
    let mut found = Vec::new();
    for krate in ["node", "hub"] {
        let src = workspace().join(krate).join("src");
        for file in sources(&src) {
            let rel = file.strip_prefix(&src).unwrap();
            if krate == "node" && rel.starts_with("store") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if uses_sqlx(code(line)) {
                    found.push(format!(
                        "{krate}/src/{}:{}: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside node/src/store (give the store a typed method instead):\n{}",
        found.join("\n")
    );
}

/// The lines of code of a file: neither blank nor only a comment.
fn lines_of_code(text: &str) -> usize {
    text.lines().filter(|l| !code(l).trim().is_empty()).count()
}

/// The most lines of code a source file may have: past it, a file is doing several jobs.
const MOST_LINES: usize = 900;

/// No source file of the workspace (product, tests, benchmarks) is over `MOST_LINES` lines of
/// code.
#[test]
fn no_source_file_over_900_lines_of_code() {
    let mut long = Vec::new();
    for krate in ["node", "hub", "proto", "tests"] {
        let root = workspace().join(krate);
        for file in sources(&root) {
            if file.components().any(|c| c.as_os_str() == "target") {
                continue;
            }
            let n = lines_of_code(&std::fs::read_to_string(&file).unwrap());
            if n > MOST_LINES {
                long.push(format!(
                    "{}: {n} lines of code",
                    file.strip_prefix(workspace()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these by job (at most {MOST_LINES} lines of code each):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    assert!(uses_sqlx("use sqlx::Row;"));
    assert!(uses_sqlx(
        "    let n: i64 = sqlx::query_scalar(\"SELECT 1\")"
    ));
    assert!(uses_sqlx("#[derive(sqlx::FromRow)]"));
    assert!(uses_sqlx("use sqlx;"));
    assert_eq!(
        lines_of_code("fn a() {}\n\n// note\n    /// doc\nlet x = 1; // why\n"),
        2
    );
    assert!(!uses_sqlx(code("/// not sqlx::query, a comment")));
    assert!(!uses_sqlx("fn quiet_sqlx() -> LogConfig {"));
    assert!(!uses_sqlx("level: Some(\"warn,sqlx=error\".into()),"));
    let names =
        |code: &str| -> Vec<String> { crate_paths(code).into_iter().map(|(_, n)| n).collect() };
    assert_eq!(names("use crate::store::Store;"), ["store"]);
    assert_eq!(
        names("use crate::{domain::unit::UnitCode, docs::ledger};"),
        ["domain", "docs"]
    );
    assert_eq!(names("let x = crate::app::figures::f(&s);"), ["app"]);
    assert!(names("use yinglian_node::store::Store;").is_empty());
    // A nested group, split over lines as rustfmt writes it: every item is seen, on its line.
    assert_eq!(
        crate_paths(&code_of(
            "use crate::{\n    app::{a, b},\n    // crate::cli in a comment\n    http::x,\n};"
        )),
        [(1, "app".to_string()), (1, "http".to_string())]
    );
    assert_eq!(code("/// see `crate::http`"), "");
    assert_eq!(
        code("use crate::app::x; // crate::http"),
        "use crate::app::x; "
    );
}
