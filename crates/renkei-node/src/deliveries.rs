//! Deliveries: an institution's node pushes a document of an item about a
//! person to another institution's node, unasked, through the hub — as a
//! notice is pushed, but durably. The sender's business system hands the
//! node a delivery; the node keeps it in its outbox before anything is
//! sent and sends it until the hub and the receiver accept it (or refuse it
//! for good). The receiver keeps each delivery once in its inbox, by sender
//! and delivery id, however many times it is sent.

use std::fmt;

use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_ids::{CorporateNumber, LocalPersonId, QueryId};
use renkei_protocol::{FiscalYear, UnixMillis};

/// The largest document a delivery carries, as compact JSON. The sealed
/// payload (base64) and the signed request must fit the hub's and the
/// receiver's 64 KiB bodies with room for certificates and signatures.
pub const MAX_DOCUMENT_BYTES: usize = 24 * 1024;

/// The sender's own id for a delivery: what makes it idempotent, at the
/// sender's node and at the receiver's. 1 to 64 characters of
/// `A-Z a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(String);

impl DeliveryId {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() || s.len() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            return Err("may hold only A-Z a-z 0-9 . _ : -");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A document is a JSON object of at most [`MAX_DOCUMENT_BYTES`].
pub fn check_document(
    document: &serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let serde_json::Value::Object(map) = document else {
        return Err("document: must be a JSON object".into());
    };
    let size = serde_json::to_vec(document).map_or(usize::MAX, |v| v.len());
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "document: {size} bytes as compact JSON, more than the {MAX_DOCUMENT_BYTES} a delivery carries"
        ));
    }
    Ok(map.clone())
}

/// Where a delivery in the outbox stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted; the next attempt is at `next_attempt_at`.
    Pending,
    /// The receiver accepted it, in the exchange the hub numbered
    /// `query_id` (the latest attempt's, if it took more than one).
    Delivered { query_id: QueryId, at: UnixMillis },
    /// The hub or the receiver refused it for good (`code`, a stable
    /// denial code such as `not_permitted`); it is not sent again.
    Refused { code: String, at: UnixMillis },
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered { .. } => "delivered",
            Self::Refused { .. } => "refused",
        }
    }
}

/// What the business system asks to deliver: the content that must be
/// the same when the same delivery id is posted again.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryContent {
    pub local_id: LocalPersonId,
    pub recipient: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    pub document: serde_json::Map<String, serde_json::Value>,
}

/// A delivery in the sender's outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingDelivery {
    pub delivery_id: DeliveryId,
    pub content: DeliveryContent,
    pub created_at: UnixMillis,
    pub status: DeliveryStatus,
    /// Attempts made so far (each a new signed request).
    pub attempts: u32,
    /// When the next attempt is due (meaningful while pending).
    pub next_attempt_at: UnixMillis,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// The outcome of one attempt, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        query_id: QueryId,
        at: UnixMillis,
    },
    /// Failed for now; try again at `next_attempt_at`.
    Failed {
        error: String,
        next_attempt_at: UnixMillis,
    },
    /// Refused for good.
    Refused {
        code: String,
        error: String,
        at: UnixMillis,
    },
}

/// What storing a new delivery in the outbox found.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// Stored now.
    New(OutgoingDelivery),
    /// A delivery with this id was already there (its content may differ:
    /// the caller compares).
    Existing(OutgoingDelivery),
}

/// A delivery as the receiver keeps it in its inbox, once per sender and
/// delivery id.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingDelivery {
    pub sender: CorporateNumber,
    pub delivery_id: DeliveryId,
    /// The person, by the receiver's own id.
    pub local_id: LocalPersonId,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    pub document: serde_json::Map<String, serde_json::Value>,
    /// The exchange that first brought it.
    pub query_id: QueryId,
    pub received_at: UnixMillis,
}

/// The delay before attempt `attempts + 1` after `attempts` failures:
/// exponential from `initial_ms`, capped at `max_ms`, with up to a quarter
/// of jitter either way so that many deliveries do not retry in step.
pub fn backoff_ms(attempts: u32, initial_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exp = initial_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    let base = exp.min(max_ms).max(1);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    ((base as f64) * factor) as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn delivery_ids_and_documents_are_checked() {
        assert!(DeliveryId::parse("2026-tax:000123.a_b").is_ok());
        assert!(DeliveryId::parse("").is_err());
        assert!(DeliveryId::parse(&"a".repeat(65)).is_err());
        assert!(DeliveryId::parse("a b").is_err());
        assert!(DeliveryId::parse("番号").is_err());
        assert!(check_document(&serde_json::json!({"a": 1})).is_ok());
        assert!(
            check_document(&serde_json::json!([1]))
                .unwrap_err()
                .contains("object")
        );
        let big = serde_json::json!({ "x": "y".repeat(MAX_DOCUMENT_BYTES) });
        assert!(check_document(&big).unwrap_err().contains("bytes"));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(1, 100, 10_000, 0.5), 100);
        assert_eq!(backoff_ms(2, 100, 10_000, 0.5), 200);
        assert_eq!(backoff_ms(4, 100, 10_000, 0.5), 800);
        assert_eq!(backoff_ms(40, 100, 10_000, 0.5), 10_000);
        assert_eq!(backoff_ms(1, 100, 10_000, 0.0), 75);
        assert_eq!(backoff_ms(1, 100, 10_000, 1.0), 125);
    }
}
