//! The provider's half of a linkage, shared by institution nodes and the
//! registry (which provides the four facts like any institution).
//!
//! A forward is accepted only if the hub signed it, the requester signed
//! the request inside it with the key its certificate certifies (verified
//! here against the network CA and the current CRL, never taken from the
//! hub), it is fresh, addressed here, and not answered before. The answer
//! is sealed to the requester's certified key. A forward refused after it
//! could be read is recorded in the provider's own records.

use std::sync::Arc;

use renkei_crypto::{Suite, VerifyingKey};
use renkei_hub::ReplayGuard;
use renkei_node::{
    NodeIdentity, NodeRecord, ProvideError, answer_forward, check_forward, refused_forward_record,
};
use renkei_pki::Role;
use renkei_protocol::{AnswerPayload, CertifiedParty, SignedAnswer, SignedForward, StoreError, UnixMillis};

use renkei_api::net::SignedForwardWire;
use renkei_transport::ApiError;
use renkei_transport::Peer;
use renkei_transport::TrustState;

pub struct Provider {
    pub identity: NodeIdentity,
    hub_key: VerifyingKey,
    trust: Arc<TrustState>,
    suite: Suite,
    max_skew_ms: i64,
    /// Requests answered recently, by requester and message id: a hub
    /// that replays a request (say, with another person's code) is refused.
    answered: ReplayGuard,
}

/// A refused forward, and the record to keep of it if it could be read.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub record: Option<Box<NodeRecord>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("Provider")
            .field("institution", &self.identity.institution)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Provider {
    pub fn new(
        identity: NodeIdentity,
        hub_key: VerifyingKey,
        trust: Arc<TrustState>,
        suite: Suite,
        max_skew_ms: i64,
    ) -> Self {
        Self {
            identity,
            hub_key,
            trust,
            suite,
            max_skew_ms,
            answered: ReplayGuard::default(),
        }
    }

    /// Re-arm the once-only check after a restart from the records of
    /// requests answered within the last two skew windows (every answer is
    /// recorded before it leaves, so none is missing).
    pub fn seed(&self, answered: Vec<(renkei_ids::CorporateNumber, renkei_ids::MessageId, UnixMillis)>) {
        let now = UnixMillis::now();
        for (requester, message_id, at) in answered {
            // Remembered at least as long as any request it could be.
            self.answered
                .check_and_remember(requester, message_id, at.plus_ms(2 * self.max_skew_ms), now);
        }
    }

    /// Since when to read [`Provider::seed`]'s records.
    pub fn seed_since(&self) -> UnixMillis {
        UnixMillis::now().plus_ms(-2 * self.max_skew_ms)
    }

    /// Every check before any data is touched.
    pub fn accept(
        &self,
        peer: &Peer,
        body: &SignedForwardWire,
    ) -> Result<(SignedForward, CertifiedParty), Refusal> {
        let unread = |error| Refusal { error, record: None };
        peer.require_role(Role::Hub).map_err(unread)?;
        let forward =
            SignedForward::try_from(body).map_err(|e| unread(ApiError::malformed(e.to_string())))?;
        let now = UnixMillis::now();
        let refuse = |e: ProvideError| Refusal::of(&forward, e);
        let core = &forward.query.request.core;
        let requester = self
            .trust
            .certified_party(&forward.query.request.certificate, core.requester, self.suite)
            .map_err(|e| refuse(ProvideError::RequesterCertificate(e.to_string())))?;
        check_forward(
            &self.identity,
            &self.hub_key,
            &forward,
            &requester,
            now,
            self.max_skew_ms,
        )
        .map_err(&refuse)?;
        // Last, so that nothing unsigned can burn a requester's message id.
        if !self.answered.check_and_remember(
            core.requester,
            core.message_id,
            core.issued_at.plus_ms(2 * self.max_skew_ms),
            now,
        ) {
            return Err(refuse(ProvideError::Replayed {
                requester: core.requester,
                message_id: core.message_id,
            }));
        }
        Ok((forward, requester))
    }

    pub fn answer(
        &self,
        forward: &SignedForward,
        requester: &CertifiedParty,
        payload: &AnswerPayload,
    ) -> Result<SignedAnswer, ApiError> {
        answer_forward(&self.identity, forward, requester, payload, UnixMillis::now())
            .map_err(|e| ApiError::internal("sealing the answer", e))
    }
}

impl Refusal {
    /// A forward refused after it could be read: counted, logged, and
    /// recorded in the provider's own records.
    pub fn of(forward: &SignedForward, e: ProvideError) -> Self {
        metrics::counter!("renkei_node_forwards_refused_total", "code" => e.code()).increment(1);
        tracing::warn!(code = e.code(), error = %e, query_id = %forward.query.query_id, "forward refused");
        Refusal {
            record: Some(Box::new(refused_forward_record(forward, &e, UnixMillis::now()))),
            error: ApiError::forbidden(e.code(), e.to_string()),
        }
    }

    /// A push where a query was expected, or the other way round.
    pub fn unexpected_payload(forward: &SignedForward) -> Self {
        Self::of(
            forward,
            ProvideError::Push {
                code: "push_not_accepted",
                reason: format!(
                    "this institution does not accept pushed `{}`",
                    forward.query.request.core.item
                ),
            },
        )
    }

    /// Keep the record of the refusal (if any), then hand back the error.
    pub async fn recorded<F>(self, append: impl FnOnce(NodeRecord) -> F) -> ApiError
    where
        F: std::future::Future<Output = Result<u64, StoreError>>,
    {
        if let Some(record) = self.record
            && let Err(e) = append(*record).await
        {
            tracing::error!(error = %e, "cannot record a refused forward");
            return ApiError::from(e);
        }
        self.error
    }
}

/// This institution's identity for linkage: its keys, and its TLS
/// certificate, which must certify exactly those keys (a certificate issued
/// for other keys would make every peer refuse this node's messages).
pub fn certified_identity(
    tls: &renkei_pki::Identity,
    cert_path: &std::path::Path,
    suite: Suite,
    identity: NodeIdentity,
) -> Result<NodeIdentity, renkei_transport::SetupError> {
    let refuse =
        |reason: String| renkei_transport::SetupError::config(cert_path.display().to_string(), reason);
    let party = renkei_transport::certified::party_of(tls.certificate(), suite).map_err(|e| {
        refuse(format!(
            "{e}; issue this institution's certificate for its signing and sealing keys (`renkei pki issue`)"
        ))
    })?;
    if party.institution != identity.institution {
        return Err(refuse(format!(
            "is {}'s certificate, not {}'s",
            party.institution, identity.institution
        )));
    }
    if party.signing != identity.signing.verifying_key() {
        return Err(refuse(format!(
            "certifies signing key {}, but this institution's signing key is {}",
            party.signing.key_id(),
            identity.signing.key_id()
        )));
    }
    if party.sealing != identity.sealing.public_key() {
        return Err(refuse(format!(
            "certifies sealing key {}, but this institution's sealing key is {}",
            party.sealing.key_id(),
            identity.sealing.key_id()
        )));
    }
    let certificate = tls
        .cert_chain()
        .first()
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| refuse("holds no certificate".into()))?;
    Ok(NodeIdentity {
        certificate,
        ..identity
    })
}
