//! The text form of renkei key files. A key file names its kind, algorithm
//! and key id, so a key can never be loaded as the wrong thing.

use zeroize::Zeroizing;

use crate::encoding::{b64, unb64};
use crate::suite::{KeyId, SealingAlgorithm, SignatureAlgorithm};
use crate::{CryptoError, SealingKeyPair, SigningKey};

const MAGIC: &str = "renkei-key-v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileKind {
    Signing(SignatureAlgorithm),
    Sealing(SealingAlgorithm),
}

/// A parsed key file.
#[derive(Debug)]
pub enum KeyFile {
    Signing(SigningKey),
    Sealing(SealingKeyPair),
}

impl KeyFile {
    pub fn encode_signing(key: &SigningKey) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{MAGIC}\nkind: signing\nalgorithm: {}\nkey-id: {}\nsecret: {}\n",
            key.algorithm(),
            key.key_id(),
            b64(&key.secret_bytes())
        ))
    }

    pub fn encode_sealing(key: &SealingKeyPair) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{MAGIC}\nkind: sealing\nalgorithm: {}\nkey-id: {}\nsecret: {}\n",
            key.algorithm(),
            key.key_id(),
            b64(&key.secret_bytes())
        ))
    }

    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::Malformed {
            what: "key file",
            reason,
        };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(bad("first line must be renkei-key-v1"));
        }
        let mut field = |name: &str| -> Result<String, CryptoError> {
            let line = lines.next().ok_or(bad("a field is missing"))?;
            line.strip_prefix(name)
                .and_then(|r| r.strip_prefix(": "))
                .map(str::to_owned)
                .ok_or(bad(
                    "fields must be kind, algorithm, key-id, secret in that order",
                ))
        };
        let kind = field("kind")?;
        let algorithm = field("algorithm")?;
        let key_id = KeyId::parse(&field("key-id")?)?;
        let secret = Zeroizing::new(unb64("key file secret", &field("secret")?)?);
        let file = match kind.as_str() {
            "signing" => KeyFile::Signing(SigningKey::from_secret_bytes(
                SignatureAlgorithm::parse(&algorithm)?,
                &secret,
            )?),
            "sealing" => KeyFile::Sealing(SealingKeyPair::from_secret_bytes(
                SealingAlgorithm::parse(&algorithm)?,
                &secret,
            )?),
            _ => return Err(bad("kind must be signing or sealing")),
        };
        let actual = match &file {
            KeyFile::Signing(k) => k.key_id(),
            KeyFile::Sealing(k) => k.key_id(),
        };
        if *actual != key_id {
            return Err(bad("key-id does not match the secret (file edited or corrupted)"));
        }
        Ok(file)
    }

    pub fn kind(&self) -> KeyFileKind {
        match self {
            KeyFile::Signing(k) => KeyFileKind::Signing(k.algorithm()),
            KeyFile::Sealing(k) => KeyFileKind::Sealing(k.algorithm()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let k = SigningKey::generate(SignatureAlgorithm::Ed25519);
        let text = KeyFile::encode_signing(&k);
        match KeyFile::parse(&text).unwrap() {
            KeyFile::Signing(k2) => assert_eq!(k2.key_id(), k.key_id()),
            KeyFile::Sealing(_) => panic!("wrong kind"),
        }
        let other = SigningKey::generate(SignatureAlgorithm::Ed25519);
        let swapped = text.replace(k.key_id().as_str(), other.key_id().as_str());
        assert!(KeyFile::parse(&swapped).is_err());
        let s = SealingKeyPair::generate(SealingAlgorithm::P256Sha256Aes128Gcm);
        let text = KeyFile::encode_sealing(&s);
        assert_eq!(
            KeyFile::parse(&text).unwrap().kind(),
            KeyFileKind::Sealing(SealingAlgorithm::P256Sha256Aes128Gcm)
        );
        assert!(KeyFile::parse("hello").is_err());
    }
}

const PUBLIC_MAGIC: &str = "renkei-public-key-v1";

/// A public key in a file or a registration bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyFile {
    Verifying(crate::VerifyingKey),
    Sealing(crate::SealingPublicKey),
}

impl PublicKeyFile {
    pub fn encode(&self) -> String {
        let (kind, alg, id, bytes) = match self {
            Self::Verifying(k) => ("signing", k.algorithm().name(), k.key_id().clone(), k.to_bytes()),
            Self::Sealing(k) => (
                "sealing",
                k.algorithm().name(),
                k.key_id().clone(),
                k.to_bytes().to_vec(),
            ),
        };
        format!(
            "{PUBLIC_MAGIC}\nkind: {kind}\nalgorithm: {alg}\nkey-id: {id}\npublic: {}\n",
            b64(&bytes)
        )
    }

    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::Malformed {
            what: "public key file",
            reason,
        };
        let mut lines = text.lines();
        if lines.next() != Some(PUBLIC_MAGIC) {
            return Err(bad("first line must be renkei-public-key-v1"));
        }
        let mut field = |name: &str| -> Result<String, CryptoError> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|r| r.strip_prefix(": "))
                .map(str::to_owned)
                .ok_or(bad(
                    "fields must be kind, algorithm, key-id, public in that order",
                ))
        };
        let kind = field("kind")?;
        let alg = field("algorithm")?;
        let key_id = KeyId::parse(&field("key-id")?)?;
        let public = unb64("public key", &field("public")?)?;
        let key = match kind.as_str() {
            "signing" => Self::Verifying(crate::VerifyingKey::from_bytes(
                SignatureAlgorithm::parse(&alg)?,
                &public,
            )?),
            "sealing" => Self::Sealing(crate::SealingPublicKey::from_bytes(
                SealingAlgorithm::parse(&alg)?,
                &public,
            )?),
            _ => return Err(bad("kind must be signing or sealing")),
        };
        let actual = match &key {
            Self::Verifying(k) => k.key_id(),
            Self::Sealing(k) => k.key_id(),
        };
        if *actual != key_id {
            return Err(bad("key-id does not match the key (file edited or corrupted)"));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod public_tests {
    use super::*;

    #[test]
    fn public_files_round_trip() {
        let k = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).verifying_key();
        let f = PublicKeyFile::Verifying(k);
        assert_eq!(PublicKeyFile::parse(&f.encode()).unwrap(), f);
        let s = SealingKeyPair::generate(SealingAlgorithm::X25519Sha256ChaCha20Poly1305).public_key();
        let f = PublicKeyFile::Sealing(s);
        assert_eq!(PublicKeyFile::parse(&f.encode()).unwrap(), f);
        assert!(PublicKeyFile::parse(&f.encode().replace("sealing", "signing")).is_err());
    }
}
