//! Where the time of a change goes in this process: for each stage of a change's journey (a
//! received sync message applied, its projection, the commit, the rollup's wait and recompute,
//! the feed's delivery), how many times it ran and how long it took in all. Process-wide
//! counters, cheap enough to keep always on; `/metrics` shows them and `yl-hub bench` reads them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One stage of a change's journey through a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A received sync message applied to the cached document and its effect authorized.
    SyncApply,
    /// The projections of a change (cameras, stats, rollup rows, feed events) written.
    Project,
    /// The transaction of a change committed (with its wait for stable storage).
    Commit,
    /// A whole write: the lock, catching up, the change, its projection, saving, the commit.
    Write,
    /// The sync state of a (peer, document) saved after a received message.
    SyncState,
    /// The next sync message of a document generated and sent to a peer.
    Push,
    /// From the first change that dirties a hub's rollup to the start of its recompute.
    RollupWait,
    /// A hub's rollup recomputed and written.
    RollupRecompute,
    /// From a rollup change to its feed events queued for a subscriber.
    FeedSend,
    /// A hub's data-quality check run again (its findings and keyed codes written).
    Quality,
    /// A hub's operations figures recomputed (its part of the rollup written).
    Operations,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::SyncApply,
        Stage::Project,
        Stage::Commit,
        Stage::Write,
        Stage::SyncState,
        Stage::Push,
        Stage::RollupWait,
        Stage::RollupRecompute,
        Stage::FeedSend,
        Stage::Quality,
        Stage::Operations,
    ];

    /// The stage's name in `/metrics` and the bench's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stage::SyncApply => "sync_apply",
            Stage::Project => "project",
            Stage::Commit => "commit",
            Stage::Write => "write",
            Stage::SyncState => "sync_state",
            Stage::Push => "push",
            Stage::RollupWait => "rollup_wait",
            Stage::RollupRecompute => "rollup_recompute",
            Stage::FeedSend => "feed_send",
            Stage::Quality => "quality",
            Stage::Operations => "operations",
        }
    }
}

struct Slot {
    count: AtomicU64,
    nanos: AtomicU64,
}

static SLOTS: [Slot; Stage::ALL.len()] = [const {
    Slot {
        count: AtomicU64::new(0),
        nanos: AtomicU64::new(0),
    }
}; Stage::ALL.len()];

/// Counts one run of `stage` that took `took`.
pub fn record(stage: Stage, took: Duration) {
    let s = &SLOTS[stage as usize];
    s.count.fetch_add(1, Ordering::Relaxed);
    s.nanos.fetch_add(
        took.as_nanos().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
}

/// Counts one run of `stage` that started at `since`.
pub fn since(stage: Stage, since: Instant) {
    record(stage, since.elapsed());
}

/// Every stage with its runs and total seconds so far in this process.
pub fn totals() -> Vec<(Stage, u64, f64)> {
    Stage::ALL
        .iter()
        .map(|&st| {
            let s = &SLOTS[st as usize];
            (
                st,
                s.count.load(Ordering::Relaxed),
                s.nanos.load(Ordering::Relaxed) as f64 / 1e9,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_counts_its_runs_and_time() {
        let before = totals()[Stage::FeedSend as usize];
        record(Stage::FeedSend, Duration::from_millis(3));
        record(Stage::FeedSend, Duration::from_millis(2));
        let after = totals()[Stage::FeedSend as usize];
        assert_eq!(after.0.name(), "feed_send");
        assert!(after.1 >= before.1 + 2);
        assert!(after.2 - before.2 >= 0.004_999);
    }
}
