//! The card's private keys: generated in the card (here: in the software
//! card), never leaving it in clear; at rest as PKCS#8 encrypted under the
//! card's PIN (PBES2: PBKDF2-HMAC-SHA-256, AES-256-CBC), the format OpenSSL
//! and every PKCS#8 library reads, so a challenge can equally be signed
//! with `openssl dgst -sign`.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use pkcs8::der::{Decode, SecretDocument, pem::LineEnding};
use pkcs8::{EncryptedPrivateKeyInfoRef, pkcs5::pbes2};
use zeroize::{Zeroize, Zeroizing};

use crate::CardProfile;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA-256. A four-digit PIN stays a
/// four-digit PIN: the real card's protection is its lockout after three
/// wrong tries, which a file cannot have. See ARCHITECTURE.md.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The label of an encrypted PKCS#8 PEM block.
pub const ENCRYPTED_KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the PIN or password is wrong (or the key file is damaged)")]
    WrongPin,
    #[error("not an encrypted PKCS#8 key ({0})")]
    Malformed(String),
    #[error("the key is not a {expected} key")]
    WrongAlgorithm { expected: &'static str },
    #[error("key generation failed")]
    Generation,
    #[error("signing failed")]
    Signing,
}

/// A secret that unlocks a card key: the four-digit authentication PIN
/// (利用者証明用暗証番号) or the 6–16 character signing password
/// (署名用パスワード: capital letters and digits), as the card has them.
#[derive(Clone)]
pub struct CardSecret(Zeroizing<String>);

impl fmt::Debug for CardSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardSecret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the authentication PIN must be exactly 4 digits")]
    AuthPin,
    #[error("the signing password must be 6 to 16 capital letters (A–Z) and digits")]
    SigningPassword,
}

impl CardSecret {
    /// Parse the four-digit authentication PIN.
    pub fn auth_pin(s: &str) -> Result<Self, SecretError> {
        let s = s.trim_end_matches(['\r', '\n']);
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(Zeroizing::new(s.to_owned())))
        } else {
            Err(SecretError::AuthPin)
        }
    }

    /// Parse the signing password.
    pub fn signing_password(s: &str) -> Result<Self, SecretError> {
        let s = s.trim_end_matches(['\r', '\n']);
        if (6..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            Ok(Self(Zeroizing::new(s.to_owned())))
        } else {
            Err(SecretError::SigningPassword)
        }
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    P384(EcdsaKeyPair),
}

/// A card private key of one profile.
pub struct CardKey {
    profile: CardProfile,
    pair: Pair,
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardKey")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl CardKey {
    pub fn generate(profile: CardProfile) -> Result<Self, KeyError> {
        let pair = match profile {
            CardProfile::Rsa2048Sha256 => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generation)?)
            }
            CardProfile::EcdsaP384Sha384 => Pair::P384(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).map_err(|_| KeyError::Generation)?,
            ),
        };
        Ok(Self { profile, pair })
    }

    /// From an unencrypted PKCS#8 document of the given profile.
    pub fn from_pkcs8(profile: CardProfile, der: &[u8]) -> Result<Self, KeyError> {
        let pair = match profile {
            CardProfile::Rsa2048Sha256 => {
                let k = RsaKeyPair::from_pkcs8(der)
                    .map_err(|_| KeyError::WrongAlgorithm { expected: "RSA-2048" })?;
                if k.public_modulus_len() != 256 {
                    return Err(KeyError::WrongAlgorithm { expected: "RSA-2048" });
                }
                Pair::Rsa(k)
            }
            CardProfile::EcdsaP384Sha384 => Pair::P384(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der).map_err(|_| {
                    KeyError::WrongAlgorithm {
                        expected: "ECDSA P-384",
                    }
                })?,
            ),
        };
        Ok(Self { profile, pair })
    }

    pub fn profile(&self) -> CardProfile {
        self.profile
    }

    /// The DER SubjectPublicKeyInfo, as it goes into the certificate.
    pub fn spki_der(&self) -> Vec<u8> {
        let der = match &self.pair {
            Pair::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::P384(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.expect("a generated or parsed key has an encodable public key")
    }

    /// Sign `message` under the profile's algorithm: RSASSA-PKCS1-v1_5 with
    /// SHA-256, or ECDSA P-384 with SHA-384 (DER signature).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Signing)?;
                Ok(sig)
            }
            Pair::P384(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
        }
    }

    pub(crate) fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let der = match &self.pair {
            Pair::Rsa(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            Pair::P384(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        Zeroizing::new(der.expect("a key pair serialises to PKCS#8"))
    }

    /// The key as an `ENCRYPTED PRIVATE KEY` PEM block under `secret`.
    pub fn to_encrypted_pem(&self, secret: &CardSecret) -> Result<Zeroizing<String>, KeyError> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::Generation)?;
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| KeyError::Generation)?;
        let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let plain = self.pkcs8_der();
        let mut ciphertext = params
            .encrypt(secret.bytes(), &plain)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let info = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&ciphertext)
                .map_err(|e| KeyError::Malformed(e.to_string()))?,
        };
        let doc = SecretDocument::encode_msg(&info).map_err(|e| KeyError::Malformed(e.to_string()))?;
        ciphertext.zeroize();
        let pem = doc
            .to_pem(ENCRYPTED_KEY_LABEL, LineEnding::LF)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(pem)
    }

    /// Open an `ENCRYPTED PRIVATE KEY` PEM block of the given profile.
    pub fn from_encrypted_pem(
        profile: CardProfile,
        pem: &str,
        secret: &CardSecret,
    ) -> Result<Self, KeyError> {
        let (label, doc) = SecretDocument::from_pem(pem).map_err(|e| KeyError::Malformed(e.to_string()))?;
        if label != ENCRYPTED_KEY_LABEL {
            return Err(KeyError::Malformed(format!(
                "PEM label is {label:?}, expected {ENCRYPTED_KEY_LABEL:?}"
            )));
        }
        let info = EncryptedPrivateKeyInfoRef::from_der(doc.as_bytes())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        // A wrong password shows as bad padding or as plaintext that is not
        // PKCS#8; both are reported as a wrong PIN.
        let plain = info.decrypt(secret.bytes()).map_err(|_| KeyError::WrongPin)?;
        pkcs8::PrivateKeyInfoRef::from_der(plain.as_bytes()).map_err(|_| KeyError::WrongPin)?;
        Self::from_pkcs8(profile, plain.as_bytes())
    }
}
