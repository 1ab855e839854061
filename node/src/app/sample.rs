//! Plausible generated camera inventories, for demos, training, tests and the benchmark: the same
//! seed always gives the same sheet.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::camera::Field;

const PLACES: &[&str] = &[
    "门诊大厅",
    "急诊入口",
    "住院部电梯厅",
    "药房窗口",
    "收费处",
    "停车场出口",
    "东门岗亭",
    "西门通道",
    "地下车库",
    "发热门诊",
    "检验科走廊",
    "行政楼大厅",
    "食堂",
    "配电房",
    "围墙周界",
];
const TYPES: &[&str] = &["球机", "半球", "固定枪机", "遥控枪机", "遥控半球", "其他"];
const AREAS: &[&str] = &["重点公共区域", "重点行业领域公共区域", "其他"];

/// The header row of a generated sheet (Chinese, as clerks' sheets have it).
pub fn header() -> Vec<String> {
    let mut h = vec!["设备编码".to_string()];
    h.extend(
        [
            Field::Name,
            Field::Address,
            Field::CameraType,
            Field::PointClass,
            Field::Area,
            Field::InstallDate,
            Field::Longitude,
            Field::Latitude,
            Field::Networked,
            Field::State,
            Field::Network,
            Field::Platform,
        ]
        .iter()
        .map(|f| f.chinese().to_string()),
    );
    h
}

/// The most rows a generated sheet holds: a device code's serial has six digits.
pub const MAX_ROWS: usize = 999_999;

/// Two seeds give sheets of `rows` rows with no code in common in one area whenever they differ
/// modulo this (see [`rows`]).
pub fn seeds_apart(rows: usize) -> u64 {
    if rows < 100_000 { 5_000 } else { 500 }
}

/// `rows` generated rows (at most [`MAX_ROWS`]) for a unit in district `district` (6 digits), from
/// `seed`. The device
/// codes of two seeds differ whenever the seeds differ modulo 5,000 (digits 7–8 are the seed's
/// last two; the network digit 14, kept in the private video network's 0–4, and the serial's
/// first digit carry the rest), so the units of one area — the development zones share the city's
/// 500000 — hold no code in common unless asked to. Seeds below 100 give the codes they always
/// gave; a sheet of more than 99,999 rows needs the whole serial, so its codes differ from
/// another seed's only modulo 500.
pub fn rows(district: &str, rows: usize, seed: u64) -> Vec<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    assert!(
        rows <= MAX_ROWS,
        "a device code's serial has six digits: {rows} rows"
    );
    // The serial's first digit (the seed's five-hundreds), while the rows leave it free.
    let lead = if seeds_apart(rows) > 500 {
        (seed / 500 % 10) as usize
    } else {
        0
    };
    // The institution's site: somewhere inside its district (the project's areas), its cameras
    // within a few hundred metres of it (drawn apart, so that the rows of a seed stay the same).
    let mut site = StdRng::seed_from_u64(seed ^ 0x5173);
    let (site_lon, site_lat) = match crate::domain::quality::areas()
        .iter()
        .find(|a| a.code == district)
    {
        Some(a) => (
            a.min_lon + (a.max_lon - a.min_lon) * site.random_range(0.35..0.65),
            a.min_lat + (a.max_lat - a.min_lat) * site.random_range(0.35..0.65),
        ),
        None => (106.55, 29.56),
    };
    (0..rows)
        .map(|i| {
            let code = format!(
                "{district}{:02}09{}{}{:06}",
                (seed % 100),
                if rng.random_bool(0.7) { 132 } else { 131 },
                (seed / 100) % 5,
                lead * 100_000 + i + 1
            );
            let class = match rng.random_range(0..10) {
                0..=2 => "一类",
                3..=6 => "二类",
                _ => "三类",
            };
            let complete = rng.random_bool(0.85);
            let geo = rng.random_bool(0.8);
            let (lon, lat) = (
                site_lon + rng.random_range(-0.003..0.003),
                site_lat + rng.random_range(-0.003..0.003),
            );
            let opt = |b: bool, s: String| if b { s } else { String::new() };
            // Drawn in the order of the columns, so that a seed's rows stay the same.
            let kind = TYPES[rng.random_range(0..TYPES.len())].to_string();
            let area = AREAS[rng.random_range(0..AREAS.len())].to_string();
            let installed = format!(
                "20{:02}-{:02}-{:02}",
                rng.random_range(12..21),
                rng.random_range(1..13),
                rng.random_range(1..29)
            );
            let networked = rng.random_bool(0.6);
            let state = match rng.random_range(0..20) {
                0 => "故障",
                1 => "已撤除",
                _ => "在用",
            }
            .to_string();
            vec![
                code,
                format!("{}{}号", PLACES[i % PLACES.len()], i / PLACES.len() + 1),
                opt(complete, format!("{}栋{}楼", i % 7 + 1, i % 12 + 1)),
                kind,
                class.to_string(),
                area,
                opt(complete, installed),
                opt(geo, format!("{lon:.6}")),
                opt(geo, format!("{lat:.6}")),
                // A removed camera is not networked (a removed one left networked is a finding of
                // the data-quality check; the generator's ledgers contradict themselves nowhere).
                networked_unless_removed(networked, &state).to_string(),
                state,
                "视频专网".to_string(),
                "区公安视频共享平台".to_string(),
            ]
        })
        .collect()
}

fn networked_unless_removed(networked: bool, state: &str) -> &'static str {
    if networked && state != "已撤除" {
        "是"
    } else {
        "否"
    }
}

/// Writes a generated sheet as UTF-8 CSV (with a BOM, as Excel does; through the one CSV writer,
/// `crate::app::report::csv_bytes`) or XLSX, by extension.
pub fn write_sheet(path: &Path, district: &str, n: usize, seed: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        n <= MAX_ROWS,
        "生成的表格至多 999999 行（设备编码的序号只有 6 位），要求的是 {n} 行"
    );
    let data = rows(district, n, seed);
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    if is_xlsx {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in header().iter().enumerate() {
            ws.write_string(0, c as u16, h)?;
        }
        for (r, row) in data.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32 + 1, c as u16, v)?;
            }
        }
        wb.save(path)?;
    } else {
        std::fs::write(
            path,
            crate::app::report::csv_bytes(std::iter::once(header()).chain(data))?,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::rows;

    fn codes(area: &str, seeds: std::ops::Range<u64>, n: usize) -> BTreeSet<String> {
        seeds
            .flat_map(|s| rows(area, n, s))
            .map(|r| r[0].clone())
            .collect()
    }

    #[test]
    fn units_of_one_area_hold_no_code_in_common_for_seeds_apart_modulo_five_thousand() {
        // The bench's three development zones at 200 institutions each share the area 500000.
        let all = codes("500000", 7601..8201, 100);
        assert_eq!(all.len(), 600 * 100, "a code generated twice");
        let all = codes("500000", 0..5000, 3);
        assert_eq!(all.len(), 5000 * 3, "a code generated twice");
        for c in &all {
            let code: crate::domain::device_code::DeviceCode =
                c.parse().unwrap_or_else(|e| panic!("{c}: {e}"));
            // On the video private network (digit 14 in 0–4), as the sheet's network column says.
            assert!(code.decode().network <= 4, "{c}");
        }
        // A sheet of 100,000 rows or more keeps its codes 20 digits long whatever the seed.
        let big = rows("500000", 100_000, 4999);
        assert_eq!(big.last().unwrap()[0].len(), 20);
        assert!(
            super::write_sheet(std::path::Path::new("unused.csv"), "500000", 1_000_000, 1).is_err()
        );
    }
}
