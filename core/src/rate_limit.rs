//! Rate limits whose state every process shares through the [`Store`](crate::store::Store),
//! so N api instances (local processes or Lambda functions) allow what one would.
//!
//! The algorithm is GCRA, the generic cell rate algorithm (ITU-T I.371, Annex A; the same
//! algorithm the `governor` crate implements in memory). A key's whole state is one
//! timestamp, its *theoretical arrival time* (TAT): with the emission interval
//! `T = period / burst`, a request at `now` is allowed when `max(TAT, now) + T - now ≤ period`
//! and then stores `max(TAT, now) + T`. So a fresh key takes `burst` requests at once and
//! then one more every `T`; a denied request stores nothing and waits
//! `max(TAT, now) + T - now - period`. `governor` itself is not used here because its state
//! lives in one process's memory.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

/// `burst` requests per `period`, refilled evenly (one every `period / burst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests a fresh key may make at once (≥ 1).
    pub burst: u32,
    /// The window over which `burst` requests refill.
    pub period: Duration,
}

impl Quota {
    /// `burst` requests per minute. Panics when `burst` is 0.
    pub const fn per_minute(burst: u32) -> Quota {
        assert!(burst > 0, "a quota allows at least one request");
        Quota {
            burst,
            period: Duration::from_secs(60),
        }
    }

    /// `burst` requests per hour. Panics when `burst` is 0.
    pub const fn per_hour(burst: u32) -> Quota {
        assert!(burst > 0, "a quota allows at least one request");
        Quota {
            burst,
            period: Duration::from_secs(3600),
        }
    }

    /// The emission interval `T = period / burst`.
    pub fn interval(&self) -> Duration {
        self.period / self.burst
    }
}

/// One GCRA decision: given the key's stored TAT (`None` for a key never seen or whose
/// state was dropped) and the time now, the TAT to store when the request is allowed, or
/// how long to wait (≥ 1 ms) when it is not.
pub fn gcra(
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    quota: Quota,
) -> Result<DateTime<Utc>, Duration> {
    let interval = TimeDelta::from_std(quota.interval()).unwrap_or(TimeDelta::MAX);
    let period = TimeDelta::from_std(quota.period).unwrap_or(TimeDelta::MAX);
    let next = tat.map_or(now, |t| t.max(now)) + interval;
    let over = next - now - period;
    if over > TimeDelta::zero() {
        Err(over
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_millis(1)))
    } else {
        Ok(next)
    }
}

/// The store key of a limit: SHA-256 of `scope`, a NUL byte and `subject` (so the e-mail
/// addresses and IPs being limited are not stored in clear). 32 bytes.
pub fn key(scope: &str, subject: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(subject.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_fresh_key_takes_the_burst_then_one_per_interval() {
        let q = Quota::per_minute(5);
        assert_eq!(q.interval(), Duration::from_secs(12));
        let mut tat = None;
        for i in 1..=5 {
            let next =
                gcra(tat, at(0), q).unwrap_or_else(|w| panic!("request {i} denied, wait {w:?}"));
            assert_eq!(next, at(12 * i));
            tat = Some(next);
        }
        assert_eq!(
            gcra(tat, at(0), q),
            Err(Duration::from_secs(12)),
            "the sixth at once waits one interval"
        );
        assert_eq!(gcra(tat, at(5), q), Err(Duration::from_secs(7)));
        assert_eq!(
            gcra(tat, at(12), q),
            Ok(at(72)),
            "one interval later one more is allowed"
        );
        assert_eq!(gcra(Some(at(72)), at(12), q), Err(Duration::from_secs(12)));
    }

    #[test]
    fn an_old_state_is_a_fresh_start() {
        let q = Quota::per_minute(10);
        assert_eq!(gcra(Some(at(-3600)), at(0), q), Ok(at(6)));
        assert_eq!(gcra(None, at(0), q), Ok(at(6)));
    }

    #[test]
    fn keys_separate_scopes_and_subjects() {
        assert_eq!(key("login-email", "a@x.org"), key("login-email", "a@x.org"));
        assert_ne!(key("login-email", "a@x.org"), key("login-ip", "a@x.org"));
        assert_ne!(key("login-email", "a@x.org"), key("login-email", "b@x.org"));
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }
}
