//! How many identity mismatches an institution gets answered.
//!
//! The exact check names the facts that differ, which is
//! what an honest institution needs to correct its file — and an oracle to
//! anyone probing the register ("does this person live at this address?").
//! Each institution has a token bucket: every answered mismatch (an unknown
//! My Number, or facts that differ) takes a token; tokens come back at a
//! steady rate. With the bucket empty, nothing more is checked for that
//! institution — matches included, or a withheld answer would still tell a
//! right guess from a wrong one — until tokens are back. Pure logic: the
//! caller passes the time.

use std::collections::HashMap;
use std::sync::Mutex;

use renkei_ids::CorporateNumber;
use renkei_protocol::UnixMillis;

/// The bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MismatchPolicy {
    /// Mismatches answered back to back before throttling starts.
    pub burst: u32,
    /// Mismatches answered per minute in the long run.
    pub per_minute: u32,
}

impl Default for MismatchPolicy {
    fn default() -> Self {
        Self {
            burst: 200,
            per_minute: 60,
        }
    }
}

/// Throttled: how long until one more mismatch may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_ms: i64,
    /// Whether this is the first refusal since the bucket ran empty (the
    /// moment to raise an alert, once per burst).
    pub burst_started: bool,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens, in thousandths (integer arithmetic).
    milli: i64,
    at: i64,
    throttling: bool,
}

/// One bucket per institution.
#[derive(Debug, Default)]
pub struct MismatchThrottle {
    policy: MismatchPolicy,
    buckets: Mutex<HashMap<CorporateNumber, Bucket>>,
}

impl MismatchThrottle {
    pub fn new(policy: MismatchPolicy) -> Self {
        Self {
            policy,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> i64 {
        i64::from(self.policy.burst.max(1)) * 1000
    }

    /// The bucket refilled up to `now`.
    fn refilled(&self, b: Bucket, now: UnixMillis) -> Bucket {
        let elapsed = (now.0 - b.at).max(0);
        // per_minute tokens per 60,000 ms = per_minute thousandths per 60 ms.
        let gained = elapsed.saturating_mul(i64::from(self.policy.per_minute)) / 60;
        Bucket {
            milli: (b.milli.saturating_add(gained)).min(self.capacity()),
            at: now.0,
            throttling: b.throttling,
        }
    }

    fn retry_after(&self, milli: i64) -> i64 {
        let missing = (1000 - milli).max(0);
        let per_minute = i64::from(self.policy.per_minute.max(1));
        (missing * 60).div_euclid(per_minute).max(1)
    }

    /// Whether `institution` may have anything checked now (a token left).
    pub fn check(&self, institution: CorporateNumber, now: UnixMillis) -> Result<(), Throttled> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let full = Bucket {
            milli: self.capacity(),
            at: now.0,
            throttling: false,
        };
        let b = self.refilled(*buckets.get(&institution).unwrap_or(&full), now);
        let result = if b.milli >= 1000 {
            Ok(())
        } else {
            Err(Throttled {
                retry_after_ms: self.retry_after(b.milli),
                burst_started: !b.throttling,
            })
        };
        buckets.insert(
            institution,
            Bucket {
                throttling: result.is_err() || (b.throttling && b.milli < self.capacity()),
                ..b
            },
        );
        result
    }

    /// Take a token for an answered mismatch (after [`Self::check`] allowed
    /// it).
    pub fn take(&self, institution: CorporateNumber, now: UnixMillis) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let full = Bucket {
            milli: self.capacity(),
            at: now.0,
            throttling: false,
        };
        let mut b = self.refilled(*buckets.get(&institution).unwrap_or(&full), now);
        b.milli = (b.milli - 1000).max(0);
        buckets.insert(institution, b);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_per_institution() {
        let t = MismatchThrottle::new(MismatchPolicy {
            burst: 3,
            per_minute: 60,
        });
        let a = CorporateNumber::from_base_number(1).unwrap();
        let b = CorporateNumber::from_base_number(2).unwrap();
        let now = UnixMillis(1_000_000);
        for _ in 0..3 {
            t.check(a, now).unwrap();
            t.take(a, now);
        }
        let first = t.check(a, now).unwrap_err();
        assert!(first.burst_started);
        assert_eq!(first.retry_after_ms, 1000);
        let again = t.check(a, now).unwrap_err();
        assert!(!again.burst_started, "one alert per burst");
        // Another institution is not affected.
        t.check(b, now).unwrap();
        // One token a second comes back.
        assert_eq!(t.check(a, now.plus_ms(500)).unwrap_err().retry_after_ms, 500);
        t.check(a, now.plus_ms(1000)).unwrap();
        t.take(a, now.plus_ms(1000));
        assert!(t.check(a, now.plus_ms(1000)).is_err());
        // Refilled completely after a quiet while: a new burst, a new alert.
        for _ in 0..3 {
            t.check(a, now.plus_ms(60_000)).unwrap();
            t.take(a, now.plus_ms(60_000));
        }
        assert!(t.check(a, now.plus_ms(60_000)).unwrap_err().burst_started);
    }
}
