use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_crypto::{CryptoError, VerifyingKey};
use renkei_ids::{CorporateNumber, InstitutionCode, MessageId};
use renkei_protocol::{
    AnswerPayload, FiscalYear, LinkageAnswer, LinkageRequest, SignedAnswer, SignedForward, SignedRequest,
    UnixMillis,
};

use crate::identity::NodeIdentity;
use crate::model::ItemValue;

/// What a business system asks its node for.
#[derive(Debug, Clone)]
pub struct Ask {
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// This node's code for the person.
    pub subject: InstitutionCode,
    pub consent: Option<renkei_protocol::ConsentRef>,
}

/// The requester side: the ask, signed, with a fresh message id.
pub fn build_request(identity: &NodeIdentity, ask: Ask, now: UnixMillis) -> SignedRequest {
    LinkageRequest {
        message_id: MessageId::random(),
        requester: identity.institution,
        provider: ask.provider,
        office_work: ask.office_work,
        item: ask.item,
        fiscal_year: ask.fiscal_year,
        subject: ask.subject,
        issued_at: now,
        consent: ask.consent,
    }
    .sign(&identity.signing)
}

/// Why a provider refuses to answer a forward.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvideError {
    #[error("the forward is not signed by the hub: {0}")]
    NotFromHub(CryptoError),
    #[error("the forward is addressed to {addressed}, not to this node ({own})")]
    NotAddressedHere {
        addressed: CorporateNumber,
        own: CorporateNumber,
    },
    #[error("the forward was made at {at}, outside the {skew_s} s window around this node's time")]
    Stale { at: UnixMillis, skew_s: i64 },
    #[error("the answer could not be sealed: {0}")]
    Seal(CryptoError),
}

/// Check a forward before touching any data: it must be the hub's, fresh,
/// and addressed to this institution.
pub fn check_forward(
    identity: &NodeIdentity,
    hub_key: &VerifyingKey,
    forward: &SignedForward,
    now: UnixMillis,
    max_skew_ms: i64,
) -> Result<(), ProvideError> {
    forward.verify(hub_key).map_err(ProvideError::NotFromHub)?;
    let q = &forward.query;
    if q.provider != identity.institution {
        return Err(ProvideError::NotAddressedHere {
            addressed: q.provider,
            own: identity.institution,
        });
    }
    if (q.forwarded_at.0 - now.0).abs() > max_skew_ms {
        return Err(ProvideError::Stale {
            at: q.forwarded_at,
            skew_s: max_skew_ms / 1000,
        });
    }
    Ok(())
}

/// The provider side: seal what this node holds (or "no data") to the
/// requester and sign it. Whether the person is unknown here or simply has
/// no such item is deliberately not distinguished: the hub learns nothing.
pub fn answer_forward(
    identity: &NodeIdentity,
    forward: &SignedForward,
    payload: &AnswerPayload,
    now: UnixMillis,
) -> Result<SignedAnswer, ProvideError> {
    let answer = LinkageAnswer::seal(&forward.query, payload, now).map_err(ProvideError::Seal)?;
    Ok(answer.sign(&identity.signing))
}

/// The answer for what this node holds: the item, or "no data" whether the
/// person or the item is missing.
pub fn payload_of(value: Option<&ItemValue>) -> AnswerPayload {
    match value {
        Some(v) => AnswerPayload::Found {
            value: serde_json::Value::Object(v.value.clone()),
            updated_at_ms: v.updated_at.0,
        },
        None => AnswerPayload::NoData,
    }
}

/// The provider's own record of answering `forward` with `answer`.
pub fn provider_record(
    forward: &SignedForward,
    local_id: Option<renkei_ids::LocalPersonId>,
    answer: &SignedAnswer,
    found: bool,
) -> renkei_protocol::NodeRecord {
    let q = &forward.query;
    renkei_protocol::NodeRecord {
        query_id: Some(q.query_id),
        role: renkei_protocol::NodeRole::Provider,
        counterpart: q.requester,
        office_work: q.office_work.clone(),
        item: q.item.clone(),
        fiscal_year: q.fiscal_year,
        local_id,
        requested_at: q.forwarded_at,
        completed_at: answer.answer.answered_at,
        outcome: if found {
            renkei_protocol::RecordOutcome::Provided
        } else {
            renkei_protocol::RecordOutcome::NoData
        },
        non_disclosure: q.non_disclosure,
    }
}
