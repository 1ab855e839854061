//! Waiting out a burst: when a task derived from the documents (the data-quality check, the
//! operations figures) runs again — once its inputs have been quiet for a settle time, at the latest
//! a deadline after the first change it has not taken (a steady trickle is still taken), never
//! sooner than a multiple of its last run after that run (a bounded share of the time), and after
//! a long quiet for time passing.

use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// How long a derived task's inputs stay quiet before it runs (a ledger arriving in many sync
/// messages is then taken once), and how long after the first change not taken it runs at the
/// latest: what both hub tasks (the data-quality check, the operations figures) wait.
pub const SETTLE: Duration = Duration::from_millis(250);
pub const DEADLINE: Duration = Duration::from_secs(2);

/// What a task is told while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// A document changed.
    Doc(T),
    /// Changes were missed (the channel lagged): everything should be checked again.
    Missed,
    /// Nothing came for the periodic time: time passing may change the result.
    Time,
    /// The time the task asked to run again at has come ([`Debounce::again_in`]).
    Again,
}

/// When a derived task runs next: the changes it has not taken and how long its last run took.
#[derive(Debug)]
pub struct Debounce {
    settle: Duration,
    deadline: Duration,
    every: Duration,
    /// The pause after a run is at least this many times the run.
    factor: u32,
    /// The first and the latest change not yet taken.
    first: Option<Instant>,
    latest: Option<Instant>,
    /// When the last run ended and how long it took.
    ended: Option<Instant>,
    took: Duration,
    /// When the task asked to run again, changes or not.
    again: Option<Instant>,
}

impl Debounce {
    /// Pending from the start (a task computes once when it starts): runs after `settle` of quiet,
    /// at the latest `deadline` after the first change not taken, and every `every` without one.
    pub fn new(settle: Duration, deadline: Duration, every: Duration) -> Self {
        let now = Instant::now();
        Debounce {
            settle,
            deadline,
            every,
            factor: 2,
            first: Some(now),
            latest: Some(now),
            ended: None,
            took: Duration::ZERO,
            again: None,
        }
    }

    fn mark(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.latest = Some(now);
    }

    /// When the changes not yet taken are to be taken (`None` when there are none).
    fn due(&self) -> Option<Instant> {
        let (first, latest) = (self.first?, self.latest?);
        let at = (latest + self.settle).min(first + self.deadline);
        Some(match self.ended {
            Some(e) => at.max(e + self.took * self.factor),
            None => at,
        })
    }

    /// Waits until a run is due, handing each change to `take` (which says whether it matters to
    /// the task). Returns `false` when the task is to stop: `shutdown`, or the changes closed.
    pub async fn wait<T: Clone>(
        &mut self,
        changes: &mut broadcast::Receiver<T>,
        shutdown: &mut watch::Receiver<bool>,
        mut take: impl FnMut(Change<T>) -> bool,
    ) -> bool {
        loop {
            let due = self.due();
            let idle = self.ended.unwrap_or_else(Instant::now) + self.every;
            // Never sooner than the pause after the last run: a task's own asking keeps the
            // bounded share of the time too.
            let again = self
                .again
                .map(|a| match self.ended {
                    Some(e) => a.max(e + self.took * self.factor),
                    None => a,
                })
                .filter(|a| *a < idle);
            let at = due.unwrap_or_else(|| again.unwrap_or(idle));
            tokio::select! {
                c = changes.recv() => match c {
                    Ok(doc) => if take(Change::Doc(doc)) {
                        self.mark();
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        take(Change::Missed);
                        self.mark();
                    }
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
                _ = tokio::time::sleep_until(at) => {
                    if due.is_none() {
                        take(if again.is_some() { Change::Again } else { Change::Time });
                    }
                    return true;
                }
                _ = shutdown.changed() => return false,
            }
        }
    }

    /// A run that began at `started` has ended: the changes before it are taken.
    pub fn ran(&mut self, started: Instant) {
        let now = Instant::now();
        self.took = now - started;
        self.ended = Some(now);
        self.first = None;
        self.latest = None;
        self.again = None;
    }

    /// Asks for a run `after` from now even if nothing changes (sooner if a change comes; until
    /// the next run).
    pub fn again_in(&mut self, after: Duration) {
        let at = Instant::now() + after;
        self.again = Some(self.again.map_or(at, |a| a.min(at)));
    }

    /// How long the last run took.
    pub fn took(&self) -> Duration {
        self.took
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(300);

    /// Runs a task that takes `work` per run until `end`, returning when each run began (from
    /// the start); `send` feeds the changes.
    async fn runs(
        work: Duration,
        end: Duration,
        changes_at: Vec<Duration>,
    ) -> (Vec<Duration>, Vec<Change<u32>>) {
        let start = Instant::now();
        let (tx, mut rx) = broadcast::channel::<u32>(1024);
        let (_stop, mut shutdown) = watch::channel(false);
        tokio::spawn(async move {
            for (i, at) in changes_at.into_iter().enumerate() {
                tokio::time::sleep_until(start + at).await;
                tx.send(i as u32).unwrap();
            }
            // Keep the channel open until the end.
            tokio::time::sleep_until(start + end + Duration::from_secs(1)).await;
            drop(tx);
        });
        let mut d = Debounce::new(SETTLE, DEADLINE, EVERY);
        let mut began = Vec::new();
        let mut told = Vec::new();
        loop {
            let go = tokio::time::timeout_at(
                start + end,
                d.wait(&mut rx, &mut shutdown, |c| {
                    told.push(c);
                    true
                }),
            )
            .await;
            if !matches!(go, Ok(true)) {
                break;
            }
            let started = Instant::now();
            began.push(started - start);
            tokio::time::sleep(work).await;
            d.ran(started);
        }
        (began, told)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_yields_one_run() {
        // The start's run, then 100 changes 10 ms apart (a ledger in many sync messages).
        let burst = (0..100)
            .map(|i| Duration::from_millis(1000 + 10 * i))
            .collect();
        let (began, told) = runs(Duration::from_millis(5), Duration::from_secs(10), burst).await;
        assert_eq!(told.len(), 100);
        assert_eq!(
            began.len(),
            2,
            "one run at the start, one for the burst: {began:?}"
        );
        assert_eq!(began[0], SETTLE);
        // The last change came at 1.99 s; the run a settle time later.
        assert_eq!(began[1], Duration::from_millis(1990) + SETTLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_still_runs_by_the_deadline() {
        // A change every 100 ms for 7 s: never quiet for the settle time.
        let trickle = (0..70)
            .map(|i| Duration::from_millis(1000 + 100 * i))
            .collect();
        let (began, _) = runs(Duration::from_millis(5), Duration::from_secs(8), trickle).await;
        // At the start, then at most a deadline after each first change not taken.
        assert!(began.len() >= 4, "{began:?}");
        assert!(began.len() <= 6, "{began:?}");
        // The first change came at 1 s: taken at its deadline, though never quiet since.
        assert_eq!(began[1], Duration::from_secs(1) + DEADLINE);
        for w in began[1..].windows(2) {
            assert!(
                w[1] - w[0] <= DEADLINE + Duration::from_millis(100),
                "{began:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_run_keeps_a_pause_of_twice_its_time() {
        // Runs of 1 s under a trickle: the next waits at least 2 s after the run ends.
        let trickle = (0..100).map(|i| Duration::from_millis(100 * i)).collect();
        let (began, _) = runs(Duration::from_secs(1), Duration::from_secs(10), trickle).await;
        for w in began.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_secs(3), "{began:?}");
        }
        assert!(began.len() >= 2, "{began:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn time_passing_runs_without_a_change() {
        let (began, told) = runs(Duration::from_millis(5), EVERY * 2 + SETTLE * 2, vec![]).await;
        assert_eq!(began.len(), 3, "{began:?}");
        assert_eq!(told, vec![Change::Time, Change::Time]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_asks_runs_again_then_though_nothing_changes() {
        let start = Instant::now();
        let (_tx, mut rx) = broadcast::channel::<u32>(16);
        let (_stop, mut shutdown) = watch::channel(false);
        let mut d = Debounce::new(SETTLE, DEADLINE, EVERY);
        assert!(d.wait(&mut rx, &mut shutdown, |_| true).await);
        d.ran(Instant::now());
        d.again_in(Duration::from_secs(30));
        let mut told = Vec::new();
        assert!(
            d.wait(&mut rx, &mut shutdown, |c| {
                told.push(c);
                true
            })
            .await
        );
        assert_eq!(Instant::now() - start, SETTLE + Duration::from_secs(30));
        assert_eq!(told, [Change::Again]);
        // Asked once: the next run is for time passing.
        d.ran(Instant::now());
        assert!(
            d.wait(&mut rx, &mut shutdown, |c| {
                told.push(c);
                true
            })
            .await
        );
        assert_eq!(told, [Change::Again, Change::Time]);
    }

    #[tokio::test(start_paused = true)]
    async fn asking_again_keeps_the_pause_after_a_slow_run() {
        let (_tx, mut rx) = broadcast::channel::<u32>(16);
        let (_stop, mut shutdown) = watch::channel(false);
        let mut d = Debounce::new(SETTLE, DEADLINE, EVERY);
        assert!(d.wait(&mut rx, &mut shutdown, |_| true).await);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        d.ran(started);
        let ended = Instant::now();
        d.again_in(Duration::ZERO);
        assert!(d.wait(&mut rx, &mut shutdown, |_| true).await);
        assert_eq!(Instant::now() - ended, Duration::from_secs(2));
    }
}
