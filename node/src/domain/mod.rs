//! The campaign's words, with no I/O: units and their codes, device codes, the camera record,
//! liaison contacts, the figures, the campaign's milestones, and submissions (报送) with the
//! rules of their states and rates; data quality (its rules, and the duplicate check across the
//! tree by keyed codes).

pub mod assessment;
pub mod camera;
pub mod campaign;
pub mod catalogue;
pub mod clock;
pub mod contacts;
pub mod crosscheck;
pub mod device_code;
pub mod figures;
pub mod operations;
pub mod quality;
pub mod submission;
pub mod unit;
