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

/// "For office work W, give me item I about the person with my code C."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageRequest {
    pub message_id: MessageId,
    pub requester: CorporateNumber,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// The requester's own institution code for the person.
    pub subject: InstitutionCode,
    pub issued_at: UnixMillis,
    /// The person's consent this request relies on, if any; the hub keeps
    /// it in the provision record (and its log leaf).
    pub consent: Option<ConsentRef>,
}

impl LinkageRequest {
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("renkei/linkage-request/v1")
            .str(&self.message_id.to_string())
            .str(&self.requester.to_string())
            .str(&self.provider.to_string())
            .str(self.office_work.as_str())
            .str(self.item.as_str())
            .opt_u64(self.fiscal_year.map(|y| u64::from(y.get())))
            .str(&self.subject.to_string())
            .i64(self.issued_at.0)
            .str(self.consent.as_ref().map_or("", ConsentRef::as_str))
            .finish()
    }

    pub fn sign(self, key: &SigningKey) -> SignedRequest {
        let signature = key.sign(&self.signing_bytes());
        SignedRequest {
            request: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub request: LinkageRequest,
    pub signature: Signature,
}

impl SignedRequest {
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CryptoError> {
        key.verify(&self.request.signing_bytes(), &self.signature)
    }

    /// The digest every later message of this linkage is bound to.
    pub fn digest(&self) -> Digest32 {
        let canon = Canon::new("renkei/request-digest/v1")
            .bytes(&self.request.signing_bytes())
            .signature(&self.signature)
            .finish();
        sha256(&[&canon])
    }
}

/// The hub's forward to the provider: the provider's code instead of the
/// requester's, the requester's HPKE key to seal the answer to, and the
/// permission-table row that allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedQuery {
    pub query_id: QueryId,
    pub request_digest: Digest32,
    pub requester: CorporateNumber,
    pub requester_key: SealingPublicKey,
    pub provider: CorporateNumber,
    pub office_work: OfficeWorkCode,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
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
        let c = Canon::new("renkei/forwarded-query/v1")
            .str(&self.query_id.to_string())
            .bytes(&self.request_digest)
            .str(&self.requester.to_string())
            .str(self.requester_key.algorithm().name())
            .bytes(self.requester_key.to_bytes())
            .str(&self.provider.to_string())
            .str(self.office_work.as_str())
            .str(self.item.as_str())
            .opt_u64(self.fiscal_year.map(|y| u64::from(y.get())))
            .str(&self.subject.to_string())
            .u64(self.previous_subjects.len() as u64);
        let mut c = c;
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
            &self.request_digest,
            &self.provider,
            &self.requester,
        )
    }
}

fn answer_aad(
    query_id: &QueryId,
    request_digest: &Digest32,
    provider: &CorporateNumber,
    requester: &CorporateNumber,
) -> Vec<u8> {
    Canon::new("renkei/answer-aad/v1")
        .str(&query_id.to_string())
        .bytes(request_digest)
        .str(&provider.to_string())
        .str(&requester.to_string())
        .finish()
}

const ANSWER_INFO: &[u8] = b"renkei/answer/v1";

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
    /// Seal `payload` to the requester named in `query`.
    pub fn seal(
        query: &ForwardedQuery,
        payload: &AnswerPayload,
        now: UnixMillis,
    ) -> Result<Self, CryptoError> {
        let envelope = query
            .requester_key
            .seal(ANSWER_INFO, &query.answer_aad(), &payload.to_bytes())?;
        Ok(Self {
            query_id: query.query_id,
            request_digest: query.request_digest,
            provider: query.provider,
            requester: query.requester,
            envelope,
            answered_at: now,
        })
    }

    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("renkei/linkage-answer/v1")
            .str(&self.query_id.to_string())
            .bytes(&self.request_digest)
            .str(&self.provider.to_string())
            .str(&self.requester.to_string())
            .str(self.envelope.algorithm.name())
            .str(self.envelope.recipient.as_str())
            .bytes(&self.envelope.enc)
            .bytes(&self.envelope.ciphertext)
            .i64(self.answered_at.0)
            .finish()
    }

    pub fn sign(self, provider_key: &SigningKey) -> SignedAnswer {
        let signature = provider_key.sign(&self.signing_bytes());
        SignedAnswer {
            answer: self,
            signature,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAnswer {
    pub answer: LinkageAnswer,
    pub signature: Signature,
}

impl SignedAnswer {
    pub fn verify(&self, provider_key: &VerifyingKey) -> Result<(), CryptoError> {
        provider_key.verify(&self.answer.signing_bytes(), &self.signature)
    }

    pub fn digest(&self) -> Digest32 {
        let canon = Canon::new("renkei/answer-digest/v1")
            .bytes(&self.answer.signing_bytes())
            .signature(&self.signature)
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

impl SignedReceipt {
    /// The requester's check of the hub's reply to its own `request`: the
    /// receipt is the hub's, it covers this request and this answer, and the
    /// envelope opens with the requester's key under the request's binding.
    pub fn verify_reply(
        &self,
        hub_key: &VerifyingKey,
        request: &SignedRequest,
        answer: &SignedAnswer,
        own_key: &SealingKeyPair,
    ) -> Result<VerifiedAnswer, CryptoError> {
        hub_key.verify(&self.receipt.signing_bytes(), &self.signature)?;
        let digest = request.digest();
        let bound = |ok: bool, reason| {
            if ok {
                Ok(())
            } else {
                Err(CryptoError::Malformed {
                    what: "hub reply",
                    reason,
                })
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
            &answer.answer.provider,
            &request.request.requester,
        );
        let plain = own_key.open(&answer.answer.envelope, ANSWER_INFO, &aad)?;
        Ok(VerifiedAnswer {
            query_id: answer.answer.query_id,
            provider: answer.answer.provider,
            payload: AnswerPayload::from_bytes(&plain)?,
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
    }

    fn party(suite: Suite, n: u64) -> Party {
        Party {
            id: CorporateNumber::from_base_number(n).unwrap(),
            sign: SigningKey::generate(suite.signature()),
            seal: SealingKeyPair::generate(suite.sealing()),
        }
    }

    fn exchange(suite: Suite) -> (Party, SigningKey, SignedRequest, SignedAnswer, SignedReceipt) {
        let requester = party(suite, 1001);
        let provider = party(suite, 2002);
        let hub = SigningKey::generate(suite.signature());
        let ring = CodeKeyring::generate();
        let link = LinkId::random();
        let request = LinkageRequest {
            message_id: MessageId::random(),
            requester: requester.id,
            provider: provider.id,
            office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
            item: ItemCode::parse("resident_tax_income").unwrap(),
            fiscal_year: Some(FiscalYear::new(2025).unwrap()),
            subject: ring.encode(&link, &requester.id),
            issued_at: UnixMillis(1_700_000_000_000),
            consent: None,
        }
        .sign(&requester.sign);
        request.verify(&requester.sign.verifying_key()).unwrap();
        let forward = ForwardedQuery {
            query_id: QueryId::random(),
            request_digest: request.digest(),
            requester: requester.id,
            requester_key: requester.seal.public_key(),
            provider: provider.id,
            office_work: request.request.office_work.clone(),
            item: request.request.item.clone(),
            fiscal_year: request.request.fiscal_year,
            subject: ring.encode(&link, &provider.id),
            previous_subjects: Vec::new(),
            table_row: TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            },
            non_disclosure: false,
            forwarded_at: UnixMillis(1_700_000_000_010),
        }
        .sign(&hub);
        forward.verify(&hub.verifying_key()).unwrap();
        let payload = AnswerPayload::Found {
            value: serde_json::json!({"taxable_income": 4_200_000}),
            updated_at_ms: 1,
        };
        let answer = LinkageAnswer::seal(&forward.query, &payload, UnixMillis(1_700_000_000_020))
            .unwrap()
            .sign(&provider.sign);
        answer.verify(&provider.sign.verifying_key()).unwrap();
        let receipt = HubReceipt {
            query_id: forward.query.query_id,
            request_digest: request.digest(),
            answer_digest: answer.digest(),
            record_seq: 7,
            recorded_at: UnixMillis(1_700_000_000_030),
        }
        .sign(&hub);
        (requester, hub, request, answer, receipt)
    }

    #[test]
    fn a_whole_exchange_verifies_in_both_suites() {
        for suite in Suite::ALL {
            let (requester, hub, request, answer, receipt) = exchange(suite);
            let v = receipt
                .verify_reply(&hub.verifying_key(), &request, &answer, &requester.seal)
                .unwrap();
            assert_eq!(v.record_seq, 7);
            match v.payload {
                AnswerPayload::Found { value, .. } => assert_eq!(value["taxable_income"], 4_200_000),
                AnswerPayload::NoData => panic!("expected data"),
            }
        }
    }

    #[test]
    fn an_answer_cannot_be_moved_to_another_request() {
        let (requester, hub, request, answer, receipt) = exchange(Suite::default());
        // Same requester, another request: the receipt and the AAD no longer fit.
        let mut other = request.request.clone();
        other.message_id = MessageId::random();
        let other = other.sign(&requester.sign);
        assert!(
            receipt
                .verify_reply(&hub.verifying_key(), &other, &answer, &requester.seal)
                .is_err()
        );
        // A tampered ciphertext breaks the receipt's answer digest.
        let mut tampered = answer.clone();
        tampered.answer.envelope.ciphertext[0] ^= 1;
        assert!(
            receipt
                .verify_reply(&hub.verifying_key(), &request, &tampered, &requester.seal)
                .is_err()
        );
        // A receipt not signed by the hub is refused.
        let forged = receipt.receipt.clone().sign(&requester.sign);
        assert!(
            forged
                .verify_reply(&hub.verifying_key(), &request, &answer, &requester.seal)
                .is_err()
        );
    }

    #[test]
    fn every_request_field_is_signed() {
        let (requester, _, request, _, _) = exchange(Suite::default());
        let key = requester.sign.verifying_key();
        let mut r = request.clone();
        r.request.fiscal_year = Some(FiscalYear::new(2024).unwrap());
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.item = ItemCode::parse("household").unwrap();
        assert!(r.verify(&key).is_err());
        let mut r = request.clone();
        r.request.issued_at = UnixMillis(r.request.issued_at.0 + 1);
        assert!(r.verify(&key).is_err());
        assert_ne!(r.digest(), request.digest());
    }
}
