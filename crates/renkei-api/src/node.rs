//! A node's local API: what business systems and the portal send it.

use crate::card::CardStatusWire;
use serde::{Deserialize, Serialize};

pub const MAX_ENROL_BATCH: usize = 1000;

/// One person to enrol, as the business system has them on file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolPerson {
    pub local_id: String,
    pub my_number: String,
    pub name: String,
    pub address: String,
    pub birth_date: String,
    pub sex: u8,
}

impl std::fmt::Debug for EnrolPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrolPerson({}, <redacted>)", self.local_id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub persons: Vec<EnrolPerson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolled {
    pub local_id: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolRefusal {
    pub local_id: String,
    /// `invalid_input`, `unknown_my_number`, `facts_differ`, ...
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResult {
    pub enrolled: Vec<Enrolled>,
    pub refused: Vec<EnrolRefusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonWire {
    pub local_id: String,
    pub code: String,
}

/// A business system's question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub local_id: String,
    pub provider: String,
    pub office_work: String,
    pub item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year: Option<u16>,
    /// The person's consent this query relies on (the consent API's grant
    /// id); kept in the hub's provision record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// For office works done for the person themselves (their own
    /// disclosure): the hub's person proof from their card login or from
    /// the card-confirmed consent, as the card resolution returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_proof: Option<String>,
}

/// The verified, decrypted answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    pub query_id: String,
    pub provider: String,
    /// `found` or `no_data`.
    pub status: String,
    pub value: Option<serde_json::Value>,
    pub updated_at: Option<i64>,
    pub answered_at: i64,
    pub hub_record_seq: u64,
    pub node_record_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdate {
    #[serde(default)]
    pub fiscal_year: Option<u16>,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportResult {
    pub imported: usize,
}

/// One of the node's own provision records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecordWire {
    pub seq: u64,
    pub query_id: Option<String>,
    pub role: String,
    pub counterpart: String,
    pub office_work: String,
    pub item: String,
    pub fiscal_year: Option<u16>,
    pub local_id: Option<String>,
    pub requested_at: i64,
    pub completed_at: i64,
    pub outcome: String,
    pub non_disclosure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeHealth {
    pub status: String,
    pub role: String,
    pub institution: String,
    pub name: String,
    pub kind: String,
    pub persons: u64,
    pub items: u64,
    pub records: u64,
}

/// How a code refresh went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshResult {
    pub refreshed: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// A person's log key as the portal hands it over.
#[derive(Clone, Serialize, Deserialize)]
pub struct PersonKeyResult {
    pub local_id: String,
    /// Opens the person's commitments in the log (base64url).
    pub person_key: String,
    /// Lists the person's records at `<log>/v1/person/records` (base64url).
    pub access_token: String,
    pub log_origin: String,
    pub log_key: String,
}

impl std::fmt::Debug for PersonKeyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonKeyResult({}, <secret>)", self.local_id)
    }
}

/// For the portal (a node of kind `digital_agency`): obtain a person's log
/// key from the hub. The hub refuses any other kind of institution.
/// The person's session proof, which the hub checks before it hands over
/// the person's log key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonKeyAsk {
    pub person_proof: String,
    /// The consent the proof is for, when a proxy reads the principal's
    /// history (the principal's consent to the proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

/// The person behind a card, at this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardHolder {
    pub local_id: String,
    /// Enrolled by this resolution (the person was not known here).
    pub enrolled_now: bool,
    pub card: CardStatusWire,
    /// The person proof asked for (text form), checked by this node: the
    /// hub's, for this institution, about this person, for that purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_proof: Option<String>,
}
