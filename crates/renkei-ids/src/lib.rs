//! Validated identifiers of the renkei network.
//!
//! Every identifier that crosses a trust boundary is parsed into one of these
//! types first; afterwards the type is the proof that it is well formed.
//! Errors say *what* is wrong (length, a character, the check digit) but never
//! echo the input: a mistyped My Number is still a My Number and must not end
//! up in a log line.

mod acquisition_number;
mod check_digit;
mod corporate_number;
mod facts;
mod institution_code;
mod my_number;
mod random;
mod resident_record_code;

pub use acquisition_number::AcquisitionNumber;
pub use corporate_number::CorporateNumber;
pub use facts::{
    Address, BasicFact, BirthDate, FactError, FourFacts, FourFactsMismatch, KanaName, PersonName, Sex,
};
pub use institution_code::{CodeAlgorithm, InstitutionCode};
pub use my_number::MyNumber;
pub use random::{LinkId, LocalPersonId, MessageId, QueryId, random_bytes};
pub use resident_record_code::ResidentRecordCode;

/// Why a numeric identifier was rejected. The input itself is never included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected} digits long, got {actual} characters")]
    Length {
        kind: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{kind} must contain only the digits 0-9; character {position} is not a digit")]
    NotADigit { kind: &'static str, position: usize },
    #[error("{kind} check digit does not match the other digits")]
    CheckDigit { kind: &'static str },
    #[error("{kind} is malformed: {reason}")]
    Malformed {
        kind: &'static str,
        reason: &'static str,
    },
}

/// Parse a fixed-length run of ASCII digits into their values.
pub(crate) fn digits<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N], IdError> {
    let count = s.chars().count();
    if count != N {
        return Err(IdError::Length {
            kind,
            expected: N,
            actual: count,
        });
    }
    let mut out = [0u8; N];
    for (i, b) in s.bytes().enumerate() {
        if !b.is_ascii_digit() {
            return Err(IdError::NotADigit {
                kind,
                position: i + 1,
            });
        }
        out[i] = b - b'0';
    }
    Ok(out)
}

pub(crate) fn digits_to_string(d: &[u8]) -> String {
    d.iter().map(|v| char::from(b'0' + v)).collect()
}
