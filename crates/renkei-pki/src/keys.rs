//! Application keys the CA binds to a certificate holder's identity.
//!
//! An institution signs linkage messages and opens end-to-end envelopes
//! with keys of its own, not its TLS key. The network CA certifies them in
//! the institution's certificate, as URI SANs beside the identity:
//!
//! ```text
//! urn:renkei:signing-key:<algorithm>:<base64url public key>
//! urn:renkei:sealing-key:<algorithm>:<base64url public key>
//! ```
//!
//! so whoever holds the certificate (verified against the CA and its CRL)
//! knows the institution's keys without trusting any directory. This crate
//! does not interpret the algorithm or the key bytes; `renkei-crypto` does.

use std::fmt;

use crate::PkiError;

/// Prefix of the URI SAN of a certified signing key.
pub const SIGNING_KEY_URI_PREFIX: &str = "urn:renkei:signing-key:";
/// Prefix of the URI SAN of a certified sealing (HPKE) key.
pub const SEALING_KEY_URI_PREFIX: &str = "urn:renkei:sealing-key:";

/// Longest public key the CA certifies (an uncompressed P-256 point is 65 bytes).
const MAX_KEY_BYTES: usize = 133;

/// What a certified key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Signs linkage requests, answers and acknowledgements.
    Signing,
    /// Receives HPKE envelopes (and seals, in auth mode, as their sender).
    Sealing,
}

impl KeyPurpose {
    fn prefix(self) -> &'static str {
        match self {
            Self::Signing => SIGNING_KEY_URI_PREFIX,
            Self::Sealing => SEALING_KEY_URI_PREFIX,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Sealing => "sealing",
        }
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key certified for one purpose, with its algorithm's wire name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertifiedKey {
    pub purpose: KeyPurpose,
    pub algorithm: String,
    pub public_key: Vec<u8>,
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CertifiedKey({}, {}, {} bytes)",
            self.purpose,
            self.algorithm,
            self.public_key.len()
        )
    }
}

impl CertifiedKey {
    pub fn new(
        purpose: KeyPurpose,
        algorithm: impl Into<String>,
        public_key: Vec<u8>,
    ) -> Result<Self, PkiError> {
        let key = Self {
            purpose,
            algorithm: algorithm.into(),
            public_key,
        };
        key.validate()?;
        Ok(key)
    }

    fn validate(&self) -> Result<(), PkiError> {
        let bad = |reason: &str| PkiError::InvalidCertifiedKey {
            purpose: self.purpose,
            reason: reason.to_owned(),
        };
        if self.algorithm.is_empty()
            || self.algorithm.len() > 64
            || !self
                .algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("the algorithm name must be 1 to 64 of a-z 0-9 -"));
        }
        if self.public_key.is_empty() || self.public_key.len() > MAX_KEY_BYTES {
            return Err(bad("the public key must be 1 to 133 bytes"));
        }
        Ok(())
    }

    /// The URI SAN that carries this key.
    pub fn to_uri(&self) -> String {
        format!(
            "{}{}:{}",
            self.purpose.prefix(),
            self.algorithm,
            b64url(&self.public_key)
        )
    }

    /// Read a key URI; `Ok(None)` if `uri` is not a key URI at all.
    pub fn from_uri(uri: &str) -> Result<Option<Self>, PkiError> {
        let (purpose, rest) = if let Some(rest) = uri.strip_prefix(SIGNING_KEY_URI_PREFIX) {
            (KeyPurpose::Signing, rest)
        } else if let Some(rest) = uri.strip_prefix(SEALING_KEY_URI_PREFIX) {
            (KeyPurpose::Sealing, rest)
        } else {
            return Ok(None);
        };
        let bad = |reason: &str| PkiError::InvalidCertifiedKey {
            purpose,
            reason: reason.to_owned(),
        };
        let (algorithm, key) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected <algorithm>:<base64url key>"))?;
        let public_key = unb64url(key).ok_or_else(|| bad("the key is not unpadded base64url"))?;
        let key = Self {
            purpose,
            algorithm: algorithm.to_owned(),
            public_key,
        };
        key.validate()?;
        Ok(Some(key))
    }
}

/// The certified keys among a certificate's URI SANs: at most one per
/// purpose (two would leave a verifier guessing which one counts).
pub(crate) fn keys_from_uris<'a>(
    uris: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<CertifiedKey>, PkiError> {
    let mut keys: Vec<CertifiedKey> = Vec::new();
    for uri in uris {
        if let Some(key) = CertifiedKey::from_uri(uri)? {
            if keys.iter().any(|k| k.purpose == key.purpose) {
                return Err(PkiError::InvalidCertifiedKey {
                    purpose: key.purpose,
                    reason: "the certificate certifies two keys for this purpose".to_owned(),
                });
            }
            keys.push(key);
        }
    }
    Ok(keys)
}

pub(crate) fn is_key_uri(uri: &str) -> bool {
    uri.starts_with(SIGNING_KEY_URI_PREFIX) || uri.starts_with(SEALING_KEY_URI_PREFIX)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn unb64url(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
        // Unused low bits must be zero, so each key has one spelling.
        let used = bytes * 8;
        if used < 24 && n & ((1 << (24 - used)) - 1) != 0 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_uris_round_trip_for_every_length() {
        for len in 1..=MAX_KEY_BYTES {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let key =
                CertifiedKey::new(KeyPurpose::Sealing, "hpke-x25519-sha256-chacha20poly1305", bytes).unwrap();
            let uri = key.to_uri();
            assert!(uri.starts_with(SEALING_KEY_URI_PREFIX));
            assert_eq!(CertifiedKey::from_uri(&uri).unwrap(), Some(key));
        }
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, without padding, in the URL-safe alphabet.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64url(plain.as_bytes()), encoded);
            assert_eq!(unb64url(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        // Non-canonical trailing bits, padding, the standard alphabet.
        assert_eq!(unb64url("Zh"), None);
        assert_eq!(unb64url("Zg=="), None);
        assert_eq!(unb64url("+/8"), None);
        assert_eq!(unb64url("Z"), None);
    }

    #[test]
    fn malformed_key_uris_are_refused_not_skipped() {
        for bad in [
            "urn:renkei:signing-key:ed25519",
            "urn:renkei:signing-key::AAAA",
            "urn:renkei:signing-key:Ed25519:AAAA",
            "urn:renkei:signing-key:ed25519:",
            "urn:renkei:sealing-key:x:AA=A",
        ] {
            assert!(
                matches!(
                    CertifiedKey::from_uri(bad),
                    Err(PkiError::InvalidCertifiedKey { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(CertifiedKey::from_uri("urn:renkei:role:node").unwrap(), None);
        let a = CertifiedKey::new(KeyPurpose::Signing, "ed25519", vec![1; 32])
            .unwrap()
            .to_uri();
        let b = CertifiedKey::new(KeyPurpose::Signing, "ed25519", vec![2; 32])
            .unwrap()
            .to_uri();
        assert!(keys_from_uris([a.as_str(), b.as_str()]).is_err());
    }
}
