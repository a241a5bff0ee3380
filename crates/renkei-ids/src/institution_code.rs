use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::IdError;

const KIND: &str = "institution code";
const PREFIX: &str = "ic1";

/// The algorithm that produced an institution code. Codes name it so the
/// network can move to another one without guessing (crypto agility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeAlgorithm {
    /// RFC 5297 AES-SIV with two AES-256 keys (`Aes256Siv`).
    Aes256Siv,
}

impl CodeAlgorithm {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes256Siv => "aes256siv",
        }
    }

    /// Length of the sealed link id (16-byte synthetic IV + 16-byte id).
    pub const fn sealed_len(self) -> usize {
        match self {
            Self::Aes256Siv => 32,
        }
    }

    fn parse(s: &str) -> Result<Self, IdError> {
        match s {
            "aes256siv" => Ok(Self::Aes256Siv),
            _ => Err(IdError::Malformed {
                kind: KIND,
                reason: "unknown code algorithm",
            }),
        }
    }
}

/// An institution code (機関別符号): the pseudonym one institution uses for
/// one person. Text form `ic1:<algorithm>:<key version>:<base64url>`.
///
/// This type only guarantees the *shape*. Whether a code is genuine, and
/// whether it belongs to the institution presenting it, only the hub's code
/// service can tell (the sealed bytes are authenticated with the
/// institution's identity as associated data).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstitutionCode {
    algorithm: CodeAlgorithm,
    key_version: u32,
    sealed: Vec<u8>,
}

impl InstitutionCode {
    pub fn new(algorithm: CodeAlgorithm, key_version: u32, sealed: Vec<u8>) -> Result<Self, IdError> {
        if sealed.len() != algorithm.sealed_len() {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "sealed part has the wrong length for its algorithm",
            });
        }
        Ok(Self {
            algorithm,
            key_version,
            sealed,
        })
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() > 128 {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "longer than 128 characters",
            });
        }
        let mut parts = s.split(':');
        let (Some(prefix), Some(alg), Some(version), Some(sealed), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "expected four ':'-separated parts",
            });
        };
        if prefix != PREFIX {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "unknown format version (expected ic1)",
            });
        }
        let algorithm = CodeAlgorithm::parse(alg)?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "key version is not a decimal number",
            });
        }
        let key_version = version.parse::<u32>().map_err(|_| IdError::Malformed {
            kind: KIND,
            reason: "key version is out of range",
        })?;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| IdError::Malformed {
            kind: KIND,
            reason: "sealed part is not unpadded base64url",
        })?;
        Self::new(algorithm, key_version, sealed)
    }

    pub fn algorithm(&self) -> CodeAlgorithm {
        self.algorithm
    }

    pub fn key_version(&self) -> u32 {
        self.key_version
    }

    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }
}

impl fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:{}:{}",
            self.algorithm.name(),
            self.key_version,
            URL_SAFE_NO_PAD.encode(&self.sealed)
        )
    }
}

impl fmt::Debug for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstitutionCode({self})")
    }
}

impl FromStr for InstitutionCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for InstitutionCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstitutionCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape_errors() {
        let c = InstitutionCode::new(CodeAlgorithm::Aes256Siv, 3, vec![7u8; 32]).unwrap();
        let s = c.to_string();
        assert!(s.starts_with("ic1:aes256siv:3:"));
        assert_eq!(InstitutionCode::parse(&s).unwrap(), c);

        for (bad, why) in [
            ("ic2:aes256siv:3:AAAA", "unknown format version (expected ic1)"),
            ("ic1:rot13:3:AAAA", "unknown code algorithm"),
            ("ic1:aes256siv:x:AAAA", "key version is not a decimal number"),
            ("ic1:aes256siv:3:AA==", "sealed part is not unpadded base64url"),
            (
                "ic1:aes256siv:3:AAAA",
                "sealed part has the wrong length for its algorithm",
            ),
            ("ic1:aes256siv:3", "expected four ':'-separated parts"),
        ] {
            assert_eq!(
                InstitutionCode::parse(bad),
                Err(IdError::Malformed {
                    kind: KIND,
                    reason: why
                }),
                "{bad}"
            );
        }
    }
}
