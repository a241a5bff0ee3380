//! End-to-end envelopes: RFC 9180 HPKE in base mode, single shot.

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

/// A sealed message: names its HPKE configuration and the recipient key.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    pub algorithm: SealingAlgorithm,
    pub recipient: KeyId,
    pub enc: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Envelope({}, to {}, {} bytes)",
            self.algorithm,
            self.recipient,
            self.ciphertext.len()
        )
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

fn seal_with<A: hpke::aead::Aead, K: Kem>(
    pk: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let pk = K::PublicKey::from_bytes(pk).map_err(|_| CryptoError::SealFailed)?;
    let (enc, ct) = hpke::single_shot_seal::<A, HkdfSha256, K>(&OpModeS::Base, &pk, info, plaintext, aad)
        .map_err(|_| CryptoError::SealFailed)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

fn open_with<A: hpke::aead::Aead, K: Kem>(
    sk: &[u8],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let sk = K::PrivateKey::from_bytes(sk).map_err(|_| CryptoError::OpenFailed)?;
    let enc = K::EncappedKey::from_bytes(enc).map_err(|_| CryptoError::OpenFailed)?;
    hpke::single_shot_open::<A, HkdfSha256, K>(&OpModeR::Base, &sk, &enc, info, ciphertext, aad)
        .map_err(|_| CryptoError::OpenFailed)
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
                    &envelope.enc,
                    info,
                    aad,
                    &envelope.ciphertext,
                )
            }
            SealingAlgorithm::P256Sha256Aes128Gcm => open_with::<AesGcm128, DhP256HkdfSha256>(
                &self.secret,
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

    /// Seal `plaintext` to this key, bound to `info` and `aad`.
    pub fn seal(&self, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Envelope, CryptoError> {
        let (enc, ciphertext) = match self.algorithm {
            SealingAlgorithm::X25519Sha256ChaCha20Poly1305 => {
                seal_with::<ChaCha20Poly1305, X25519HkdfSha256>(&self.bytes, info, aad, plaintext)?
            }
            SealingAlgorithm::P256Sha256Aes128Gcm => {
                seal_with::<AesGcm128, DhP256HkdfSha256>(&self.bytes, info, aad, plaintext)?
            }
        };
        Ok(Envelope {
            algorithm: self.algorithm,
            recipient: self.key_id.clone(),
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
