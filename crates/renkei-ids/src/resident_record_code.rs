use std::fmt;

use crate::check_digit::mod11_check;
use crate::{IdError, digits, digits_to_string};

const KIND: &str = "resident record code";

/// A resident record code (住民票コード): 10 digits and a mod-11 check digit
/// with the My Number weights. It never leaves the registry, so it has no
/// serde implementations at all.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentRecordCode([u8; 11]);

impl ResidentRecordCode {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let d = digits::<11>(KIND, s)?;
        if mod11_check(&d[..10]) != d[10] {
            return Err(IdError::CheckDigit { kind: KIND });
        }
        Ok(Self(d))
    }

    pub fn random() -> Self {
        let bytes = crate::random_bytes::<10>();
        let mut d = [0u8; 11];
        for (slot, b) in d.iter_mut().zip(bytes) {
            *slot = b % 10;
        }
        d[10] = mod11_check(&d[..10]);
        Self(d)
    }

    pub fn as_string(&self) -> String {
        digits_to_string(&self.0)
    }
}

impl fmt::Debug for ResidentRecordCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentRecordCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_codes_parse_and_bad_ones_do_not() {
        for _ in 0..100 {
            let c = ResidentRecordCode::random();
            assert_eq!(ResidentRecordCode::parse(&c.as_string()).unwrap(), c);
            let mut s = c.as_string().into_bytes();
            s[10] = b'0' + (s[10] - b'0' + 1) % 10;
            assert_eq!(
                ResidentRecordCode::parse(std::str::from_utf8(&s).unwrap()),
                Err(IdError::CheckDigit { kind: KIND })
            );
        }
        assert!(matches!(
            ResidentRecordCode::parse("1234"),
            Err(IdError::Length { expected: 11, .. })
        ));
    }
}
