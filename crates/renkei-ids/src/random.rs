use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::IdError;

/// Bytes from the operating system's CSPRNG. Failure to get randomness is
/// not something any caller could handle, so it aborts loudly.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system random source failed");
    b
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

fn unhex<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N], IdError> {
    if s.len() != 2 * N {
        return Err(IdError::Length {
            kind,
            expected: 2 * N,
            actual: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    let bytes = s.as_bytes();
    for (i, slot) in out.iter_mut().enumerate() {
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (nib(bytes[2 * i]), nib(bytes[2 * i + 1])) {
            (Some(h), Some(l)) => *slot = h << 4 | l,
            _ => {
                return Err(IdError::Malformed {
                    kind,
                    reason: "expected lowercase hexadecimal",
                });
            }
        }
    }
    Ok(out)
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            pub fn random() -> Self {
                Self(random_bytes::<$len>())
            }
            pub fn from_bytes(b: [u8; $len]) -> Self {
                Self(b)
            }
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            pub fn parse(s: &str) -> Result<Self, IdError> {
                unhex::<$len>($kind, s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex(&self.0))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

random_id!(
    /// A message id chosen by the sender of a signed message; with the
    /// timestamp it is what the replay guard remembers.
    MessageId, "message id", 16
);
random_id!(
    /// The hub's id for one linkage: it joins the requester's, the
    /// provider's and the hub's provision records of the same exchange.
    QueryId, "query id", 16
);

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl fmt::Debug for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryId({self})")
    }
}

/// The random internal id of a person, known only to the registry and the
/// hub's code service. It deliberately has no serde implementation, so it
/// cannot slip into a JSON body; the two roles that hold it convert it
/// explicitly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId([u8; 16]);

impl LinkId {
    pub fn random() -> Self {
        Self(random_bytes::<16>())
    }
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkId(<redacted>)")
    }
}

/// An institution's own id for a person in its business systems (for a
/// municipality the 宛名番号). 1–32 characters of ASCII letters, digits,
/// '-' and '_'; chosen by the institution, never a My Number (a 12-digit
/// value that passes the My Number check is refused to stop that mistake).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPersonId(String);

impl LocalPersonId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: &str = "local person id";
        if s.is_empty() || s.len() > 32 {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "must be 1 to 32 characters",
            });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "only ASCII letters, digits, '-' and '_' are allowed",
            });
        }
        if crate::MyNumber::parse(s).is_ok() {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "looks like a My Number; use the institution's own person number",
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalPersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LocalPersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalPersonId({})", self.0)
    }
}

impl Serialize for LocalPersonId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LocalPersonId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_bad_text() {
        let m = MessageId::random();
        assert_eq!(MessageId::parse(&m.to_string()).unwrap(), m);
        assert!(matches!(
            MessageId::parse("ABCDEF0123456789abcdef0123456789"),
            Err(IdError::Malformed { .. })
        ));
        assert!(matches!(MessageId::parse("00"), Err(IdError::Length { .. })));
        assert!(LocalPersonId::parse("A-000123").is_ok());
        assert!(LocalPersonId::parse("983205673214").is_err());
        assert!(LocalPersonId::parse("a b").is_err());
        assert!(LocalPersonId::parse("").is_err());
    }
}
