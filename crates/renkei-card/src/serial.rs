use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A card certificate's serial number: 63 random bits, never zero. The
/// serial of the authentication certificate is how a service recognises
/// the card's holder (JPKI's シリアル番号), so it is written the same way
/// everywhere: 16 upper-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardSerial(u64);

impl CardSerial {
    pub fn random() -> Self {
        let mut b = [0u8; 8];
        loop {
            aws_lc_rs::rand::fill(&mut b).expect("the system random source works");
            let v = u64::from_be_bytes(b) & (u64::MAX >> 1);
            if v != 0 {
                return Self(v);
            }
        }
    }

    pub fn from_u64(v: u64) -> Option<Self> {
        (v != 0 && v >> 63 == 0).then_some(Self(v))
    }

    pub fn value(self) -> u64 {
        self.0
    }

    /// Big-endian bytes as a DER INTEGER wants them (leading zeros kept
    /// out by the encoder).
    pub(crate) fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// From a certificate's raw serial (DER INTEGER content bytes).
    pub(crate) fn from_der_bytes(raw: &[u8]) -> Option<Self> {
        let raw = match raw {
            [0, rest @ ..] if !rest.is_empty() => rest,
            r => r,
        };
        if raw.is_empty() || raw.len() > 8 {
            return None;
        }
        Self::from_u64(raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

impl fmt::Display for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardSerial({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a card serial is 1 to 16 hex digits, not zero and below 8000000000000000: {0:?}")]
pub struct BadSerial(pub String);

impl FromStr for CardSerial {
    type Err = BadSerial;
    fn from_str(s: &str) -> Result<Self, BadSerial> {
        let bad = || BadSerial(s.chars().take(40).collect());
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        u64::from_str_radix(s, 16)
            .ok()
            .and_then(Self::from_u64)
            .ok_or_else(bad)
    }
}

impl TryFrom<String> for CardSerial {
    type Error = BadSerial;
    fn try_from(s: String) -> Result<Self, BadSerial> {
        s.parse()
    }
}

impl From<CardSerial> for String {
    fn from(s: CardSerial) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_spellings() {
        let s = CardSerial::random();
        assert_eq!(s.to_string().parse::<CardSerial>().unwrap(), s);
        assert_eq!(CardSerial::from_der_bytes(&s.to_be_bytes()), Some(s));
        assert_eq!("0000000000000001".parse::<CardSerial>().unwrap().value(), 1);
        for bad in ["", "0", "8000000000000000", "G1", "00000000000000001", "-1"] {
            assert!(bad.parse::<CardSerial>().is_err(), "{bad}");
        }
        // A DER INTEGER with a leading zero byte (high bit set) is read.
        assert_eq!(
            CardSerial::from_der_bytes(&[0, 0x7f]).map(|s| s.value()),
            Some(0x7f)
        );
        assert_eq!(CardSerial::from_der_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
    }
}
