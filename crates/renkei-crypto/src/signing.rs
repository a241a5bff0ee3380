use std::fmt;

use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::suite::{KeyId, SignatureAlgorithm};

/// A private signing key of one institution or role.
pub struct SigningKey {
    key_id: KeyId,
    inner: SigningInner,
}

enum SigningInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A public key that verifies [`Signature`]s.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key_id: KeyId,
    inner: VerifyingInner,
}

#[derive(Clone, PartialEq, Eq)]
enum VerifyingInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A signature that names its algorithm and the signer's key id.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    pub algorithm: SignatureAlgorithm,
    pub key_id: KeyId,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}, {})", self.algorithm, self.key_id)
    }
}

impl SigningKey {
    pub fn generate(algorithm: SignatureAlgorithm) -> Self {
        loop {
            let seed = Zeroizing::new(renkei_ids::random_bytes::<32>());
            // A P-256 scalar must be below the group order; retrying on the
            // ~2^-32 chance that 32 random bytes are not is the simple way.
            if let Ok(k) = Self::from_secret_bytes(algorithm, seed.as_slice()) {
                return k;
            }
        }
    }

    pub fn from_secret_bytes(algorithm: SignatureAlgorithm, secret: &[u8]) -> Result<Self, CryptoError> {
        let inner = match algorithm {
            SignatureAlgorithm::Ed25519 => {
                let bytes: &[u8; 32] = secret.try_into().map_err(|_| CryptoError::Malformed {
                    what: "Ed25519 secret key",
                    reason: "must be 32 bytes",
                })?;
                SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(bytes))
            }
            SignatureAlgorithm::EcdsaP256Sha256 => {
                SigningInner::P256(p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| {
                    CryptoError::Malformed {
                        what: "P-256 secret key",
                        reason: "not a valid scalar",
                    }
                })?)
            }
        };
        let public = match &inner {
            SigningInner::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            SigningInner::P256(k) => k.verifying_key().to_sec1_bytes().to_vec(),
        };
        Ok(Self {
            key_id: KeyId::of(algorithm.name(), &public),
            inner,
        })
    }

    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match &self.inner {
            SigningInner::Ed25519(k) => Zeroizing::new(k.to_bytes().to_vec()),
            SigningInner::P256(k) => Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner {
            SigningInner::Ed25519(_) => SignatureAlgorithm::Ed25519,
            SigningInner::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        let inner = match &self.inner {
            SigningInner::Ed25519(k) => VerifyingInner::Ed25519(k.verifying_key()),
            SigningInner::P256(k) => VerifyingInner::P256(*k.verifying_key()),
        };
        VerifyingKey {
            key_id: self.key_id.clone(),
            inner,
        }
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        let bytes = match &self.inner {
            SigningInner::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            SigningInner::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_bytes().to_vec()
            }
        };
        Signature {
            algorithm: self.algorithm(),
            key_id: self.key_id.clone(),
            bytes,
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, {})", self.algorithm(), self.key_id)
    }
}

impl VerifyingKey {
    pub fn from_bytes(algorithm: SignatureAlgorithm, public: &[u8]) -> Result<Self, CryptoError> {
        let inner = match algorithm {
            SignatureAlgorithm::Ed25519 => {
                let bytes: &[u8; 32] = public.try_into().map_err(|_| CryptoError::Malformed {
                    what: "Ed25519 public key",
                    reason: "must be 32 bytes",
                })?;
                VerifyingInner::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| {
                    CryptoError::Malformed {
                        what: "Ed25519 public key",
                        reason: "not a curve point",
                    }
                })?)
            }
            SignatureAlgorithm::EcdsaP256Sha256 => {
                VerifyingInner::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(public).map_err(|_| {
                    CryptoError::Malformed {
                        what: "P-256 public key",
                        reason: "not a SEC1-encoded curve point",
                    }
                })?)
            }
        };
        let key = Self {
            key_id: KeyId::of(algorithm.name(), public),
            inner,
        };
        // Re-derive the id from the canonical encoding so that the same key
        // in compressed and uncompressed SEC1 form gets the same id.
        let canonical = key.to_bytes();
        Ok(Self {
            key_id: KeyId::of(algorithm.name(), &canonical),
            ..key
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.inner {
            VerifyingInner::Ed25519(k) => k.to_bytes().to_vec(),
            VerifyingInner::P256(k) => k.to_sec1_bytes().to_vec(),
        }
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner {
            VerifyingInner::Ed25519(_) => SignatureAlgorithm::Ed25519,
            VerifyingInner::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Verify `signature` over `message`: the algorithm and the key id must
    /// be this key's before any arithmetic is done.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        if signature.algorithm != self.algorithm() {
            return Err(CryptoError::AlgorithmMismatch {
                expected: self.algorithm().name(),
                actual: signature.algorithm.name(),
            });
        }
        if signature.key_id != self.key_id {
            return Err(CryptoError::KeyIdMismatch {
                expected: self.key_id.to_string(),
                actual: signature.key_id.to_string(),
            });
        }
        match &self.inner {
            VerifyingInner::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(&signature.bytes)
                    .map_err(|_| CryptoError::BadSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| CryptoError::BadSignature)
            }
            VerifyingInner::P256(k) => {
                let sig = p256::ecdsa::Signature::from_slice(&signature.bytes)
                    .map_err(|_| CryptoError::BadSignature)?;
                k.verify(message, &sig).map_err(|_| CryptoError::BadSignature)
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({}, {})", self.algorithm(), self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_algorithms_sign_and_verify() {
        for alg in [SignatureAlgorithm::Ed25519, SignatureAlgorithm::EcdsaP256Sha256] {
            let k = SigningKey::generate(alg);
            let v = k.verifying_key();
            let s = k.sign(b"hello");
            assert_eq!(s.algorithm, alg);
            assert_eq!(&s.key_id, v.key_id());
            v.verify(b"hello", &s).unwrap();
            assert_eq!(v.verify(b"hellp", &s), Err(CryptoError::BadSignature));

            let mut flipped = s.clone();
            flipped.bytes[3] ^= 1;
            assert_eq!(v.verify(b"hello", &flipped), Err(CryptoError::BadSignature));

            // Round trip through bytes keeps the key id.
            let v2 = VerifyingKey::from_bytes(alg, &v.to_bytes()).unwrap();
            assert_eq!(v2.key_id(), v.key_id());
            let k2 = SigningKey::from_secret_bytes(alg, &k.secret_bytes()).unwrap();
            assert_eq!(k2.key_id(), k.key_id());
        }
    }

    #[test]
    fn another_key_or_algorithm_is_named_in_the_error() {
        let a = SigningKey::generate(SignatureAlgorithm::Ed25519);
        let b = SigningKey::generate(SignatureAlgorithm::Ed25519);
        let p = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256);
        let s = a.sign(b"m");
        assert!(matches!(
            b.verifying_key().verify(b"m", &s),
            Err(CryptoError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            p.verifying_key().verify(b"m", &s),
            Err(CryptoError::AlgorithmMismatch { .. })
        ));
    }
}
