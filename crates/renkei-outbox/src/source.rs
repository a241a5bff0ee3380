//! Where the events come from, and what of them is published.

use std::future::Future;

use renkei_protocol::StoreError;
use renkei_registry::RegistryStore;
use serde::{Deserialize, Serialize};

/// One event as it leaves the registry: its sequence number in the
/// outbox, its kind and when it was recorded. Deliberately nothing about
/// the person (no link id, no address, no date): subscribers learn *that*
/// something changed and ask through the hub, under the permission table,
/// for whom and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxEvent {
    pub seq: u64,
    pub kind: String,
    /// Unix milliseconds.
    pub at: i64,
}

impl OutboxEvent {
    /// The JSON payload of the message: `{"seq":…,"kind":…,"at":…}`.
    pub fn payload(&self) -> Vec<u8> {
        // Serialising a struct of an integer, a string and an integer
        // cannot fail; fall back to an empty object rather than panic.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The JetStream message id of an event, stable across restarts and
/// relays: `<origin>/<seq>`, the origin being the registry's corporate
/// number.
pub fn message_id(origin: &str, seq: u64) -> String {
    format!("{origin}/{seq}")
}

/// The seq of a message id of `origin`; `None` if the id is another
/// origin's or malformed.
pub fn seq_of_message_id(origin: &str, id: &str) -> Option<u64> {
    let (o, seq) = id.rsplit_once('/')?;
    if o != origin {
        return None;
    }
    seq.parse().ok()
}

/// The outbox as the relay reads it: events with a seq greater than
/// `after_seq`, in increasing seq order, at most `limit` of them.
pub trait EventSource: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    fn events_after(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, Self::Error>> + Send;
}

/// The registry's store as an event source; only seq, kind and time are
/// taken from each stored event.
#[derive(Debug, Clone)]
pub struct RegistryEvents<S>(pub S);

impl<S: RegistryStore> EventSource for RegistryEvents<S> {
    type Error = StoreError;

    async fn events_after(&self, after_seq: u64, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        let stored = self.0.events(after_seq, limit).await?;
        Ok(stored
            .into_iter()
            .map(|e| OutboxEvent {
                seq: e.seq,
                kind: e.event.kind().to_owned(),
                at: e.at.0,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn payload_is_seq_kind_at_only() {
        let e = OutboxEvent {
            seq: 7,
            kind: "died".into(),
            at: 1_700_000_000_123,
        };
        assert_eq!(
            String::from_utf8(e.payload()).unwrap(),
            r#"{"seq":7,"kind":"died","at":1700000000123}"#
        );
    }

    #[test]
    fn message_ids_round_trip() {
        assert_eq!(message_id("1234567890123", 42), "1234567890123/42");
        assert_eq!(seq_of_message_id("1234567890123", "1234567890123/42"), Some(42));
        assert_eq!(seq_of_message_id("1234567890123", "9999999999999/42"), None);
        assert_eq!(seq_of_message_id("1234567890123", "1234567890123/x"), None);
        assert_eq!(seq_of_message_id("1234567890123", "42"), None);
    }
}
