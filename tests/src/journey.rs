//! What the users' journeys in the browser (`tests/journeys.rs`) share: reading the pages (the
//! path shown, a rate of the 合计 row, a dashboard's card, every rate coloured against the
//! campaign's targets), uploading a file, reading what the browser saved (CSV, workbooks), and
//! setting up a federation's campaign, contacts and networked cameras.

use std::path::Path;

use fantoccini::{Client, Locator};
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::contacts::{Contact, ContactRole};

use crate::browser::{cell, cell_and_class, column, path, rate, submit};
use crate::{Fed, PATIENCE};

/// Chooses `file` in the page's file input and asks for the preview.
pub async fn upload(c: &Client, file: &Path) {
    c.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    submit(c).await;
}

/// The path of the page shown.
pub async fn here(c: &Client) -> String {
    path(c.current_url().await.unwrap())
}

/// A rate of the unit's own row (the 合计 row, or the unit's row on an institution's home page).
pub async fn total_rate(c: &Client, header: &str) -> f64 {
    let shown = cell(c, "tr.total", header)
        .await
        .unwrap_or_else(|| panic!("a {header} column"));
    rate(&shown).unwrap_or_else(|| panic!("{header}: {shown}"))
}

/// The number on the dashboard's card labelled `label` (下级单位, 进度落后, 已逾期, 尚无台账数据).
pub async fn card(c: &Client, label: &str) -> Option<u64> {
    c.execute(
        "const d = Array.from(document.querySelectorAll('.card'))
           .find(d => d.firstChild.textContent.trim() === arguments[0]);
         return d ? d.querySelector('b').textContent : null;",
        vec![serde_json::json!(label)],
    )
    .await
    .unwrap()
    .as_str()
    .and_then(|s| s.trim().parse().ok())
}

/// A CSV sheet as rows of cells (the exported sheet begins with a byte-order mark).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The figures' columns, each with its target as the campaign of these tests sets it (see
/// `live_campaign`: 80% networked due in two months, the archive and geo tags 100% in two weeks,
/// the intact rates 99% and 95% with no deadline) and the class of a rate short of it.
pub const TARGETS: [(&str, f64, &str); 5] = [
    ("联网率", 80.0, "warn"),
    ("建档率", 100.0, "warn"),
    ("标注率", 100.0, "warn"),
    ("完好率%·重点公共", 99.0, "bad"),
    ("完好率%·重点行业", 95.0, "bad"),
];

/// Every rate of the figures table shown (children, 本级 and 合计 rows) is coloured against its
/// target: met is green, short of a target not yet due amber, short of one without a date red.
pub async fn assert_coloured(c: &Client) {
    for (header, target, short) in TARGETS {
        let mut cells: Vec<(String, String, String)> = column(c, header).await;
        for row in ["tr.own", "tr.total"] {
            if let Some((v, class)) = cell_and_class(c, row, header).await {
                cells.push((row.into(), v, class));
            }
        }
        assert!(cells.len() > 1, "{header}: {cells:?}");
        for (who, shown, class) in &cells {
            let want = match rate(shown) {
                Some(r) if r >= target => "good",
                Some(_) => short,
                None => "none",
            };
            assert!(
                class.split(' ').any(|c| c == want),
                "{who} {header} {shown}: class {class}, not {want}"
            );
        }
    }
}

/// Publishes the demo's live campaign at the city (milestones placed around today).
pub async fn live_campaign(fed: &Fed) {
    let today = yinglian_node::domain::figures::beijing_today();
    yinglian_node::app::campaign::publish(
        &fed.city.store,
        &yinglian_hub::demo::live_campaign(today),
    )
    .await
    .unwrap();
}

/// Marks every camera of `unit` networked.
pub async fn network_all(unit: &LocalUnit) {
    let (rows, _) = unit
        .store
        .cameras(unit.code.as_str(), &Default::default())
        .await
        .unwrap();
    for r in rows {
        let code = r.camera.device_code.to_string();
        unit.store
            .edit(&DocId::ledger(&unit.code), "test", "network", |d| {
                let v = Field::Networked.parse_value("是")?;
                Ok(yinglian_node::docs::ledger::set_fields(
                    d,
                    &code,
                    &[(Field::Networked, v)],
                )?)
            })
            .await
            .unwrap();
    }
}

/// Reports both contacts of `unit` (attachment 1).
pub async fn report_contacts(unit: &LocalUnit, leader: &str, liaison: &str) {
    let contact = |name: &str, position: &str, phone: &str| Contact {
        name: name.into(),
        position: position.into(),
        phone: phone.into(),
        remarks: String::new(),
    };
    yinglian_node::app::contacts::set(
        &unit.store,
        "test",
        &[
            (
                ContactRole::Leader,
                contact(leader, "副主任", "023-63811234"),
            ),
            (
                ContactRole::Liaison,
                contact(liaison, "科员", "13800138000"),
            ),
        ],
    )
    .await
    .unwrap();
}

/// Waits until `hub`'s figures count `built` cameras.
pub async fn figures_cover(hub: &LocalUnit, built: u64) {
    wait_until(
        PATIENCE,
        &format!("{} counts {built} cameras", hub.code),
        || async {
            yinglian_node::app::figures::subtree_stats(&hub.store, None)
                .await
                .is_ok_and(|s| s.built == built)
        },
    )
    .await
    .unwrap();
}

/// The cameras the institutions of `fed` built.
pub async fn built(fed: &Fed) -> u64 {
    let mut n = 0;
    for i in fed.institutions.iter().flatten() {
        n += i.store.counts(i.code.as_str()).await.unwrap().0.built;
    }
    n
}

/// The rows of the first sheet of the workbook at `path`, each cell as text (a whole number
/// without its `.0`).
pub fn workbook_rows(path: &Path) -> Vec<Vec<String>> {
    use calamine::{Data, Reader};
    let mut wb = calamine::open_workbook_auto(path).expect("the download opens as a workbook");
    let sheet = wb.worksheet_range_at(0).expect("a first sheet").unwrap();
    sheet
        .rows()
        .map(|r| {
            r.iter()
                .map(|d| match d {
                    Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}
