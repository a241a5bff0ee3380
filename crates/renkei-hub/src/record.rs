use std::fmt;

use renkei_catalog::{ItemCode, OfficeWorkCode, TableRowRef};
use renkei_crypto::{Digest32, b64};
use renkei_ids::{CorporateNumber, MessageId, QueryId};
use renkei_protocol::canon::Canon;
use renkei_protocol::{DenialCode, FiscalYear, UnixMillis};

/// A keyed tag of the person an exchange was about: HMAC of the link id
/// under the hub's record key. It lets the hub (and, in the next step, the
/// person through the portal) find a person's records, while two tags reveal
/// nothing to anyone without the key. It is what the transparency log will
/// replace with a per-person commitment.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubjectTag(pub Digest32);

impl fmt::Debug for SubjectTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectTag({})", b64(&self.0[..8]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Provided,
    Denied(DenialCode),
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provided => "provided",
            Self::Denied(c) => c.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "provided" => Some(Self::Provided),
            other => DenialCode::parse(other).map(Self::Denied),
        }
    }
}

/// The hub's provision record (情報提供等記録) of one exchange, allowed or
/// denied. Records are append-only and numbered densely from 0 by the store
/// (`seq`), and [`ProvisionRecord::leaf_bytes`] is their canonical encoding:
/// together that is what a Merkle log needs, so the transparency log adds
/// hashing on top without changing this type's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionRecord {
    pub query_id: QueryId,
    pub message_id: MessageId,
    pub request_digest: Digest32,
    pub requester: CorporateNumber,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// The permission-table row that allowed it (`None` when denied before
    /// a row was found).
    pub table_row: Option<TableRowRef>,
    /// `None` when the request's code could not be opened.
    pub subject: Option<SubjectTag>,
    /// When the requester signed the request.
    pub requested_at: UnixMillis,
    /// When the hub received the provider's answer.
    pub provided_at: Option<UnixMillis>,
    pub outcome: Outcome,
    pub non_disclosure: bool,
}

impl ProvisionRecord {
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new("renkei/provision-record/v1")
            .str(&self.query_id.to_string())
            .str(&self.message_id.to_string())
            .bytes(&self.request_digest)
            .str(&self.requester.to_string())
            .str(&self.provider.to_string())
            .str(self.office_work.as_str())
            .str(self.item.as_str())
            .opt_u64(self.fiscal_year.map(|y| u64::from(y.get())));
        c = match &self.table_row {
            Some(r) => c.str(&r.table_version).str(r.row_id.as_str()),
            None => c.str("").str(""),
        };
        c = match &self.subject {
            Some(s) => c.bytes(&s.0),
            None => c.bytes(&[]),
        };
        c.i64(self.requested_at.0)
            .opt_u64(self.provided_at.map(|t| t.0 as u64))
            .str(self.outcome.as_str())
            .bool(self.non_disclosure)
            .finish()
    }
}

/// A request that failed authentication: not attributable, so not a
/// provision record, but kept for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub at: UnixMillis,
    pub code: DenialCode,
    /// The institution named by the TLS client certificate, if any.
    pub peer: Option<CorporateNumber>,
    pub message_id: Option<MessageId>,
    pub detail: String,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub after_seq: Option<u64>,
    pub requester: Option<CorporateNumber>,
    pub provider: Option<CorporateNumber>,
    pub subject: Option<SubjectTag>,
    pub limit: u32,
}
