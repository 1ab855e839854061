//! One running unit: its configuration file and the start-up every caller shares
//! (`Daemon::start`: `serve`, the demo, the bench and the tests); and a feed subscriber running
//! (`Subscriber::start`: `subscribe` and the demo's police).

pub mod config;
mod running;
mod subscriber;

pub use running::{Bind, Daemon, DaemonConfig, Handle, WebAddr, WebConfig, hub_only};
pub use subscriber::{Subscriber, SubscriberConfig};
