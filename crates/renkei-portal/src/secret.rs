use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A random bearer secret (session id, CSRF token, browser binding): 32
/// bytes, written base64url. Only its hash is stored, so a copy of the
/// store does not hand out live sessions.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

/// SHA-256 of a [`Secret`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl Secret {
    pub fn random() -> Self {
        Self(renkei_ids::random_bytes::<32>())
    }

    /// Parse the written form; `None` for anything else (an attacker's
    /// cookie is just not a session).
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 43 {
            return None;
        }
        let v = URL_SAFE_NO_PAD.decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }

    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0).into())
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        let Some(other) = Secret::parse(presented) else {
            return false;
        };
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_refuse_other_spellings() {
        let s = Secret::random();
        let text = s.expose();
        assert_eq!(Secret::parse(&text), Some(s.clone()));
        assert!(s.matches(&text));
        assert!(!s.matches(&Secret::random().expose()));
        assert!(!s.matches(""));
        assert_eq!(Secret::parse("short"), None);
        assert_eq!(Secret::parse(&format!("{text}A")), None);
        assert_ne!(s.hash(), Secret::random().hash());
    }
}
