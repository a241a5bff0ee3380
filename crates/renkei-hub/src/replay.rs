use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use renkei_ids::{CorporateNumber, MessageId};
use renkei_protocol::UnixMillis;

/// Remembers message ids for as long as their timestamps are acceptable.
///
/// A message is accepted only if its timestamp is within the skew limit of
/// the hub's clock, so an id only needs remembering until its timestamp
/// leaves that window: after that the timestamp check rejects it anyway.
/// `forget_after` is the *last* instant at which the timestamp is still
/// accepted (`issued_at + skew`), so an id is kept while
/// `forget_after >= now` and dropped only once `forget_after < now` — the
/// same inequality as the timestamp check, with no instant in between.
/// Memory is bounded by the request rate times twice the skew; each call
/// costs O(log n) whatever order the timestamps come in.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    seen: HashMap<(CorporateNumber, MessageId), i64>,
    /// Expiry order: (forget_after, insertion number) → id.
    expiry: BTreeMap<(i64, u64), (CorporateNumber, MessageId)>,
    inserted: u64,
}

impl ReplayGuard {
    /// Record the id until `forget_after` (inclusive); `false` if it was
    /// already seen (a replay).
    pub fn check_and_remember(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
        now: UnixMillis,
    ) -> bool {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(entry) = s.expiry.first_entry() {
            if entry.key().0 >= now.0 {
                break;
            }
            let ((t, _), key) = entry.remove_entry();
            if s.seen.get(&key) == Some(&t) {
                s.seen.remove(&key);
            }
        }
        if s.seen.contains_key(&(requester, id)) {
            return false;
        }
        s.seen.insert((requester, id), forget_after.0);
        let n = s.inserted;
        s.inserted += 1;
        s.expiry.insert((forget_after.0, n), (requester, id));
        true
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_then_forgets() {
        let g = ReplayGuard::default();
        let r = CorporateNumber::from_base_number(1).unwrap();
        let m = MessageId::random();
        assert!(g.check_and_remember(r, m, UnixMillis(100), UnixMillis(0)));
        assert!(!g.check_and_remember(r, m, UnixMillis(100), UnixMillis(50)));
        // Another requester may use the same id.
        let r2 = CorporateNumber::from_base_number(2).unwrap();
        assert!(g.check_and_remember(r2, m, UnixMillis(100), UnixMillis(50)));
        assert!(g.check_and_remember(r, MessageId::random(), UnixMillis(300), UnixMillis(100)));
        // At t=100 the first two are still remembered (their timestamps
        // are still acceptable at 100); after it they are forgotten.
        assert_eq!(g.len(), 3);
        assert!(g.check_and_remember(r, MessageId::random(), UnixMillis(300), UnixMillis(101)));
        assert_eq!(g.len(), 2);
    }

    /// `forget_after` is the last instant the id's timestamp is accepted:
    /// a replay at exactly that instant is still caught.
    #[test]
    fn remembers_through_the_last_accepted_instant() {
        let g = ReplayGuard::default();
        let r = CorporateNumber::from_base_number(1).unwrap();
        let m = MessageId::random();
        assert!(g.check_and_remember(r, m, UnixMillis(100), UnixMillis(100)));
        assert!(!g.check_and_remember(r, m, UnixMillis(100), UnixMillis(100)));
        assert!(!g.check_and_remember(r, m, UnixMillis(100), UnixMillis(99)));
    }

    /// Timestamps arriving in decreasing order (a clock stepped back, or a
    /// sender replaying its backlog) cost O(log n) each, not a scan of the
    /// whole queue: 200,000 of them take well under a second.
    #[test]
    fn decreasing_timestamps_do_not_stall_the_guard() {
        let g = ReplayGuard::default();
        let r = CorporateNumber::from_base_number(1).unwrap();
        let started = std::time::Instant::now();
        for i in 0..200_000i64 {
            assert!(g.check_and_remember(r, MessageId::random(), UnixMillis(1_000_000 - i), UnixMillis(0)));
        }
        assert_eq!(g.len(), 200_000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // All of them expire together once their time is past.
        assert!(g.check_and_remember(
            r,
            MessageId::random(),
            UnixMillis(2_000_000),
            UnixMillis(1_000_001)
        ));
        assert_eq!(g.len(), 1);
    }
}
