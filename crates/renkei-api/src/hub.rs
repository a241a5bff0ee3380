//! The hub's admin API.

use crate::net::PublicKeyWire;
use serde::{Deserialize, Serialize};

pub const MAX_CODE_BATCH: usize = 10_000;

/// An institution as the admin API shows and accepts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionWire {
    /// The corporate number; optional when registering (the path names it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub name: String,
    pub kind: String,
    pub endpoint: String,
    /// The institution's network certificate (PEM) when registering; its
    /// SHA-256 fingerprint (base64url) when listing.
    pub certificate: String,
    /// The keys the certificate certifies. Shown when listing; when
    /// registering they may be omitted (they are read from the certificate)
    /// and, if given, must be the certified ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PublicKeyWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_key: Option<PublicKeyWire>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A provision record as the admin API lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordWire {
    pub seq: u64,
    pub query_id: String,
    pub message_id: String,
    pub requester: String,
    pub provider: String,
    pub office_work: String,
    pub item: String,
    pub fiscal_year: Option<u16>,
    pub table_row: Option<String>,
    pub subject: Option<String>,
    pub requested_at: i64,
    pub provided_at: Option<i64>,
    pub outcome: String,
    pub non_disclosure: bool,
    /// The consent the exchange relied on (consent API grant id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityEventWire {
    pub at: i64,
    pub code: String,
    pub peer: Option<String>,
    pub message_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RotateReply {
    pub new_version: u32,
}
