//! One running unit: its configuration file and the start-up every caller shares
//! (`Daemon::start`: `serve`, the demo, the bench and the tests).

pub mod config;
mod running;

pub use running::{Bind, Daemon, DaemonConfig, Handle, WebAddr, WebConfig, hub_only};
