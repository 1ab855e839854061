//! The Automerge documents and their schemas: document identities and genesis, the camera
//! ledger, the unit profile, the rollup, the campaign, the submissions and their review, who
//! read a unit's cameras (`reads`) and the catalogue grants a hub publishes (`grants`); the
//! data-quality parts of the rollup and of the review; the operations part of the rollup. Pure
//! functions over `AutoCommit`.

pub mod campaign;
pub mod document;
pub mod grants;
pub mod ledger;
pub mod operations;
pub mod profile;
pub mod quality;
pub mod reads;
pub mod rollup;
pub mod submission;
