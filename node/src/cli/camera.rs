//! `camera add|edit|remove|list|show|import|sheet`: one camera record at a time, or a whole sheet.

use anyhow::{Result, bail};
use clap::Subcommand;

use super::Common;
use crate::app::cameras;
use crate::docs::document::DocId;
use crate::domain::camera::{Field, FieldError, Value};
use crate::domain::device_code::DeviceCode;
use crate::domain::figures::CameraFlags;
use crate::domain::unit::UnitCode;
use crate::store::{CameraQuery, Store};

#[derive(Debug, Subcommand)]
pub enum CameraCmd {
    /// Add a camera record.
    Add {
        /// The 20-digit GB/T 28181 device code.
        #[arg(long)]
        code: String,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Change fields of a camera record.
    Edit {
        code: String,
        #[command(flatten)]
        fields: FieldArgs,
        /// Clear a field (repeatable), e.g. --clear labels.
        #[arg(long)]
        clear: Vec<String>,
    },
    /// Report a camera removed (撤除); --purge deletes a record entered by mistake.
    Remove {
        code: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        purge: bool,
    },
    /// List camera records.
    List {
        /// A child unit whose ledger this hub holds (default: this unit).
        #[arg(long)]
        unit: Option<String>,
        /// Matches device code, name or address.
        #[arg(long)]
        search: Option<String>,
        /// in-service, faulty or removed.
        #[arg(long)]
        state: Option<String>,
        /// Only records with unresolved conflicts.
        #[arg(long)]
        conflicts: bool,
        /// code, name or updated.
        #[arg(long)]
        sort: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
    /// Import a sheet (CSV in UTF-8 or GB18030, or XLSX; Chinese or English headers): all rows or none.
    /// A field that changed in the ledger after the sheet's rows were exported (its 最后修改时间
    /// column), or any value a sheet without that column would replace, is refused unless
    /// --overwrite or --keep-newer says what to do.
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
        /// Write the sheet's value even where the ledger's may be newer.
        #[arg(long, conflicts_with = "keep_newer")]
        overwrite: bool,
        /// Keep the ledger's value where it may be newer than the sheet's; import the rest.
        #[arg(long)]
        keep_newer: bool,
        #[command(flatten)]
        limits: crate::app::import::ImportLimits,
    },
    /// Write this unit's camera sheet (Chinese headers and values, each row's 最后修改时间): the
    /// sheet to edit and `camera import` back. `.xlsx` keeps every cell as text (device codes stay
    /// 20 digits in Excel); any other name is CSV.
    Sheet {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Show one camera record, its decoded device code, what it counts towards and its conflicts.
    Show {
        code: String,
        /// A child unit whose ledger this hub holds (default: this unit).
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write the supervision fields of a camera of a child unit's ledger (a supervising level).
    Supervise {
        /// The child unit whose camera this is.
        #[arg(long)]
        unit: String,
        code: String,
        /// 联网确认: the supervising level confirms the camera is networked (是/否).
        #[arg(long)]
        networked_confirmed: Option<String>,
        /// 点位类别（核定）: the point class as the supervising level rules it (1, 2, 3).
        #[arg(long)]
        point_class_ruled: Option<String>,
        /// 督导意见: a note from the supervising level.
        #[arg(long)]
        note: Option<String>,
    },
    /// Acknowledge (确认) a child unit's filing of a new camera (建设备案) or its removal report
    /// (撤除报告) (a supervising level).
    Acknowledge {
        /// The child unit whose camera this is.
        #[arg(long)]
        unit: String,
        code: String,
        /// The filing of the camera (建设备案).
        #[arg(long, required_unless_present = "removal", conflicts_with = "removal")]
        filing: bool,
        /// The camera's removal report (撤除报告).
        #[arg(long)]
        removal: bool,
    },
}

/// One flag per camera field; values in Chinese or English (是/否, 一类, 球机, 重点公共区域 …).
#[derive(Debug, clap::Args, Default)]
pub struct FieldArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    #[arg(long)]
    pub camera_type: Option<String>,
    #[arg(long)]
    pub point_class: Option<String>,
    #[arg(long)]
    pub area: Option<String>,
    #[arg(long)]
    pub install_date: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub longitude: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub latitude: Option<String>,
    #[arg(long)]
    pub must_network: Option<String>,
    #[arg(long)]
    pub networked: Option<String>,
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub network: Option<String>,
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(long)]
    pub labels: Option<String>,
    #[arg(long)]
    pub direction: Option<String>,
    #[arg(long)]
    pub fill_light: Option<String>,
    #[arg(long)]
    pub record_days: Option<String>,
}

impl FieldArgs {
    /// The given fields, checked.
    pub fn values(&self) -> Result<Vec<(Field, Value)>, FieldError> {
        let pairs = [
            (Field::Name, &self.name),
            (Field::Address, &self.address),
            (Field::CameraType, &self.camera_type),
            (Field::PointClass, &self.point_class),
            (Field::Area, &self.area),
            (Field::InstallDate, &self.install_date),
            (Field::Longitude, &self.longitude),
            (Field::Latitude, &self.latitude),
            (Field::MustNetwork, &self.must_network),
            (Field::Networked, &self.networked),
            (Field::State, &self.state),
            (Field::Network, &self.network),
            (Field::Platform, &self.platform),
            (Field::Labels, &self.labels),
            (Field::Direction, &self.direction),
            (Field::FillLight, &self.fill_light),
            (Field::RecordDays, &self.record_days),
        ];
        let mut out = Vec::new();
        for (f, v) in pairs {
            if let Some(text) = v
                && let Some(val) = f.parse_value(text)?
            {
                out.push((f, val));
            }
        }
        Ok(out)
    }
}

/// The unit whose ledger a read is about: this unit, or one whose replica is held here.
async fn held_unit(store: &Store, unit: Option<String>) -> Result<UnitCode> {
    let Some(u) = unit else {
        return Ok(store.unit().clone());
    };
    let u = UnitCode::parse(&u)?;
    if u != *store.unit() && store.heads(&DocId::ledger(&u)).await?.is_empty() {
        bail!(
            "本机没有单位 {u} 的台账：它不是 {} 的下级单位，或者还没有同步上来",
            store.unit()
        );
    }
    Ok(u)
}

pub async fn run(common: &Common, cmd: CameraCmd) -> Result<()> {
    let store = common.open().await?;
    let who = common.who();
    match cmd {
        CameraCmd::Add { code, fields } => add(&store, &who, &code, &fields).await,
        CameraCmd::Edit {
            code,
            fields,
            clear,
        } => edit(&store, &who, &code, &fields, &clear).await,
        CameraCmd::Remove {
            code,
            reason,
            purge,
        } => remove(&store, &who, &code, &reason, purge).await,
        CameraCmd::List {
            unit,
            search,
            state,
            conflicts,
            sort,
            limit,
            offset,
            json,
        } => {
            let q = CameraQuery {
                search,
                conflicts_only: conflicts,
                sort,
                limit,
                offset,
                ..Default::default()
            };
            list(common, &store, unit, state, q, json).await
        }
        CameraCmd::Import {
            file,
            json,
            overwrite,
            keep_newer,
            limits,
        } => {
            use crate::app::import_plan::OnNewer;
            let on_newer = if overwrite {
                OnNewer::Overwrite
            } else if keep_newer {
                OnNewer::Keep
            } else {
                OnNewer::Refuse
            };
            import(&store, &who, &file, &limits, &on_newer, json).await
        }
        CameraCmd::Sheet { out } => {
            let rows = crate::app::import_plan::sheet_rows(&store).await?;
            let n = rows.len() - 1;
            let bytes = if crate::app::report::is_xlsx(&out) {
                crate::app::report::xlsx_text_bytes("台账", &rows)?
            } else {
                crate::app::report::csv_bytes(rows)?
            };
            std::fs::write(&out, bytes)?;
            println!("已写出 {n} 台摄像机的台账表格：{}", out.display());
            Ok(())
        }
        CameraCmd::Supervise {
            unit,
            code,
            networked_confirmed,
            point_class_ruled,
            note,
        } => {
            let given = [
                (Field::NetworkedConfirmed, networked_confirmed),
                (Field::PointClassRuled, point_class_ruled),
                (Field::SupervisionNote, note),
            ];
            supervise(&store, &who, unit, &code, given).await
        }
        CameraCmd::Show { code, unit, json } => show(&store, &code, unit, json).await,
        CameraCmd::Acknowledge {
            unit,
            code,
            filing,
            removal: _,
        } => {
            use crate::domain::operations::Acknowledge;
            let what = if filing {
                Acknowledge::Filing
            } else {
                Acknowledge::Removal
            };
            let unit = UnitCode::parse(&unit)?;
            let code = DeviceCode::parse(&code)?;
            crate::app::operations::acknowledge(&store, &who, &unit, &code, what).await?;
            println!(
                "已确认单位 {unit} 摄像机 {code} 的{}；下次同步时送达该单位",
                what.chinese()
            );
            Ok(())
        }
    }
}

async fn add(store: &Store, who: &str, code: &str, fields: &FieldArgs) -> Result<()> {
    let code = DeviceCode::parse(code)?;
    let cam = cameras::add(store, who, code.clone(), fields.values()?).await?;
    println!("已新增摄像机 {code} {}", cam.name());
    Ok(())
}

async fn edit(
    store: &Store,
    who: &str,
    code: &str,
    fields: &FieldArgs,
    clear: &[String],
) -> Result<()> {
    let code = DeviceCode::parse(code)?;
    let mut changes: Vec<(Field, Option<Value>)> = fields
        .values()?
        .into_iter()
        .map(|(f, v)| (f, Some(v)))
        .collect();
    for c in clear {
        let f = Field::lookup(c).ok_or_else(|| FieldError::Unknown(c.clone()))?;
        changes.push((f, None));
    }
    let done = cameras::edit(store, who, &code, &changes).await?;
    if done.changed {
        println!("摄像机 {code}：修改了 {} 个字段", done.fields);
    } else {
        println!("摄像机 {code}：没有变化");
    }
    Ok(())
}

async fn remove(store: &Store, who: &str, code: &str, reason: &str, purge: bool) -> Result<()> {
    let code = DeviceCode::parse(code)?;
    cameras::remove(store, who, &code, reason, purge).await?;
    if purge {
        println!("已删除摄像机 {code} 的档案");
    } else {
        println!("摄像机 {code} 已登记为已撤除");
    }
    Ok(())
}

async fn list(
    common: &Common,
    store: &Store,
    of: Option<String>,
    state: Option<String>,
    q: CameraQuery,
    json: bool,
) -> Result<()> {
    // A unit deeper than this hub's children: ask the child hub that holds its ledger.
    if let Some(u) = &of
        && store.identity().is_hub()
        && held_unit(store, Some(u.clone())).await.is_err()
    {
        let target = UnitCode::parse(u)?;
        let q = CameraQuery {
            sort: None,
            conflicts_only: false,
            ..q
        };
        return list_forwarded(common, store, &target, &q, json).await;
    }
    let unit = held_unit(store, of).await?;
    let state = state
        .map(|s| {
            s.parse::<crate::domain::camera::State>()
                .map(|s| s.as_str().to_string())
        })
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let q = CameraQuery { state, ..q };
    let (rows, total) = store.cameras(unit.as_str(), &q).await?;
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut j = r.camera.to_json();
                j["conflicts"] = serde_json::to_value(&r.conflicts).unwrap_or_default();
                j
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"total": total, "cameras": list}))?
        );
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "设备编码",
        "点位名称",
        "类别",
        "状态",
        "应联网",
        "已联网",
        "冲突",
    ]);
    for r in &rows {
        let c = &r.camera;
        let f = CameraFlags::of(c);
        t.add_row([
            c.device_code.to_string(),
            c.name().to_string(),
            c.point_class()
                .map(|p| p.chinese())
                .unwrap_or("—")
                .to_string(),
            c.state().chinese().to_string(),
            yes(f.must_network),
            yes(f.networked),
            if r.conflicts.is_empty() {
                String::new()
            } else {
                "⚠".into()
            },
        ]);
    }
    println!("{t}");
    println!("共 {total} 台，列出 {} 台", rows.len());
    Ok(())
}

/// The cameras of a unit below a child hub, asked of the hub that holds its ledger.
async fn list_forwarded(
    common: &Common,
    store: &Store,
    target: &UnitCode,
    q: &CameraQuery,
    json: bool,
) -> Result<()> {
    let (total, list) =
        crate::federation::reports::forward_cameras(store, &common.data, target, q).await?;
    let list: Vec<serde_json::Value> = list
        .iter()
        .map(crate::docs::ledger::CameraState::to_json)
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"total": total, "cameras": list}))?
        );
    } else {
        for c in &list {
            println!(
                "{}  {}  {}",
                c["device_code"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
                c["state"].as_str().unwrap_or("")
            );
        }
        println!("{target} 共 {total} 台摄像机（由持有其台账的上级节点提供）");
    }
    Ok(())
}

async fn import(
    store: &Store,
    who: &str,
    file: &std::path::Path,
    limits: &crate::app::import::ImportLimits,
    on_newer: &crate::app::import_plan::OnNewer,
    json: bool,
) -> Result<()> {
    let r = crate::app::import_plan::import_guarded(store, file, who, limits, on_newer).await?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{}：{}",
            file.display(),
            crate::app::import_plan::summary(&r)
        );
    }
    Ok(())
}

async fn supervise(
    store: &Store,
    who: &str,
    of: String,
    code: &str,
    given: [(Field, Option<String>); 3],
) -> Result<()> {
    let child = held_unit(store, Some(of)).await?;
    let code = DeviceCode::parse(code)?;
    let mut changes = Vec::new();
    for (f, v) in given {
        if let Some(text) = v {
            changes.push((f, f.parse_value(&text)?));
        }
    }
    let n = cameras::supervise(store, who, &child, &code, &changes).await?;
    println!("单位 {child} 摄像机 {code}：写入了 {n} 个督导字段");
    Ok(())
}

async fn show(store: &Store, code: &str, of: Option<String>, json: bool) -> Result<()> {
    let unit = held_unit(store, of).await?;
    let code = DeviceCode::parse(code)?;
    let Some(r) = store.camera(unit.as_str(), code.as_str()).await? else {
        bail!("单位 {unit} 的台账中没有摄像机 {code}");
    };
    let f = CameraFlags::of(&r.camera);
    if json {
        let mut j = r.camera.to_json();
        j["decoded"] = serde_json::to_value(code.decode())?;
        j["conflicts"] = serde_json::to_value(&r.conflicts)?;
        j["counts"] = serde_json::json!({
            "built": f.built, "must_network": f.must_network, "networked": f.networked,
            "archived": f.archived, "geo_tagged": f.geo_tagged, "in_service": f.in_service,
        });
        j["updated_at"] = r.updated_at.clone().into();
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    let d = code.decode();
    println!("设备编码 device_code   {code}");
    println!(
        "  行政区划 {} · 行业 {:02} {} · 类型 {} {} · 网络 {} {} · 序号 {}",
        d.division,
        d.industry,
        crate::domain::device_code::industry_name_zh(d.industry),
        d.type_code,
        crate::domain::device_code::type_name_zh(d.type_code),
        d.network,
        crate::domain::device_code::network_name_zh(d.network),
        d.serial
    );
    for field in Field::ALL {
        if let Some(v) = r.camera.get(field) {
            println!(
                "{} {:<20} {}",
                field.chinese(),
                field.key(),
                crate::app::zh::field_value(field, Some(v))
            );
        }
    }
    println!(
        "计入：已建 {} · 应联网 {} · 已联网 {} · 已建档 {} · 已标注 {} · 完好 {}",
        yes(f.built),
        yes(f.must_network),
        yes(f.networked),
        yes(f.archived),
        yes(f.geo_tagged),
        yes(f.in_service)
    );
    for (field, values) in &r.conflicts {
        let shown: Vec<String> = values
            .iter()
            .map(|v| crate::app::zh::field_value(*field, Some(v)))
            .collect();
        println!(
            "⚠ 冲突：{}（{}）被同时写入了不同的值：{} — 修改该字段即可解决",
            field.chinese(),
            field.key(),
            shown.join(" | ")
        );
    }
    Ok(())
}

fn yes(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}
