//! The inputs of a camera record's fields on the add and edit forms: every field the owner
//! writes, grouped as a clerk reads the record (档案, 位置, 联网与状态, 其他), a closed set as a
//! `<select>` whose options carry the stored value and show its Chinese, 是/否 as a select, the
//! install date as a date input, longitude and latitude as numbers bounded to China (the server
//! checks them; the forms are `novalidate`, so the message a person reads is the server's,
//! Chinese, beside the field).

use maud::{Markup, html};

use crate::domain::camera::{Area, CameraType, Field, FieldKind, PointClass, State};

/// The groups of the owner's form, in order: a heading and its fields.
pub(super) const GROUPS: [(&str, &[Field]); 4] = [
    (
        "档案信息（建档率按此计算）",
        &[
            Field::Name,
            Field::Address,
            Field::CameraType,
            Field::PointClass,
            Field::Area,
            Field::InstallDate,
        ],
    ),
    (
        "位置坐标（标注率按此计算，WGS-84 十进制度）",
        &[Field::Longitude, Field::Latitude],
    ),
    (
        "联网与工作状态",
        &[Field::MustNetwork, Field::Networked, Field::State],
    ),
    (
        "其他档案信息",
        &[
            Field::Network,
            Field::Platform,
            Field::Labels,
            Field::Direction,
            Field::FillLight,
            Field::RecordDays,
        ],
    ),
];

/// The choices of a closed field: (the value as stored and posted, what a person reads).
pub(super) fn choices(f: Field) -> Option<Vec<(String, &'static str)>> {
    Some(match f.kind() {
        FieldKind::CameraType => CameraType::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.chinese()))
            .collect(),
        FieldKind::Area => Area::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.chinese()))
            .collect(),
        FieldKind::State => State::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.chinese()))
            .collect(),
        FieldKind::PointClass => [PointClass::One, PointClass::Two, PointClass::Three]
            .iter()
            .map(|c| ((*c as i64).to_string(), c.chinese()))
            .collect(),
        FieldKind::Bool => vec![("是".to_string(), "是"), ("否".to_string(), "否")],
        _ => return None,
    })
}

/// What a person reads for a stored value of `f` as the form carries it (`value`): the Chinese
/// of a closed set's value, else the value itself; `未填` for none.
pub(super) fn shown(f: Field, value: &str) -> String {
    if value.is_empty() {
        return "未填".into();
    }
    if f == Field::InstallDate {
        return crate::app::zh::date_text(value);
    }
    choices(f)
        .and_then(|c| c.into_iter().find(|(v, _)| v == value).map(|(_, zh)| zh))
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

/// A hint under a field, where its form is not obvious.
fn hint(f: Field) -> Option<&'static str> {
    match f {
        Field::Longitude => Some("如 106.5516，须在 73.4 至 135.1 之间；经纬度须同时填写"),
        Field::Latitude => Some("如 29.5630，须在 3.8 至 53.6 之间"),
        Field::MustNetwork => Some("不填时：一类、二类点位应联网，三类按需"),
        Field::RecordDays => Some("0 至 3650 天"),
        _ => None,
    }
}

/// The input of field `f` showing `value` (as stored; `""` for none), with `error` beside it.
/// An edit form names the value it showed in a hidden input (`shown_<key>`) of its own.
pub(super) fn input(f: Field, value: &str, error: Option<&str>) -> Markup {
    let key = f.key();
    let archive = Field::ARCHIVE.contains(&f) || f == Field::Name;
    html! {
        label.field {
            span.name { (f.chinese()) @if archive { span.req title="建档必填" { "*" } } }
            @match (choices(f), f.kind()) {
                (Some(options), _) => {
                    select name=(key) {
                        option value="" selected[value.is_empty()] { "未填" }
                        @if !value.is_empty() && !options.iter().any(|(v, _)| v == value) {
                            // A value from before the closed set, kept until someone picks.
                            option value=(value) selected { (value) }
                        }
                        @for (v, zh) in &options {
                            option value=(v) selected[v == value] { (zh) }
                        }
                    }
                }
                (None, FieldKind::Date) => {
                    input type="date" name=(key) value=(value) min="1990-01-01" max="2100-12-31";
                }
                (None, FieldKind::Longitude) => {
                    input type="number" name=(key) value=(value) step="any" min="73.4" max="135.1" placeholder="106.5516";
                }
                (None, FieldKind::Latitude) => {
                    input type="number" name=(key) value=(value) step="any" min="3.8" max="53.6" placeholder="29.5630";
                }
                (None, FieldKind::Days) => {
                    input type="number" name=(key) value=(value) step="1" min="0" max="3650";
                }
                _ => { input name=(key) value=(value) size="40"; }
            }
            @if let Some(h) = hint(f) { " " span.hint { (h) } }
            @if let Some(m) = error { " " span.err { (m) } }
        }
    }
}

/// The name of the hidden input that carries what the form showed for `f`.
pub(super) fn shown_key(f: Field) -> String {
    format!("shown_{}", f.key())
}

/// The form's values of `fields` for `row` as the ledger holds it: each field shown, and what
/// was shown (so that saving writes only what the person changed).
pub(super) fn values_of(
    row: &crate::store::CameraRow,
    fields: impl Iterator<Item = Field>,
) -> std::collections::HashMap<String, String> {
    let mut values = std::collections::HashMap::new();
    for f in fields {
        let shown = row
            .camera
            .get(f)
            .map(crate::domain::camera::Value::to_string)
            .unwrap_or_default();
        values.insert(shown_key(f), shown.clone());
        values.insert(f.key().to_string(), shown);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owner_field_is_on_the_form_once_and_closed_sets_are_choices() {
        let on_form: Vec<Field> = GROUPS.iter().flat_map(|(_, f)| f.iter().copied()).collect();
        let owner: Vec<Field> = Field::ALL
            .into_iter()
            .filter(|f| !f.is_supervision())
            .collect();
        assert_eq!(on_form.len(), owner.len());
        assert!(owner.iter().all(|f| on_form.contains(f)));
        let area = input(Field::Area, "key-public", None).into_string();
        assert!(
            area.contains("<select name=\"area\">")
                && area.contains("<option value=\"key-public\" selected>重点公共区域</option>"),
            "{area}"
        );
        assert!(!area.contains(">key-public<"), "{area}");
        let date = input(Field::InstallDate, "2021-03-09", None).into_string();
        assert!(date.contains("type=\"date\""), "{date}");
        assert_eq!(shown(Field::PointClass, "2"), "二类");
        assert_eq!(shown(Field::Networked, ""), "未填");
        // Every choice is a value the field accepts.
        for f in Field::ALL {
            for (v, _) in choices(f).unwrap_or_default() {
                assert!(f.parse_value(&v).unwrap().is_some(), "{f} {v}");
            }
        }
    }
}
