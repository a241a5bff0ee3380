use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_ids::{CorporateNumber, LocalPersonId, MessageId, QueryId};

use crate::{FiscalYear, UnixMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Requester,
    Provider,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requester => "requester",
            Self::Provider => "provider",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "requester" => Some(Self::Requester),
            "provider" => Some(Self::Provider),
            _ => None,
        }
    }
}

/// How an exchange ended, from this node's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Data was provided (or received).
    Provided,
    /// The provider had no data for the person.
    NoData,
    /// Refused or failed, with the denial code.
    Denied(String),
}

impl RecordOutcome {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Provided => "provided",
            Self::NoData => "no_data",
            Self::Denied(c) => c,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "provided" => Self::Provided,
            "no_data" => Self::NoData,
            other => Self::Denied(other.to_owned()),
        }
    }
}

/// An institution's own provision record (the requester and the provider
/// keep theirs, the hub keeps its own; the query id joins the three).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// `None` when the hub refused before assigning one.
    pub query_id: Option<QueryId>,
    /// The requester's message id: a provider answers each request once,
    /// and after a restart re-arms that check from its recent records.
    pub message_id: Option<MessageId>,
    pub role: NodeRole,
    pub counterpart: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// This institution's own id for the person, when known.
    pub local_id: Option<LocalPersonId>,
    pub requested_at: UnixMillis,
    pub completed_at: UnixMillis,
    pub outcome: RecordOutcome,
    pub non_disclosure: bool,
}
