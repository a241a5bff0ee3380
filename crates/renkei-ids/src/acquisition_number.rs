use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::check_digit::luhn_check;
use crate::{IdError, digits, digits_to_string};

const KIND: &str = "acquisition number";

/// An acquisition number (取得番号): a one-off number an institution makes up
/// to obtain a person's code through the registry, so that the code comes
/// back paired with something that is neither the My Number nor the resident
/// record code. 15 random digits and a Luhn check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcquisitionNumber([u8; 16]);

impl AcquisitionNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let d = digits::<16>(KIND, s)?;
        if luhn_check(&d[..15]) != d[15] {
            return Err(IdError::CheckDigit { kind: KIND });
        }
        Ok(Self(d))
    }

    pub fn random() -> Self {
        let bytes = crate::random_bytes::<15>();
        let mut d = [0u8; 16];
        for (slot, b) in d.iter_mut().zip(bytes) {
            *slot = b % 10;
        }
        d[15] = luhn_check(&d[..15]);
        Self(d)
    }
}

impl fmt::Display for AcquisitionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&digits_to_string(&self.0))
    }
}

impl fmt::Debug for AcquisitionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcquisitionNumber({self})")
    }
}

impl Serialize for AcquisitionNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AcquisitionNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_single_digit_change_is_caught(pos in 0usize..16, bump in 1u8..10) {
            let a = AcquisitionNumber::random();
            prop_assert_eq!(AcquisitionNumber::parse(&a.to_string()).unwrap(), a);
            let mut d = a.0;
            d[pos] = (d[pos] + bump) % 10;
            prop_assert_eq!(
                AcquisitionNumber::parse(&digits_to_string(&d)),
                Err(IdError::CheckDigit { kind: KIND })
            );
        }
    }
}
