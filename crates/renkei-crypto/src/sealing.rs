//! End-to-end envelopes: RFC 9180 HPKE, single shot — base mode (anyone
//! may have sealed it) and auth mode (only the holder of the sender's key
//! pair could have sealed it; the recipient opens it with the sender's
//! public key, so a relay that swaps the envelope is caught).

use std::fmt;

use hpke::aead::{AesGcm128, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::{DhP256HkdfSha256, X25519HkdfSha256};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::suite::{KeyId, SealingAlgorithm};

/// A recipient's HPKE key pair. The secret is kept as bytes and parsed at
/// use; parsing an X25519 or P-256 scalar costs far less than the DH itself.
pub struct SealingKeyPair {
    algorithm: SealingAlgorithm,
    key_id: KeyId,
    secret: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

/// A recipient's public HPKE key, as registered at the hub.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingPublicKey {
    algorithm: SealingAlgorithm,
    key_id: KeyId,
    bytes: Vec<u8>,
}

/// A sealed message: names its HPKE configuration, the recipient key and,
/// in auth mode, the sender key.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    pub algorithm: SealingAlgorithm,
    pub recipient: KeyId,
    /// The sender's key in auth mode; `None` in base mode.
    pub sender: Option<KeyId>,
    pub enc: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sender {
            Some(sender) => write!(
                f,
                "Envelope({}, from {sender} to {}, {} bytes)",
                self.algorithm,
                self.recipient,
                self.ciphertext.len()
            ),
            None => write!(
                f,
                "Envelope({}, to {}, {} bytes)",
                self.algorithm,
                self.recipient,
                self.ciphertext.len()
            ),
        }
    }
}

fn keypair<K: Kem>() -> (Vec<u8>, Vec<u8>) {
    let (sk, pk) = K::gen_keypair();
    (sk.to_bytes().to_vec(), pk.to_bytes().to_vec())
}

fn public_of<K: Kem>(secret: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let sk = K::PrivateKey::from_bytes(secret).map_err(|_| CryptoError::Malformed {
        what: "HPKE secret key",
        reason: "wrong length or not a valid scalar",
    })?;
    Ok(K::sk_to_pk(&sk).to_bytes().to_vec())
}

/// The sender's key pair in auth mode (secret, public).
type SenderKeys<'a> = Option<(&'a [u8], &'a [u8])>;

fn seal_with<A: hpke::aead::Aead, K: Kem>(
    pk: &[u8],
    sender: SenderKeys<'_>,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let pk = K::PublicKey::from_bytes(pk).map_err(|_| CryptoError::SealFailed)?;
    let mode = match sender {
        None => OpModeS::Base,
        Some((sk, spk)) => OpModeS::Auth((
            K::PrivateKey::from_bytes(sk).map_err(|_| CryptoError::SealFailed)?,
            K::PublicKey::from_bytes(spk).map_err(|_| CryptoError::SealFailed)?,
        )),
    };
    let (enc, ct) = hpke::single_shot_seal::<A, HkdfSha256, K>(&mode, &pk, info, plaintext, aad)
        .map_err(|_| CryptoError::SealFailed)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

fn open_with<A: hpke::aead::Aead, K: Kem>(
    sk: &[u8],
    sender: Option<&[u8]>,
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let sk = K::PrivateKey::from_bytes(sk).map_err(|_| CryptoError::OpenFailed)?;
    let enc = K::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::OpenFailed)?;
    let mode = match sender {
        None => OpModeR::Base,
        Some(spk) => OpModeR::Auth(K::PublicKey::from_bytes(spk).map_err(|_| CryptoError::OpenFailed)?),
    };
    hpke::single_shot_open::<A, HkdfSha256, K>(&mode, &sk, &enc, info, ciphertext, aad)
        .map_err(|_| CryptoError::OpenFailed)
}

fn seal_alg(
    algorithm: SealingAlgorithm,
    recipient: &[u8],
    sender: SenderKeys<'_>,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    match algorithm {
        SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => {
            seal_with::<ChaCha20Poly1305, X25519HkdfSha256>(recipient, sender, info, aad, plaintext)
        }
        SealingAlgorithm::P256Sha256Aes128Gcm => {
            seal_with::<AesGcm128, DhP256HkdfSha256>(recipient, sender, info, aad, plaintext)
        }
    }
}

impl SealingKeyPair {
    pub fn generate(algorithm: SealingAlgorithm) -> Self {
        let (secret, public) = match algorithm {
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => keypair::<X25519HkdfSha256>(),
            SealingAlgorithm::P256Sha256Aes128Gcm => keypair::<DhP256HkdfSha256>(),
        };
        Self {
            key_id: KeyId::of(algorithm.name(), &public),
            algorithm,
            secret: Zeroizing::new(secret),
            public,
        }
    }

    pub fn from_secret_bytes(algorithm: SealingAlgorithm, secret: &[u8]) -> Result<Self, CryptoError> {
        let public = match algorithm {
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => public_of::<X25519HkdfSha256>(secret)?,
            SealingAlgorithm::P256Sha256Aes128Gcm => public_of::<DhP256HkdfSha256>(secret)?,
        };
        Ok(Self {
            key_id: KeyId::of(algorithm.name(), &public),
            algorithm,
            secret: Zeroizing::new(secret.to_vec()),
            public,
        })
    }

    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.secret.clone()
    }

    pub fn public_key(&self) -> SealingPublicKey {
        SealingPublicKey {
            algorithm: self.algorithm,
            key_id: self.key_id.clone(),
            bytes: self.public.clone(),
        }
    }

    pub fn algorithm(&self) -> SealingAlgorithm {
        self.algorithm
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Open an envelope addressed to this key. `info` and `aad` must be the
    /// ones the sender used: they bind the envelope to its context.
    pub fn open(
        &self,
        envelope: &Envelope,
        info: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.sender.is_some() {
            return Err(CryptoError::Malformed {
                what: "envelope",
                reason: "sealed in auth mode; open it with the sender's key",
            });
        }
        self.open_checked(envelope, None, info, aad)
    }

    /// Open an auth-mode envelope that only the holder of `sender`'s
    /// secret key could have sealed.
    pub fn open_from(
        &self,
        sender: &SealingPublicKey,
        envelope: &Envelope,
        info: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &envelope.sender {
            Some(kid) if *kid == sender.key_id => {}
            Some(kid) => {
                return Err(CryptoError::WrongSender {
                    expected: sender.key_id.to_string(),
                    actual: kid.to_string(),
                });
            }
            None => {
                return Err(CryptoError::Malformed {
                    what: "envelope",
                    reason: "sealed in base mode, but an authenticated sender is required",
                });
            }
        }
        if sender.algorithm != self.algorithm {
            return Err(CryptoError::AlgorithmMismatch {
                expected: self.algorithm.name(),
                actual: sender.algorithm.name(),
            });
        }
        self.open_checked(envelope, Some(&sender.bytes), info, aad)
    }

    /// Seal to `recipient` in auth mode, as this key pair's holder.
    pub fn seal_to(
        &self,
        recipient: &SealingPublicKey,
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Envelope, CryptoError> {
        if recipient.algorithm != self.algorithm {
            return Err(CryptoError::AlgorithmMismatch {
                expected: self.algorithm.name(),
                actual: recipient.algorithm.name(),
            });
        }
        let (enc, ciphertext) = seal_alg(
            self.algorithm,
            &recipient.bytes,
            Some((&self.secret, &self.public)),
            info,
            aad,
            plaintext,
        )?;
        Ok(Envelope {
            algorithm: self.algorithm,
            recipient: recipient.key_id.clone(),
            sender: Some(self.key_id.clone()),
            enc,
            ciphertext,
        })
    }

    fn open_checked(
        &self,
        envelope: &Envelope,
        sender: Option<&[u8]>,
        info: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.algorithm != self.algorithm {
            return Err(CryptoError::AlgorithmMismatch {
                expected: self.algorithm.name(),
                actual: envelope.algorithm.name(),
            });
        }
        if envelope.recipient != self.key_id {
            return Err(CryptoError::WrongRecipient {
                expected: self.key_id.to_string(),
                actual: envelope.recipient.to_string(),
            });
        }
        let pt = match self.algorithm {
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => {
                open_with::<ChaCha20Poly1305, X25519HkdfSha256>(
                    &self.secret,
                    sender,
                    &envelope.enc,
                    info,
                    aad,
                    &envelope.ciphertext,
                )
            }
            SealingAlgorithm::P256Sha256Aes128Gcm => open_with::<AesGcm128, DhP256HkdfSha256>(
                &self.secret,
                sender,
                &envelope.enc,
                info,
                aad,
                &envelope.ciphertext,
            ),
        }?;
        Ok(Zeroizing::new(pt))
    }
}

impl fmt::Debug for SealingKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKeyPair({}, {})", self.algorithm, self.key_id)
    }
}

impl SealingPublicKey {
    pub fn from_bytes(algorithm: SealingAlgorithm, bytes: &[u8]) -> Result<Self, CryptoError> {
        let ok = match algorithm {
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => {
                <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(bytes).is_ok()
            }
            SealingAlgorithm::P256Sha256Aes128Gcm => {
                <DhP256HkdfSha256 as Kem>::PublicKey::from_bytes(bytes).is_ok()
            }
        };
        if !ok {
            return Err(CryptoError::Malformed {
                what: "HPKE public key",
                reason: "wrong length or not a curve point",
            });
        }
        Ok(Self {
            key_id: KeyId::of(algorithm.name(), bytes),
            algorithm,
            bytes: bytes.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn algorithm(&self) -> SealingAlgorithm {
        self.algorithm
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Seal `plaintext` to this key in base mode (anonymous sender), bound
    /// to `info` and `aad`.
    pub fn seal(&self, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Envelope, CryptoError> {
        let (enc, ciphertext) = seal_alg(self.algorithm, &self.bytes, None, info, aad, plaintext)?;
        Ok(Envelope {
            algorithm: self.algorithm,
            recipient: self.key_id.clone(),
            sender: None,
            enc,
            ciphertext,
        })
    }
}

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingPublicKey({}, {})", self.algorithm, self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_every_binding_matters() {
        for alg in [
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305,
            SealingAlgorithm::P256Sha256Aes128Gcm,
        ] {
            let kp = SealingKeyPair::generate(alg);
            let pk = kp.public_key();
            let env = pk.seal(b"info", b"aad", b"secret income").unwrap();
            assert_eq!(&*kp.open(&env, b"info", b"aad").unwrap(), b"secret income");
            assert_eq!(kp.open(&env, b"info", b"other aad"), Err(CryptoError::OpenFailed));
            assert_eq!(kp.open(&env, b"other info", b"aad"), Err(CryptoError::OpenFailed));
            let mut t = env.clone();
            t.ciphertext[0] ^= 0x80;
            assert_eq!(kp.open(&t, b"info", b"aad"), Err(CryptoError::OpenFailed));

            let other = SealingKeyPair::generate(alg);
            assert!(matches!(
                other.open(&env, b"info", b"aad"),
                Err(CryptoError::WrongRecipient { .. })
            ));
            let reloaded = SealingKeyPair::from_secret_bytes(alg, &kp.secret_bytes()).unwrap();
            assert_eq!(reloaded.key_id(), kp.key_id());
            let pk2 = SealingPublicKey::from_bytes(alg, pk.to_bytes()).unwrap();
            assert_eq!(pk2, pk);
        }
    }
}

/// Known answers from RFC 9180, appendix A (sequence number 0 of the auth
/// mode vectors of the two configurations renkei uses): an independent
/// implementation's output opens here, with the sender's key.
#[cfg(test)]
mod rfc9180_auth_mode {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector hex"))
            .collect()
    }

    struct Vector {
        algorithm: SealingAlgorithm,
        sk_r: &'static str,
        pk_r: &'static str,
        pk_s: &'static str,
        enc: &'static str,
        ct: &'static str,
    }

    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    const AAD: &str = "436f756e742d30";

    const VECTORS: [Vector; 2] = [
        // A.2.3: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305.
        Vector {
            algorithm: SealingAlgorithm::X25519Sha256ChaCha20Poly1305,
            sk_r: "3ca22a6d1cda1bb9480949ec5329d3bf0b080ca4c45879c95eddb55c70b80b82",
            pk_r: "1a478716d63cb2e16786ee93004486dc151e988b34b475043d3e0175bdb01c44",
            pk_s: "f0f4f9e96c54aeed3f323de8534fffd7e0577e4ce269896716bcb95643c8712b",
            enc: "f7674cc8cd7baa5872d1f33dbaffe3314239f6197ddf5ded1746760bfc847e0e",
            ct: "ab1a13c9d4f01a87ec3440dbd756e2677bd2ecf9df0ce7ed73869b98e00c09be
                 111cb9fdf077347aeb88e61bdf",
        },
        // A.3.3: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
        Vector {
            algorithm: SealingAlgorithm::P256Sha256Aes128Gcm,
            sk_r: "d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e",
            pk_r: "04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b0
                   1836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d",
            pk_s: "04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c1
                   0eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73",
            enc: "042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52e
                  15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454",
            ct: "82ffc8c44760db691a07c5627e5fc2c08e7a86979ee79b494a17cc3405446ac2
                 bdb8f265db4a099ed3289ffe19",
        },
    ];

    #[test]
    fn the_rfc_vectors_open_with_the_senders_key_and_only_with_it() {
        for v in VECTORS {
            let recipient = SealingKeyPair::from_secret_bytes(v.algorithm, &unhex(v.sk_r)).unwrap();
            assert_eq!(recipient.public_key().to_bytes(), unhex(v.pk_r).as_slice());
            let sender = SealingPublicKey::from_bytes(v.algorithm, &unhex(v.pk_s)).unwrap();
            let envelope = Envelope {
                algorithm: v.algorithm,
                recipient: recipient.key_id().clone(),
                sender: Some(sender.key_id().clone()),
                enc: unhex(v.enc),
                ciphertext: unhex(v.ct),
            };
            let pt = recipient
                .open_from(&sender, &envelope, &unhex(INFO), &unhex(AAD))
                .unwrap();
            assert_eq!(*pt, unhex(PT), "{}", v.algorithm);
            // Another sender key, or base mode, does not open it.
            let impostor = SealingKeyPair::generate(v.algorithm).public_key();
            let mut claimed = envelope.clone();
            claimed.sender = Some(impostor.key_id().clone());
            assert_eq!(
                recipient.open_from(&impostor, &claimed, &unhex(INFO), &unhex(AAD)),
                Err(CryptoError::OpenFailed)
            );
            let mut base = envelope.clone();
            base.sender = None;
            assert_eq!(
                recipient.open(&base, &unhex(INFO), &unhex(AAD)),
                Err(CryptoError::OpenFailed)
            );
        }
    }

    #[test]
    fn auth_mode_round_trips_and_names_both_keys() {
        for alg in [
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305,
            SealingAlgorithm::P256Sha256Aes128Gcm,
        ] {
            let sender = SealingKeyPair::generate(alg);
            let recipient = SealingKeyPair::generate(alg);
            let env = sender
                .seal_to(&recipient.public_key(), b"info", b"aad", b"income")
                .unwrap();
            assert_eq!(env.sender.as_ref(), Some(sender.key_id()));
            assert_eq!(&env.recipient, recipient.key_id());
            let pt = recipient
                .open_from(&sender.public_key(), &env, b"info", b"aad")
                .unwrap();
            assert_eq!(&*pt, b"income");
            // A relay cannot re-label it as its own or open it as base mode.
            let relay = SealingKeyPair::generate(alg);
            assert!(matches!(
                recipient.open_from(&relay.public_key(), &env, b"info", b"aad"),
                Err(CryptoError::WrongSender { .. })
            ));
            assert!(recipient.open(&env, b"info", b"aad").is_err());
            // Nor can a relay seal "as" the sender with its own key.
            let forged = relay
                .seal_to(&recipient.public_key(), b"info", b"aad", b"forged")
                .unwrap();
            let mut relabelled = forged.clone();
            relabelled.sender = Some(sender.key_id().clone());
            assert_eq!(
                recipient.open_from(&sender.public_key(), &relabelled, b"info", b"aad"),
                Err(CryptoError::OpenFailed)
            );
        }
    }
}
