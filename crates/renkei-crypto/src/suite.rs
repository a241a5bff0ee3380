use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CryptoError;
use crate::encoding::b64;
use crate::hash::sha256;

/// The network's cryptographic suite: which signature and which HPKE
/// configuration every role uses. It is configuration, not code: all roles
/// of one network are started with the same suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Suite {
    /// Ed25519 signatures; HPKE DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    /// ChaCha20-Poly1305. The default.
    #[default]
    Ed25519X25519,
    /// ECDSA P-256/SHA-256 signatures; HPKE DHKEM(P-256, HKDF-SHA256),
    /// HKDF-SHA256, AES-128-GCM — every primitive on CRYPTREC's list.
    NistP256,
}

impl Suite {
    pub const ALL: [Suite; 2] = [Suite::Ed25519X25519, Suite::NistP256];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519X25519 => "ed25519-x25519",
            Self::NistP256 => "nist-p256",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| CryptoError::UnknownAlgorithm {
                what: "suite (expected ed25519-x25519 or nist-p256)",
                name: s.chars().take(40).collect(),
            })
    }

    pub const fn signature(self) -> SignatureAlgorithm {
        match self {
            Self::Ed25519X25519 => SignatureAlgorithm::Ed25519,
            Self::NistP256 => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    pub const fn sealing(self) -> SealingAlgorithm {
        match self {
            Self::Ed25519X25519 => SealingAlgorithm::X25519Sha256ChaCha20Poly1305,
            Self::NistP256 => SealingAlgorithm::P256Sha256Aes128Gcm,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Suite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Suite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Result<Self, CryptoError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(CryptoError::UnknownAlgorithm { what: $what, name: s.chars().take(40).collect() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum!(
    /// A signature algorithm, by its wire name.
    SignatureAlgorithm, "signature algorithm", {
        /// RFC 8032 Ed25519 (verified strictly: no malleable signatures).
        Ed25519 => "ed25519",
        /// ECDSA over P-256 with SHA-256, fixed-size r‖s encoding.
        EcdsaP256Sha256 => "ecdsa-p256-sha256",
    }
);

named_enum!(
    /// An RFC 9180 HPKE configuration, by its wire name.
    SealingAlgorithm, "HPKE configuration", {
        /// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
        X25519Sha256ChaCha20Poly1305 => "hpke-x25519-sha256-chacha20poly1305",
        /// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
        P256Sha256Aes128Gcm => "hpke-p256-sha256-aes128gcm",
    }
);

/// A key id: the first 128 bits of SHA-256 over the algorithm name and the
/// public key, base64url. Self-certifying, so two parties can never
/// disagree about which key an id means.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(algorithm: &str, public_key: &[u8]) -> Self {
        let d = sha256(&[b"renkei/key-id/v1", algorithm.as_bytes(), public_key]);
        Self(b64(&d[..16]))
    }

    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        if s.len() != 22
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(CryptoError::Malformed {
                what: "key id",
                reason: "expected 22 base64url characters",
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}
