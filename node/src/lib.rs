//! yinglian node: the camera ledger of one unit, kept as Automerge documents in SQLite, with the
//! figures, the official tables, spreadsheet import, the federation and the `yl-node` command.
//!
//! The crate is built in layers; each folder uses only the folders below it (the table is in
//! `tests/layers.rs`, which fails when a module reaches above its layer):
//!
//! ```text
//! cli/         the `yl-node` command line: parses arguments, calls the layers below
//! daemon/      one running unit: `Daemon::start(store, config)`, its configuration file
//! http/        the web pages (by subject), HTTPS, sign-in backoff, /metrics
//! federation/  PKI, the admission gate, the wire, sync, feed, directory, reports
//! app/         the use cases: cameras, import, figures, rollup, campaign, backup, accounts,
//!              official tables
//! store/       the write path, projections and queries: the only place with SQL
//! docs/        the Automerge documents: ledger, profile, rollup, campaign (pure functions)
//! domain/      the campaign's words: unit, device code, camera, contacts, figures, milestones
//!              (no I/O)
//! ```

pub mod app;
pub mod cli;
pub mod daemon;
pub mod docs;
pub mod domain;
pub mod federation;
pub mod http;
pub mod store;
