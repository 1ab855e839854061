//! Setting this unit's contacts (the leader in charge, the liaison: attachment 1), written once
//! for the command line and the contacts page: each contact is checked, then all are written to
//! the unit's profile document in one change.

use crate::docs::document::DocId;
use crate::docs::profile;
use crate::domain::contacts::{Contact, ContactRole};
use crate::store::{Store, StoreError};

/// Writes `contacts` to this unit's profile, in one change; refused (nothing written) when one
/// breaks a rule.
pub async fn set(
    store: &Store,
    who: &str,
    contacts: &[(ContactRole, Contact)],
) -> Result<(), StoreError> {
    for (_, c) in contacts {
        c.validate()?;
    }
    if contacts.is_empty() {
        return Ok(());
    }
    let message = match contacts {
        [(role, _)] => format!("set {role}"),
        _ => "set contacts".to_string(),
    };
    store
        .edit(&DocId::profile(store.unit()), who, &message, |d| {
            for (role, c) in contacts {
                profile::set_contact(d, *role, c)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, phone: &str) -> Contact {
        Contact {
            name: name.into(),
            position: "科长".into(),
            phone: phone.into(),
            remarks: String::new(),
        }
    }

    /// The projection reads a unit's contacts in one query and writes, and audits, only the
    /// roles that changed: a second change of the liaison's phone leaves the leader alone.
    #[tokio::test]
    async fn a_changed_contact_is_projected_and_audited_alone() {
        let (_dir, store) = crate::store::testing::hospital().await;
        let unit = store.unit().to_string();
        set(
            &store,
            "clerk",
            &[
                (ContactRole::Leader, contact("王伟", "13800000001")),
                (ContactRole::Liaison, contact("李娜", "13800000002")),
            ],
        )
        .await
        .unwrap();
        set(
            &store,
            "clerk",
            &[(ContactRole::Liaison, contact("李娜", "13900000009"))],
        )
        .await
        .unwrap();
        let p = store.profile(&unit).await.unwrap().expect("projected");
        assert_eq!(
            p.leader.as_ref().map(|c| c.phone.as_str()),
            Some("13800000001")
        );
        assert_eq!(
            p.liaison.as_ref().map(|c| c.phone.as_str()),
            Some("13900000009")
        );
        let audit = store.audit(Some(&unit), 1).await.unwrap();
        assert_eq!(audit[0]["fields"], "liaison", "{audit:?}");
        assert_eq!(audit[0]["old"]["liaison"]["phone"], "13800000002");
        assert_eq!(audit[0]["new"]["liaison"]["phone"], "13900000009");
    }
}
