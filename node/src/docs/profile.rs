//! The unit profile document (`profile/<unit>`): name, kind, address, parent and the two liaison
//! contacts. It travels up the whole chain (directories) and one level down (whom to call).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::docs::document::{root_text, text_at};
use crate::domain::contacts::{Contact, ContactRole};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the document is not a unit profile")]
    NotAProfile,
    #[error("document error: {0}")]
    Automerge(Box<automerge::AutomergeError>),
}

impl From<automerge::AutomergeError> for ProfileError {
    fn from(e: automerge::AutomergeError) -> Self {
        ProfileError::Automerge(Box::new(e))
    }
}

/// What a profile holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub unit: String,
    pub name: String,
    pub kind: Option<String>,
    pub address: Option<String>,
    pub parent: Option<String>,
    pub leader: Option<Contact>,
    pub liaison: Option<Contact>,
}

impl Profile {
    pub fn contact(&self, role: ContactRole) -> Option<&Contact> {
        match role {
            ContactRole::Leader => self.leader.as_ref(),
            ContactRole::Liaison => self.liaison.as_ref(),
        }
    }
}

fn contact_obj(doc: &AutoCommit, role: ContactRole) -> Result<ObjId, ProfileError> {
    let contacts = match doc.get(ROOT, "contacts")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => return Err(ProfileError::NotAProfile),
    };
    match doc.get(&contacts, role.as_str())? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(ProfileError::NotAProfile),
    }
}

/// Reads the whole profile.
pub fn read_profile(doc: &AutoCommit) -> Result<Profile, ProfileError> {
    let mut p = Profile {
        unit: root_text(doc, "unit").ok_or(ProfileError::NotAProfile)?,
        name: root_text(doc, "name").unwrap_or_default(),
        kind: root_text(doc, "unit_kind"),
        address: root_text(doc, "address"),
        parent: root_text(doc, "parent"),
        leader: None,
        liaison: None,
    };
    for role in ContactRole::ALL {
        let obj = contact_obj(doc, role)?;
        let c = Contact {
            name: text_at(doc, &obj, "name").unwrap_or_default(),
            position: text_at(doc, &obj, "position").unwrap_or_default(),
            phone: text_at(doc, &obj, "phone").unwrap_or_default(),
            remarks: text_at(doc, &obj, "remarks").unwrap_or_default(),
        };
        let slot = match role {
            ContactRole::Leader => &mut p.leader,
            ContactRole::Liaison => &mut p.liaison,
        };
        *slot = (!c.is_empty()).then_some(c);
    }
    Ok(p)
}

/// Sets a top-level profile text (`name`, `unit_kind`, `address`, `parent`); `None` clears it.
/// Writes nothing when the value is unchanged.
pub fn set_text(doc: &mut AutoCommit, key: &str, value: Option<&str>) -> Result<(), ProfileError> {
    if root_text(doc, key).as_deref() == value {
        return Ok(());
    }
    match value {
        Some(v) => doc.put(ROOT, key, v)?,
        None => doc.delete(ROOT, key)?,
    }
    Ok(())
}

/// Writes one contact, field by field, so that two levels editing different fields both keep theirs.
pub fn set_contact(
    doc: &mut AutoCommit,
    role: ContactRole,
    c: &Contact,
) -> Result<(), ProfileError> {
    let obj = contact_obj(doc, role)?;
    for (k, v) in [
        ("name", &c.name),
        ("position", &c.position),
        ("phone", &c.phone),
        ("remarks", &c.remarks),
    ] {
        if text_at(doc, &obj, k).as_deref() != Some(v.as_str()) {
            doc.put(&obj, k, v.as_str())?;
        }
    }
    Ok(())
}
