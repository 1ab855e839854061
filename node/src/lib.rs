//! yinglian node: the camera ledger of one unit, kept as Automerge documents in SQLite, with the
//! figures, the official tables, spreadsheet import and the `yl-node` command.

pub mod accounts;
pub mod admission;
pub mod authz;
pub mod camera;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod device_code;
pub mod directory;
pub mod document;
pub mod feed;
pub mod figures;
pub mod history;
pub mod https;
pub mod import;
pub mod ledger;
pub mod net;
pub mod ops;
pub mod pki;
pub mod profile;
pub mod refusal_log;
pub mod report;
pub mod reports;
pub mod rollup;
pub mod sample;
pub mod signin;
pub mod store;
pub mod sync;
pub mod unit;
pub mod web;
