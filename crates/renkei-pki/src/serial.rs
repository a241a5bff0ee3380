//! Certificate serial numbers as lowercase hex.
//!
//! One canonical spelling everywhere (certificates, CRL entries, the CA
//! state, application checks): the big-endian magnitude bytes without the
//! DER sign byte or other leading zero bytes.

use crate::PkiError;

/// RFC 5280 §4.1.2.2: serials are at most 20 octets.
const MAX_SERIAL_BYTES: usize = 20;

pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

/// Bytes of a canonical serial (as produced by [`normalize_serial`]).
pub(crate) fn to_bytes(canonical: &str) -> Result<Vec<u8>, PkiError> {
    let invalid = || PkiError::InvalidSerial {
        serial: canonical.chars().take(64).collect(),
    };
    if !canonical.len().is_multiple_of(2) {
        return Err(invalid());
    }
    (0..canonical.len())
        .step_by(2)
        .map(|i| {
            canonical
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(invalid)
        })
        .collect()
}

/// Canonical hex of a serial as found in DER (which may carry a 00 sign byte).
pub(crate) fn from_der_bytes(raw: &[u8]) -> String {
    let first = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    let magnitude = &raw[first..];
    if magnitude.is_empty() {
        return "00".to_owned();
    }
    hex(magnitude)
}

/// Accept a serial as people type it (any case, optional `:` separators,
/// leading zeros) and return the canonical spelling.
pub fn normalize_serial(input: &str) -> Result<String, PkiError> {
    let invalid = || PkiError::InvalidSerial {
        serial: input.chars().take(64).collect(),
    };
    let digits: String = input
        .trim()
        .chars()
        .filter(|&c| c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Err(invalid());
    }
    let canonical = if !trimmed.len().is_multiple_of(2) {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    if canonical.len() > MAX_SERIAL_BYTES * 2 {
        return Err(invalid());
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_sign_byte_is_dropped() {
        assert_eq!(from_der_bytes(&[0x00, 0x80, 0x01]), "8001");
        assert_eq!(from_der_bytes(&[0x7f, 0x00]), "7f00");
        assert_eq!(from_der_bytes(&[0x00]), "00");
    }

    #[test]
    fn normalize_accepts_common_spellings() {
        for s in ["7F:00:AB", "7f00ab", "007f00ab", " 7f00ab\n"] {
            assert_eq!(normalize_serial(s).ok().as_deref(), Some("7f00ab"), "{s}");
        }
        assert_eq!(normalize_serial("abc").ok().as_deref(), Some("0abc"));
    }

    #[test]
    fn to_bytes_inverts_hex() {
        let bytes = [0x7f, 0x00, 0xab, 0x01];
        assert_eq!(to_bytes(&hex(&bytes)).ok(), Some(bytes.to_vec()));
        assert!(to_bytes("7").is_err());
        assert!(to_bytes("zz").is_err());
    }

    #[test]
    fn normalize_rejects_garbage() {
        for s in ["", "0", "00:00", "xyz", "../etc/passwd", &"1".repeat(41)] {
            assert!(
                matches!(normalize_serial(s), Err(PkiError::InvalidSerial { .. })),
                "{s}"
            );
        }
    }
}
