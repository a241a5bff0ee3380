use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{shown}` is malformed: {reason}")]
pub struct CodeError {
    pub kind: &'static str,
    pub shown: String,
    pub reason: &'static str,
}

fn shown(s: &str) -> String {
    s.chars().take(48).filter(|c| !c.is_control()).collect()
}

macro_rules! snake_code {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// `[a-z][a-z0-9_]*`, at most 48 characters.
            pub fn parse(s: &str) -> Result<Self, CodeError> {
                let err = |reason| CodeError { kind: $kind, shown: shown(s), reason };
                if s.is_empty() || s.len() > 48 {
                    return Err(err("must be 1 to 48 characters"));
                }
                if !s.as_bytes()[0].is_ascii_lowercase() {
                    return Err(err("must start with a lowercase letter"));
                }
                if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                    return Err(err("only lowercase letters, digits and '_' are allowed"));
                }
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = CodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
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

snake_code!(
    /// An institution kind, e.g. `municipality`.
    KindCode, "institution kind"
);
snake_code!(
    /// An item (特定個人情報), e.g. `resident_tax_income`.
    ItemCode, "item"
);
snake_code!(
    /// An office work (事務), e.g. `child_allowance`.
    OfficeWorkCode, "office work"
);

/// The id of a permission-table row, e.g. `R0012`: 1–16 of `[A-Za-z0-9-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId(String);

impl RowId {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(CodeError {
                kind: "row id",
                shown: shown(s),
                reason: "must be 1 to 16 letters, digits or '-'",
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated() {
        assert!(ItemCode::parse("resident_tax_income").is_ok());
        let e = ItemCode::parse("Resident").unwrap_err();
        assert_eq!(e.reason, "must start with a lowercase letter");
        let e = OfficeWorkCode::parse("child-allowance").unwrap_err();
        assert_eq!(e.reason, "only lowercase letters, digits and '_' are allowed");
        assert!(KindCode::parse("").is_err());
        assert!(RowId::parse("R0001").is_ok());
        assert!(RowId::parse("R 1").is_err());
    }
}
