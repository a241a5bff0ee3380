//! Deliveries: what a business system asks its node to deliver to another
//! institution (through the node's durable outbox), how it follows one,
//! and what a receiving node's business system reads from its inbox.

use serde::{Deserialize, Serialize};

/// A business system asks its node to deliver a document of an item about
/// a person (by the sender's own id) to another institution. Idempotent by
/// `delivery_id`: the same id with the same content is the same delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    pub delivery_id: String,
    pub local_id: String,
    /// The receiving institution's corporate number.
    pub recipient: String,
    pub office_work: String,
    pub item: String,
    /// For periodic items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year: Option<u16>,
    /// A JSON object, the item's document (at most 24 KiB as compact JSON).
    pub document: serde_json::Value,
}

/// A delivery as the sender's node keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryWire {
    pub delivery_id: String,
    pub local_id: String,
    pub recipient: String,
    pub office_work: String,
    pub item: String,
    pub fiscal_year: Option<u16>,
    /// `pending`, `delivered` or `refused`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: i64,
    /// While pending: when the next attempt is due.
    pub next_attempt_at: Option<i64>,
    /// Why the last attempt failed (or why it was refused).
    pub last_error: Option<String>,
    /// Once delivered: the hub's query id of the exchange that delivered it.
    pub query_id: Option<String>,
    pub delivered_at: Option<i64>,
    /// Once refused: the stable code (`not_permitted`, …).
    pub refusal_code: Option<String>,
    pub refused_at: Option<i64>,
}

/// One delivery in a receiving node's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEntryWire {
    pub seq: u64,
    pub delivery_id: String,
    /// The sending institution's corporate number.
    pub sender: String,
    pub office_work: String,
    pub item: String,
    pub fiscal_year: Option<u16>,
    /// The person, by this institution's own id.
    pub local_id: String,
    pub document: serde_json::Value,
    /// The hub's query id of the exchange that brought it.
    pub query_id: String,
    pub received_at: i64,
}
