use std::collections::HashMap;

use renkei_card::{CardProfile, CardSerial};
use renkei_ids::LocalPersonId;
use renkei_protocol::UnixMillis;

use crate::{ProxyId, Secret, SecretHash};

/// Who a card belongs to, as the portal's node resolved it at approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardHolder {
    /// The person's id at the Digital Agency's node.
    pub person: LocalPersonId,
    pub serial: CardSerial,
    pub profile: CardProfile,
    /// When the card's status last changed (registry).
    pub card_status_since: i64,
    /// The hub's person proof the card's approval yielded (its text form):
    /// a session proof for a login, a consent proof for a confirmation
    /// that gives one. The portal shows the person's own data only with it.
    pub person_proof: Option<String>,
}

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SecretHash,
    pub holder: CardHolder,
    /// The synchronizer token every state-changing form carries.
    pub csrf: Secret,
    pub created_at: UnixMillis,
    pub last_seen: UnixMillis,
    /// Acting on someone's behalf through this proxy.
    pub acting_for: Option<ProxyId>,
}

/// How long sessions live: an idle timeout (a shared terminal left alone)
/// and an absolute one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub max_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_ms: 15 * 60_000,
            max_ms: 4 * 3_600_000,
        }
    }
}

impl SessionPolicy {
    pub fn is_live(&self, s: &Session, now: UnixMillis) -> bool {
        self.is_live_at(s.created_at, s.last_seen, now)
    }

    /// Whether a session created at `created_at` and last used at
    /// `last_seen` is still live at `now`.
    pub fn is_live_at(&self, created_at: UnixMillis, last_seen: UnixMillis, now: UnixMillis) -> bool {
        now.0 - last_seen.0 <= self.idle_ms && now.0 - created_at.0 <= self.max_ms
    }
}

/// What the portal keeps in memory for a live session (a person's log
/// key): each entry lives exactly as long as its session — the same idle
/// and absolute limits — and [`SessionCache::sweep`] drops the lapsed ones,
/// so a session that was never logged out does not leave it behind.
#[derive(Debug)]
pub struct SessionCache<V> {
    entries: HashMap<SecretHash, CacheEntry<V>>,
}

#[derive(Debug)]
struct CacheEntry<V> {
    created_at: UnixMillis,
    last_seen: UnixMillis,
    value: V,
}

impl<V> Default for SessionCache<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<V> SessionCache<V> {
    /// Keep `value` for the session `s`, used at `now`.
    pub fn insert(&mut self, s: &Session, now: UnixMillis, value: V) {
        self.entries.insert(
            s.id,
            CacheEntry {
                created_at: s.created_at,
                last_seen: UnixMillis(s.last_seen.0.max(now.0)),
                value,
            },
        );
    }

    /// The value of a session still live at `now` under `policy` (a lapsed
    /// one is dropped, not returned).
    pub fn get(&mut self, id: &SecretHash, policy: &SessionPolicy, now: UnixMillis) -> Option<&V> {
        let live = self
            .entries
            .get(id)
            .is_some_and(|e| policy.is_live_at(e.created_at, e.last_seen, now));
        if !live {
            self.entries.remove(id);
            return None;
        }
        self.entries.get(id).map(|e| &e.value)
    }

    /// The session was used at `now` (it stays live as long as it does).
    pub fn touch(&mut self, id: &SecretHash, now: UnixMillis) {
        if let Some(e) = self.entries.get_mut(id) {
            e.last_seen = UnixMillis(e.last_seen.0.max(now.0));
        }
    }

    pub fn remove(&mut self, id: &SecretHash) {
        self.entries.remove(id);
    }

    /// Drop every entry whose session has lapsed at `now`; how many.
    pub fn sweep(&mut self, policy: &SessionPolicy, now: UnixMillis) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, e| policy.is_live_at(e.created_at, e.last_seen, now));
        before - self.entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        let p = SessionPolicy {
            idle_ms: 10,
            max_ms: 100,
        };
        let mut s = Session {
            id: Secret::random().hash(),
            holder: CardHolder {
                person: LocalPersonId::parse("C-1").unwrap(),
                serial: CardSerial::random(),
                profile: CardProfile::EcdsaP384Sha384,
                card_status_since: 0,
                person_proof: None,
            },
            csrf: Secret::random(),
            created_at: UnixMillis(0),
            last_seen: UnixMillis(0),
            acting_for: None,
        };
        assert!(p.is_live(&s, UnixMillis(10)));
        assert!(!p.is_live(&s, UnixMillis(11)));
        s.last_seen = UnixMillis(95);
        assert!(p.is_live(&s, UnixMillis(100)));
        assert!(!p.is_live(&s, UnixMillis(101)));
    }

    #[test]
    fn cached_values_lapse_with_their_session_idle_or_old() {
        let p = SessionPolicy {
            idle_ms: 10,
            max_ms: 100,
        };
        let session = |created: i64| Session {
            id: Secret::random().hash(),
            holder: CardHolder {
                person: LocalPersonId::parse("C-1").unwrap(),
                serial: CardSerial::random(),
                profile: CardProfile::EcdsaP384Sha384,
                card_status_since: 0,
                person_proof: None,
            },
            csrf: Secret::random(),
            created_at: UnixMillis(created),
            last_seen: UnixMillis(created),
            acting_for: None,
        };
        let mut c = SessionCache::default();
        let (idle, busy, gone) = (session(0), session(0), session(0));
        c.insert(&idle, UnixMillis(0), "idle");
        c.insert(&busy, UnixMillis(0), "busy");
        c.insert(&gone, UnixMillis(0), "gone");
        c.remove(&gone.id);
        assert_eq!(c.len(), 2);
        // Used every 8 ms, the busy one outlives the idle limit...
        for t in (8..=96).step_by(8) {
            c.touch(&busy.id, UnixMillis(t));
        }
        assert_eq!(c.get(&busy.id, &p, UnixMillis(100)), Some(&"busy"));
        // ... the idle one does not, and is dropped by a read or a sweep.
        assert_eq!(c.sweep(&p, UnixMillis(11)), 1);
        assert_eq!(c.get(&idle.id, &p, UnixMillis(11)), None);
        // The absolute limit ends the busy one too.
        c.touch(&busy.id, UnixMillis(101));
        assert_eq!(c.get(&busy.id, &p, UnixMillis(101)), None);
        assert!(c.is_empty());
        // A touch never moves last use backwards.
        let late = session(200);
        c.insert(&late, UnixMillis(150), "late");
        c.touch(&late.id, UnixMillis(205));
        c.touch(&late.id, UnixMillis(150));
        assert_eq!(c.sweep(&p, UnixMillis(215)), 0);
        assert_eq!(c.sweep(&p, UnixMillis(216)), 1);
    }
}
