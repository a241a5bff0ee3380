use std::fmt;

use renkei_catalog::{ItemCode, OfficeWorkCode, TableRowRef};
use renkei_crypto::{
    CryptoError, Digest32, Envelope, SealingKeyPair, SealingPublicKey, Signature, SigningKey, VerifyingKey,
    sha256,
};
use renkei_ids::{CorporateNumber, InstitutionCode, MessageId, QueryId};
use serde::{Deserialize, Serialize};

use crate::canon::Canon;
use crate::time_util::UnixMillis;

/// A Japanese fiscal year (April–March), e.g. 2025.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct FiscalYear(u16);

impl FiscalYear {
    pub fn new(year: u16) -> Result<Self, &'static str> {
        if (1950..=2200).contains(&year) {
            Ok(Self(year))
        } else {
            Err("fiscal year must be between 1950 and 2200")
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for FiscalYear {
    type Error = &'static str;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<FiscalYear> for u16 {
    fn from(v: FiscalYear) -> u16 {
        v.0
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FY{}", self.0)
    }
}

/// The consent a linkage relies on (the consent API's grant id): 1 to 64
/// characters of `A-Z a-z 0-9 _ -`, so it can never carry personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsentRef(String);

impl ConsentRef {
    pub fn parse(s: &str) -> Option<Self> {
        ((1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConsentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A party to a linkage as its network certificate names it: the
/// institution and the keys the network CA certified for it. The caller
/// builds one only from a certificate it verified against the CA and the
/// current CRL, so a directory (the hub's, or anyone's) never decides whose
/// key is whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedParty {
    pub institution: CorporateNumber,
    pub signing: VerifyingKey,
    pub sealing: SealingPublicKey,
}

/// What a requester asks, as every party may see it. The person is not in
/// it: only the hub may see the requester's code (see [`LinkageRequest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCore {
    pub message_id: MessageId,
    pub requester: CorporateNumber,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    pub issued_at: UnixMillis,
    /// What a *push* carries to the provider (a notice, say): sealed in HPKE
    /// auth mode from the requester's certified key to the provider's, bound
    /// to this request's fields. The hub forwards it and cannot open it.
    pub payload: Option<Envelope>,
}

const PUSH_INFO: &[u8] = b"renkei/push/v1";

impl RequestCore {
    /// What the requester signs: these fields and the digest of the fields
    /// only the hub sees.
    fn signing_bytes(&self, hub_digest: &Digest32) -> Vec<u8> {
        let c = Canon::new("renkei/linkage-request/v2")
            .str(&self.message_id.to_string())
            .str(&self.requester.to_string())
            .str(&self.provider.to_string())
            .str(self.office_work.as_str())
            .str(self.item.as_str())
            .opt_u64(self.fiscal_year.map(|y| u64::from(y.get())))
            .i64(self.issued_at.0)
            .bytes(hub_digest);
        match &self.payload {
            None => c.bool(false),
            Some(e) => c
                .bool(true)
                .str(e.algorithm.name())
                .str(e.recipient.as_str())
                .str(e.sender.as_ref().map_or("", |k| k.as_str()))
                .bytes(&e.enc)
                .bytes(&e.ciphertext),
        }
        .finish()
    }

    /// What a push payload is bound to: who pushes what to whom, in which
    /// message (so it cannot be moved to another request).
    fn push_aad(&self) -> Vec<u8> {
        Canon::new("renkei/push-aad/v1")
            .str(&self.message_id.to_string())
            .str(&self.requester.to_string())
            .str(&self.provider.to_string())
            .str(self.office_work.as_str())
            .str(self.item.as_str())
            .finish()
    }

    /// Seal `plaintext` as this request's push payload, from the requester's
    /// own key to the provider's certified key.
    pub fn seal_payload(
        &mut self,
        own_key: &SealingKeyPair,
        provider: &CertifiedParty,
        plaintext: &[u8],
    ) -> Result<(), CryptoError> {
        if provider.institution != self.provider {
            return Err(CryptoError::Malformed {
                what: "push payload",
                reason: "the sealing key is certified for another institution than the provider",
            });
        }
        self.payload = Some(own_key.seal_to(&provider.sealing, PUSH_INFO, &self.push_aad(), plaintext)?);
        Ok(())
    }

    /// The provider's opening of a push payload: only the certified
    /// requester could have sealed it, and only for this request.
    pub fn open_payload(
        &self,
        own_key: &SealingKeyPair,
        requester: &CertifiedParty,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, CryptoError> {
        let Some(envelope) = &self.payload else {
            return Ok(None);
        };
        if requester.institution != self.requester {
            return Err(CryptoError::Malformed {
                what: "push payload",
                reason: "the sender's key is certified for another institution than the requester",
            });
        }
        own_key
            .open_from(&requester.sealing, envelope, PUSH_INFO, &self.push_aad())
            .map(Some)
    }
}

/// "For office work W, give me item I about the person with my code C."
///
/// The requester signs the [`RequestCore`] and a digest of the fields only
/// the hub reads (the person's code, the consent). The provider verifies
/// the requester's own signature from the core and that digest, so it knows
/// who asked what without learning the requester's code for the person;
/// the digest is salted by the message id, so it links nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageRequest {
    pub message_id: MessageId,
    pub requester: CorporateNumber,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// The requester's own institution code for the person (hub only).
    pub subject: InstitutionCode,
    pub issued_at: UnixMillis,
    /// The person's consent this request relies on, if any (hub only).
    pub consent: Option<ConsentRef>,
    /// The hub's proof that the person was present with their card, for
    /// office works done for the person themselves (hub only: it names the
    /// requester's code).
    pub person_proof: Option<crate::SignedPersonProof>,
    /// A push's sealed payload (see [`RequestCore::payload`]).
    pub payload: Option<Envelope>,
}

impl LinkageRequest {
    pub fn core(&self) -> RequestCore {
        RequestCore {
            message_id: self.message_id,
            requester: self.requester,
            provider: self.provider,
            office_work: self.office_work.clone(),
            item: self.item.clone(),
            fiscal_year: self.fiscal_year,
            issued_at: self.issued_at,
            payload: self.payload.clone(),
        }
    }

    /// The digest of what only the hub reads.
    pub fn hub_digest(&self) -> Digest32 {
        let canon = Canon::new("renkei/request-hub-fields/v2")
            .str(&self.message_id.to_string())
            .str(&self.subject.to_string())
            .str(self.consent.as_ref().map_or("", ConsentRef::as_str))
            .bytes(
                self.person_proof
                    .as_ref()
                    .map(crate::SignedPersonProof::digest)
                    .as_ref()
                    .map_or(&[][..], |d| &d[..]),
            )
            .finish();
        sha256(&[&canon])
    }

    pub fn signing_bytes(&self) -> Vec<u8> {
        self.core().signing_bytes(&self.hub_digest())
    }

    /// Sign as the requester; `certificate` is the requester's network
    /// certificate (DER), which certifies the key.
    pub fn sign(self, key: &SigningKey, certificate: Vec<u8>) -> SignedRequest {
        let signature = key.sign(&self.signing_bytes());
        SignedRequest {
            request: self,
            signature,
            certificate,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub request: LinkageRequest,
    pub signature: Signature,
    /// The requester's certificate (DER): it certifies the signing key and
    /// the sealing key the answer is sealed to.
    pub certificate: Vec<u8>,
}

impl SignedRequest {
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CryptoError> {
        key.verify(&self.request.signing_bytes(), &self.signature)
    }

    /// The digest every later message of this linkage is bound to.
    pub fn digest(&self) -> Digest32 {
        request_digest(&self.request.core(), &self.request.hub_digest(), &self.signature)
    }

    /// What the provider receives of it: everything but the hub-only fields.
    pub fn provider_view(&self) -> RequestView {
        RequestView {
            core: self.request.core(),
            hub_digest: self.request.hub_digest(),
            signature: self.signature.clone(),
            certificate: self.certificate.clone(),
        }
    }
}

fn request_digest(core: &RequestCore, hub_digest: &Digest32, signature: &Signature) -> Digest32 {
    let canon = Canon::new("renkei/request-digest/v2")
        .bytes(&core.signing_bytes(hub_digest))
        .signature(signature)
        .finish();
    sha256(&[&canon])
}

/// The requester's signed request as the provider sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub core: RequestCore,
    pub hub_digest: Digest32,
    pub signature: Signature,
    pub certificate: Vec<u8>,
}

impl RequestView {
    /// The requester's own signature, with the key its certificate certifies.
    pub fn verify(&self, requester: &CertifiedParty) -> Result<(), CryptoError> {
        if requester.institution != self.core.requester {
            return Err(CryptoError::Malformed {
                what: "linkage request",
                reason: "the certificate is another institution's than the requester's",
            });
        }
        requester
            .signing
            .verify(&self.core.signing_bytes(&self.hub_digest), &self.signature)
    }

    pub fn digest(&self) -> Digest32 {
        request_digest(&self.core, &self.hub_digest, &self.signature)
    }
}

/// The hub's forward to the provider: the requester's own signed request
/// (without the hub-only fields), the provider's code for the person, and
/// the permission-table row that allowed it. The hub signs what it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedQuery {
    pub query_id: QueryId,
    pub request: RequestView,
    /// The provider's institution code for the person (current key).
    pub subject: InstitutionCode,
    /// The same person's codes under older keys still in their grace
    /// period, for a provider that has not refreshed its codes yet.
    pub previous_subjects: Vec<InstitutionCode>,
    pub table_row: TableRowRef,
    pub non_disclosure: bool,
    pub forwarded_at: UnixMillis,
}

impl ForwardedQuery {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new("renkei/forwarded-query/v2")
            .str(&self.query_id.to_string())
            .bytes(&self.request.digest())
            .str(&self.subject.to_string())
            .u64(self.previous_subjects.len() as u64);
        for p in &self.previous_subjects {
            c = c.str(&p.to_string());
        }
        c.str(&self.table_row.table_version)
            .str(self.table_row.row_id.as_str())
            .bool(self.non_disclosure)
            .i64(self.forwarded_at.0)
            .finish()
    }

    pub fn sign(self, hub_key: &SigningKey) -> SignedForward {
        let signature = hub_key.sign(&self.signing_bytes());
        SignedForward {
            query: self,
            signature,
        }
    }

    /// What the answer envelope is bound to: this linkage and nothing else.
    pub fn answer_aad(&self) -> Vec<u8> {
        answer_aad(
            &self.query_id,
            &self.request.digest(),
            &self.request.core.provider,
            &self.request.core.requester,
        )
    }
}

fn answer_aad(
    query_id: &QueryId,
    request_digest: &Digest32,
    provider: &CorporateNumber,
    requester: &CorporateNumber,
) -> Vec<u8> {
    Canon::new("renkei/answer-aad/v2")
        .str(&query_id.to_string())
        .bytes(request_digest)
        .str(&provider.to_string())
        .str(&requester.to_string())
        .finish()
}

const ANSWER_INFO: &[u8] = b"renkei/answer/v2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForward {
    pub query: ForwardedQuery,
    pub signature: Signature,
}

impl SignedForward {
    pub fn verify(&self, hub_key: &VerifyingKey) -> Result<(), CryptoError> {
        hub_key.verify(&self.query.signing_bytes(), &self.signature)
    }
}

/// What the provider says, before sealing. Serialised as JSON inside the
/// envelope; the hub never sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AnswerPayload {
    Found {
        /// The item's value as the provider holds it.
        value: serde_json::Value,
        /// When the provider last updated it (Unix milliseconds).
        updated_at_ms: i64,
    },
    NoData,
    /// A push's payload was received and kept.
    Accepted,
}

impl AnswerPayload {
    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a JSON value always serialises")
    }

    fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        serde_json::from_slice(b).map_err(|_| CryptoError::Malformed {
            what: "answer payload",
            reason: "not a valid answer document",
        })
    }
}

/// The provider's sealed, signed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageAnswer {
    pub query_id: QueryId,
    pub request_digest: Digest32,
    pub provider: CorporateNumber,
    pub requester: CorporateNumber,
    pub envelope: Envelope,
    pub answered_at: UnixMillis,
}

impl LinkageAnswer {
    /// Seal `payload` to the requester, in HPKE auth mode from the
    /// provider's own key: to the sealing key the requester's certificate
    /// certifies (never a key the hub names), and only the provider could
    /// have sealed it.
    pub fn seal(
        query: &ForwardedQuery,
        requester: &CertifiedParty,
        provider_key: &SealingKeyPair,
        payload: &AnswerPayload,
        now: UnixMillis,
    ) -> Result<Self, CryptoError> {
        if requester.institution != query.request.core.requester {
            return Err(CryptoError::Malformed {
                what: "answer",
                reason: "the sealing key is certified for another institution than the requester",
            });
        }
        let envelope = provider_key.seal_to(
            &requester.sealing,
            ANSWER_INFO,
            &query.answer_aad(),
            &payload.to_bytes(),
        )?;
        Ok(Self {
            query_id: query.query_id,
            request_digest: query.request.digest(),
            provider: query.request.core.provider,
            requester: query.request.core.requester,
            envelope,
            answered_at: now,
        })
    }

    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("renkei/linkage-answer/v2")
            .str(&self.query_id.to_string())
            .bytes(&self.request_digest)
            .str(&self.provider.to_string())
            .str(&self.requester.to_string())
            .str(self.envelope.algorithm.name())
            .str(self.envelope.recipient.as_str())
            .str(self.envelope.sender.as_ref().map_or("", |k| k.as_str()))
            .bytes(&self.envelope.enc)
            .bytes(&self.envelope.ciphertext)
            .i64(self.answered_at.0)
            .finish()
    }

    /// Sign as the provider; `certificate` is the provider's network
    /// certificate (DER), which certifies the key.
    pub fn sign(self, provider_key: &SigningKey, certificate: Vec<u8>) -> SignedAnswer {
        let signature = provider_key.sign(&self.signing_bytes());
        SignedAnswer {
            answer: self,
            signature,
            certificate,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAnswer {
    pub answer: LinkageAnswer,
    pub signature: Signature,
    /// The provider's certificate (DER).
    pub certificate: Vec<u8>,
}

impl SignedAnswer {
    pub fn verify(&self, provider_key: &VerifyingKey) -> Result<(), CryptoError> {
        provider_key.verify(&self.answer.signing_bytes(), &self.signature)
    }

    pub fn digest(&self) -> Digest32 {
        let canon = Canon::new("renkei/answer-digest/v2")
            .bytes(&self.answer.signing_bytes())
            .signature(&self.signature)
            .bytes(&sha256(&[&self.certificate]))
            .finish();
        sha256(&[&canon])
    }
}

/// The hub's statement that it recorded the exchange (with the record's
/// sequence number) before handing over the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubReceipt {
    pub query_id: QueryId,
    pub request_digest: Digest32,
    pub answer_digest: Digest32,
    pub record_seq: u64,
    pub recorded_at: UnixMillis,
}

impl HubReceipt {
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("renkei/hub-receipt/v1")
            .str(&self.query_id.to_string())
            .bytes(&self.request_digest)
            .bytes(&self.answer_digest)
            .u64(self.record_seq)
            .i64(self.recorded_at.0)
            .finish()
    }

    pub fn sign(self, hub_key: &SigningKey) -> SignedReceipt {
        let signature = hub_key.sign(&self.signing_bytes());
        SignedReceipt {
            receipt: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    pub receipt: HubReceipt,
    pub signature: Signature,
}

/// An answer the requester has checked and opened.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAnswer {
    pub query_id: QueryId,
    pub provider: CorporateNumber,
    pub payload: AnswerPayload,
    pub answered_at: UnixMillis,
    pub record_seq: u64,
}

/// Why the requester refuses a reply. Each variant is a different attack
/// or fault; none of them lets anything through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the hub's receipt does not verify: {0}")]
    BadReceipt(CryptoError),
    #[error("the answer's certificate is {certified}'s, but the request asked {asked}")]
    WrongProvider {
        certified: CorporateNumber,
        asked: CorporateNumber,
    },
    #[error("the provider's signature over the answer does not verify: {0}")]
    BadAnswerSignature(CryptoError),
    #[error("{0}")]
    NotBound(&'static str),
    #[error("the answer does not open with this node's key from the provider's certified key: {0}")]
    Unsealed(CryptoError),
}

impl SignedReceipt {
    /// The requester's check of the hub's reply to its own `request`: the
    /// receipt is the hub's and covers this request and this answer; the
    /// answer is signed by the provider the requester asked, with the key
    /// the provider's certificate certifies; and the envelope opens with the
    /// requester's key, sealed by that provider's certified key, under the
    /// request's binding. A hub that substitutes keys or forges an answer
    /// fails one of these.
    pub fn verify_reply(
        &self,
        hub_key: &VerifyingKey,
        request: &SignedRequest,
        answer: &SignedAnswer,
        provider: &CertifiedParty,
        own_key: &SealingKeyPair,
    ) -> Result<VerifiedAnswer, ReplyError> {
        hub_key
            .verify(&self.receipt.signing_bytes(), &self.signature)
            .map_err(ReplyError::BadReceipt)?;
        if provider.institution != request.request.provider {
            return Err(ReplyError::WrongProvider {
                certified: provider.institution,
                asked: request.request.provider,
            });
        }
        answer
            .verify(&provider.signing)
            .map_err(ReplyError::BadAnswerSignature)?;
        let digest = request.digest();
        let bound = |ok: bool, reason| {
            if ok {
                Ok(())
            } else {
                Err(ReplyError::NotBound(reason))
            }
        };
        bound(
            self.receipt.request_digest == digest,
            "the receipt is for a different request",
        )?;
        bound(
            self.receipt.answer_digest == answer.digest(),
            "the receipt is for a different answer",
        )?;
        bound(
            answer.answer.request_digest == digest && answer.answer.query_id == self.receipt.query_id,
            "the answer is for a different request",
        )?;
        bound(
            answer.answer.provider == request.request.provider
                && answer.answer.requester == request.request.requester,
            "the answer names other institutions than the request",
        )?;
        let aad = answer_aad(
            &answer.answer.query_id,
            &digest,
            &request.request.provider,
            &request.request.requester,
        );
        let plain = own_key
            .open_from(&provider.sealing, &answer.answer.envelope, ANSWER_INFO, &aad)
            .map_err(ReplyError::Unsealed)?;
        Ok(VerifiedAnswer {
            query_id: answer.answer.query_id,
            provider: answer.answer.provider,
            payload: AnswerPayload::from_bytes(&plain).map_err(ReplyError::Unsealed)?,
            answered_at: answer.answer.answered_at,
            record_seq: self.receipt.record_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_catalog::RowId;
    use renkei_crypto::{CodeKeyring, Suite};
    use renkei_ids::LinkId;

    struct Party {
        id: CorporateNumber,
        sign: SigningKey,
        seal: SealingKeyPair,
        /// Stands in for the certificate: the tests build the certified
        /// party directly, as a caller does after verifying the DER.
        cert: Vec<u8>,
    }

    impl Party {
        fn certified(&self) -> CertifiedParty {
            CertifiedParty {
                institution: self.id,
                signing: self.sign.verifying_key(),
                sealing: self.seal.public_key(),
            }
        }
    }

    fn party(suite: Suite, n: u64) -> Party {
        Party {
            id: CorporateNumber::from_base_number(n).unwrap(),
            sign: SigningKey::generate(suite.signature()),
            seal: SealingKeyPair::generate(suite.sealing()),
            cert: format!("certificate of {n}").into_bytes(),
        }
    }

    struct Exchange {
        requester: Party,
        provider: Party,
        hub: SigningKey,
        request: SignedRequest,
        forward: SignedForward,
        answer: SignedAnswer,
        receipt: SignedReceipt,
    }

    fn request_of(requester: &Party, provider: &Party, subject: InstitutionCode) -> SignedRequest {
        LinkageRequest {
            message_id: MessageId::random(),
            requester: requester.id,
            provider: provider.id,
            office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
            item: ItemCode::parse("resident_tax_income").unwrap(),
            fiscal_year: Some(FiscalYear::new(2025).unwrap()),
            subject,
            issued_at: UnixMillis(1_700_000_000_000),
            consent: None,
            person_proof: None,
            payload: None,
        }
        .sign(&requester.sign, requester.cert.clone())
    }

    fn forward_of(request: &SignedRequest, subject: InstitutionCode, hub: &SigningKey) -> SignedForward {
        ForwardedQuery {
            query_id: QueryId::random(),
            request: request.provider_view(),
            subject,
            previous_subjects: Vec::new(),
            table_row: TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            },
            non_disclosure: false,
            forwarded_at: UnixMillis(1_700_000_000_010),
        }
        .sign(hub)
    }

    fn income() -> AnswerPayload {
        AnswerPayload::Found {
            value: serde_json::json!({"taxable_income": 4_200_000}),
            updated_at_ms: 1,
        }
    }

    fn exchange(suite: Suite) -> Exchange {
        let requester = party(suite, 1001);
        let provider = party(suite, 2002);
        let hub = SigningKey::generate(suite.signature());
        let ring = CodeKeyring::generate();
        let link = LinkId::random();
        let request = request_of(&requester, &provider, ring.encode(&link, &requester.id));
        request.verify(&requester.sign.verifying_key()).unwrap();
        let forward = forward_of(&request, ring.encode(&link, &provider.id), &hub);
        forward.verify(&hub.verifying_key()).unwrap();
        forward.query.request.verify(&requester.certified()).unwrap();
        let answer = LinkageAnswer::seal(
            &forward.query,
            &requester.certified(),
            &provider.seal,
            &income(),
            UnixMillis(1_700_000_000_020),
        )
        .unwrap()
        .sign(&provider.sign, provider.cert.clone());
        answer.verify(&provider.sign.verifying_key()).unwrap();
        let receipt = receipt_of(&forward, &answer, &hub);
        Exchange {
            requester,
            provider,
            hub,
            request,
            forward,
            answer,
            receipt,
        }
    }

    fn receipt_of(forward: &SignedForward, answer: &SignedAnswer, hub: &SigningKey) -> SignedReceipt {
        HubReceipt {
            query_id: forward.query.query_id,
            request_digest: forward.query.request.digest(),
            answer_digest: answer.digest(),
            record_seq: 7,
            recorded_at: UnixMillis(1_700_000_000_030),
        }
        .sign(hub)
    }

    impl Exchange {
        fn check(
            &self,
            receipt: &SignedReceipt,
            answer: &SignedAnswer,
        ) -> Result<VerifiedAnswer, ReplyError> {
            receipt.verify_reply(
                &self.hub.verifying_key(),
                &self.request,
                answer,
                &self.provider.certified(),
                &self.requester.seal,
            )
        }
    }

    #[test]
    fn a_whole_exchange_verifies_in_both_suites() {
        for suite in Suite::ALL {
            let x = exchange(suite);
            let v = x.check(&x.receipt, &x.answer).unwrap();
            assert_eq!(v.record_seq, 7);
            match v.payload {
                AnswerPayload::Found { value, .. } => assert_eq!(value["taxable_income"], 4_200_000),
                other => panic!("expected data, got {other:?}"),
            }
            assert_eq!(x.forward.query.request.digest(), x.request.digest());
        }
    }

    #[test]
    fn the_provider_view_hides_the_requesters_code_but_carries_its_signature() {
        let x = exchange(Suite::default());
        let view = &x.forward.query.request;
        let code = x.request.request.subject.to_string();
        assert!(!format!("{view:?}").contains(&code));
        // The hub cannot change what was asked, or name another requester.
        let mut changed = view.clone();
        changed.core.item = ItemCode::parse("household").unwrap();
        assert!(changed.verify(&x.requester.certified()).is_err());
        let mut changed = view.clone();
        changed.hub_digest[0] ^= 1;
        assert!(changed.verify(&x.requester.certified()).is_err());
        // Another institution's certified key does not vouch for it.
        assert!(view.verify(&x.provider.certified()).is_err());
    }

    #[test]
    fn a_hub_cannot_invent_a_request() {
        let x = exchange(Suite::default());
        // The hub signs a request "from" the requester with its own key.
        let mut invented = x.request.request.clone();
        invented.message_id = MessageId::random();
        let invented = invented.sign(&x.hub, x.requester.cert.clone());
        let forward = forward_of(&invented, x.forward.query.subject.clone(), &x.hub);
        assert!(forward.verify(&x.hub.verifying_key()).is_ok());
        assert!(matches!(
            forward.query.request.verify(&x.requester.certified()),
            Err(CryptoError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn a_hub_cannot_forge_or_read_an_answer() {
        let x = exchange(Suite::default());
        // 1. Sealed to the requester with a key of the hub's, signed by the hub.
        let rogue = SealingKeyPair::generate(Suite::default().sealing());
        let forged = LinkageAnswer::seal(
            &x.forward.query,
            &x.requester.certified(),
            &rogue,
            &income(),
            UnixMillis(1_700_000_000_020),
        )
        .unwrap()
        .sign(&x.hub, x.provider.cert.clone());
        let receipt = receipt_of(&x.forward, &forged, &x.hub);
        assert!(matches!(
            x.check(&receipt, &forged),
            Err(ReplyError::BadAnswerSignature(_))
        ));
        // 2. The provider's genuine signature cannot be moved onto a
        //    re-sealed envelope.
        let mut resealed = forged.clone();
        resealed.signature = x.answer.signature.clone();
        let receipt = receipt_of(&x.forward, &resealed, &x.hub);
        assert!(matches!(
            x.check(&receipt, &resealed),
            Err(ReplyError::BadAnswerSignature(_))
        ));
        // 3. An answer certified for another institution than asked.
        let other = party(Suite::default(), 3003);
        assert!(matches!(
            x.receipt.verify_reply(
                &x.hub.verifying_key(),
                &x.request,
                &x.answer,
                &other.certified(),
                &x.requester.seal,
            ),
            Err(ReplyError::WrongProvider { .. })
        ));
        // 4. The hub holds no key that opens the envelope: the recipient is
        //    the requester's certified key.
        assert_eq!(&x.answer.answer.envelope.recipient, x.requester.seal.key_id());
        assert_eq!(
            x.answer.answer.envelope.sender.as_ref(),
            Some(x.provider.seal.key_id())
        );
        assert!(
            rogue
                .open_from(
                    &x.provider.seal.public_key(),
                    &x.answer.answer.envelope,
                    ANSWER_INFO,
                    &x.forward.query.answer_aad()
                )
                .is_err()
        );
    }

    #[test]
    fn an_answer_cannot_be_moved_to_another_request() {
        let x = exchange(Suite::default());
        // Same requester, another request: the receipt and the AAD no longer fit.
        let mut other = x.request.request.clone();
        other.message_id = MessageId::random();
        let other = other.sign(&x.requester.sign, x.requester.cert.clone());
        assert!(
            x.receipt
                .verify_reply(
                    &x.hub.verifying_key(),
                    &other,
                    &x.answer,
                    &x.provider.certified(),
                    &x.requester.seal
                )
                .is_err()
        );
        // A tampered ciphertext breaks the provider's signature.
        let mut tampered = x.answer.clone();
        tampered.answer.envelope.ciphertext[0] ^= 1;
        assert!(matches!(
            x.check(&x.receipt, &tampered),
            Err(ReplyError::BadAnswerSignature(_))
        ));
        // A receipt not signed by the hub is refused.
        let forged = x.receipt.receipt.clone().sign(&x.requester.sign);
        assert!(matches!(
            x.check(&forged, &x.answer),
            Err(ReplyError::BadReceipt(_))
        ));
    }

    #[test]
    fn sealing_refuses_a_key_certified_for_another_institution() {
        let x = exchange(Suite::default());
        // The hub cannot make the provider seal to a third party's key by
        // handing it a certificate of another institution.
        let other = party(Suite::default(), 3003);
        assert!(
            LinkageAnswer::seal(
                &x.forward.query,
                &other.certified(),
                &x.provider.seal,
                &income(),
                UnixMillis(1)
            )
            .is_err()
        );
    }

    #[test]
    fn every_request_field_is_signed() {
        let x = exchange(Suite::default());
        let key = x.requester.sign.verifying_key();
        let request = &x.request;
        let mut r = request.clone();
        r.request.fiscal_year = Some(FiscalYear::new(2024).unwrap());
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.item = ItemCode::parse("household").unwrap();
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.subject = CodeKeyring::generate().encode(&LinkId::random(), &x.requester.id);
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.consent = ConsentRef::parse("grant-1");
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.issued_at = UnixMillis(r.request.issued_at.0 + 1);
        assert!(r.verify(&key).is_err());
        assert_ne!(r.digest(), request.digest());
    }

    #[test]
    fn a_push_payload_opens_only_at_the_provider_from_the_certified_sender() {
        let x = exchange(Suite::default());
        let mut request = x.request.request.clone();
        request.message_id = MessageId::random();
        let mut core = request.core();
        core.seal_payload(&x.requester.seal, &x.provider.certified(), b"notice text")
            .unwrap();
        request.payload = core.payload.clone();
        let signed = request.sign(&x.requester.sign, x.requester.cert.clone());
        let view = signed.provider_view();
        view.verify(&x.requester.certified()).unwrap();
        let plain = view
            .core
            .open_payload(&x.provider.seal, &x.requester.certified())
            .unwrap()
            .unwrap();
        assert_eq!(&*plain, b"notice text");
        // The payload is signed: the hub cannot swap it for one of its own.
        let hub_seal = SealingKeyPair::generate(Suite::default().sealing());
        let mut swapped = view.clone();
        swapped
            .core
            .seal_payload(&hub_seal, &x.provider.certified(), b"forged")
            .unwrap();
        assert!(swapped.verify(&x.requester.certified()).is_err());
        // Nor move it to another request: the AAD names the message.
        let mut moved = view.core.clone();
        moved.message_id = MessageId::random();
        assert!(
            moved
                .open_payload(&x.provider.seal, &x.requester.certified())
                .is_err()
        );
        // Another institution's key does not open it, nor another sender's.
        assert!(
            view.core
                .open_payload(&x.requester.seal, &x.requester.certified())
                .is_err()
        );
        assert!(
            view.core
                .open_payload(&x.provider.seal, &x.provider.certified())
                .is_err()
        );
    }
}
