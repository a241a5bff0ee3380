//! The two card generations and the two certificates on every card.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The algorithm generation of a card. Cards in circulation carry RSA-2048
/// keys signed with SHA-256; cards issued from 2026 carry ECDSA P-384 keys
/// signed with SHA-384. A verifier accepts both; a CA issues one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CardProfile {
    #[serde(rename = "rsa2048-sha256")]
    Rsa2048Sha256,
    #[serde(rename = "p384-sha384")]
    EcdsaP384Sha384,
}

impl CardProfile {
    pub const ALL: [CardProfile; 2] = [CardProfile::Rsa2048Sha256, CardProfile::EcdsaP384Sha384];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa2048Sha256 => "rsa2048-sha256",
            Self::EcdsaP384Sha384 => "p384-sha384",
        }
    }

    /// The signature algorithm OID of certificates, CRLs and challenge
    /// signatures under this profile.
    pub(crate) fn signature_oid(self) -> &'static [u64] {
        match self {
            Self::Rsa2048Sha256 => crate::der::OID_SHA256_WITH_RSA,
            Self::EcdsaP384Sha384 => crate::der::OID_ECDSA_WITH_SHA384,
        }
    }

    /// What a person reads in the portal and the card app.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rsa2048Sha256 => "RSA-2048 / SHA-256",
            Self::EcdsaP384Sha384 => "ECDSA P-384 / SHA-384",
        }
    }
}

impl fmt::Display for CardProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown card profile {0:?}; expected rsa2048-sha256 or p384-sha384")]
pub struct UnknownProfile(pub String);

impl FromStr for CardProfile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rsa2048-sha256" | "rsa" => Ok(Self::Rsa2048Sha256),
            "p384-sha384" | "p384" | "ecdsa" => Ok(Self::EcdsaP384Sha384),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

/// Which of the card's two certificates: the authentication certificate
/// (利用者証明用電子証明書: proves "this is the card's holder", carries no
/// personal facts) or the signing certificate (署名用電子証明書: carries the
/// four basic facts; revoked whenever one of them changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertPurpose {
    Authentication,
    Signing,
}

impl CertPurpose {
    pub const ALL: [CertPurpose; 2] = [CertPurpose::Authentication, CertPurpose::Signing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "auth",
            Self::Signing => "sign",
        }
    }

    /// The organisational unit naming the CA, as JPKI spells it.
    pub(crate) fn ca_unit(self) -> &'static str {
        match self {
            Self::Authentication => "JPKI for user authentication",
            Self::Signing => "JPKI for digital signature",
        }
    }

    /// The Japanese unit in the CA's subjectAltName directory name.
    pub(crate) fn ca_unit_ja(self) -> &'static str {
        match self {
            Self::Authentication => "公的個人認証サービス利用者証明用",
            Self::Signing => "公的個人認証サービス署名用",
        }
    }
}

impl fmt::Display for CertPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown certificate purpose {0:?}; expected auth or sign")]
pub struct UnknownPurpose(pub String);

impl FromStr for CertPurpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auth" | "authentication" => Ok(Self::Authentication),
            "sign" | "signing" => Ok(Self::Signing),
            other => Err(UnknownPurpose(other.to_owned())),
        }
    }
}
