use std::fmt;

use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{Digest32, b64};
use renkei_ids::{CorporateNumber, MessageId, QueryId};
use renkei_protocol::canon::{Canon, CanonReader};
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
/// denied: the log leaf (everything that is public, with the person as a
/// commitment) and the hub's private index of the person. Records are
/// append-only and numbered densely from 0 by the store (`seq` = the leaf
/// index in the transparency log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionRecord {
    pub leaf: LogLeaf,
    /// The hub's index of the person; `None` when the code could not be
    /// opened. Never in the log.
    pub subject: Option<SubjectTag>,
    /// The consent the exchange relied on (the consent API's grant id), for
    /// the hub's own records and auditors. Never in the log: the leaf
    /// carries only a commitment to it.
    pub consent: Option<String>,
}

impl ProvisionRecord {
    pub fn leaf_bytes(&self) -> Vec<u8> {
        self.leaf.encode()
    }
}

/// One entry of the transparency log. No personal data in clear: the
/// person is `commitment`, a PRF output that only the person's key opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLeaf {
    pub query_id: QueryId,
    pub message_id: MessageId,
    pub request_digest: Digest32,
    pub requester: CorporateNumber,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// The permission-table row that allowed it (`None` when denied before
    /// a row was found): the legal basis.
    pub table_row: Option<TableRowRef>,
    /// The person: openable only with the person's key (or, for a record
    /// hidden until a date, a per-record key released then).
    pub commitment: Option<Digest32>,
    /// The consent this exchange relied on, as a commitment under the same
    /// key as the person's (`person::consent_commitment`): the person can
    /// tell which of their grants it was, a reader of the public log cannot
    /// link two exchanges under one grant.
    pub consent_commitment: Option<Digest32>,
    /// When the requester signed the request.
    pub requested_at: UnixMillis,
    /// When the hub received the provider's answer.
    pub provided_at: Option<UnixMillis>,
    pub outcome: Outcome,
    pub non_disclosure: bool,
    /// Delayed disclosure: the person sees the record from this time on.
    pub hidden_until: Option<UnixMillis>,
    pub hidden_reason: Option<String>,
}

const LEAF_LABEL: &str = "renkei/provision-record/v3";

/// A log entry that is not a valid leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a provision-record leaf: {0}")]
pub struct LeafError(pub String);

impl LogLeaf {
    pub fn encode(&self) -> Vec<u8> {
        let mut c = Canon::new(LEAF_LABEL)
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
        c.bytes(self.commitment.as_ref().map_or(&[][..], |c| &c[..]))
            .bytes(self.consent_commitment.as_ref().map_or(&[][..], |c| &c[..]))
            .i64(self.requested_at.0)
            .opt_u64(self.provided_at.map(|t| t.0 as u64))
            .str(self.outcome.as_str())
            .bool(self.non_disclosure)
            .opt_u64(self.hidden_until.map(|t| t.0 as u64))
            .str(self.hidden_reason.as_deref().unwrap_or(""))
            .finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, LeafError> {
        fn e(x: impl std::fmt::Display) -> LeafError {
            LeafError(x.to_string())
        }
        let mut r = CanonReader::new(bytes, LEAF_LABEL).map_err(e)?;
        let query_id = QueryId::parse(r.str().map_err(e)?).map_err(e)?;
        let message_id = MessageId::parse(r.str().map_err(e)?).map_err(e)?;
        let request_digest: Digest32 = r
            .bytes()
            .map_err(e)?
            .try_into()
            .map_err(|_| e("request digest length"))?;
        let requester = CorporateNumber::parse(r.str().map_err(e)?).map_err(e)?;
        let provider = CorporateNumber::parse(r.str().map_err(e)?).map_err(e)?;
        let office_work = OfficeWorkCode::parse(r.str().map_err(e)?).map_err(e)?;
        let item = ItemCode::parse(r.str().map_err(e)?).map_err(e)?;
        let fiscal_year = r
            .opt_u64()
            .map_err(e)?
            .map(|y| {
                u16::try_from(y)
                    .map_err(e)
                    .and_then(|y| FiscalYear::new(y).map_err(e))
            })
            .transpose()?;
        let (version, row) = (r.str().map_err(e)?, r.str().map_err(e)?);
        let table_row = match (version, row) {
            ("", "") => None,
            (v, row) => Some(TableRowRef {
                table_version: v.to_owned(),
                row_id: RowId::parse(row).map_err(e)?,
            }),
        };
        let commitment = match r.bytes().map_err(e)? {
            [] => None,
            c => Some(c.try_into().map_err(|_| e("commitment length"))?),
        };
        let consent_commitment = match r.bytes().map_err(e)? {
            [] => None,
            c => Some(c.try_into().map_err(|_| e("consent commitment length"))?),
        };
        let requested_at = UnixMillis(r.i64().map_err(e)?);
        let provided_at = r.opt_u64().map_err(e)?.map(|t| UnixMillis(t as i64));
        let outcome = Outcome::parse(r.str().map_err(e)?).ok_or_else(|| e("unknown outcome"))?;
        let non_disclosure = r.bool().map_err(e)?;
        let hidden_until = r.opt_u64().map_err(e)?.map(|t| UnixMillis(t as i64));
        let hidden_reason = Some(r.str().map_err(e)?.to_owned()).filter(|s| !s.is_empty());
        r.finish().map_err(e)?;
        Ok(Self {
            query_id,
            message_id,
            request_digest,
            requester,
            provider,
            office_work,
            item,
            fiscal_year,
            table_row,
            commitment,
            consent_commitment,
            requested_at,
            provided_at,
            outcome,
            non_disclosure,
            hidden_until,
            hidden_reason,
        })
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
