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
    /// 新增一条摄像机档案
    Add {
        /// 20位设备编码（GB/T 28181）
        #[arg(long)]
        code: String,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// 修改摄像机档案中的字段
    Edit {
        /// 要修改的摄像机的设备编码
        code: String,
        #[command(flatten)]
        fields: FieldArgs,
        /// 清空一个字段（可多次使用），例如 --clear labels
        #[arg(long)]
        clear: Vec<String>,
    },
    /// 报告摄像机已撤除；--purge 删除误录的档案
    Remove {
        /// 设备编码
        code: String,
        /// 撤除原因
        #[arg(long, default_value = "")]
        reason: String,
        /// 彻底删除这条档案（只用于误录的档案）
        #[arg(long)]
        purge: bool,
    },
    /// 列出摄像机档案
    List {
        /// 下级单位（本级持有其台账；默认为本单位）
        #[arg(long)]
        unit: Option<String>,
        /// 按设备编码、点位名称或地址查找
        #[arg(long)]
        search: Option<String>,
        /// 设备状态：in-service（在用）、faulty（故障）或 removed（已撤除）
        #[arg(long)]
        state: Option<String>,
        /// 只列出有未解决冲突的档案
        #[arg(long)]
        conflicts: bool,
        /// 排序：code（设备编码）、name（点位名称）或 updated（最后修改时间）
        #[arg(long, value_parser = ["code", "name", "updated"])]
        sort: Option<String>,
        /// 最多列出多少条
        #[arg(long)]
        limit: Option<i64>,
        /// 跳过前面多少条
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 导入摄像机表（CSV 或 XLSX）：要么全部导入，要么一行也不导入
    ///
    /// CSV 可为 UTF-8 或 GB18030 编码；表头可用中文或英文。表导出之后台账中又改过的字段（依据表中的“最后修改时间”列），以及表中没有该列时会被替换的任何现有值，都不导入，除非用 --overwrite 或 --keep-newer 说明如何处理。
    Import {
        /// 要导入的表格文件（.csv 或 .xlsx）
        file: std::path::PathBuf,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
        /// 即使台账中的值可能较新，也写入表中的值
        #[arg(long, conflicts_with = "keep_newer")]
        overwrite: bool,
        /// 台账中的值可能比表中的新时保留台账的值，其余照常导入
        #[arg(long)]
        keep_newer: bool,
        #[command(flatten)]
        limits: crate::app::import::ImportLimits,
    },
    /// 导出本单位的摄像机表，改好后用 `camera import` 导回
    ///
    /// 表头和取值均为中文，每行带“最后修改时间”。文件名为 `.xlsx` 时每个单元格都存为文本（在 Excel 中设备编码仍是20位）；其他文件名写成 CSV。
    Sheet {
        /// 要写出的文件（.xlsx 或 .csv）
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// 查看一条摄像机档案：设备编码的含义、计入哪些指标、有无冲突
    Show {
        /// 设备编码
        code: String,
        /// 下级单位（本级持有其台账；默认为本单位）
        #[arg(long)]
        unit: Option<String>,
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
    /// 填写下级单位摄像机的督导字段（上级单位用）
    Supervise {
        /// 摄像机所属的下级单位
        #[arg(long)]
        unit: String,
        /// 设备编码
        code: String,
        /// 联网确认：上级确认该摄像机已联网（是/否）
        #[arg(long)]
        networked_confirmed: Option<String>,
        /// 点位类别（核定）：上级核定的点位类别（1、2、3）
        #[arg(long)]
        point_class_ruled: Option<String>,
        /// 督导意见：上级填写的意见
        #[arg(long)]
        note: Option<String>,
    },
    /// 确认下级单位的建设备案或撤除报告（上级单位用）
    Acknowledge {
        /// 摄像机所属的下级单位
        #[arg(long)]
        unit: String,
        /// 设备编码
        code: String,
        /// 确认该摄像机的建设备案
        #[arg(long, required_unless_present = "removal", conflicts_with = "removal")]
        filing: bool,
        /// 确认该摄像机的撤除报告
        #[arg(long)]
        removal: bool,
    },
}

/// 每个摄像机字段对应一个选项；取值可用中文或英文（是/否、一类、球机、重点公共区域 …）。
#[derive(Debug, clap::Args, Default)]
pub struct FieldArgs {
    /// 点位名称
    #[arg(long)]
    pub name: Option<String>,
    /// 安装地址
    #[arg(long)]
    pub address: Option<String>,
    /// 摄像机类型（球机、半球、固定枪机、遥控枪机、遥控半球、其他）
    #[arg(long)]
    pub camera_type: Option<String>,
    /// 点位类别（一类、二类、三类，或 1、2、3）
    #[arg(long)]
    pub point_class: Option<String>,
    /// 区域类别（重点公共区域、重点行业领域、其他）
    #[arg(long)]
    pub area: Option<String>,
    /// 安装时间（年-月-日，例如 2021-03-09）
    #[arg(long)]
    pub install_date: Option<String>,
    /// 经度
    #[arg(long, allow_hyphen_values = true)]
    pub longitude: Option<String>,
    /// 纬度
    #[arg(long, allow_hyphen_values = true)]
    pub latitude: Option<String>,
    /// 是否应联网（是/否）
    #[arg(long)]
    pub must_network: Option<String>,
    /// 是否已联网（是/否）
    #[arg(long)]
    pub networked: Option<String>,
    /// 设备状态（在用、故障、已撤除）
    #[arg(long)]
    pub state: Option<String>,
    /// 传输网络
    #[arg(long)]
    pub network: Option<String>,
    /// 接入平台
    #[arg(long)]
    pub platform: Option<String>,
    /// 标签
    #[arg(long)]
    pub labels: Option<String>,
    /// 监视方位
    #[arg(long)]
    pub direction: Option<String>,
    /// 补光属性
    #[arg(long)]
    pub fill_light: Option<String>,
    /// 录像保存天数
    #[arg(long)]
    pub record_days: Option<String>,
}

impl FieldArgs {
    /// The given fields, checked.
    pub fn values(&self) -> Result<Vec<(Field, Value)>, FieldError> {
        let mut out = Vec::new();
        for (f, v) in self.given() {
            if let Some(val) = f.parse_value(v)? {
                out.push((f, val));
            }
        }
        Ok(out)
    }

    /// A field given with nothing in it (`--name ""`): an edit does not take that for clearing.
    fn given_empty(&self) -> Option<Field> {
        self.given()
            .into_iter()
            .find(|(_, v)| v.trim().is_empty())
            .map(|(f, _)| f)
    }

    /// The fields given, with their text.
    fn given(&self) -> Vec<(Field, &str)> {
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
        pairs
            .into_iter()
            .filter_map(|(f, v)| v.as_deref().map(|t| (f, t)))
            .collect()
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
    if let Some(f) = fields.given_empty() {
        if f == Field::Name {
            bail!("点位名称不能为空");
        }
        bail!(
            "{}的值是空的：要清空这个字段请用 --clear {}",
            f.chinese(),
            f.key()
        );
    }
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
    println!("设备编码 {code}");
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
