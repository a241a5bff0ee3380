use time::OffsetDateTime;

use crate::{CardProfile, CertPurpose, KeyError};

/// Errors of the card CA and of certificate handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the key is of profile {found}, this CA issues {expected}")]
    WrongProfile {
        expected: CardProfile,
        found: CardProfile,
    },
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("not a card CA certificate: {0}")]
    NotCa(String),
}

/// Why a card certificate is not accepted. Each names what is wrong; none
/// carries a personal fact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardCertError {
    #[error("the card certificate is malformed: {0}")]
    Malformed(String),
    #[error("the certificate was not issued by a card CA this service trusts")]
    UnknownIssuer,
    #[error("the certificate's signature does not verify against its CA")]
    BadSignature,
    #[error("this is a {found} certificate; a {expected} certificate is needed")]
    WrongPurpose {
        expected: CertPurpose,
        found: CertPurpose,
    },
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("the certificate is not valid before {0}")]
    NotYetValid(OffsetDateTime),
    #[error("the certificate expired at {0}")]
    Expired(OffsetDateTime),
    #[error("the certificate was revoked at {at} ({reason})")]
    Revoked {
        at: OffsetDateTime,
        reason: &'static str,
    },
    #[error("the card is suspended (since {0})")]
    Suspended(OffsetDateTime),
    #[error("the revocation status cannot be established: {0}")]
    RevocationUnknown(String),
}

impl CardCertError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "certificate_malformed",
            Self::UnknownIssuer => "unknown_issuer",
            Self::BadSignature => "certificate_signature_invalid",
            Self::WrongPurpose { .. } => "wrong_certificate_purpose",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::NotYetValid(_) => "certificate_not_yet_valid",
            Self::Expired(_) => "certificate_expired",
            Self::Revoked { .. } => "certificate_revoked",
            Self::Suspended(_) => "card_suspended",
            Self::RevocationUnknown(_) => "revocation_status_unknown",
        }
    }
}
