//! One running unit: its configuration file and the start-up every caller shares.

pub mod config;
