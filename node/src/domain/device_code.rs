//! GB/T 28181 device directory codes (设备目录编码): parsing, validation and decoding of the
//! 20-digit code into administrative division, industry, type, network and serial.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not a usable device code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceCodeError {
    #[error("device code is empty")]
    Empty,
    #[error(
        "device code \"{0}\" looks like a number a spreadsheet shortened (scientific notation or a decimal point); format the column as text and type the 20 digits again"
    )]
    LostDigits(String),
    #[error("device code \"{0}\" must be exactly 20 digits, it has {1} characters")]
    Length(String, usize),
    #[error("device code \"{0}\" must contain digits only")]
    NotDigits(String),
    #[error("device code \"{0}\": \"{1}\" is not a province code of China (digits 1-2)")]
    Province(String, String),
    #[error(
        "device code \"{0}\": type code {1} (digits 11-13) is {2}, not a camera (131 camera, 132 network camera)"
    )]
    NotACamera(String, u16, &'static str),
}

/// A validated 20-digit GB/T 28181 code of a camera.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceCode(String);

/// The parts of a device code, as GB/T 28181-2016 Appendix D defines them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decoded {
    /// Digits 1-8: province, city, district, grass-roots unit.
    pub division: String,
    pub province: String,
    pub city: String,
    pub district: String,
    /// Digits 9-10.
    pub industry: u8,
    pub industry_name: &'static str,
    /// Digits 11-13.
    pub type_code: u16,
    pub type_name: &'static str,
    /// Digit 14.
    pub network: u8,
    pub network_name: &'static str,
    /// Digits 15-20.
    pub serial: String,
}

const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

impl DeviceCode {
    /// Parses and validates a camera's code. Text such as `5.00101E+19` or `50010100001310000001.0`
    /// (a spreadsheet that stored the code as a number) is refused with its own reason.
    pub fn parse(text: &str) -> Result<Self, DeviceCodeError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(DeviceCodeError::Empty);
        }
        let numeric_looking = t.chars().all(|c| c.is_ascii_digit() || "eE+-.".contains(c))
            && t.chars().any(|c| c.is_ascii_digit());
        if numeric_looking && (t.contains(['e', 'E']) || t.contains('.')) {
            return Err(DeviceCodeError::LostDigits(t.to_string()));
        }
        if !t.chars().all(|c| c.is_ascii_digit()) {
            return Err(DeviceCodeError::NotDigits(t.to_string()));
        }
        if t.len() != 20 {
            return Err(DeviceCodeError::Length(t.to_string(), t.chars().count()));
        }
        if !PROVINCES.contains(&&t[0..2]) {
            return Err(DeviceCodeError::Province(
                t.to_string(),
                t[0..2].to_string(),
            ));
        }
        let code = DeviceCode(t.to_string());
        let d = code.decode();
        if !is_camera_type(d.type_code) {
            return Err(DeviceCodeError::NotACamera(
                t.to_string(),
                d.type_code,
                d.type_name,
            ));
        }
        Ok(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits the code into its parts.
    pub fn decode(&self) -> Decoded {
        let s = &self.0;
        let industry: u8 = s[8..10].parse().unwrap_or(0);
        let type_code: u16 = s[10..13].parse().unwrap_or(0);
        let network: u8 = s[13..14].parse().unwrap_or(0);
        Decoded {
            division: s[0..8].to_string(),
            province: s[0..2].to_string(),
            city: s[0..4].to_string(),
            district: s[0..6].to_string(),
            industry,
            industry_name: industry_name(industry),
            type_code,
            type_name: type_name(type_code),
            network,
            network_name: network_name(network),
            serial: s[14..20].to_string(),
        }
    }
}

/// Only front-end camera type codes are cameras: 131 (camera) and 132 (network camera).
pub fn is_camera_type(code: u16) -> bool {
    matches!(code, 131 | 132)
}

/// The English and the Chinese name of a device type code (digits 11-13), as GB/T 28181 names it.
fn type_names(code: u16) -> (&'static str, &'static str) {
    match code {
        111 => ("DVR", "数字视频录像机（DVR）"),
        112 => ("video server", "视频服务器"),
        113 => ("encoder", "编码器"),
        114 => ("decoder", "解码器"),
        115 => ("video switching matrix", "视频切换矩阵"),
        116 => ("audio switching matrix", "音频切换矩阵"),
        117 => ("alarm controller", "报警控制器"),
        118 => ("NVR", "网络视频录像机（NVR）"),
        119..=130 => ("front-end host (extension)", "扩展的前端主设备"),
        131 => ("camera", "摄像机"),
        132 => ("network camera", "网络摄像机"),
        133 => ("display", "显示器"),
        134 => ("alarm input device", "报警输入设备"),
        135 => ("alarm output device", "报警输出设备"),
        136 => ("voice input device", "语音输入设备"),
        137 => ("voice output device", "语音输出设备"),
        138 => ("mobile transmission device", "移动传输设备"),
        139 => ("other peripheral", "其他外围设备"),
        140..=199 => ("front-end peripheral (extension)", "扩展的前端外围设备"),
        200 => ("central signalling server", "中心信令控制服务器"),
        201 => ("web application server", "Web应用服务器"),
        202 => ("media distribution server", "媒体分发服务器"),
        203 => ("proxy server", "代理服务器"),
        204 => ("security server", "安全服务器"),
        205 => ("alarm server", "报警服务器"),
        206 => ("database server", "数据库服务器"),
        207 => ("GIS server", "GIS服务器"),
        208 => ("management server", "管理服务器"),
        209 => ("access gateway", "接入网关"),
        210 => ("media storage server", "媒体存储服务器"),
        211 => ("signalling security routing gateway", "信令安全路由网关"),
        215 => ("business group", "业务分组"),
        216 => ("virtual organisation", "虚拟组织"),
        212..=299 => ("platform device (extension)", "扩展的平台设备"),
        300..=399 => ("central user", "中心用户"),
        400..=499 => ("terminal user", "终端用户"),
        _ => ("an unknown device type", "未知设备类型"),
    }
}

/// The name of a device type code (digits 11-13), as GB/T 28181 names it.
pub fn type_name(code: u16) -> &'static str {
    type_names(code).0
}

/// The Chinese name of a device type code (digits 11-13), as GB/T 28181 names it.
pub fn type_name_zh(code: u16) -> &'static str {
    type_names(code).1
}

/// The English and the Chinese name of an industry code (digits 9-10).
fn industry_names(code: u8) -> (&'static str, &'static str) {
    match code {
        0 => ("public order: roads", "社会治安路面接入"),
        1 => ("public order: communities", "社会治安社区接入"),
        2 => ("public order: internal", "社会治安内部接入"),
        3 => ("public order: other", "社会治安其他接入"),
        4 => ("traffic: roads", "交通路面接入"),
        5 => ("traffic: checkpoints", "交通卡口接入"),
        6 => ("traffic: internal", "交通内部接入"),
        7 => ("traffic: other", "交通其他接入"),
        8 => ("city management", "城市管理接入"),
        9 => ("health and environment", "卫生环保接入"),
        10 => ("inspection and customs", "商检海关接入"),
        11 => ("education", "教育部门接入"),
        12..=39 => ("government bodies", "政府机关接入"),
        40 => ("agriculture, forestry and fishery", "农林牧渔业接入"),
        41 => ("mining", "采矿企业接入"),
        42 => ("manufacturing", "制造企业接入"),
        43 => ("metallurgy", "冶金企业接入"),
        44 => ("electric power", "电力企业接入"),
        45 => ("gas", "燃气企业接入"),
        46 => ("construction", "建筑企业接入"),
        47 => ("logistics", "物流企业接入"),
        48 => ("postal", "邮政企业接入"),
        49 => ("information", "信息企业接入"),
        50 => ("hotels and catering", "住宿和餐饮业接入"),
        51 => ("finance", "金融企业接入"),
        52 => ("real estate", "房地产业接入"),
        53 => ("business services", "商务服务业接入"),
        54 => ("water", "水利企业接入"),
        55 => ("entertainment", "娱乐企业接入"),
        56..=79 => ("enterprises and social units", "企事业单位接入"),
        80..=89 => ("residents", "居民自建"),
        _ => ("other owners", "其他"),
    }
}

/// The name of an industry code (digits 9-10).
pub fn industry_name(code: u8) -> &'static str {
    industry_names(code).0
}

/// The Chinese name of an industry code (digits 9-10).
pub fn industry_name_zh(code: u8) -> &'static str {
    industry_names(code).1
}

/// The English and the Chinese name of a network code (digit 14).
fn network_names(code: u8) -> (&'static str, &'static str) {
    match code {
        0..=4 => ("surveillance/alarm private network", "监控报警专网"),
        5 => ("public security network", "公安信息网"),
        6 => ("government network", "政务网"),
        7 => ("internet", "互联网"),
        8 => ("social resources network", "社会资源接入网"),
        _ => ("reserved", "预留"),
    }
}

/// The name of a network code (digit 14).
pub fn network_name(code: u8) -> &'static str {
    network_names(code).0
}

/// The Chinese name of a network code (digit 14).
pub fn network_name_zh(code: u8) -> &'static str {
    network_names(code).1
}

impl fmt::Display for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeviceCode {
    type Err = DeviceCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DeviceCode {
    type Error = DeviceCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DeviceCode> for String {
    fn from(c: DeviceCode) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_chongqing_network_camera() {
        let c = DeviceCode::parse("50010312091320000001").unwrap();
        let d = c.decode();
        assert_eq!(d.division, "50010312");
        assert_eq!(d.district, "500103");
        assert_eq!(d.industry, 9);
        assert_eq!(d.industry_name, "health and environment");
        assert_eq!(d.type_code, 132);
        assert_eq!(d.type_name, "network camera");
        assert_eq!(d.network, 0);
        assert_eq!(d.serial, "000001");
        // As a person reads them on the command line.
        assert_eq!(industry_name_zh(d.industry), "卫生环保接入");
        assert_eq!(type_name_zh(d.type_code), "网络摄像机");
        assert_eq!(network_name_zh(d.network), "监控报警专网");
        assert_eq!(type_name_zh(118), "网络视频录像机（NVR）");
    }

    #[test]
    fn refuses_non_cameras_and_bad_text() {
        assert!(matches!(
            DeviceCode::parse("50010312091180000001"),
            Err(DeviceCodeError::NotACamera(_, 118, "NVR"))
        ));
        assert!(matches!(
            DeviceCode::parse("5001031209132000001"),
            Err(DeviceCodeError::Length(_, 19))
        ));
        assert!(matches!(
            DeviceCode::parse("5001031209132000000A"),
            Err(DeviceCodeError::NotDigits(_))
        ));
        assert!(matches!(
            DeviceCode::parse("99010312091320000001"),
            Err(DeviceCodeError::Province(_, _))
        ));
        assert!(matches!(
            DeviceCode::parse("5.00103E+19"),
            Err(DeviceCodeError::LostDigits(_))
        ));
        assert!(matches!(
            DeviceCode::parse("50010312091320000001.0"),
            Err(DeviceCodeError::LostDigits(_))
        ));
        assert!(matches!(
            DeviceCode::parse("  "),
            Err(DeviceCodeError::Empty)
        ));
    }
}
