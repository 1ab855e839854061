//! Unit codes and unit kinds: who is who in the administrative tree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not a unit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "unit code \"{0}\" is not valid: use 1 to 40 letters, digits, '-' or '_', with '-' only between parts (for example 500103 or 500103-0001)"
    )]
    Code(String),
    #[error(
        "unit kind \"{0}\" is not known: use city, district, county, zone, affiliated, institution, sub-unit or subscriber"
    )]
    Kind(String),
    #[error("role \"{0}\" is not known: use node, hub or subscriber")]
    Role(String),
}

/// The code of a unit: an administrative division code (500103), a zone code (LJXQ), or a code the
/// parent gives an institution (500103-0001). It names the unit's documents: `ledger/<unit>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode(String);

impl UnitCode {
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let t = text.trim();
        let ok = !t.is_empty()
            && t.len() <= 40
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && t.split('-').all(|part| !part.is_empty());
        if ok {
            Ok(UnitCode(t.to_string()))
        } else {
            Err(UnitError::Code(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this code lies in the namespace of `ancestor`: it continues the ancestor's code
    /// with '-' (500103-0001 and 500103-0001-02 lie under 500103; 5001030 and 500103 do not).
    /// A hub's intermediate CA signs only codes of its own namespace.
    pub fn is_under(&self, ancestor: &UnitCode) -> bool {
        self.0
            .strip_prefix(ancestor.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UnitCode {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for UnitCode {
    type Error = UnitError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<UnitCode> for String {
    fn from(c: UnitCode) -> String {
        c.0
    }
}

/// What kind of unit this is, which decides its place in the tree and its Chinese label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    City,
    District,
    County,
    Zone,
    Affiliated,
    Institution,
    SubUnit,
    Subscriber,
}

impl UnitKind {
    pub const ALL: [UnitKind; 8] = [
        UnitKind::City,
        UnitKind::District,
        UnitKind::County,
        UnitKind::Zone,
        UnitKind::Affiliated,
        UnitKind::Institution,
        UnitKind::SubUnit,
        UnitKind::Subscriber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::City => "city",
            UnitKind::District => "district",
            UnitKind::County => "county",
            UnitKind::Zone => "zone",
            UnitKind::Affiliated => "affiliated",
            UnitKind::Institution => "institution",
            UnitKind::SubUnit => "sub-unit",
            UnitKind::Subscriber => "subscriber",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            UnitKind::City => "市级",
            UnitKind::District => "区",
            UnitKind::County => "县",
            UnitKind::Zone => "开发区",
            UnitKind::Affiliated => "委属（代管）单位",
            UnitKind::Institution => "医疗卫生机构",
            UnitKind::SubUnit => "下级部门",
            UnitKind::Subscriber => "公安机关",
        }
    }
}

impl FromStr for UnitKind {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        UnitKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t || k.chinese() == t)
            .ok_or_else(|| UnitError::Kind(s.to_string()))
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A unit's role in the federation's tree, which its certificate names
/// (`urn:yinglian:<role>:<unit>`) and its store records: a node only reports, a hub also accepts
/// children, a subscriber only reads a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A leaf unit (`yl-node`).
    Node,
    /// A unit with children (`yl-hub`).
    Hub,
    /// A read-only feed consumer (public security).
    Subscriber,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Node, Role::Hub, Role::Subscriber];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Hub => "hub",
            Role::Subscriber => "subscriber",
        }
    }
}

impl FromStr for Role {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnitError::Role(s.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_codes() {
        assert!(UnitCode::parse("500103").is_ok());
        assert!(UnitCode::parse("LJXQ").is_ok());
        assert!(UnitCode::parse("500103-0001").is_ok());
        assert!(UnitCode::parse("").is_err());
        assert!(UnitCode::parse("a/b").is_err());
        assert!(UnitCode::parse("渝中").is_err());
        assert!(UnitCode::parse("500103--1").is_err());
        assert!(UnitCode::parse("-500103").is_err());
        assert!(UnitCode::parse("500103-").is_err());
        let (d, i) = (
            UnitCode::parse("500103").unwrap(),
            UnitCode::parse("500103-0001").unwrap(),
        );
        assert!(i.is_under(&d));
        assert!(!d.is_under(&d));
        assert!(!d.is_under(&i));
        assert!(!UnitCode::parse("5001030").unwrap().is_under(&d));
        assert!(!UnitCode::parse("500104-0001").unwrap().is_under(&d));
        assert_eq!("区".parse::<UnitKind>().unwrap(), UnitKind::District);
        assert!("planet".parse::<UnitKind>().is_err());
    }

    #[test]
    fn roles_read_back_what_they_write() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let e = "admin".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("node, hub or subscriber"), "{e}");
    }
}
