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
        now.0 - s.last_seen.0 <= self.idle_ms && now.0 - s.created_at.0 <= self.max_ms
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
}
