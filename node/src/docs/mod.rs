//! The Automerge documents and their schemas: document identities and genesis, the camera
//! ledger, the unit profile, the rollup, the campaign, and the submissions and their review.
//! The data-quality parts of the rollup and of the review. Pure functions over `AutoCommit`.

pub mod campaign;
pub mod document;
pub mod ledger;
pub mod profile;
pub mod quality;
pub mod rollup;
pub mod submission;
