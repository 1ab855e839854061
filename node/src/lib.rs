//! yinglian node: the camera ledger of one unit, kept as Automerge documents in SQLite, with the
//! figures, the official tables, spreadsheet import, the federation and the `yl-node` command.
//!
//! The crate is built in layers; each folder uses only the folders below it (the table is in
//! `tests/tests/layers.rs`, which fails when a module reaches above its layer):
//!
//! ```text
//! cli/         yl-node's commands: parse arguments, call the layers below, print
//! daemon/      one running unit: Daemon::start(store, config) -> Handle (serve, the tests,
//!              the demo and the bench all start a unit this way); a feed subscriber running
//!              (Subscriber::start); the configuration file
//! http/        the web pages, one file per subject (and the police's page); HTTPS; sign-in
//!              backoff; /metrics
//! federation/  pki, membership (root, enroll, join, revoke), admission (the one gate), authz,
//!              net (mutual TLS transport), server (the gRPC services assembled), sync, feed,
//!              directory and reports services; catalogue (the police catalogue); subscriber
//!              (the feed's follow loop)
//! app/         the use cases, each once: cameras, contacts, import, figures, report
//!              (Attachments 1 and 2), submission (报送 and its review), directory, rollup,
//!              campaign, history, backup, accounts, data quality (quality, quality_tree)
//! store/       SQLite: the write path, projections, queries, audit, peers, refusals, feed
//!              events, what a subscriber received: the only place with SQL
//! docs/        the Automerge documents: ledger, profile, rollup, campaign, submission and
//!              review, reads, codes (a hub's keyed device codes), the catalogue grants in a
//!              profile, and their data-quality parts (pure functions)
//! domain/      the campaign's words, no I/O: unit and role, device code, camera record and its
//!              rules, contacts, figures, milestones, submissions and their states
//! ```

pub mod app;
pub mod cli;
pub mod daemon;
pub mod docs;
pub mod domain;
pub mod federation;
pub mod http;
pub mod store;
