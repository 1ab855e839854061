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
