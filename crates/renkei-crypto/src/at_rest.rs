//! Encryption at rest of personal data in a role's store.
//!
//! A role (the registry, a node) may be given a *data key*: 32 random bytes
//! in a file of its own (0600). From it three sub-keys are derived with
//! HKDF-SHA-256, one per use, so that no key serves two purposes:
//!
//! * the **sealing key**: AES-256-GCM-SIV (RFC 8452) with a random 96-bit
//!   nonce per value. GCM-SIV is nonce-misuse resistant: a repeated random
//!   nonce would reveal only that the same value was stored twice in the
//!   same place, never the key stream, and its bounds allow far more values
//!   per key than AES-GCM's 2^32 with random nonces. The associated data is
//!   the value's place — table, column and the row's identity (see
//!   [`Place`]) — so a sealed value copied into another row or column does
//!   not open.
//! * the **index key**: HMAC-SHA-256 *blind indexes* of values the store
//!   must look up or keep unique (a My Number), in place of the value.
//!   Without the key an index cannot be reversed, even by trying every
//!   possible number.
//! * the **check key**: a key check value the store keeps, so that a store
//!   opened with another key is refused before anything is read or written.
//!
//! Nothing here does I/O: the key file is read by the caller (`renkei-pki`
//! refuses one that others can read) and the stores decide which columns
//! are sealed.

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::encoding::{b64, unb64};
use crate::hash::hmac_sha256;

/// The first line of a data key file.
pub const DATA_KEY_FILE_LABEL: &str = "renkei-data-key-v1";

const HKDF_SALT: &[u8] = b"renkei/data-key/v1";
/// The algorithm byte that starts every sealed value: AES-256-GCM-SIV with
/// a 96-bit nonce and a 128-bit tag.
const ALG_AES_256_GCM_SIV: u8 = 1;
const TAG_LEN: usize = 16;

/// Why a data key or a sealed value was refused. Never carries key
/// material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtRestError {
    #[error("not a data key file: {0}")]
    KeyFile(&'static str),
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "sealed value does not open: altered, moved from another row or column, or sealed under another data key"
    )]
    OpenFailed,
}

/// Why a store and the data key given to open it do not go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataKeyProblem {
    #[error(
        "the store is encrypted at rest and no data key was given; configure `data_key` with the key file it was created with"
    )]
    Missing,
    #[error(
        "the store was encrypted with another data key (its key check value differs); configure the key file it was created with"
    )]
    Wrong,
    #[error(
        "the store was created without a data key and holds its data in clear; opening it with one would mix clear and encrypted rows. \
         Remove `data_key` from the configuration, or start a new store with the key"
    )]
    PlainStore,
}

/// Whether a store whose recorded key check value is `stored` (`None`: a
/// store in clear) may be opened with `key`, and the cipher to use.
pub fn settle_store_key(
    stored: Option<&[u8]>,
    key: Option<&DataKey>,
) -> Result<Option<AtRestCipher>, DataKeyProblem> {
    match (stored, key.map(AtRestCipher::new)) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(DataKeyProblem::PlainStore),
        (Some(_), None) => Err(DataKeyProblem::Missing),
        (Some(check), Some(c)) if c.is_key_check(check) => Ok(Some(c)),
        (Some(_), Some(_)) => Err(DataKeyProblem::Wrong),
    }
}

/// A role's data key: 32 random bytes, zeroized on drop, never printed.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(redacted)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(Zeroizing::new(renkei_ids::random_bytes::<32>()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The file's text: the label line, then the key in base64url.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{DATA_KEY_FILE_LABEL}\n{}\n", b64(&self.0[..])))
    }

    /// Parse a data key file's text (as [`DataKey::to_file_text`] writes it).
    pub fn parse_file_text(text: &str) -> Result<Self, AtRestError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(DATA_KEY_FILE_LABEL) {
            return Err(AtRestError::KeyFile(
                "the first line must be `renkei-data-key-v1`",
            ));
        }
        let key = lines
            .next()
            .ok_or(AtRestError::KeyFile("the key line is missing"))?;
        if lines.next().is_some() {
            return Err(AtRestError::KeyFile("unexpected lines after the key"));
        }
        let bytes = Zeroizing::new(
            unb64("data key", key).map_err(|_| AtRestError::KeyFile("the key is not base64url"))?,
        );
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AtRestError::KeyFile("the key is not 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }
}

/// Where a sealed value lives: the associated data of its sealing. Built
/// from a label (table and column) and the parts that identify the row,
/// each length-prefixed so that no two places encode alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(Vec<u8>);

impl Place {
    /// `label` names the table and column, e.g. `"items.value"`.
    pub fn new(label: &str) -> Self {
        let mut p = Self(Vec::with_capacity(64));
        p.push(label.as_bytes());
        p
    }

    /// Add one part of the row's identity.
    #[must_use]
    pub fn with(mut self, part: &[u8]) -> Self {
        self.push(part);
        self
    }

    fn push(&mut self, part: &[u8]) {
        self.0.extend_from_slice(&(part.len() as u64).to_be_bytes());
        self.0.extend_from_slice(part);
    }
}

/// The sub-keys of a data key, ready to seal, open and index.
pub struct AtRestCipher {
    seal: LessSafeKey,
    index: Zeroizing<[u8; 32]>,
    check: [u8; 32],
}

impl std::fmt::Debug for AtRestCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtRestCipher")
            .field("key_check", &b64(&self.check[..8]))
            .finish_non_exhaustive()
    }
}

impl AtRestCipher {
    pub fn new(key: &DataKey) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), &key.0[..]);
        let derive = |info: &[u8]| {
            let mut out = Zeroizing::new([0u8; 32]);
            hk.expand(info, &mut out[..])
                .expect("32 bytes is a valid HKDF-SHA-256 output length");
            out
        };
        let seal = derive(b"seal");
        let index = derive(b"blind-index");
        let check = derive(b"key-check");
        let seal = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM_SIV, &seal[..]).expect("AES-256-GCM-SIV takes a 32-byte key"),
        );
        Self {
            seal,
            index,
            check: *check,
        }
    }

    /// The key check value a store keeps to recognise its key. It reveals
    /// nothing of the sealing or index keys (a separate HKDF output).
    pub fn key_check(&self) -> [u8; 32] {
        self.check
    }

    /// Whether `stored` is this key's check value (constant time).
    pub fn is_key_check(&self, stored: &[u8]) -> bool {
        stored.len() == self.check.len()
            && stored
                .iter()
                .zip(self.check.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Seal `plaintext` for `place`: algorithm byte ‖ nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, place: &Place, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = renkei_ids::random_bytes();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(ALG_AES_256_GCM_SIV);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        let tag = self
            .seal
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&place.0[..]),
                &mut body,
            )
            .expect("AES-256-GCM-SIV seals any value a store holds");
        out.extend_from_slice(&body);
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Open a value sealed for `place`; the plaintext is zeroized on drop.
    pub fn open(&self, place: &Place, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        let (&alg, rest) = sealed.split_first().ok_or(AtRestError::Malformed("empty"))?;
        if alg != ALG_AES_256_GCM_SIV {
            return Err(AtRestError::Malformed("unknown algorithm"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(AtRestError::Malformed("too short"));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| AtRestError::Malformed("too short"))?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .seal
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&place.0[..]),
                &mut buf[..],
            )
            .map_err(|_| AtRestError::OpenFailed)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// [`AtRestCipher::seal`] as unpadded base64url, for text columns.
    pub fn seal_text(&self, place: &Place, plaintext: &[u8]) -> String {
        b64(&self.seal(place, plaintext))
    }

    /// Open a value sealed by [`AtRestCipher::seal_text`].
    pub fn open_text(&self, place: &Place, sealed: &str) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        let bytes = unb64("sealed value", sealed).map_err(|_| AtRestError::Malformed("not base64url"))?;
        self.open(place, &bytes)
    }

    /// A blind index of `value` in `domain` (e.g. `"my-number"`), as 64 hex
    /// digits: equal values give equal indexes, and nothing else can be
    /// learnt from one without the key.
    pub fn blind_index(&self, domain: &str, value: &[u8]) -> String {
        let mac = hmac_sha256(&self.index[..], &[domain.as_bytes(), value]);
        let mut out = String::with_capacity(64);
        for b in mac {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cipher(b: u8) -> AtRestCipher {
        AtRestCipher::new(&DataKey::from_bytes([b; 32]))
    }

    #[test]
    fn a_value_opens_only_in_its_place_and_under_its_key() {
        let c = cipher(1);
        let here = Place::new("items.value").with(b"A-1").with(b"income");
        let there = Place::new("items.value").with(b"A-2").with(b"income");
        let sealed = c.seal(&here, b"{\"amount\":1}");
        assert_eq!(&c.open(&here, &sealed).unwrap()[..], b"{\"amount\":1}");
        assert_eq!(c.open(&there, &sealed), Err(AtRestError::OpenFailed));
        assert_eq!(cipher(2).open(&here, &sealed), Err(AtRestError::OpenFailed));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(c.open(&here, &flipped), Err(AtRestError::OpenFailed));
        assert!(matches!(
            c.open(&here, &sealed[..10]),
            Err(AtRestError::Malformed(_))
        ));
        // Random nonces: the same value sealed twice differs.
        assert_ne!(c.seal(&here, b"x"), c.seal(&here, b"x"));
        // Parts are length-prefixed: ("ab","c") is not ("a","bc").
        let ab = Place::new("t").with(b"ab").with(b"c");
        let a = Place::new("t").with(b"a").with(b"bc");
        assert_eq!(c.open(&a, &c.seal(&ab, b"v")), Err(AtRestError::OpenFailed));
    }

    #[test]
    fn blind_indexes_are_keyed_and_separated_by_domain() {
        let (c, d) = (cipher(1), cipher(2));
        let i = c.blind_index("my-number", b"123456789018");
        assert_eq!(i.len(), 64);
        assert_eq!(i, c.blind_index("my-number", b"123456789018"));
        assert_ne!(i, d.blind_index("my-number", b"123456789018"));
        assert_ne!(i, c.blind_index("resident-code", b"123456789018"));
        assert!(!i.contains("123456789018"));
    }

    #[test]
    fn key_check_tells_keys_apart_and_key_files_round_trip() {
        let k = DataKey::generate();
        let text = k.to_file_text();
        let again = DataKey::parse_file_text(&text).unwrap();
        let (c, c2) = (AtRestCipher::new(&k), AtRestCipher::new(&again));
        assert!(c.is_key_check(&c2.key_check()));
        assert!(!c.is_key_check(&cipher(9).key_check()));
        assert!(!c.is_key_check(&c.key_check()[..31]));
        let check = c.key_check();
        assert!(settle_store_key(Some(&check), Some(&again)).unwrap().is_some());
        assert!(settle_store_key(None, None).unwrap().is_none());
        assert_eq!(
            settle_store_key(Some(&check), Some(&DataKey::from_bytes([9; 32]))).err(),
            Some(DataKeyProblem::Wrong)
        );
        assert_eq!(
            settle_store_key(Some(&check), None).err(),
            Some(DataKeyProblem::Missing)
        );
        assert_eq!(
            settle_store_key(None, Some(&k)).err(),
            Some(DataKeyProblem::PlainStore)
        );
        assert_eq!(format!("{k:?}"), "DataKey(redacted)");
        for bad in [
            "",
            "renkei-data-key-v2\nAAAA\n",
            "renkei-data-key-v1\n",
            "renkei-data-key-v1\n!!!\n",
            "renkei-data-key-v1\nAAAA\n",
            &format!("{}x\n", &*text),
        ] {
            assert!(
                matches!(DataKey::parse_file_text(bad), Err(AtRestError::KeyFile(_))),
                "{bad:?}"
            );
        }
    }
}
