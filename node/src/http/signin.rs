//! Sign-in backoff of the web pages: repeated failures slow down the source that makes them and
//! the account they aim at, instead of locking the account (a lock that anyone could set off
//! against the administrator).
//!
//! - The source (the client's address; an IPv6 client's /64) may fail `free` times in a row; after
//!   that each further failure makes it wait `base`, doubling up to `cap` (by default 3 failures,
//!   then 1 s, 2 s, 4 s … 60 s). An attempt that comes too early is refused without checking
//!   the password, and does not count as a failure.
//! - The account has its own, more lenient count (by default 10 failures from any sources, then
//!   the same doubling). It holds back only sources that have failed themselves lately: someone
//!   signing in from a source without failures is never made to wait for what others did, so an
//!   attacker cannot keep the real administrator out; an attacker spread over many addresses gets
//!   one unslowed guess per fresh address, then the account's backoff.
//! - A success clears the source's and the account's counts. State lives in memory: it is lost
//!   when the daemon restarts, and it is bounded (`MAX_ENTRIES`) however many sources try.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many sources and accounts are remembered at most; the least recently failed are forgotten
/// first.
pub const MAX_ENTRIES: usize = 10_000;
/// A source or account without a failure for this long starts again from zero.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// The backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures in a row a source may make without waiting.
    pub free_per_source: u32,
    /// Failures in a row (from any sources) an account takes without waiting.
    pub free_per_account: u32,
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            free_per_source: 3,
            free_per_account: 10,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row, the first `free` of them without.
    fn wait(&self, failures: u32, free: u32) -> Duration {
        if failures <= free {
            return Duration::ZERO;
        }
        let doublings = (failures - free - 1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Source(IpAddr),
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    not_before: Instant,
}

/// A sign-in attempt refused for coming too early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("登录失败次数过多，请 {seconds} 秒后再试")]
pub struct TooEarly {
    /// Whole seconds to wait, at least 1.
    pub seconds: u64,
}

/// The failures of sources and accounts, shared by every request of one web server.
#[derive(Debug, Default)]
pub struct Throttle {
    policy: Backoff,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The address that a source's backoff is kept for: an IPv4 address, or an IPv6 client's /64
/// (one machine usually holds a whole /64).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Throttle {
    /// A throttle with `policy`.
    pub fn new(policy: Backoff) -> Throttle {
        Throttle {
            policy,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May `source` try to sign in as `account` at `now`? Checked before the password.
    pub fn check(&self, source: IpAddr, account: &str, now: Instant) -> Result<(), TooEarly> {
        let entries = self.lock();
        let live = |k: &Key| {
            entries
                .get(k)
                .filter(|e| now.saturating_duration_since(e.last_failure) < FORGET_AFTER)
        };
        let mut until = None::<Instant>;
        let src = live(&Key::Source(source_key(source)));
        if let Some(e) = src {
            until = until.max(Some(e.not_before));
        }
        // The account's backoff holds back only sources that have failed themselves.
        if src.is_some_and(|e| e.failures > 0)
            && let Some(e) = live(&Key::Account(account_key(account)))
        {
            until = until.max(Some(e.not_before));
        }
        match until {
            Some(t) if t > now => {
                let wait = t - now;
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(TooEarly {
                    seconds: seconds.max(1),
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password from `source` for `account` at `now`.
    pub fn failed(&self, source: IpAddr, account: &str, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            prune(&mut entries, now);
        }
        for (key, free) in [
            (Key::Source(source_key(source)), self.policy.free_per_source),
            (
                Key::Account(account_key(account)),
                self.policy.free_per_account,
            ),
        ] {
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                last_failure: now,
                not_before: now,
            });
            if now.saturating_duration_since(e.last_failure) >= FORGET_AFTER {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last_failure = now;
            e.not_before = now + self.policy.wait(e.failures, free);
        }
    }

    /// A successful sign-in: the source and the account start again from zero.
    pub fn succeeded(&self, source: IpAddr, account: &str) {
        let mut entries = self.lock();
        entries.remove(&Key::Source(source_key(source)));
        entries.remove(&Key::Account(account_key(account)));
    }
}

fn account_key(account: &str) -> String {
    account.trim().to_string()
}

/// Forgets what is stale; if that is not enough, the older half.
fn prune(entries: &mut HashMap<Key, Entry>, now: Instant) {
    entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < FORGET_AFTER);
    if entries.len() >= MAX_ENTRIES {
        let mut times: Vec<Instant> = entries.values().map(|e| e.last_failure).collect();
        times.sort_unstable();
        let median = times[times.len() / 2];
        entries.retain(|_, e| e.last_failure > median);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66));
    const ADMIN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_failing_source_waits_longer_and_longer_up_to_the_cap() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let mut now = t0;
        for _ in 0..3 {
            assert_eq!(t.check(ATTACKER, "admin", now), Ok(()));
            t.failed(ATTACKER, "admin", now);
        }
        // The fourth failure is the first that costs a wait: 1 s, then 2, 4, … 60.
        let mut waits = Vec::new();
        for _ in 0..9 {
            assert_eq!(t.check(ATTACKER, "admin", now), Ok(()));
            t.failed(ATTACKER, "admin", now);
            let e = t.check(ATTACKER, "admin", now).unwrap_err();
            waits.push(e.seconds);
            // One moment too early is still refused, and says how long is left.
            assert_eq!(
                t.check(
                    ATTACKER,
                    "admin",
                    now + s(e.seconds) - Duration::from_millis(500)
                ),
                Err(TooEarly { seconds: 1 })
            );
            now += s(e.seconds);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // The message a person reads.
        assert!(
            TooEarly { seconds: 8 }
                .to_string()
                .starts_with("登录失败次数过多，请 8 秒后再试")
        );
        // A success starts again from zero.
        t.succeeded(ATTACKER, "admin");
        assert_eq!(t.check(ATTACKER, "admin", now), Ok(()));
    }

    #[test]
    fn another_source_is_not_held_back_by_an_attack_on_the_account() {
        let t = Throttle::default();
        let now = Instant::now();
        // Many failures against the administrator from one source and from many.
        for i in 0..50u8 {
            t.failed(ATTACKER, "admin", now);
            t.failed(IpAddr::V4([10, 1, 0, i].into()), "admin", now);
        }
        assert!(t.check(ATTACKER, "admin", now).is_err());
        // The administrator, from a source without failures, is not made to wait.
        assert_eq!(t.check(ADMIN, "admin", now), Ok(()));
        // A further guess from a source that failed once is held back by the account's count.
        let once = IpAddr::V4([10, 2, 0, 1].into());
        t.failed(once, "someone-else", now);
        assert!(t.check(once, "admin", now).is_err());
        assert_eq!(t.check(once, "someone-else", now), Ok(()));
        // Forgotten after a quiet quarter of an hour.
        assert_eq!(t.check(ATTACKER, "admin", now + FORGET_AFTER), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_one_source_per_64_and_memory_stays_bounded() {
        let t = Throttle::new(Backoff {
            free_per_source: 0,
            ..Backoff::default()
        });
        let now = Instant::now();
        t.failed("2001:db8:1:2::5".parse().unwrap(), "x", now);
        assert!(
            t.check("2001:db8:1:2::99".parse().unwrap(), "y", now)
                .is_err()
        );
        assert!(
            t.check("2001:db8:1:3::5".parse().unwrap(), "y", now)
                .is_ok()
        );
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            t.failed(
                IpAddr::V4(i.into()),
                "x",
                now + Duration::from_millis(i.into()),
            );
        }
        assert!(t.lock().len() <= MAX_ENTRIES);
    }
}
