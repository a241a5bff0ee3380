use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Key type of a certificate. The network's crypto suite picks it: Ed25519
/// by default, ECDSA P-256 with SHA-256 for the NIST suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    #[default]
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 2] = [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
        }
    }

    pub(crate) fn signature_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }

    pub(crate) fn of_key(key: &rcgen::KeyPair) -> Option<Self> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| key.is_compatible(a.signature_algorithm()))
    }

    pub(crate) fn generate_key(self) -> Result<rcgen::KeyPair, crate::PkiError> {
        rcgen::KeyPair::generate_for(self.signature_algorithm())
            .map_err(crate::PkiError::rcgen("generate a key pair"))
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string did not name a [`KeyAlgorithm`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm `{0}` (expected ed25519 or ecdsa-p256)")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownKeyAlgorithm(s.to_owned()))
    }
}
