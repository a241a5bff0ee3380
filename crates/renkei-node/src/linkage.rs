use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_crypto::{CryptoError, VerifyingKey};
use renkei_ids::{CorporateNumber, InstitutionCode, MessageId};
use renkei_protocol::{
    AnswerPayload, CertifiedParty, FiscalYear, LinkageAnswer, LinkageRequest, SignedAnswer, SignedForward,
    SignedRequest, UnixMillis,
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
    /// The hub's person proof, for office works done for the person.
    pub person_proof: Option<renkei_protocol::SignedPersonProof>,
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
        person_proof: ask.person_proof,
        payload: None,
    }
    .sign(&identity.signing, identity.certificate.clone())
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
    #[error("the requester's certificate is refused: {0}")]
    RequesterCertificate(String),
    #[error("the request is not signed by its requester {requester}: {source}")]
    NotFromRequester {
        requester: CorporateNumber,
        source: CryptoError,
    },
    #[error("the request was issued at {at}, outside the {skew_s} s window around this node's time")]
    RequestStale { at: UnixMillis, skew_s: i64 },
    #[error("message {message_id} of {requester} was already answered; a request is answered once")]
    Replayed {
        requester: CorporateNumber,
        message_id: MessageId,
    },
    #[error("{reason}")]
    Push { code: &'static str, reason: String },
    #[error("the answer could not be sealed: {0}")]
    Seal(CryptoError),
}

impl ProvideError {
    /// A stable code for records, metrics and the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFromHub(_) => "forward_not_from_hub",
            Self::NotAddressedHere { .. } => "forward_misaddressed",
            Self::Stale { .. } => "forward_stale",
            Self::RequesterCertificate(_) => "requester_certificate_refused",
            Self::NotFromRequester { .. } => "request_not_from_requester",
            Self::RequestStale { .. } => "request_stale",
            Self::Replayed { .. } => "request_replayed",
            Self::Push { code, .. } => code,
            Self::Seal(_) => "seal_failed",
        }
    }
}

/// Check a forward before touching any data. The hub's signature covers
/// what the hub added (the provider's code, the table row); the request
/// itself must be signed by the requester with the key its certificate
/// certifies (`requester`, verified by the caller against the network CA),
/// be fresh, and be addressed to this institution. The caller also makes
/// sure each request is answered once (see [`ProvideError::Replayed`]).
pub fn check_forward(
    identity: &NodeIdentity,
    hub_key: &VerifyingKey,
    forward: &SignedForward,
    requester: &CertifiedParty,
    now: UnixMillis,
    max_skew_ms: i64,
) -> Result<(), ProvideError> {
    forward.verify(hub_key).map_err(ProvideError::NotFromHub)?;
    let q = &forward.query;
    let core = &q.request.core;
    if core.provider != identity.institution {
        return Err(ProvideError::NotAddressedHere {
            addressed: core.provider,
            own: identity.institution,
        });
    }
    q.request
        .verify(requester)
        .map_err(|source| ProvideError::NotFromRequester {
            requester: core.requester,
            source,
        })?;
    let skew_s = max_skew_ms / 1000;
    if (q.forwarded_at.0 - now.0).abs() > max_skew_ms {
        return Err(ProvideError::Stale {
            at: q.forwarded_at,
            skew_s,
        });
    }
    if (core.issued_at.0 - now.0).abs() > max_skew_ms {
        return Err(ProvideError::RequestStale {
            at: core.issued_at,
            skew_s,
        });
    }
    Ok(())
}

/// The provider side: seal what this node holds (or "no data") to the
/// requester's certified key, in auth mode from this node's own key, and
/// sign it. Whether the person is unknown here or simply has no such item
/// is deliberately not distinguished: the hub learns nothing.
pub fn answer_forward(
    identity: &NodeIdentity,
    forward: &SignedForward,
    requester: &CertifiedParty,
    payload: &AnswerPayload,
    now: UnixMillis,
) -> Result<SignedAnswer, ProvideError> {
    let answer = LinkageAnswer::seal(&forward.query, requester, &identity.sealing, payload, now)
        .map_err(ProvideError::Seal)?;
    Ok(answer.sign(&identity.signing, identity.certificate.clone()))
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
    let core = &q.request.core;
    renkei_protocol::NodeRecord {
        query_id: Some(q.query_id),
        message_id: Some(core.message_id),
        role: renkei_protocol::NodeRole::Provider,
        counterpart: core.requester,
        office_work: core.office_work.clone(),
        item: core.item.clone(),
        fiscal_year: core.fiscal_year,
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

/// The provider's own record of a forward it refused after reading it: who
/// claimed to ask what, and why it was refused (an attack or a fault on the
/// way is visible in the institution's own records, not only in a log line).
pub fn refused_forward_record(
    forward: &SignedForward,
    error: &ProvideError,
    now: UnixMillis,
) -> renkei_protocol::NodeRecord {
    let q = &forward.query;
    let core = &q.request.core;
    renkei_protocol::NodeRecord {
        query_id: Some(q.query_id),
        message_id: Some(core.message_id),
        role: renkei_protocol::NodeRole::Provider,
        counterpart: core.requester,
        office_work: core.office_work.clone(),
        item: core.item.clone(),
        fiscal_year: core.fiscal_year,
        local_id: None,
        requested_at: q.forwarded_at,
        completed_at: now,
        outcome: renkei_protocol::RecordOutcome::Denied(error.code().to_owned()),
        non_disclosure: q.non_disclosure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_catalog::{KindCode, RowId, TableRowRef};
    use renkei_crypto::{SealingKeyPair, SigningKey, Suite};
    use renkei_ids::QueryId;
    use renkei_protocol::ForwardedQuery;

    const NOW: UnixMillis = UnixMillis(1_790_000_000_000);
    const SKEW: i64 = 120_000;

    fn identity(n: u64) -> NodeIdentity {
        let suite = Suite::default();
        NodeIdentity {
            institution: CorporateNumber::from_base_number(n).unwrap(),
            name: format!("institution {n}"),
            kind: KindCode::parse("municipality").unwrap(),
            signing: SigningKey::generate(suite.signature()),
            sealing: SealingKeyPair::generate(suite.sealing()),
            certificate: format!("certificate of {n}").into_bytes(),
        }
    }

    fn party(i: &NodeIdentity) -> CertifiedParty {
        CertifiedParty {
            institution: i.institution,
            signing: i.signing.verifying_key(),
            sealing: i.sealing.public_key(),
        }
    }

    fn ask(provider: &NodeIdentity) -> Ask {
        Ask {
            provider: provider.institution,
            office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
            item: ItemCode::parse("resident_tax_income").unwrap(),
            fiscal_year: Some(FiscalYear::new(2025).unwrap()),
            subject: renkei_crypto::CodeKeyring::generate()
                .encode(&renkei_ids::LinkId::random(), &provider.institution),
            consent: None,
            person_proof: None,
        }
    }

    fn forward(request: &SignedRequest, hub: &SigningKey, at: UnixMillis) -> SignedForward {
        ForwardedQuery {
            query_id: QueryId::random(),
            request: request.provider_view(),
            subject: request.request.subject.clone(),
            previous_subjects: Vec::new(),
            table_row: TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            },
            non_disclosure: false,
            forwarded_at: at,
        }
        .sign(hub)
    }

    #[test]
    fn a_forward_is_checked_for_hub_requester_address_and_time() {
        let hub = SigningKey::generate(Suite::default().signature());
        let (requester, provider, other) = (identity(1), identity(2), identity(3));
        let request = build_request(&requester, ask(&provider), NOW);
        let check = |f: &SignedForward, who: &CertifiedParty, me: &NodeIdentity, now| {
            check_forward(me, &hub.verifying_key(), f, who, now, SKEW)
        };
        let ok = forward(&request, &hub, NOW);
        check(&ok, &party(&requester), &provider, NOW).unwrap();

        // Not the hub's signature.
        let by_other = forward(&request, &other.signing, NOW);
        assert!(matches!(
            check(&by_other, &party(&requester), &provider, NOW),
            Err(ProvideError::NotFromHub(_))
        ));
        // Addressed to another institution.
        assert!(matches!(
            check(&ok, &party(&requester), &other, NOW),
            Err(ProvideError::NotAddressedHere { .. })
        ));
        // The request signed by someone else than the certified requester.
        let mut invented = request.request.clone();
        invented.message_id = MessageId::random();
        let invented = invented.sign(&other.signing, requester.certificate.clone());
        assert!(matches!(
            check(&forward(&invented, &hub, NOW), &party(&requester), &provider, NOW),
            Err(ProvideError::NotFromRequester { .. })
        ));
        // The requester's certified party of another institution.
        assert!(matches!(
            check(&ok, &party(&other), &provider, NOW),
            Err(ProvideError::NotFromRequester { .. })
        ));
        // A stale forward, and a fresh forward of a stale request.
        assert!(matches!(
            check(&ok, &party(&requester), &provider, NOW.plus_ms(SKEW + 1)),
            Err(ProvideError::Stale { .. })
        ));
        let old = build_request(&requester, ask(&provider), NOW.plus_ms(-SKEW - 1));
        assert!(matches!(
            check(&forward(&old, &hub, NOW), &party(&requester), &provider, NOW),
            Err(ProvideError::RequestStale { .. })
        ));
        // Each refusal has a stable code and a record naming no person.
        let e = ProvideError::RequestStale { at: NOW, skew_s: 120 };
        let rec = refused_forward_record(&ok, &e, NOW);
        assert_eq!(rec.outcome.as_str(), "request_stale");
        assert_eq!(rec.local_id, None);
        assert_eq!(rec.message_id, Some(request.request.message_id));
    }

    #[test]
    fn the_answer_is_sealed_to_the_certified_requester_from_the_provider() {
        let hub = SigningKey::generate(Suite::default().signature());
        let (requester, provider) = (identity(1), identity(2));
        let request = build_request(&requester, ask(&provider), NOW);
        let f = forward(&request, &hub, NOW);
        let payload = AnswerPayload::NoData;
        let answer = answer_forward(&provider, &f, &party(&requester), &payload, NOW).unwrap();
        assert_eq!(&answer.answer.envelope.recipient, requester.sealing.key_id());
        assert_eq!(
            answer.answer.envelope.sender.as_ref(),
            Some(provider.sealing.key_id())
        );
        assert_eq!(answer.certificate, provider.certificate);
        answer.verify(&provider.signing.verifying_key()).unwrap();
    }
}
