//! The use cases, each written once and called by the command line, the web pages and the
//! daemon alike: cameras, contacts, import, figures, rollups, the campaign, history, backups,
//! accounts and the official tables.

pub mod accounts;
pub mod backup;
pub mod cameras;
pub mod campaign;
pub mod contacts;
pub mod directory;
pub mod figures;
pub mod history;
pub mod import;
pub mod import_plan;
pub mod quality;
pub mod report;
pub mod rollup;
pub mod sample;
pub mod zh;
