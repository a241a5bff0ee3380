//! The card PKI's API: issuance, lookup, status and resolution.

use crate::net::CodeDeliveryWire;
use serde::{Deserialize, Serialize};

/// Issue a card to the resident with this My Number (the municipal window
/// does this with the card in hand; the My Number stays on this surface).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCardRequest {
    pub my_number: String,
    pub profile: String,
    /// PEM (or base64 DER) SubjectPublicKeyInfo of the card's
    /// authentication key.
    pub auth_public_key: String,
    pub sign_public_key: String,
}

impl std::fmt::Debug for IssueCardRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssueCardRequest(<redacted>, {})", self.profile)
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardLookupRequest {
    pub my_number: String,
}

impl std::fmt::Debug for CardLookupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardLookupRequest(<redacted>)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewSigningRequest {
    pub sign_public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardCertWire {
    pub serial: String,
    pub purpose: String,
    pub standing: String,
    pub issued_at: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardWire {
    pub card_id: u64,
    pub profile: String,
    pub status: String,
    pub status_since: i64,
    pub issued_at: i64,
    pub certificates: Vec<CardCertWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCard {
    pub card: CardWire,
    /// PEM.
    pub auth_certificate: String,
    pub sign_certificate: String,
    /// The earlier card this one replaced (now reissued, its certificates
    /// superseded).
    pub replaced_card: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewedSigning {
    pub card: CardWire,
    pub sign_certificate: String,
}

/// A card's standing as a relying party sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardStatusWire {
    pub serial: String,
    pub purpose: String,
    pub profile: String,
    pub card_id: u64,
    pub card_status: String,
    /// good | suspended | revoked | expired
    pub standing: String,
    pub revoked_reason: Option<String>,
    /// When the card's status last changed (suspension, resumption, ...).
    pub status_since: i64,
    pub not_after: i64,
}

/// Resolve a card's authentication certificate into the requesting
/// institution's code for its holder — only with the card's signature over
/// a fresh challenge, which the registry checks itself: the certificate is
/// public, possession of the card is not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveCardRequest {
    /// The authentication certificate, base64 DER or PEM.
    pub certificate: String,
    /// The exact challenge text the card signed (see
    /// `renkei_card::ChallengeHeader`).
    pub challenge: String,
    /// The card's signature over it, base64 (standard alphabet).
    pub signature: String,
    /// A person proof for the resolving institution: `session` after a
    /// login challenge, `consent` with the grant its confirmation names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<crate::net::ProofIssueWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedCard {
    pub acquisition_number: String,
    /// The requester's code for the holder, sealed to the requester (and
    /// the person proof asked for, sealed likewise).
    pub delivery: CodeDeliveryWire,
    pub card: CardStatusWire,
}
