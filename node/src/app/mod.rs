//! The use cases, each written once and called by the command line, the web pages and the
//! daemon alike: cameras, contacts, import, figures, rollups, the campaign, history, backups,
//! accounts, the official tables and their submission (报送) and review.

pub mod accounts;
pub mod assessment;
pub mod backup;
pub mod cameras;
pub mod campaign;
pub mod catalogue;
pub mod contacts;
pub mod directory;
pub mod doubt;
pub mod figures;
pub mod history;
pub mod import;
pub mod import_plan;
mod import_read;
pub mod operations;
pub mod operations_tree;
pub mod quality;
pub mod quality_tree;
pub mod report;
pub mod rollup;
pub mod sample;
pub mod settle;
pub mod submission;
pub mod zh;
