use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use renkei_ids::{CorporateNumber, MessageId};
use renkei_protocol::UnixMillis;

/// Remembers message ids for as long as their timestamps are acceptable.
///
/// A message is accepted only if its timestamp is within the skew limit of
/// the hub's clock, so an id only needs remembering until its timestamp
/// leaves that window: after that the timestamp check rejects it anyway.
/// Memory is therefore bounded by the request rate times twice the skew.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    seen: HashMap<(CorporateNumber, MessageId), i64>,
    // Insertion order with expiry, for cheap pruning.
    expiry: VecDeque<(i64, CorporateNumber, MessageId)>,
}

impl ReplayGuard {
    /// Record the id; `false` if it was already seen (a replay).
    pub fn check_and_remember(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
        now: UnixMillis,
    ) -> bool {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(t, r, m)) = s.expiry.front() {
            if t > now.0 {
                break;
            }
            s.expiry.pop_front();
            if s.seen.get(&(r, m)) == Some(&t) {
                s.seen.remove(&(r, m));
            }
        }
        if s.seen.contains_key(&(requester, id)) {
            return false;
        }
        s.seen.insert((requester, id), forget_after.0);
        // Expiry times are not monotonic (timestamps vary within the skew),
        // so keep the deque sorted; insertions are nearly always at the end.
        let pos = s
            .expiry
            .iter()
            .rposition(|&(t, _, _)| t <= forget_after.0)
            .map_or(0, |p| p + 1);
        s.expiry.insert(pos, (forget_after.0, requester, id));
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
        // At t=100 the first two expired.
        assert_eq!(g.len(), 1);
    }
}
