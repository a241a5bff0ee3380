use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::check_digit::corporate_check;
use crate::{IdError, digits, digits_to_string};

const KIND: &str = "corporate number";

/// A corporate number (法人番号): 13 digits, the check digit FIRST
/// It identifies institutions, API clients and senders; it
/// is public information, so unlike [`crate::MyNumber`] it displays freely.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorporateNumber([u8; 13]);

impl CorporateNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let d = digits::<13>(KIND, s)?;
        if corporate_check(&d[1..]) != d[0] {
            return Err(IdError::CheckDigit { kind: KIND });
        }
        Ok(Self(d))
    }

    /// Prefix the 12 base digits with their check digit.
    pub fn from_base(base: [u8; 12]) -> Result<Self, IdError> {
        if base.iter().any(|&d| d > 9) {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "a base digit is greater than 9",
            });
        }
        let mut d = [0u8; 13];
        d[1..].copy_from_slice(&base);
        d[0] = corporate_check(&base);
        Ok(Self(d))
    }

    /// Build from the 12 base digits given as a number (for fixtures).
    pub fn from_base_number(base: u64) -> Result<Self, IdError> {
        if base >= 1_000_000_000_000 {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "the base has more than 12 digits",
            });
        }
        let mut d = [0u8; 12];
        let mut x = base;
        for slot in d.iter_mut().rev() {
            *slot = (x % 10) as u8;
            x /= 10;
        }
        Self::from_base(d)
    }
}

impl fmt::Display for CorporateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&digits_to_string(&self.0))
    }
}

impl fmt::Debug for CorporateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorporateNumber({self})")
    }
}

impl FromStr for CorporateNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CorporateNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CorporateNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn design_example_is_valid() {
        assert_eq!(
            CorporateNumber::parse("4011001098993").unwrap().to_string(),
            "4011001098993"
        );
    }

    #[test]
    fn wrong_leading_check_digit_is_rejected() {
        assert_eq!(
            CorporateNumber::parse("5011001098993"),
            Err(IdError::CheckDigit { kind: KIND })
        );
        assert!(matches!(
            CorporateNumber::parse("401100109899"),
            Err(IdError::Length { actual: 12, .. })
        ));
    }

    proptest! {
        #[test]
        fn every_single_base_digit_change_is_caught(base in proptest::array::uniform12(0u8..10), pos in 0usize..12, v in 0u8..10) {
            let c = CorporateNumber::from_base(base).unwrap();
            prop_assert_eq!(CorporateNumber::parse(&c.to_string()).unwrap(), c);
            // Weights 1 and 2 are invertible mod 9 except for a change of 9
            // (0 <-> 9), which is the formula's documented blind spot.
            let caught = CorporateNumber::parse(&{
                let mut d = c.0;
                d[pos + 1] = v;
                digits_to_string(&d)
            }).is_err();
            let delta = (i32::from(v) - i32::from(base[pos])).abs();
            prop_assert!(caught || delta == 0 || delta == 9);
        }
    }
}
