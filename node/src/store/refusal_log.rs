//! The bounds of the refusal log: which refusals get a row of their own and which are counted and
//! summarised when their minute ends (no I/O here; the store writes the rows).

use std::collections::HashMap;

/// Distinct refusals (peer, document, kind of reason) recorded one by one per bucket and minute.
const KEYS_PER_BUCKET: usize = 32;
/// Buckets (sources or identities) tracked per minute.
const BUCKETS_PER_MINUTE: usize = 512;
/// Rows written one by one per minute over every bucket.
const ROWS_PER_MINUTE: usize = 300;

/// Text cut to `max` characters (peers write some of it: a hello's unit, a document name).
pub fn clip(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Bounds what refusals write: per minute, each bucket (a source address, or an identity) has
/// its first refusal of each kind recorded one by one (at most 32 kinds), the rest counted and
/// summarised in one row when the minute ends; at most 512 buckets and 300 rows a minute, and
/// the table keeps the last 100,000 rows. A flood cannot fill the disk or the log.
#[derive(Default)]
pub struct RefusalLog {
    window: std::sync::Mutex<RefusalWindow>,
}

#[derive(Default)]
struct RefusalWindow {
    minute: i64,
    buckets: HashMap<String, RefusalBucket>,
    rows: usize,
    overflow: u64,
}

#[derive(Default)]
struct RefusalBucket {
    kinds: std::collections::HashSet<String>,
    suppressed: u64,
    first: Option<String>,
}

/// What a minute that ended leaves to summarise: (bucket, refusals not recorded, the first).
pub struct EndedMinute {
    pub minute: i64,
    /// (bucket, refusals not recorded one by one, the first of them).
    pub suppressed: Vec<(String, u64, String)>,
    pub overflow: u64,
}

impl RefusalLog {
    /// Whether this refusal gets its own row, and the minute that just ended, if one did.
    pub fn admit(
        &self,
        bucket: &str,
        peer: &str,
        doc: Option<&str>,
        reason: &str,
    ) -> (bool, Option<EndedMinute>) {
        let minute = chrono::Utc::now().timestamp() / 60;
        let mut w = self.window.lock().expect("refusal log");
        let ended = (w.minute != minute).then(|| Self::end(&mut w, minute));
        // The kind of a reason: without the numbers (ports, counts, times) that vary.
        let reason_kind: String = reason
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(160)
            .collect();
        let kind = format!("{peer}|{}|{reason_kind}", doc.unwrap_or(""));
        let full = w.rows >= ROWS_PER_MINUTE;
        let buckets = w.buckets.len();
        let write = match w.buckets.get_mut(bucket) {
            Some(b) if b.kinds.contains(&kind) || b.kinds.len() >= KEYS_PER_BUCKET || full => {
                b.suppressed += 1;
                b.first.get_or_insert_with(|| reason.to_string());
                false
            }
            Some(b) => {
                b.kinds.insert(kind);
                true
            }
            None if buckets >= BUCKETS_PER_MINUTE => {
                w.overflow += 1;
                false
            }
            None => {
                let mut b = RefusalBucket::default();
                if full {
                    b.suppressed = 1;
                    b.first = Some(reason.to_string());
                } else {
                    b.kinds.insert(kind);
                }
                w.buckets.insert(bucket.chars().take(128).collect(), b);
                !full
            }
        };
        if write {
            w.rows += 1;
        }
        (write, ended)
    }

    pub fn take_ended(&self, now: bool) -> Option<EndedMinute> {
        let minute = chrono::Utc::now().timestamp() / 60;
        let mut w = self.window.lock().expect("refusal log");
        (now || w.minute != minute).then(|| Self::end(&mut w, minute))
    }

    fn end(w: &mut RefusalWindow, minute: i64) -> EndedMinute {
        let old = std::mem::take(w);
        w.minute = minute;
        EndedMinute {
            minute: old.minute,
            suppressed: old
                .buckets
                .into_iter()
                .filter(|(_, b)| b.suppressed > 0)
                .map(|(k, b)| (k, b.suppressed, b.first.unwrap_or_default()))
                .collect(),
            overflow: old.overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_bounded_number_of_rows() {
        let log = RefusalLog::default();
        let written =
            |bucket: &str, peer: &str, reason: &str| log.admit(bucket, peer, None, reason).0;
        // The same refusal a thousand times (ports and counts vary): one row, the rest counted.
        let rows = (0..1000)
            .filter(|i| {
                written(
                    "10.0.0.1",
                    "10.0.0.1",
                    &format!("refused from 10.0.0.1:{i}"),
                )
            })
            .count();
        assert_eq!(rows, 1);
        // Ever new kinds from one bucket: 32 rows at most.
        let rows = (0..100)
            .filter(|i| {
                written(
                    "urn:x",
                    &format!("urn:yinglian:node:X{}", "abc".repeat(i % 50)),
                    "no",
                )
            })
            .count();
        assert_eq!(rows, 32);
        // Ever new buckets: 300 rows a minute in all.
        let rows = (0..2000)
            .filter(|i| written(&format!("b{i}"), &format!("b{i}"), "no"))
            .count();
        assert!(rows <= ROWS_PER_MINUTE, "{rows}");
        let ended = log.take_ended(true).unwrap();
        let suppressed: u64 = ended.suppressed.iter().map(|s| s.1).sum::<u64>() + ended.overflow;
        assert_eq!(suppressed as usize + 1 + 32 + rows, 1000 + 100 + 2000);
        // Text a peer wrote is cut short.
        assert_eq!(clip(&"长".repeat(1000), 10).chars().count(), 11);
    }
}
