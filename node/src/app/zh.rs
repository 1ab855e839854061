//! The message catalogue: the Chinese of every enum, boolean, state, value and error a person
//! reads on the pages and the command line, and Beijing-time formatting of times and dates. The
//! English texts (the errors' `Display`) stay in JSON and logs; pages and the command line's
//! refusals say things through [`Zh`], [`error`] and the functions here.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use crate::app::accounts::{AccountError, Role as AccountRole};
use crate::app::cameras::CameraError;
use crate::app::import::quote;
use crate::app::import::{Encoding, FileProblem, ImportError, Reason, RowError};
use crate::domain::camera::{
    Area, Bad, CameraType, Field, FieldError, FieldKind, PointClass, State, Value,
};
use crate::domain::campaign::Status;
use crate::domain::contacts::{ContactError, ContactRole};
use crate::domain::device_code::DeviceCodeError;
use crate::domain::submission::{State as ReportState, SubmissionError, Verdict};
use crate::domain::unit::{Role, UnitError, UnitKind};

/// What a person reads for a value, an enum or an error.
pub trait Zh {
    fn zh(&self) -> String;
}

/// Beijing time, UTC+8.
fn beijing() -> FixedOffset {
    crate::domain::figures::beijing()
}

/// A moment as a person in China reads it: `2026年11月26日 10:01`.
pub fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y年%-m月%-d日 %H:%M")
        .to_string()
}

/// A stored RFC 3339 stamp to the second, in Beijing time (`11月26日 10:01:23`), for lists of
/// changes that come several a minute; a text that is not a stamp is shown as it is.
pub fn beijing_clock(stamp: &str) -> String {
    match DateTime::parse_from_rfc3339(stamp.trim()) {
        Ok(t) => t
            .with_timezone(&beijing())
            .format("%-m月%-d日 %H:%M:%S")
            .to_string(),
        Err(_) => stamp.to_string(),
    }
}

/// A stored RFC 3339 stamp (`2026-11-26T02:01:23.468Z`) in Beijing time; a text that is not a
/// stamp is shown as it is, and an empty one as 未填.
pub fn beijing_stamp(stamp: &str) -> String {
    if stamp.trim().is_empty() {
        return "未填".into();
    }
    match DateTime::parse_from_rfc3339(stamp.trim()) {
        Ok(t) => beijing_time(t.with_timezone(&Utc)),
        Err(_) => stamp.to_string(),
    }
}

/// A sync error as a person reads it: the known ones in Chinese; any other is said to be in the
/// log (its English stays there, for the operator).
pub fn sync_error(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    let known = [
        ("closed the stream", "对方关闭了连接"),
        ("connection refused", "连接被拒绝（对方未运行或地址有误）"),
        ("timed out", "连接超时"),
        ("deadline", "连接超时"),
        ("certificate", "证书校验未通过"),
        ("revoked", "证书已被吊销"),
        ("unavailable", "对方暂不可用"),
        ("dns", "无法解析对方地址"),
    ];
    known
        .iter()
        .find(|(k, _)| t.contains(k))
        .map(|(_, zh)| (*zh).to_string())
        .unwrap_or_else(|| "同步出错（详情见运行日志）".to_string())
}

/// Why the hub refused a feed subscription for good (its English reason, from the admission
/// gate or the Feed service), as a person reads it: the known reasons in Chinese; any other is
/// said to be in the log.
pub fn feed_refusal(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    let known = [
        ("revoked", "本单位的订阅证书已被上级吊销"),
        (
            "without a scope",
            "本单位登记为订阅单位时未指定查看范围，需由上级重新登记并指定范围",
        ),
        ("may watch", "所请求的范围超出了本单位登记的查看范围"),
        ("replaced by a newer", "本单位的证书已被新的登记取代"),
        ("not a unit code", "所请求的范围不是有效的单位代码"),
        ("not a subscriber", "本单位未登记为订阅单位"),
        ("not enrolled", "上级未登记本单位，不认可其证书"),
        ("not a child", "上级未登记本单位，不认可其证书"),
        ("client certificate", "未出示本单位证书"),
    ];
    known
        .iter()
        .find(|(k, _)| t.contains(k))
        .map(|(_, zh)| (*zh).to_string())
        .unwrap_or_else(|| "上级拒绝了订阅（详情见运行日志）".to_string())
}

/// A date as a person reads it: `2026年11月26日`.
pub fn beijing_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// A stored date text (`2021-03-09`) as `2021年3月9日`; anything else as it is.
pub fn date_text(t: &str) -> String {
    match NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d") {
        Ok(d) => beijing_date(d),
        Err(_) => t.to_string(),
    }
}

/// A stored time or date, whichever it is, as a person reads it: a stamp in Beijing time, a
/// date as `2021年12月31日`; any other text as it is.
pub fn when(text: &str) -> String {
    if DateTime::parse_from_rfc3339(text.trim()).is_ok() {
        beijing_stamp(text)
    } else {
        date_text(text)
    }
}

/// Today's date in Beijing.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&beijing()).date_naive()
}

/// 是 / 否.
pub fn yes_no(b: bool) -> &'static str {
    if b { "是" } else { "否" }
}

/// A field's value as a person reads it: closed sets in Chinese, 是/否, dates in Chinese, and
/// 未填 where there is none.
pub fn field_value(field: Field, v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "未填".into();
    };
    match (field.kind(), v) {
        (_, Value::Bool(b)) => yes_no(*b).into(),
        (FieldKind::PointClass, Value::Int(n)) => PointClass::from_int(*n)
            .map(|p| p.chinese().to_string())
            .unwrap_or_else(|| n.to_string()),
        (FieldKind::CameraType, Value::Text(t)) => chinese_of::<CameraType>(t),
        (FieldKind::Area, Value::Text(t)) => chinese_of::<Area>(t),
        (FieldKind::State, Value::Text(t)) => chinese_of::<State>(t),
        (FieldKind::Date, Value::Text(t)) => date_text(t),
        (_, v) => v.zh(),
    }
}

/// A field of a camera's JSON (`CameraState::to_json`) as a person reads it, by its key.
pub fn json_field(key: &str, v: &serde_json::Value) -> String {
    let value = match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
        serde_json::Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        }),
        serde_json::Value::String(s) => Some(Value::Text(s.clone())),
        other => Some(Value::Text(other.to_string())),
    };
    match Field::lookup(key) {
        Some(f) => field_value(f, value.as_ref()),
        None => value.map(|v| v.zh()).unwrap_or_else(|| "未填".into()),
    }
}

fn chinese_of<T: std::str::FromStr + std::fmt::Display>(t: &str) -> String {
    t.parse::<T>()
        .map(|x| x.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// The Chinese name of a camera's field by its English key (`name` → 点位名称); a contact's
/// fields are named by `contact_field`.
pub fn field_name(key: &str) -> String {
    match Field::lookup(key) {
        Some(f) => f.chinese().into(),
        None if key == "device_code" => "设备编码".into(),
        None => key.into(),
    }
}

impl Zh for Value {
    fn zh(&self) -> String {
        match self {
            Value::Bool(b) => yes_no(*b).into(),
            v => v.to_string(),
        }
    }
}

impl<T: Zh> Zh for Option<T> {
    fn zh(&self) -> String {
        match self {
            Some(v) => v.zh(),
            None => "未填".into(),
        }
    }
}

impl<T: Zh + ?Sized> Zh for &T {
    fn zh(&self) -> String {
        (**self).zh()
    }
}

impl Zh for bool {
    fn zh(&self) -> String {
        yes_no(*self).into()
    }
}

macro_rules! zh_by_chinese {
    ($($t:ty),+) => {$(
        impl Zh for $t {
            fn zh(&self) -> String {
                self.chinese().to_string()
            }
        }
    )+};
}
zh_by_chinese!(
    CameraType,
    Area,
    State,
    PointClass,
    Field,
    ContactRole,
    UnitKind,
    Status,
    ReportState,
    Verdict
);

/// What a person reads for a field of a submission or a decision.
fn paper_field(key: &str) -> &'static str {
    match key {
        "reviewer" => "审核人",
        "filler" => "填表人",
        "reason" => "退回原因",
        _ => "此项",
    }
}

impl Zh for SubmissionError {
    fn zh(&self) -> String {
        match self {
            SubmissionError::Missing(f) => format!("{}必须填写", paper_field(f)),
            SubmissionError::TooLong(f) => {
                let max = if *f == "reason" {
                    crate::domain::submission::MAX_REASON
                } else {
                    crate::domain::submission::MAX_NAME
                };
                format!("{}超过{max}个字", paper_field(f))
            }
            SubmissionError::Date(t) => format!(
                "“{}”不是日期：报送节点以截止日期表示，如2021-08-25",
                quote(t)
            ),
            SubmissionError::NotAMilestone(d) => {
                format!("工作方案中没有截止日期为{}的节点", beijing_date(*d))
            }
            SubmissionError::NoCampaign => {
                "本单位尚未收到工作方案（节点与目标），请待与上级同步后再试".into()
            }
            SubmissionError::NoParent => "本单位没有上级单位，无需报送".into(),
            SubmissionError::Subscriber => "订阅单位只读取数据，不报送".into(),
            SubmissionError::NotAChild(u) => format!("“{}”不是本单位的下级单位", quote(u)),
            SubmissionError::NothingSubmitted(u, d) => format!(
                "{}尚未报送截止日期为{}的节点，无可审核",
                quote(u),
                beijing_date(*d)
            ),
        }
    }
}

impl Zh for crate::app::submission::PaperError {
    fn zh(&self) -> String {
        match self {
            crate::app::submission::PaperError::Refused(e) => e.zh(),
            crate::app::submission::PaperError::Store(_) => {
                "读写本单位数据时出错（详情见运行日志）".into()
            }
        }
    }
}

/// The check of a child's figures as a person reads it.
pub fn check(c: &crate::app::submission::Check) -> String {
    use crate::app::submission::Check;
    match c {
        Check::None => "—".into(),
        Check::Matches => "与本级副本一致".into(),
        Check::Unverifiable => "尚无副本，无法核对".into(),
        Check::Pending => "报送时的数据尚未同步到本级，同步后核对".into(),
        Check::Differs { fields } => format!(
            "与本级副本不符：{}",
            fields
                .iter()
                .map(|(k, a, b)| format!("{} 报送 {a}、副本 {b}", count_name(k)))
                .collect::<Vec<_>>()
                .join("；")
        ),
    }
}

/// The name of one of the ten counts (`built` → 已建); a child's row's count as
/// `500103-0001 的已建`.
pub fn count_name(key: &str) -> String {
    if let Some((unit, k)) = key.split_once('.') {
        return format!("{unit} 的{}", count_name(k));
    }
    match key {
        "built" => "已建",
        "must_network" => "应联网",
        "networked" => "已联网",
        "archived" => "已建档",
        "geo_tagged" => "已标注位置",
        "in_service" => "在用",
        "key_public_built" => "重点公共区域已建",
        "key_public_in_service" => "重点公共区域在用",
        "key_industry_built" => "重点行业领域已建",
        "key_industry_in_service" => "重点行业领域在用",
        other => other,
    }
    .into()
}

/// A unit's standing for a milestone as a person reads it: 按时报送（已接受）, 已退回：<reason>,
/// 逾期报送（待审核）, 未报送.
pub fn judgement(j: &crate::domain::submission::Judgement) -> String {
    match j.state {
        ReportState::Missing => j.state.chinese().into(),
        ReportState::Returned => format!(
            "已退回：{}",
            j.decision.as_ref().map(|d| d.reason.as_str()).unwrap_or("")
        ),
        _ if j.accepted => format!("{}（已接受）", j.state.chinese()),
        _ => format!("{}（待审核）", j.state.chinese()),
    }
}

impl Zh for Role {
    fn zh(&self) -> String {
        match self {
            Role::Node => "上报单位",
            Role::Hub => "汇总单位",
            Role::Subscriber => "订阅单位（公安机关）",
        }
        .into()
    }
}

impl Zh for AccountRole {
    fn zh(&self) -> String {
        match self {
            AccountRole::Editor => "填报员",
            AccountRole::ReadOnly => "只读",
        }
        .into()
    }
}

impl Zh for DeviceCodeError {
    fn zh(&self) -> String {
        match self {
            DeviceCodeError::Empty => "设备编码未填写".into(),
            DeviceCodeError::LostDigits(t) => format!(
                "设备编码“{}”像是被表格软件缩短的数字（科学计数法或带小数点）：请把该列设为文本格式，重新输入20位数字",
                quote(t)
            ),
            DeviceCodeError::Length(t, n) => {
                format!("设备编码“{}”应为20位数字，现有{n}位", quote(t))
            }
            DeviceCodeError::NotDigits(t) => format!("设备编码“{}”只能由数字组成", quote(t)),
            DeviceCodeError::Province(t, p) => format!(
                "设备编码“{}”的第1–2位“{p}”不是我国的省级行政区划代码",
                quote(t)
            ),
            DeviceCodeError::NotACamera(t, code, _) => format!(
                "设备编码“{}”的第11–13位类型码{code}不是摄像机（131为摄像机，132为网络摄像机）",
                quote(t)
            ),
        }
    }
}

impl Zh for Bad {
    fn zh(&self) -> String {
        match self {
            Bad::TooLong => "超过500个字".into(),
            Bad::Choice { kind, value } => {
                let (what, all): (&str, Vec<&str>) = match kind {
                    FieldKind::CameraType => (
                        "摄像机类型",
                        CameraType::ALL.iter().map(|c| c.chinese()).collect(),
                    ),
                    FieldKind::Area => {
                        ("区域类别", Area::ALL.iter().map(|c| c.chinese()).collect())
                    }
                    _ => ("设备状态", State::ALL.iter().map(|c| c.chinese()).collect()),
                };
                format!(
                    "“{}”不是可选的{what}，请从以下选择：{}",
                    quote(value),
                    all.join("、")
                )
            }
            Bad::PointClass(v) => format!(
                "“{}”不是点位类别，请填1、2或3（一类、二类、三类）",
                quote(v)
            ),
            Bad::Bool(v) => format!("“{}”不是“是”或“否”", quote(v)),
            Bad::Date(v) => format!("“{}”不是日期，请写成2021-03-09", quote(v)),
            Bad::DateRange(v) => {
                format!("“{}”不像安装日期（应在1990年至2100年之间）", quote(v))
            }
            Bad::Number(v) => format!("“{}”不是以度为单位的十进制数", quote(v)),
            Bad::OutsideChina {
                value,
                lo,
                hi,
                what,
            } => {
                let what = if *what == "longitude" {
                    "经度"
                } else {
                    "纬度"
                };
                format!("{value}不在我国境内（{what}应在{lo}至{hi}之间，WGS-84十进制度）")
            }
            Bad::Days(v) => format!("“{}”不是0至3650之间的天数", quote(v)),
        }
    }
}

impl Zh for FieldError {
    fn zh(&self) -> String {
        match self {
            FieldError::Invalid { field, reason } => {
                format!("{}填写有误：{}", field_name(field), reason.zh())
            }
            FieldError::Missing(f) => format!("{}必须填写", field_name(f)),
            FieldError::OneCoordinate(f) => {
                format!("经度和纬度须同时填写（只填了{}）", field_name(f))
            }
            FieldError::Unknown(f) => format!("没有“{}”这个字段", quote(f)),
            FieldError::Supervision(f) => {
                format!("{}是督导字段，只能由上级单位填写", field_name(f))
            }
        }
    }
}

/// What a person reads for a field of a contact (a contact's `name` is a person's name, not a
/// camera's).
fn contact_field(key: &str) -> &str {
    match key {
        "name" => "姓名",
        "position" => "职务",
        "phone" => "联系电话",
        "remarks" => "备注",
        other => other,
    }
}

impl Zh for ContactError {
    fn zh(&self) -> String {
        match self {
            ContactError::Role(r) => {
                format!("“{}”不是联系人类别：请选分管领导或联络员", quote(r))
            }
            ContactError::Missing(f) => format!("{}必须填写", contact_field(f)),
            ContactError::Phone(p) => format!(
                "“{}”不是电话号码：请填7至20位数字，可带“-”“+”、空格或括号",
                quote(p)
            ),
            ContactError::TooLong(f) => format!("{}超过100个字", contact_field(f)),
        }
    }
}

impl Zh for UnitError {
    fn zh(&self) -> String {
        match self {
            UnitError::Code(c) => format!(
                "单位代码“{}”无效：请用1至40个字母、数字、“-”或“_”，“-”只能在两段之间（如500103或500103-0001）",
                quote(c)
            ),
            UnitError::Kind(k) => format!(
                "单位类型“{}”未知：请用 city（市级）、district（区）、county（县）、zone（开发区）、affiliated（委属单位）、institution（医疗卫生机构）、sub-unit（下级部门）或 subscriber（公安机关）",
                quote(k)
            ),
            UnitError::Role(r) => format!(
                "角色“{}”未知：请用 node（上报单位）、hub（汇总单位）或 subscriber（订阅方）",
                quote(r)
            ),
        }
    }
}

impl Zh for CameraError {
    fn zh(&self) -> String {
        match self {
            CameraError::DeviceCode(e) => format!("设备编码有误：{}", e.zh()),
            CameraError::Field(e) => e.zh(),
            CameraError::Exists(code) => format!("台账中已有摄像机{code}"),
            CameraError::NotFound { code, .. } => format!("台账中没有摄像机{code}"),
            CameraError::NothingToChange => "没有要修改的内容".into(),
            CameraError::NameCleared => "点位名称不能清空".into(),
            CameraError::OwnUnit(_) => "督导字段由上级单位填写，本单位不能修改".into(),
            CameraError::NoSupervision => "没有要写入的督导字段".into(),
            CameraError::NothingToAcknowledge { what, code, .. } => {
                format!("摄像机{code}没有待确认的{}", what.chinese())
            }
            CameraError::Store(_) => "保存失败，请稍后再试".into(),
        }
    }
}

impl Zh for AccountError {
    fn zh(&self) -> String {
        match self {
            AccountError::Invalid(_) => "账户信息有误".into(),
            AccountError::Wrong => "用户名或密码错误".into(),
            AccountError::Store(_) => "保存失败，请稍后再试".into(),
        }
    }
}

impl Zh for Reason {
    fn zh(&self) -> String {
        match self {
            Reason::CellTooLong {
                chars,
                limit,
                begins,
            } => format!("单元格有{chars}个字，超过上限{limit}（开头是“{begins}”）"),
            Reason::Duplicate { code, first } => {
                format!("设备编码{code}重复：第{first}行已有")
            }
            Reason::Code(e) => e.zh(),
            Reason::Field(e) => e.zh(),
            Reason::Stamp(t) => format!(
                "“{t}”不是系统导出的最后修改时间（应形如 2026年11月26日 10:01:23.468）；不清楚时请清空此格"
            ),
        }
    }
}

impl Zh for RowError {
    fn zh(&self) -> String {
        format!("第{}行“{}”列：{}", self.row, self.column, self.reason.zh())
    }
}

const SAVE_AS: &str = "请在WPS或Excel中另存为CSV（UTF-8）或Excel工作簿";

impl Zh for Encoding {
    fn zh(&self) -> String {
        match self {
            Encoding::Utf16 => format!("文件是UTF-16文本（“Unicode文本”），{SAVE_AS}"),
            Encoding::Unknown => {
                format!("无法识别文件的文字编码（已尝试UTF-8和GB18030/GBK），{SAVE_AS}")
            }
            Encoding::NotChinese(sample) => format!(
                "文件不是UTF-8，按GB18030/GBK读也不是中文（会读成“{sample}”），可能是Latin-1或Windows-1252编码，{SAVE_AS}"
            ),
        }
    }
}

impl Zh for FileProblem {
    fn zh(&self) -> String {
        match self {
            FileProblem::Read(_) => "无法读取文件".into(),
            FileProblem::TooBig { size, limit } => {
                format!("文件有{size}字节，超过上限{limit}字节，请拆成几个文件")
            }
            FileProblem::UnknownType => {
                "无法识别的文件类型：请上传.csv或.xlsx文件（在WPS或Excel中“另存为”CSV或Excel工作簿）"
                    .into()
            }
            FileProblem::Encoding(e) => e.zh(),
            FileProblem::Csv { row, .. } => format!("第{row}行不是有效的CSV"),
            FileProblem::UnclosedQuote { row } => format!(
                "第{row}行有一个引号（\"）开始的单元格没有结束的引号，该行以后的内容都会被读进这一格：请检查该行的引号"
            ),
            FileProblem::NotWorkbook(_) => "不是Excel工作簿（.xlsx）".into(),
            FileProblem::Damaged(_) => "工作簿已损坏".into(),
            FileProblem::Unpacks { size, limit } => {
                format!("工作簿解压后有{size}字节，超过上限{limit}字节")
            }
            FileProblem::SharedStrings { count, limit } => {
                format!("工作簿声明了{count}个共享文本，超过上限{limit}")
            }
            FileProblem::Open(_) => "无法打开工作簿".into(),
            FileProblem::NoSheet => "工作簿中没有工作表".into(),
            FileProblem::Sheet { sheet, .. } => format!("无法读取工作表“{sheet}”"),
            FileProblem::TooManyRows(n) => {
                format!("表格超过{n}行，超出一次导入的上限，请拆成几个文件")
            }
            FileProblem::NoHeader => {
                "前20行中没有含“设备编码”（或device_code）列的表头行".into()
            }
            FileProblem::SupervisionColumn(h) => {
                format!("“{h}”列是督导字段，由上级单位填写，不能导入")
            }
            FileProblem::SameColumn { first, second, .. } => {
                format!("“{first}”列和“{second}”列是同一个字段")
            }
            FileProblem::NoNameColumn => "没有点位名称列（点位名称或name）".into(),
            FileProblem::NoRows => "表头行下面没有摄像机数据".into(),
        }
    }
}

impl Zh for ImportError {
    fn zh(&self) -> String {
        match self {
            ImportError::File(_, why) => why.zh(),
            ImportError::Rows { errors, .. } => {
                let rows: std::collections::BTreeSet<usize> =
                    errors.iter().map(|e| e.row).collect();
                format!(
                    "{}行有错误（共{}处），一行也没有导入",
                    rows.len(),
                    errors.len()
                )
            }
            ImportError::Held { fields, .. } => format!(
                "{}处字段在台账中的修改晚于表格导出，一行也没有导入",
                fields.len()
            ),
            ImportError::Store(_) => "保存失败，一行也没有导入，请稍后再试".into(),
        }
    }
}

impl Zh for crate::store::StoreError {
    fn zh(&self) -> String {
        use crate::store::StoreError as E;
        match self {
            E::NotInitialised(dir) => format!(
                "{} 中没有应联的数据：请先运行 init 建立本单位（或用 --data 指定数据文件夹）",
                dir.display()
            ),
            E::AlreadyInitialised(dir, unit) => format!(
                "{} 中已有单位 {unit} 的数据：请换一个 --data 文件夹",
                dir.display()
            ),
            E::Sql(e) => format!("数据库出错：{e}"),
            E::Migrate(e) => format!("数据库升级失败：{e}"),
            E::Damaged(doc, e) => format!("文档 {doc} 已损坏：{e}"),
            E::Ledger(e) => e.zh(),
            E::Profile(e) => e.zh(),
            E::Field(e) => e.zh(),
            E::Contact(e) => e.zh(),
            E::Refused(why) => why.clone(),
            E::Io(path, e) => format!("读写 {} 出错：{}", path.display(), e.zh()),
        }
    }
}

impl Zh for crate::docs::ledger::LedgerError {
    fn zh(&self) -> String {
        use crate::docs::ledger::LedgerError as E;
        match self {
            E::NotALedger => "该文档不是摄像机台账".into(),
            E::Exists(code) => format!("台账中已有摄像机{code}；修改请用 camera edit"),
            E::NotFound(code) => format!("台账中没有摄像机{code}"),
            E::Automerge(e) => format!("文档出错：{e}"),
        }
    }
}

impl Zh for crate::docs::profile::ProfileError {
    fn zh(&self) -> String {
        use crate::docs::profile::ProfileError as E;
        match self {
            E::NotAProfile => "该文档不是单位信息".into(),
            E::Automerge(e) => format!("文档出错：{e}"),
        }
    }
}

impl Zh for std::io::Error {
    fn zh(&self) -> String {
        use std::io::ErrorKind as K;
        match self.kind() {
            K::NotFound => "文件或文件夹不存在".into(),
            K::PermissionDenied => "没有权限".into(),
            K::AlreadyExists => "已经存在".into(),
            K::IsADirectory => "这是一个文件夹，不是文件".into(),
            K::NotADirectory => "这不是文件夹".into(),
            K::StorageFull => "磁盘已满".into(),
            K::InvalidData => format!("内容无效（{self}）"),
            _ => format!("{self}"),
        }
    }
}

impl Zh for crate::app::campaign::PublishError {
    fn zh(&self) -> String {
        use crate::app::campaign::PublishError as E;
        match self {
            E::NotRoot => {
                "只有联盟的根单位（已运行 pki init-root 的单位）才能发布核查规则和考核权重".into()
            }
            E::Rule(e) => format!("核查规则有误：{e}"),
            E::Weights(e) => format!("考核权重有误：{e}"),
            E::Store(e) => e.zh(),
        }
    }
}

/// An import refused, in full, for the command line: the file, what was wrong and, for bad rows,
/// every row (the first [`crate::app::import::MAX_LISTED_ERRORS`]) with its column and reason.
pub fn import_refused(e: &ImportError) -> String {
    use crate::app::import::MAX_LISTED_ERRORS;
    match e {
        ImportError::File(path, why) => {
            // On the command line the limit can be raised: say with which option.
            let option = match why {
                FileProblem::TooBig { .. } => Some("--max-file-bytes"),
                FileProblem::TooManyRows(_) => Some("--max-rows"),
                FileProblem::Unpacks { .. } => Some("--max-unpacked-bytes"),
                FileProblem::SharedStrings { .. } => Some("--max-shared-strings"),
                _ => None,
            };
            match option {
                Some(o) => format!(
                    "{}：{}（确需导入时可用 {o} 放宽上限）",
                    path.display(),
                    why.zh()
                ),
                None => format!("{}：{}", path.display(), why.zh()),
            }
        }
        ImportError::Rows { file, errors } => {
            let rows = crate::app::import::first_listed(
                errors,
                |r| r.zh(),
                |more, all| {
                    format!("……另有 {more} 处（共 {all} 处，只列出前 {MAX_LISTED_ERRORS} 处）")
                },
            );
            format!("{}：{}：\n{rows}", file.display(), e.zh())
        }
        // Already written in Chinese, with the fields listed.
        ImportError::Held { .. } => e.to_string(),
        ImportError::Store(s) => format!("一行也没有导入：{}", s.zh()),
    }
}

/// The Chinese of an error a command or a page met, when it is one of the errors this catalogue
/// knows (a store's, an import's, a camera's, a field's …); `None` for any other.
pub fn error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<ImportError>() {
        return Some(import_refused(e));
    }
    if let Some(e) = e.downcast_ref::<CameraError>() {
        return Some(match e {
            // The page says to try again; the command line says what the store met.
            CameraError::Store(s) => s.zh(),
            e => e.zh(),
        });
    }
    if let Some(e) = e.downcast_ref::<crate::app::submission::PaperError>() {
        return Some(match e {
            crate::app::submission::PaperError::Store(s) => s.zh(),
            e => e.zh(),
        });
    }
    if let Some(e) = e.downcast_ref::<AccountError>() {
        return Some(match e {
            AccountError::Store(s) => s.zh(),
            AccountError::Invalid(why) => format!("账户信息有误：{why}"),
            e => e.zh(),
        });
    }
    macro_rules! known {
        ($($t:ty),+) => {$(
            if let Some(e) = e.downcast_ref::<$t>() {
                return Some(e.zh());
            }
        )+};
    }
    known!(
        crate::store::StoreError,
        crate::docs::ledger::LedgerError,
        crate::docs::profile::ProfileError,
        crate::app::campaign::PublishError,
        FieldError,
        ContactError,
        DeviceCodeError,
        SubmissionError,
        UnitError,
        std::io::Error
    );
    None
}

/// Data quality (issue 17): the units elsewhere holding the same device code, as a duplicate's
/// detail names them — `渝北区卫生健康委员会（500104）`, joined by 、.
pub fn quality_elsewhere(others: &std::collections::BTreeMap<String, String>) -> String {
    others
        .iter()
        .map(|(u, n)| {
            if n.is_empty() || n == u {
                u.clone()
            } else {
                format!("{n}（{u}）")
            }
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// The police catalogue (issue 16 part 5): who read a unit's cameras, as a person reads it. The
/// reader is its certificate's identity (`urn:yinglian:<role>:<unit>`): 订阅方 GA-500000.
pub fn reader(identity: &str) -> String {
    match identity
        .strip_prefix("urn:yinglian:")
        .and_then(|r| r.split_once(':'))
    {
        Some(("subscriber", unit)) => format!("订阅方（公安）{unit}"),
        Some(("hub", unit)) => format!("上级枢纽 {unit}"),
        Some(("node", unit)) => format!("单位 {unit}"),
        _ => identity.to_string(),
    }
}

/// The hub a reader asked, when another hub answered the read (`via` of a read): empty when
/// asked directly.
pub fn read_via(via: &str) -> String {
    if via.is_empty() {
        String::new()
    } else {
        format!("，经 {via} 转来")
    }
}

/// The call a read came through.
pub fn read_call(call: &str) -> String {
    match call {
        "Catalogue.Read" => "点位目录".into(),
        "Reports.Cameras" => "上级调阅摄像机清单".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_and_calls_in_chinese() {
        assert_eq!(
            reader("urn:yinglian:subscriber:GA-500000"),
            "订阅方（公安）GA-500000"
        );
        assert_eq!(reader("urn:yinglian:hub:500000"), "上级枢纽 500000");
        assert_eq!(read_call("Catalogue.Read"), "点位目录");
        assert_eq!(read_call("Reports.Cameras"), "上级调阅摄像机清单");
        assert_eq!(read_via(""), "");
        assert_eq!(read_via("500103"), "，经 500103 转来");
    }

    #[test]
    fn a_change_is_timed_to_the_second_in_beijing() {
        assert_eq!(
            beijing_clock("2026-11-26T02:01:23.468Z"),
            "11月26日 10:01:23"
        );
        assert_eq!(beijing_clock("not a stamp"), "not a stamp");
    }

    #[test]
    fn a_sync_error_is_said_in_chinese_and_its_english_stays_in_the_log() {
        assert_eq!(sync_error("the peer closed the stream"), "对方关闭了连接");
        assert_eq!(
            sync_error("transport error: Connection refused (os error 111)"),
            "连接被拒绝（对方未运行或地址有误）"
        );
        assert_eq!(sync_error("something new"), "同步出错（详情见运行日志）");
    }

    #[test]
    fn a_refused_subscription_is_said_in_chinese() {
        // The reasons the gate and the Feed service give, as they give them.
        assert_eq!(
            feed_refusal("open feed ended: unit GA-500000 was revoked at 2026-11-26T02:01:23Z"),
            "本单位的订阅证书已被上级吊销"
        );
        assert!(
            feed_refusal(
                "subscriber GA-1 was enrolled without a scope: enroll it again with --scope"
            )
            .contains("未指定查看范围")
        );
        assert_eq!(
            feed_refusal(
                "urn:yinglian:subscriber:GA-1 may watch 500103 and its subtree, not 500104"
            ),
            "所请求的范围超出了本单位登记的查看范围"
        );
        assert_eq!(
            feed_refusal("something new"),
            "上级拒绝了订阅（详情见运行日志）"
        );
    }

    #[test]
    fn times_are_beijing_time_in_chinese() {
        assert_eq!(
            beijing_stamp("2026-11-26T02:01:23.468Z"),
            "2026年11月26日 10:01"
        );
        assert_eq!(beijing_stamp(""), "未填");
        assert_eq!(
            beijing_date(NaiveDate::from_ymd_opt(2021, 12, 31).unwrap()),
            "2021年12月31日"
        );
        assert_eq!(date_text("2021-03-09"), "2021年3月9日");
        assert_eq!(when("2021-12-31"), "2021年12月31日");
        assert_eq!(when("2026-11-25T16:30:00+00:00"), "2026年11月26日 00:30");
    }

    #[test]
    fn values_read_in_chinese() {
        assert_eq!(
            field_value(Field::State, Some(&Value::Text("in-service".into()))),
            "在用"
        );
        assert_eq!(
            field_value(Field::Area, Some(&Value::Text("key-public".into()))),
            "重点公共区域"
        );
        assert_eq!(
            field_value(Field::CameraType, Some(&Value::Text("fixed-bullet".into()))),
            "固定枪机"
        );
        assert_eq!(field_value(Field::PointClass, Some(&Value::Int(2))), "二类");
        assert_eq!(
            field_value(Field::Networked, Some(&Value::Bool(false))),
            "否"
        );
        assert_eq!(field_value(Field::Longitude, None), "未填");
        assert_eq!(Some(true).zh(), "是");
        assert_eq!(json_field("state", &serde_json::json!("faulty")), "故障");
        assert_eq!(json_field("networked", &serde_json::Value::Null), "未填");
        assert_eq!(json_field("point_class", &serde_json::json!(1)), "一类");
        assert_eq!(
            json_field("device_code", &serde_json::json!("50010312091320000002")),
            "50010312091320000002"
        );
    }

    #[test]
    fn errors_read_in_chinese() {
        let e = crate::domain::device_code::DeviceCode::parse("12345").unwrap_err();
        assert_eq!(e.zh(), "设备编码“12345”应为20位数字，现有5位");
        let e = Field::Longitude.parse_value("200").unwrap_err();
        assert!(
            e.zh().starts_with("经度填写有误：200不在我国境内"),
            "{}",
            e.zh()
        );
        let e = Field::State.parse_value("broken").unwrap_err();
        assert!(e.zh().contains("在用、故障、已撤除"), "{}", e.zh());
        let e = Field::MustNetwork.parse_value("maybe").unwrap_err();
        assert_eq!(e.zh(), "是否应联网填写有误：“maybe”不是“是”或“否”");
        let c = crate::domain::contacts::Contact {
            name: "张三".into(),
            phone: "abc".into(),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().zh().contains("不是电话号码"));
    }
}
