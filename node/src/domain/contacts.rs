//! The two liaison contacts every unit names (Attachment 1): the leader in charge (分管领导) and
//! the liaison (联络员).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("role \"{0}\" is not known: use leader (分管领导) or liaison (联络员)")]
    Role(String),
    #[error("{0} is required")]
    Missing(&'static str),
    #[error(
        "phone \"{0}\" is not a phone number: use digits, with '-', '+', spaces or parentheses (7 to 20 digits)"
    )]
    Phone(String),
    #[error("{0} is longer than 100 characters")]
    TooLong(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactRole {
    Leader,
    Liaison,
}

impl ContactRole {
    pub const ALL: [ContactRole; 2] = [ContactRole::Leader, ContactRole::Liaison];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::Leader => "leader",
            ContactRole::Liaison => "liaison",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            ContactRole::Leader => "分管领导",
            ContactRole::Liaison => "联络员",
        }
    }
}

impl FromStr for ContactRole {
    type Err = ContactError;
    fn from_str(s: &str) -> Result<Self, ContactError> {
        match s.trim() {
            "leader" | "分管领导" => Ok(ContactRole::Leader),
            "liaison" | "联络员" => Ok(ContactRole::Liaison),
            _ => Err(ContactError::Role(s.to_string())),
        }
    }
}

impl fmt::Display for ContactRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One contact person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub position: String,
    pub phone: String,
    #[serde(default)]
    pub remarks: String,
}

impl Contact {
    /// Checks a contact as typed in: a name and a phone number are required.
    pub fn validate(&self) -> Result<(), ContactError> {
        if self.name.trim().is_empty() {
            return Err(ContactError::Missing("name"));
        }
        if self.phone.trim().is_empty() {
            return Err(ContactError::Missing("phone"));
        }
        for (what, v) in [
            ("name", &self.name),
            ("position", &self.position),
            ("remarks", &self.remarks),
        ] {
            if v.chars().count() > 100 {
                return Err(ContactError::TooLong(what));
            }
        }
        let p = self.phone.trim();
        let digits = p.chars().filter(|c| c.is_ascii_digit()).count();
        let allowed = p
            .chars()
            .all(|c| c.is_ascii_digit() || " -+()（）".contains(c));
        if !allowed || !(7..=20).contains(&digits) {
            return Err(ContactError::Phone(p.to_string()));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.phone.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_checked() {
        let ok = Contact {
            name: "莫非".into(),
            position: "信访处".into(),
            phone: "023-67858487".into(),
            remarks: String::new(),
        };
        assert!(ok.validate().is_ok());
        let mut bad = ok.clone();
        bad.phone = "call me".into();
        assert!(matches!(bad.validate(), Err(ContactError::Phone(_))));
        bad.phone = "123".into();
        assert!(matches!(bad.validate(), Err(ContactError::Phone(_))));
        let mut noname = ok.clone();
        noname.name = " ".into();
        assert_eq!(noname.validate(), Err(ContactError::Missing("name")));
        assert_eq!(
            "联络员".parse::<ContactRole>().unwrap(),
            ContactRole::Liaison
        );
        assert!("boss".parse::<ContactRole>().is_err());
    }
}
