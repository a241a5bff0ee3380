//! JSON wire types. Binary values are unpadded base64url; identifiers are
//! their text forms. Every `TryFrom` names the field at fault.

use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{
    Envelope, KeyId, SealingAlgorithm, SealingPublicKey, Signature, SignatureAlgorithm, VerifyingKey, b64,
    unb64,
};
use renkei_ids::{AcquisitionNumber, CorporateNumber, InstitutionCode, MessageId, QueryId};
use renkei_protocol::{
    CodeDelivery, FiscalYear, ForwardedQuery, HubReceipt, LinkageAnswer, LinkageRequest, RequestCore,
    RequestView, SignedAnswer, SignedForward, SignedReceipt, SignedRequest, UnixMillis,
};
use serde::{Deserialize, Serialize};

/// A wire value that does not convert; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct WireError {
    pub field: &'static str,
    pub message: String,
}

pub fn field<T, E: std::fmt::Display>(field: &'static str, r: Result<T, E>) -> Result<T, WireError> {
    r.map_err(|e| WireError {
        field,
        message: e.to_string(),
    })
}

fn digest(name: &'static str, s: &str) -> Result<[u8; 32], WireError> {
    let v = field(name, unb64("digest", s))?;
    v.try_into().map_err(|_| WireError {
        field: name,
        message: "must be 32 bytes".into(),
    })
}

fn fiscal(v: Option<u16>) -> Result<Option<FiscalYear>, WireError> {
    v.map(|y| field("fiscal_year", FiscalYear::new(y))).transpose()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureWire {
    pub alg: String,
    pub kid: String,
    pub sig: String,
}

impl From<&Signature> for SignatureWire {
    fn from(s: &Signature) -> Self {
        Self {
            alg: s.algorithm.name().into(),
            kid: s.key_id.to_string(),
            sig: b64(&s.bytes),
        }
    }
}

impl TryFrom<&SignatureWire> for Signature {
    type Error = WireError;
    fn try_from(w: &SignatureWire) -> Result<Self, WireError> {
        Ok(Signature {
            algorithm: field("signature.alg", SignatureAlgorithm::parse(&w.alg))?,
            key_id: field("signature.kid", KeyId::parse(&w.kid))?,
            bytes: field("signature.sig", unb64("signature", &w.sig))?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeWire {
    pub alg: String,
    /// The recipient's key id.
    pub kid: String,
    /// The sender's key id, in HPKE auth mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skid: Option<String>,
    pub enc: String,
    pub ct: String,
}

impl From<&Envelope> for EnvelopeWire {
    fn from(e: &Envelope) -> Self {
        Self {
            alg: e.algorithm.name().into(),
            kid: e.recipient.to_string(),
            skid: e.sender.as_ref().map(ToString::to_string),
            enc: b64(&e.enc),
            ct: b64(&e.ciphertext),
        }
    }
}

impl TryFrom<&EnvelopeWire> for Envelope {
    type Error = WireError;
    fn try_from(w: &EnvelopeWire) -> Result<Self, WireError> {
        Ok(Envelope {
            algorithm: field("envelope.alg", SealingAlgorithm::parse(&w.alg))?,
            recipient: field("envelope.kid", KeyId::parse(&w.kid))?,
            sender: w
                .skid
                .as_deref()
                .map(|k| field("envelope.skid", KeyId::parse(k)))
                .transpose()?,
            enc: field("envelope.enc", unb64("enc", &w.enc))?,
            ciphertext: field("envelope.ct", unb64("ct", &w.ct))?,
        })
    }
}

/// A public key with its algorithm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyWire {
    pub alg: String,
    pub key: String,
}

impl From<&SealingPublicKey> for PublicKeyWire {
    fn from(k: &SealingPublicKey) -> Self {
        Self {
            alg: k.algorithm().name().into(),
            key: b64(k.to_bytes()),
        }
    }
}

impl From<&VerifyingKey> for PublicKeyWire {
    fn from(k: &VerifyingKey) -> Self {
        Self {
            alg: k.algorithm().name().into(),
            key: b64(&k.to_bytes()),
        }
    }
}

impl PublicKeyWire {
    pub fn sealing(&self, name: &'static str) -> Result<SealingPublicKey, WireError> {
        let alg = field(name, SealingAlgorithm::parse(&self.alg))?;
        field(
            name,
            SealingPublicKey::from_bytes(alg, &field(name, unb64("key", &self.key))?),
        )
    }

    pub fn verifying(&self, name: &'static str) -> Result<VerifyingKey, WireError> {
        let alg = field(name, SignatureAlgorithm::parse(&self.alg))?;
        field(
            name,
            VerifyingKey::from_bytes(alg, &field(name, unb64("key", &self.key))?),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageRequestWire {
    pub message_id: String,
    pub requester: String,
    pub provider: String,
    pub office_work: String,
    pub item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year: Option<u16>,
    pub subject: String,
    pub issued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// The hub's person proof (its text form), for office works done for
    /// the person themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_proof: Option<String>,
    /// A push's payload, sealed to the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<EnvelopeWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequestWire {
    pub request: LinkageRequestWire,
    pub signature: SignatureWire,
    /// The requester's network certificate, DER in base64url.
    pub certificate: String,
}

/// Largest certificate accepted inside a message (DER bytes).
const MAX_CERTIFICATE: usize = 8 * 1024;

fn certificate(name: &'static str, s: &str) -> Result<Vec<u8>, WireError> {
    let der = field(name, unb64("certificate", s))?;
    if der.is_empty() || der.len() > MAX_CERTIFICATE {
        return Err(WireError {
            field: name,
            message: format!("must be 1 to {MAX_CERTIFICATE} bytes of DER"),
        });
    }
    Ok(der)
}

impl From<&SignedRequest> for SignedRequestWire {
    fn from(s: &SignedRequest) -> Self {
        let r = &s.request;
        Self {
            request: LinkageRequestWire {
                message_id: r.message_id.to_string(),
                requester: r.requester.to_string(),
                provider: r.provider.to_string(),
                office_work: r.office_work.to_string(),
                item: r.item.to_string(),
                fiscal_year: r.fiscal_year.map(FiscalYear::get),
                subject: r.subject.to_string(),
                issued_at: r.issued_at.0,
                consent: r.consent.as_ref().map(|c| c.as_str().to_owned()),
                person_proof: r
                    .person_proof
                    .as_ref()
                    .map(renkei_protocol::SignedPersonProof::to_text),
                payload: r.payload.as_ref().map(Into::into),
            },
            signature: (&s.signature).into(),
            certificate: b64(&s.certificate),
        }
    }
}

impl TryFrom<&SignedRequestWire> for SignedRequest {
    type Error = WireError;
    fn try_from(w: &SignedRequestWire) -> Result<Self, WireError> {
        let r = &w.request;
        Ok(SignedRequest {
            request: LinkageRequest {
                message_id: field("request.message_id", MessageId::parse(&r.message_id))?,
                requester: field("request.requester", CorporateNumber::parse(&r.requester))?,
                provider: field("request.provider", CorporateNumber::parse(&r.provider))?,
                office_work: field("request.office_work", OfficeWorkCode::parse(&r.office_work))?,
                item: field("request.item", ItemCode::parse(&r.item))?,
                fiscal_year: fiscal(r.fiscal_year)?,
                subject: field("request.subject", InstitutionCode::parse(&r.subject))?,
                issued_at: UnixMillis(r.issued_at),
                consent: r
                    .consent
                    .as_deref()
                    .map(|c| {
                        renkei_protocol::ConsentRef::parse(c).ok_or_else(|| WireError {
                            field: "request.consent",
                            message: "1 to 64 characters of A-Z a-z 0-9 _ -".into(),
                        })
                    })
                    .transpose()?,
                person_proof: r
                    .person_proof
                    .as_deref()
                    .map(|p| {
                        field(
                            "request.person_proof",
                            renkei_protocol::SignedPersonProof::parse(p),
                        )
                    })
                    .transpose()?,
                payload: r.payload.as_ref().map(TryInto::try_into).transpose()?,
            },
            signature: (&w.signature).try_into()?,
            certificate: certificate("certificate", &w.certificate)?,
        })
    }
}

/// The requester's signed request as the provider receives it: no code
/// for the person, only the digest of the fields the hub alone reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestViewWire {
    pub message_id: String,
    pub requester: String,
    pub provider: String,
    pub office_work: String,
    pub item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year: Option<u16>,
    pub issued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<EnvelopeWire>,
    pub hub_digest: String,
    pub signature: SignatureWire,
    pub certificate: String,
}

impl From<&RequestView> for RequestViewWire {
    fn from(v: &RequestView) -> Self {
        let c = &v.core;
        Self {
            message_id: c.message_id.to_string(),
            requester: c.requester.to_string(),
            provider: c.provider.to_string(),
            office_work: c.office_work.to_string(),
            item: c.item.to_string(),
            fiscal_year: c.fiscal_year.map(FiscalYear::get),
            issued_at: c.issued_at.0,
            payload: c.payload.as_ref().map(Into::into),
            hub_digest: b64(&v.hub_digest),
            signature: (&v.signature).into(),
            certificate: b64(&v.certificate),
        }
    }
}

impl TryFrom<&RequestViewWire> for RequestView {
    type Error = WireError;
    fn try_from(w: &RequestViewWire) -> Result<Self, WireError> {
        Ok(RequestView {
            core: RequestCore {
                message_id: field("request.message_id", MessageId::parse(&w.message_id))?,
                requester: field("request.requester", CorporateNumber::parse(&w.requester))?,
                provider: field("request.provider", CorporateNumber::parse(&w.provider))?,
                office_work: field("request.office_work", OfficeWorkCode::parse(&w.office_work))?,
                item: field("request.item", ItemCode::parse(&w.item))?,
                fiscal_year: fiscal(w.fiscal_year)?,
                issued_at: UnixMillis(w.issued_at),
                payload: w.payload.as_ref().map(TryInto::try_into).transpose()?,
            },
            hub_digest: digest("request.hub_digest", &w.hub_digest)?,
            signature: (&w.signature).try_into()?,
            certificate: certificate("request.certificate", &w.certificate)?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedQueryWire {
    pub query_id: String,
    pub request: RequestViewWire,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_subjects: Vec<String>,
    pub table_version: String,
    pub row_id: String,
    pub non_disclosure: bool,
    pub forwarded_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedForwardWire {
    pub query: ForwardedQueryWire,
    pub signature: SignatureWire,
}

impl From<&SignedForward> for SignedForwardWire {
    fn from(s: &SignedForward) -> Self {
        let q = &s.query;
        Self {
            query: ForwardedQueryWire {
                query_id: q.query_id.to_string(),
                request: (&q.request).into(),
                subject: q.subject.to_string(),
                previous_subjects: q.previous_subjects.iter().map(ToString::to_string).collect(),
                table_version: q.table_row.table_version.clone(),
                row_id: q.table_row.row_id.to_string(),
                non_disclosure: q.non_disclosure,
                forwarded_at: q.forwarded_at.0,
            },
            signature: (&s.signature).into(),
        }
    }
}

impl TryFrom<&SignedForwardWire> for SignedForward {
    type Error = WireError;
    fn try_from(w: &SignedForwardWire) -> Result<Self, WireError> {
        let q = &w.query;
        Ok(SignedForward {
            query: ForwardedQuery {
                query_id: field("query.query_id", QueryId::parse(&q.query_id))?,
                request: (&q.request).try_into()?,
                subject: field("query.subject", InstitutionCode::parse(&q.subject))?,
                previous_subjects: q
                    .previous_subjects
                    .iter()
                    .take(8)
                    .map(|c| field("query.previous_subjects", InstitutionCode::parse(c)))
                    .collect::<Result<_, _>>()?,
                table_row: TableRowRef {
                    table_version: q.table_version.clone(),
                    row_id: field("query.row_id", RowId::parse(&q.row_id))?,
                },
                non_disclosure: q.non_disclosure,
                forwarded_at: UnixMillis(q.forwarded_at),
            },
            signature: (&w.signature).try_into()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageAnswerWire {
    pub query_id: String,
    pub request_digest: String,
    pub provider: String,
    pub requester: String,
    pub envelope: EnvelopeWire,
    pub answered_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnswerWire {
    pub answer: LinkageAnswerWire,
    pub signature: SignatureWire,
    /// The provider's network certificate, DER in base64url.
    pub certificate: String,
}

impl From<&SignedAnswer> for SignedAnswerWire {
    fn from(s: &SignedAnswer) -> Self {
        let a = &s.answer;
        Self {
            answer: LinkageAnswerWire {
                query_id: a.query_id.to_string(),
                request_digest: b64(&a.request_digest),
                provider: a.provider.to_string(),
                requester: a.requester.to_string(),
                envelope: (&a.envelope).into(),
                answered_at: a.answered_at.0,
            },
            signature: (&s.signature).into(),
            certificate: b64(&s.certificate),
        }
    }
}

impl TryFrom<&SignedAnswerWire> for SignedAnswer {
    type Error = WireError;
    fn try_from(w: &SignedAnswerWire) -> Result<Self, WireError> {
        let a = &w.answer;
        Ok(SignedAnswer {
            answer: LinkageAnswer {
                query_id: field("answer.query_id", QueryId::parse(&a.query_id))?,
                request_digest: digest("answer.request_digest", &a.request_digest)?,
                provider: field("answer.provider", CorporateNumber::parse(&a.provider))?,
                requester: field("answer.requester", CorporateNumber::parse(&a.requester))?,
                envelope: (&a.envelope).try_into()?,
                answered_at: UnixMillis(a.answered_at),
            },
            signature: (&w.signature).try_into()?,
            certificate: certificate("certificate", &w.certificate)?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubReceiptWire {
    pub query_id: String,
    pub request_digest: String,
    pub answer_digest: String,
    pub record_seq: u64,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceiptWire {
    pub receipt: HubReceiptWire,
    pub signature: SignatureWire,
}

impl From<&SignedReceipt> for SignedReceiptWire {
    fn from(s: &SignedReceipt) -> Self {
        let r = &s.receipt;
        Self {
            receipt: HubReceiptWire {
                query_id: r.query_id.to_string(),
                request_digest: b64(&r.request_digest),
                answer_digest: b64(&r.answer_digest),
                record_seq: r.record_seq,
                recorded_at: r.recorded_at.0,
            },
            signature: (&s.signature).into(),
        }
    }
}

impl TryFrom<&SignedReceiptWire> for SignedReceipt {
    type Error = WireError;
    fn try_from(w: &SignedReceiptWire) -> Result<Self, WireError> {
        let r = &w.receipt;
        Ok(SignedReceipt {
            receipt: HubReceipt {
                query_id: field("receipt.query_id", QueryId::parse(&r.query_id))?,
                request_digest: digest("receipt.request_digest", &r.request_digest)?,
                answer_digest: digest("receipt.answer_digest", &r.answer_digest)?,
                record_seq: r.record_seq,
                recorded_at: UnixMillis(r.recorded_at),
            },
            signature: (&w.signature).try_into()?,
        })
    }
}

/// The hub's answer to a linkage request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubReplyWire {
    pub answer: SignedAnswerWire,
    pub receipt: SignedReceiptWire,
}

/// Registry → hub: issue codes for people the registry identified.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeIssueWire {
    pub institution: String,
    pub entries: Vec<CodeIssueEntryWire>,
    /// With exactly one entry: the registry verified that person's card over
    /// a fresh challenge, and asks for a person proof for the institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofIssueWire>,
}

/// What a person proof is asked for (see `renkei_protocol::PersonProof`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofIssueWire {
    /// `session` or `consent`.
    pub purpose: String,
    /// The consent grant, for `consent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// Until when it should hold (Unix ms); the hub caps it by purpose.
    pub until: i64,
    /// SHA-256 of the challenge text the card signed, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub card_challenge: String,
}

impl ProofIssueWire {
    pub fn purpose(&self) -> Result<renkei_protocol::ProofPurpose, WireError> {
        let bad = |m: &str| WireError {
            field: "proof.purpose",
            message: m.to_owned(),
        };
        match (self.purpose.as_str(), self.grant.as_deref()) {
            ("session", None) => Ok(renkei_protocol::ProofPurpose::Session),
            ("consent", Some(g)) => renkei_protocol::ConsentRef::parse(g)
                .map(renkei_protocol::ProofPurpose::Consent)
                .ok_or_else(|| bad("grant: 1 to 64 characters of A-Z a-z 0-9 _ -")),
            ("session", Some(_)) => Err(bad("a session proof names no grant")),
            ("consent", None) => Err(bad("a consent proof names its grant")),
            _ => Err(bad("must be session or consent")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeIssueEntryWire {
    pub acquisition_number: String,
    /// The link id, base64url: only ever between the registry and the hub.
    pub link_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeDeliveryWire {
    pub institution: String,
    pub envelope: EnvelopeWire,
    /// The person proof asked for, sealed to the institution like the codes
    /// (it names the institution's code for the person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<EnvelopeWire>,
}

impl From<&CodeDelivery> for CodeDeliveryWire {
    fn from(d: &CodeDelivery) -> Self {
        Self {
            institution: d.institution.to_string(),
            envelope: (&d.envelope).into(),
            proof: None,
        }
    }
}

impl TryFrom<&CodeDeliveryWire> for CodeDelivery {
    type Error = WireError;
    fn try_from(w: &CodeDeliveryWire) -> Result<Self, WireError> {
        Ok(CodeDelivery {
            institution: field("institution", CorporateNumber::parse(&w.institution))?,
            envelope: (&w.envelope).try_into()?,
        })
    }
}

/// Node → registry: codes for these people, identified by My Number and the
/// four facts the institution has on file — or, for a statutory filing, by
/// My Number with the name and date of birth the filed record carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestWire {
    pub institution: String,
    pub entries: Vec<CodeRequestEntryWire>,
    /// `four_facts` (when absent) or `statutory_filing` (only for the
    /// institutions the registry lets enrol from statutory filings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

/// The basis of a code request by a statutory filing.
pub const STATUTORY_FILING_BASIS: &str = "statutory_filing";

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestEntryWire {
    pub acquisition_number: String,
    pub my_number: String,
    pub name: String,
    /// Required on the four-facts basis, absent on a statutory filing's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub birth_date: String,
    /// As `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<u8>,
}

impl std::fmt::Debug for CodeRequestEntryWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeRequestEntryWire({}, <redacted>)", self.acquisition_number)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeResponseWire {
    /// Codes for the entries that were identified; `None` when none was.
    pub delivery: Option<CodeDeliveryWire>,
    /// The acquisition numbers the delivery covers.
    pub issued: Vec<String>,
    pub refused: Vec<RefusalWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalWire {
    pub acquisition_number: String,
    pub code: String,
    pub message: String,
}

pub fn acquisition(name: &'static str, s: &str) -> Result<AcquisitionNumber, WireError> {
    field(name, AcquisitionNumber::parse(s))
}

/// An institution's codes to exchange for current ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRefreshWire {
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRefreshReplyWire {
    /// In the order asked.
    pub codes: Vec<RefreshedCodeWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshedCodeWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
