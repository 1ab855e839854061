//! The grace before a hub child's published figures in doubt are recorded as a refusal: what a
//! child publishes in one document can be checked against what it publishes in another (its keyed
//! codes against its camera count, its operations figures against its figures), and the two can
//! arrive in either order. What is in doubt is never believed; only the record waits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::docs::document::DocId;
use crate::store::Store;

/// How long a hub child's published figures may be in doubt before the hub records a refusal.
/// The documents checked against each other are written by two tasks and travel apart: a cold
/// start or a removal can show one before the other, for seconds. Refusals a bureau reads are then
/// lies or faults, not a race. A task keeping its [`Doubts`] records a doubt at its first check
/// after the grace (it asks for that check: [`Doubts::pending`]); a check with a fresh one (a
/// page's) records none.
pub const DOUBT_GRACE: Duration = Duration::from_secs(30);

/// The time each hub child's figures have spent in doubt, summed over the checks that judged them
/// (a document in doubt counts until the check that sees the next one), forgotten once the child
/// has been believed for a whole grace: a child honest for a moment between lies keeps its count,
/// a child whose documents raced now and then does not add up its races.
pub struct Doubts {
    grace: Duration,
    children: BTreeMap<String, Doubt>,
}

struct Doubt {
    doubted_for: Duration,
    /// The last check that judged the child, and whether it doubted.
    judged: Instant,
    doubting: bool,
    believed_since: Option<Instant>,
    /// The reason last recorded.
    recorded: Option<String>,
}

impl Default for Doubts {
    fn default() -> Self {
        Doubts::with_grace(DOUBT_GRACE)
    }
}

impl Doubts {
    /// Doubts recorded after `grace` instead of [`DOUBT_GRACE`] (zero: at once).
    pub fn with_grace(grace: Duration) -> Doubts {
        Doubts {
            grace,
            children: BTreeMap::new(),
        }
    }

    /// Notes a check of `child` at `now` (`doubt`: why what it published is not believed, `None`
    /// when it is); returns the reason to record, once the doubt has lasted the grace (again only
    /// for another reason).
    pub fn judge_at(&mut self, child: &str, now: Instant, doubt: Option<&str>) -> Option<String> {
        if doubt.is_none() && !self.children.contains_key(child) {
            return None;
        }
        let d = self.children.entry(child.to_string()).or_insert(Doubt {
            doubted_for: Duration::ZERO,
            judged: now,
            doubting: true,
            believed_since: None,
            recorded: None,
        });
        if d.doubting {
            d.doubted_for += now.saturating_duration_since(d.judged);
        }
        d.judged = now;
        d.doubting = doubt.is_some();
        let Some(reason) = doubt else {
            let since = *d.believed_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.grace {
                self.children.remove(child);
            }
            return None;
        };
        d.believed_since = None;
        if d.doubted_for >= self.grace && d.recorded.as_deref() != Some(reason) {
            d.recorded = Some(reason.to_string());
            return Some(reason.to_string());
        }
        None
    }

    /// [`Doubts::judge_at`] now, recording the refusal of what `child` published in `doc` when
    /// it is due.
    pub async fn judge(&mut self, store: &Store, child: &str, doc: &DocId, doubt: Option<&str>) {
        // The runtime's clock, as the task's debounce (paused with it in a test).
        let now = tokio::time::Instant::now().into_std();
        if let Some(reason) = self.judge_at(child, now, doubt) {
            store
                .record_refusal(&format!("urn:yinglian:hub:{child}"), Some(doc), &reason)
                .await;
        }
    }

    /// Forgets the children not judged any more.
    pub fn keep(&mut self, children: &BTreeSet<String>) {
        self.children.retain(|c, _| children.contains(c));
    }

    /// How long until a doubt not recorded yet has lasted the grace, if one is (the task checks
    /// again then, though nothing else moves).
    pub fn pending(&self) -> Option<Duration> {
        self.children
            .values()
            .filter(|d| d.doubting && d.doubted_for < self.grace)
            .map(|d| self.grace.saturating_sub(d.doubted_for))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doubt_is_recorded_once_it_has_lasted_the_grace_summed_over_lies() {
        let grace = Duration::from_secs(30);
        let s = |n: u64| Duration::from_secs(n);
        let t0 = Instant::now();
        let mut d = Doubts::with_grace(grace);
        // A race: codes ahead of the figures for two seconds, then believed; nothing recorded.
        assert_eq!(d.judge_at("500101", t0, Some("6 for 1")), None);
        assert_eq!(d.judge_at("500101", t0 + s(2), None), None);
        // Believed for a whole grace: forgotten, so another race starts from nothing.
        assert_eq!(d.judge_at("500101", t0 + s(40), None), None);
        assert_eq!(d.judge_at("500101", t0 + s(100), Some("6 for 1")), None);
        assert_eq!(d.judge_at("500101", t0 + s(125), Some("6 for 1")), None);
        assert_eq!(d.judge_at("500101", t0 + s(127), None), None);
        // A liar honest for moments between lies: its time in doubt adds up (27 s before, then
        // 28 s more), and the lie is recorded once, again only for another reason.
        let mut t = t0 + s(128);
        assert_eq!(d.judge_at("500101", t, Some("6 for 1")), None);
        t += s(28);
        assert_eq!(d.judge_at("500101", t, None), None);
        t += s(2);
        assert_eq!(
            d.judge_at("500101", t, Some("6 for 1")).as_deref(),
            Some("6 for 1")
        );
        t += s(28);
        assert_eq!(d.judge_at("500101", t, Some("6 for 1")), None);
        assert_eq!(
            d.judge_at("500101", t + s(1), Some("9 for 1")).as_deref(),
            Some("9 for 1")
        );
        // A child never doubted has nothing kept; one gone is forgotten.
        assert_eq!(d.judge_at("500102", t, None), None);
        assert!(!d.children.contains_key("500102"));
        d.keep(&BTreeSet::new());
        assert!(d.children.is_empty());
        // No grace: recorded at the first doubt.
        assert_eq!(
            Doubts::with_grace(Duration::ZERO)
                .judge_at("500103", t, Some("2 for 1"))
                .as_deref(),
            Some("2 for 1")
        );
    }

    #[test]
    fn a_doubt_not_recorded_asks_for_a_check_when_its_grace_ends() {
        let t0 = Instant::now();
        let mut d = Doubts::with_grace(Duration::from_secs(30));
        assert_eq!(d.pending(), None);
        d.judge_at("500101", t0, Some("6 for 1"));
        assert_eq!(d.pending(), Some(Duration::from_secs(30)));
        d.judge_at("500101", t0 + Duration::from_secs(10), Some("6 for 1"));
        assert_eq!(d.pending(), Some(Duration::from_secs(20)));
        assert!(
            d.judge_at("500101", t0 + Duration::from_secs(30), Some("6 for 1"))
                .is_some()
        );
        assert_eq!(d.pending(), None, "recorded: nothing more to ask");
    }
}
