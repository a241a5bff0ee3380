//! Stateless institution codes: AES-SIV (RFC 5297) of the link id under a
//! per-institution key derived from a versioned master key.
//!
//! Because the code *is* the sealed link id, the hub needs no 125M × 5,000
//! mapping table and any number of hub processes can translate codes with
//! nothing shared but the keyring. The institution's corporate number is both
//! in the key derivation and in the associated data, so a code presented by
//! any other institution fails authentication exactly like a forged one.

use std::collections::BTreeMap;

use aes_siv::KeyInit;
use aes_siv::siv::Aes256Siv;
use hkdf::Hkdf;
use renkei_ids::{CodeAlgorithm, CorporateNumber, InstitutionCode, LinkId};
use sha2::Sha256;
use zeroize::Zeroizing;

const CONTEXT: &[u8] = b"renkei/institution-code/v1";

/// Whether a code key version may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKeyState {
    /// New codes are issued under this version.
    Current,
    /// Codes under this version are still accepted until the given time
    /// (unix milliseconds): the grace period after a rotation.
    AcceptedUntil(i64),
}

struct CodeKey {
    master: Zeroizing<[u8; 32]>,
    state: CodeKeyState,
}

/// Why a code was not accepted. The variants are deliberately coarse: a
/// forged code, an altered code and another institution's code are
/// indistinguishable to the hub and must stay so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("institution code uses key version {0}, which this network does not know")]
    UnknownKeyVersion(u32),
    #[error("institution code uses key version {0}, whose grace period has ended; obtain a fresh code")]
    KeyVersionExpired(u32),
    #[error(
        "institution code is not valid for the presenting institution (forged, altered, or issued to another institution)"
    )]
    NotValid,
}

/// The hub's code keys, one current version and older ones in their grace
/// period.
pub struct CodeKeyring {
    keys: BTreeMap<u32, CodeKey>,
}

impl std::fmt::Debug for CodeKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: Vec<_> = self.keys.iter().map(|(v, k)| (*v, k.state)).collect();
        f.debug_struct("CodeKeyring")
            .field("versions", &versions)
            .finish()
    }
}

impl CodeKeyring {
    /// A fresh keyring with version 1 current.
    pub fn generate() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(
            1,
            CodeKey {
                master: Zeroizing::new(renkei_ids::random_bytes::<32>()),
                state: CodeKeyState::Current,
            },
        );
        Self { keys }
    }

    /// Rebuild from stored versions. Exactly one must be current.
    pub fn from_parts(
        parts: impl IntoIterator<Item = (u32, [u8; 32], CodeKeyState)>,
    ) -> Result<Self, &'static str> {
        let mut keys = BTreeMap::new();
        for (v, master, state) in parts {
            if keys
                .insert(
                    v,
                    CodeKey {
                        master: Zeroizing::new(master),
                        state,
                    },
                )
                .is_some()
            {
                return Err("a code key version appears twice");
            }
        }
        match keys.values().filter(|k| k.state == CodeKeyState::Current).count() {
            1 => Ok(Self { keys }),
            0 => Err("no code key version is current"),
            _ => Err("more than one code key version is current"),
        }
    }

    /// Every version with its secret and state, for storing.
    pub fn parts(&self) -> Vec<(u32, Zeroizing<[u8; 32]>, CodeKeyState)> {
        self.keys
            .iter()
            .map(|(v, k)| (*v, k.master.clone(), k.state))
            .collect()
    }

    pub fn current_version(&self) -> u32 {
        self.keys
            .iter()
            .find(|(_, k)| k.state == CodeKeyState::Current)
            .map(|(v, _)| *v)
            .expect("constructors guarantee one current version")
    }

    /// Start a new version; the old current one is accepted for `grace_ms`.
    pub fn rotate(&mut self, now_ms: i64, grace_ms: i64) -> u32 {
        let old = self.current_version();
        let new = self.keys.keys().next_back().copied().unwrap_or(0) + 1;
        if let Some(k) = self.keys.get_mut(&old) {
            k.state = CodeKeyState::AcceptedUntil(now_ms.saturating_add(grace_ms));
        }
        self.keys.insert(
            new,
            CodeKey {
                master: Zeroizing::new(renkei_ids::random_bytes::<32>()),
                state: CodeKeyState::Current,
            },
        );
        new
    }

    /// Drop versions whose grace period is over; returns how many.
    pub fn retire_expired(&mut self, now_ms: i64) -> usize {
        let before = self.keys.len();
        self.keys
            .retain(|_, k| !matches!(k.state, CodeKeyState::AcceptedUntil(t) if t <= now_ms));
        before - self.keys.len()
    }

    fn cipher(master: &[u8; 32], institution: &CorporateNumber) -> Aes256Siv {
        let mut okm = Zeroizing::new([0u8; 64]);
        Hkdf::<Sha256>::new(Some(CONTEXT), master)
            .expand(institution.to_string().as_bytes(), okm.as_mut_slice())
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        Aes256Siv::new_from_slice(okm.as_slice()).expect("AES-256-SIV takes a 64-byte key")
    }

    fn headers(institution: &CorporateNumber, version: u32) -> [Vec<u8>; 3] {
        [
            CONTEXT.to_vec(),
            institution.to_string().into_bytes(),
            version.to_be_bytes().to_vec(),
        ]
    }

    /// The code of `link` for `institution`, under the current version.
    pub fn encode(&self, link: &LinkId, institution: &CorporateNumber) -> InstitutionCode {
        let version = self.current_version();
        let key = &self.keys[&version];
        let sealed = Self::cipher(&key.master, institution)
            .encrypt(Self::headers(institution, version), link.as_bytes())
            .expect("AES-SIV accepts a 16-byte plaintext and three headers");
        InstitutionCode::new(CodeAlgorithm::Aes256Siv, version, sealed)
            .expect("AES-SIV output of a 16-byte id is 32 bytes")
    }

    /// The codes of `link` for `institution` under every *older* version
    /// still accepted at `now`, newest first. A provider that has not yet
    /// refreshed its codes after a rotation still holds one of these.
    pub fn previous_codes(
        &self,
        link: &LinkId,
        institution: &CorporateNumber,
        now_ms: i64,
    ) -> Vec<InstitutionCode> {
        self.keys
            .iter()
            .rev()
            .filter(|(_, k)| matches!(k.state, CodeKeyState::AcceptedUntil(t) if now_ms < t))
            .map(|(v, k)| {
                let sealed = Self::cipher(&k.master, institution)
                    .encrypt(Self::headers(institution, *v), link.as_bytes())
                    .expect("AES-SIV accepts a 16-byte plaintext and three headers");
                InstitutionCode::new(CodeAlgorithm::Aes256Siv, *v, sealed)
                    .expect("AES-SIV output of a 16-byte id is 32 bytes")
            })
            .collect()
    }

    /// The link id behind `code`, if `institution` may present it now.
    pub fn decode(
        &self,
        code: &InstitutionCode,
        institution: &CorporateNumber,
        now_ms: i64,
    ) -> Result<LinkId, CodeError> {
        let CodeAlgorithm::Aes256Siv = code.algorithm();
        let version = code.key_version();
        let key = self
            .keys
            .get(&version)
            .ok_or(CodeError::UnknownKeyVersion(version))?;
        if let CodeKeyState::AcceptedUntil(t) = key.state
            && now_ms >= t
        {
            return Err(CodeError::KeyVersionExpired(version));
        }
        let plain = Self::cipher(&key.master, institution)
            .decrypt(Self::headers(institution, version), code.sealed())
            .map_err(|_| CodeError::NotValid)?;
        let bytes: [u8; 16] = plain.as_slice().try_into().map_err(|_| CodeError::NotValid)?;
        Ok(LinkId::from_bytes(bytes))
    }
}

const KEYRING_MAGIC: &str = "renkei-code-keys-v1";

impl CodeKeyring {
    /// The text form kept in the hub's code-key file (mode 0600):
    /// one line per version, `<version> current <secret>` or
    /// `<version> accepted-until <unix ms> <secret>`.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut s = String::from(KEYRING_MAGIC);
        s.push('\n');
        for (v, k) in &self.keys {
            let secret = crate::b64(k.master.as_slice());
            match k.state {
                CodeKeyState::Current => s.push_str(&format!("{v} current {secret}\n")),
                CodeKeyState::AcceptedUntil(t) => s.push_str(&format!("{v} accepted-until {t} {secret}\n")),
            }
        }
        Zeroizing::new(s)
    }

    pub fn from_file_text(text: &str) -> Result<Self, crate::CryptoError> {
        let bad = |reason| crate::CryptoError::Malformed {
            what: "code key file",
            reason,
        };
        let mut lines = text.lines();
        if lines.next() != Some(KEYRING_MAGIC) {
            return Err(bad("first line must be renkei-code-keys-v1"));
        }
        let mut parts = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(' ').collect();
            let (version, state, secret) = match f.as_slice() {
                [v, "current", s] => (v, CodeKeyState::Current, s),
                [v, "accepted-until", t, s] => (
                    v,
                    CodeKeyState::AcceptedUntil(t.parse().map_err(|_| bad("accepted-until is not a time"))?),
                    s,
                ),
                _ => {
                    return Err(bad(
                        "a line is not `<version> current <secret>` or `<version> accepted-until <ms> <secret>`",
                    ));
                }
            };
            let version: u32 = version.parse().map_err(|_| bad("a version is not a number"))?;
            let secret = Zeroizing::new(crate::unb64("code key", secret)?);
            let master: [u8; 32] = secret
                .as_slice()
                .try_into()
                .map_err(|_| bad("a secret is not 32 bytes"))?;
            parts.push((version, master, state));
        }
        Self::from_parts(parts).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inst(n: u64) -> CorporateNumber {
        CorporateNumber::from_base_number(n).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 5297, appendix A.1 (deterministic) and A.2 (several headers, as
    /// the codes use), through the AES-SIV implementation the codes use.
    #[test]
    fn aes_siv_gives_rfc_5297s_answers() {
        use aes_siv::siv::Aes128Siv;
        let mut a1 = Aes128Siv::new_from_slice(&unhex(
            "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        ))
        .unwrap();
        let out = a1
            .encrypt(
                [unhex("101112131415161718191a1b1c1d1e1f2021222324252627")],
                &unhex("112233445566778899aabbccddee"),
            )
            .unwrap();
        assert_eq!(
            out,
            unhex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
        );
        let mut a2 = Aes128Siv::new_from_slice(&unhex(
            "7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f",
        ))
        .unwrap();
        let headers = [
            unhex("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100"),
            unhex("102030405060708090a0"),
            unhex("09f911029d74e35bd84156c5635688c0"),
        ];
        let plain = unhex(
            "7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553",
        );
        let out = a2.encrypt(&headers, &plain).unwrap();
        assert_eq!(
            out,
            unhex(
                "7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17\
                 dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d"
            )
        );
        assert_eq!(a2.decrypt(&headers, &out).unwrap(), plain);
    }

    /// The code construction as this file describes it (HKDF-SHA256 with
    /// the context as salt and the corporate number as info; AES-256-SIV
    /// over the link id with the context, the corporate number and the
    /// big-endian version as headers), checked against answers computed by
    /// an independent implementation: Python's `cryptography` 48 (OpenSSL's
    /// HKDF and AES-SIV), for master key 00..1f, link id a0..af and
    /// corporate number 4011001098993, under versions 1 and 2.
    #[test]
    fn codes_match_an_independent_implementation() {
        let corp = CorporateNumber::parse("4011001098993").unwrap();
        let master: [u8; 32] = std::array::from_fn(|i| i as u8);
        let link = LinkId::from_bytes(std::array::from_fn(|i| 0xa0 + i as u8));
        for (version, expected) in [
            (
                1,
                "cf39c3631a773559c043249781a5ec142a96d766113dbea6560e71a7b6c6e381",
            ),
            (
                2,
                "8fec602f81c1e8b564b0346fb02a310ad758039ee3e66503e2cfdc2f8fa9ce0c",
            ),
        ] {
            let ring = CodeKeyring::from_parts([(version, master, CodeKeyState::Current)]).unwrap();
            let code = ring.encode(&link, &corp);
            assert_eq!(code.key_version(), version);
            assert_eq!(code.sealed(), unhex(expected).as_slice(), "version {version}");
            assert_eq!(ring.decode(&code, &corp, 0).unwrap(), link);
        }
    }

    #[test]
    fn codes_differ_per_institution_and_do_not_cross() {
        let ring = CodeKeyring::generate();
        let link = LinkId::random();
        let (a, b) = (inst(11001098993), inst(11001098994));
        let ca = ring.encode(&link, &a);
        let cb = ring.encode(&link, &b);
        assert_ne!(ca, cb);
        assert_eq!(ring.decode(&ca, &a, 0).unwrap(), link);
        assert_eq!(ring.decode(&cb, &b, 0).unwrap(), link);
        // B presenting A's code is indistinguishable from a forgery.
        assert_eq!(ring.decode(&ca, &b, 0), Err(CodeError::NotValid));
        // Deterministic: the same person has one code per institution.
        assert_eq!(ring.encode(&link, &a), ca);
    }

    #[test]
    fn rotation_keeps_old_codes_for_the_grace_period_only() {
        let mut ring = CodeKeyring::generate();
        let link = LinkId::random();
        let a = inst(1);
        let old = ring.encode(&link, &a);
        let v2 = ring.rotate(1_000, 500);
        assert_eq!(v2, 2);
        let new = ring.encode(&link, &a);
        assert_eq!(new.key_version(), 2);
        assert_eq!(ring.decode(&old, &a, 1_499).unwrap(), link);
        assert_eq!(ring.previous_codes(&link, &a, 1_499), vec![old.clone()]);
        assert!(ring.previous_codes(&link, &a, 1_500).is_empty());
        assert_eq!(ring.decode(&old, &a, 1_500), Err(CodeError::KeyVersionExpired(1)));
        assert_eq!(ring.retire_expired(1_500), 1);
        assert_eq!(ring.decode(&old, &a, 1_500), Err(CodeError::UnknownKeyVersion(1)));
        assert_eq!(ring.decode(&new, &a, 9_999).unwrap(), link);

        let text = ring.to_file_text();
        let parsed = CodeKeyring::from_file_text(&text).unwrap();
        assert_eq!(parsed.decode(&new, &a, 0).unwrap(), link);
        assert!(CodeKeyring::from_file_text(&text.replace("current", "retired")).is_err());
        // Survives a store round trip.
        let parts: Vec<_> = ring.parts().into_iter().map(|(v, k, s)| (v, *k, s)).collect();
        let back = CodeKeyring::from_parts(parts).unwrap();
        assert_eq!(back.decode(&new, &a, 0).unwrap(), link);
    }

    proptest! {
        #[test]
        fn any_bit_flip_is_rejected(byte in 0usize..32, bit in 0u8..8) {
            let ring = CodeKeyring::generate();
            let a = inst(42);
            let code = ring.encode(&LinkId::random(), &a);
            let mut sealed = code.sealed().to_vec();
            sealed[byte] ^= 1 << bit;
            let forged = InstitutionCode::new(CodeAlgorithm::Aes256Siv, code.key_version(), sealed).unwrap();
            prop_assert_eq!(ring.decode(&forged, &a, 0), Err(CodeError::NotValid));
        }
    }
}
