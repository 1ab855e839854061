//! The clock the documents' history is written with: the system time, which a test (or a
//! rehearsal of the campaign) may move forward to see what the next day brings. It is the time a
//! change carries, a rollup row's as-of time, and the time the feed's cursors age by.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// How far (in milliseconds) this process's clock runs ahead of the system time.
static AHEAD_MS: AtomicI64 = AtomicI64::new(0);

/// The time now.
pub fn now() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::milliseconds(AHEAD_MS.load(Ordering::Relaxed))
}

/// The time now, as Unix milliseconds.
pub fn now_ms() -> i64 {
    now().timestamp_millis()
}

/// Moves this process's clock forward by `by` (for every unit it runs).
pub fn advance(by: chrono::Duration) {
    AHEAD_MS.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
}

/// The date in Beijing now.
pub fn today() -> chrono::NaiveDate {
    now()
        .with_timezone(&crate::domain::figures::beijing())
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmoved_the_clock_is_the_system_time() {
        // (Moving it here would move it for the other tests of this binary too.)
        let d = now_ms() - Utc::now().timestamp_millis();
        assert!(d.abs() < 60_000, "{d}");
    }
}
