//! The software card (the "smartphone app"): the two key pairs of a card in
//! a directory, private keys encrypted under the PIN and password, mode
//! 0600, with the certificates once the registry has issued them.
//!
//! ```text
//! card.toml        profile
//! auth.key.pem     ENCRYPTED PRIVATE KEY under the 4-digit PIN (0600)
//! auth.pub.pem     PUBLIC KEY, to have the certificate issued
//! auth.crt.pem     CERTIFICATE (after issuance)
//! sign.key.pem     ENCRYPTED PRIVATE KEY under the signing password (0600)
//! sign.pub.pem
//! sign.crt.pem
//! ```

use std::path::{Path, PathBuf};

use pkcs8::der::pem::LineEnding;
use renkei_pki::{PkiError, WriteMode, read_private, read_public, write_private, write_public};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::FromDer;

use crate::verify::pem_or_der;
use crate::{CardKey, CardProfile, CardSecret, CertPurpose, KeyError};

pub const CARD_FILE: &str = "card.toml";

#[derive(Debug, thiserror::Error)]
pub enum SoftwareCardError {
    #[error(transparent)]
    File(#[from] PkiError),
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("the card has no {0} certificate yet; have the registry issue it first")]
    NotIssued(CertPurpose),
    #[error("the {0} certificate is for another key than this card's")]
    KeyMismatch(CertPurpose),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    profile: CardProfile,
}

/// A software card in a directory.
#[derive(Debug, Clone)]
pub struct SoftwareCard {
    dir: PathBuf,
    profile: CardProfile,
}

fn file(dir: &Path, purpose: CertPurpose, ext: &str) -> PathBuf {
    dir.join(format!("{}.{ext}.pem", purpose.as_str()))
}

impl SoftwareCard {
    /// Generate the card's two key pairs in `dir` (created if missing; an
    /// existing card there is not overwritten).
    pub fn create(
        dir: &Path,
        profile: CardProfile,
        auth_pin: &CardSecret,
        sign_password: &CardSecret,
    ) -> Result<Self, SoftwareCardError> {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::io("create directory", dir, e))?;
        let toml = toml::to_string(&CardFile { profile }).expect("card file serialises");
        write_public(&dir.join(CARD_FILE), toml.as_bytes(), WriteMode::CreateNew)?;
        for (purpose, secret) in [
            (CertPurpose::Authentication, auth_pin),
            (CertPurpose::Signing, sign_password),
        ] {
            let key_path = file(dir, purpose, "key");
            let key = CardKey::generate(profile).map_err(|source| SoftwareCardError::Key {
                path: key_path.clone(),
                source,
            })?;
            let pem = key
                .to_encrypted_pem(secret)
                .map_err(|source| SoftwareCardError::Key {
                    path: key_path.clone(),
                    source,
                })?;
            write_private(&key_path, pem.as_bytes(), WriteMode::CreateNew)?;
            let public = pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &key.spki_der())
                .expect("SPKI encodes as PEM");
            write_public(
                &file(dir, purpose, "pub"),
                public.as_bytes(),
                WriteMode::CreateNew,
            )?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            profile,
        })
    }

    pub fn open(dir: &Path) -> Result<Self, SoftwareCardError> {
        let path = dir.join(CARD_FILE);
        let text = read_public(&path)?;
        let parsed: CardFile = std::str::from_utf8(&text)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(t).map_err(|e| e.to_string()))
            .map_err(|reason| SoftwareCardError::Invalid { path, reason })?;
        Ok(Self {
            dir: dir.to_owned(),
            profile: parsed.profile,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn profile(&self) -> CardProfile {
        self.profile
    }

    pub fn key_path(&self, purpose: CertPurpose) -> PathBuf {
        file(&self.dir, purpose, "key")
    }

    pub fn certificate_path(&self, purpose: CertPurpose) -> PathBuf {
        file(&self.dir, purpose, "crt")
    }

    /// The DER SubjectPublicKeyInfo of one of the card's keys.
    pub fn public_key(&self, purpose: CertPurpose) -> Result<Vec<u8>, SoftwareCardError> {
        let path = file(&self.dir, purpose, "pub");
        let bytes = read_public(&path)?;
        pem_or_der(&bytes, "PUBLIC KEY").map_err(|reason| SoftwareCardError::Invalid { path, reason })
    }

    /// Store the certificate the registry issued, after checking it
    /// certifies this card's key.
    pub fn install_certificate(&self, purpose: CertPurpose, der: &[u8]) -> Result<(), SoftwareCardError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).map_err(|e| {
            SoftwareCardError::Invalid {
                path: self.certificate_path(purpose),
                reason: e.to_string(),
            }
        })?;
        if cert.public_key().raw != self.public_key(purpose)?.as_slice() {
            return Err(SoftwareCardError::KeyMismatch(purpose));
        }
        let pem =
            pkcs8::der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).expect("DER encodes as PEM");
        write_public(
            &self.certificate_path(purpose),
            pem.as_bytes(),
            WriteMode::Replace,
        )?;
        Ok(())
    }

    pub fn certificate(&self, purpose: CertPurpose) -> Result<Vec<u8>, SoftwareCardError> {
        let path = self.certificate_path(purpose);
        if !path.exists() {
            return Err(SoftwareCardError::NotIssued(purpose));
        }
        let bytes = read_public(&path)?;
        pem_or_der(&bytes, "CERTIFICATE").map_err(|reason| SoftwareCardError::Invalid { path, reason })
    }

    /// Unlock one key with its PIN or password and sign `message`.
    pub fn sign(
        &self,
        purpose: CertPurpose,
        secret: &CardSecret,
        message: &[u8],
    ) -> Result<Vec<u8>, SoftwareCardError> {
        let path = self.key_path(purpose);
        let pem = read_private(&path)?;
        let text = std::str::from_utf8(&pem).map_err(|e| SoftwareCardError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let key = CardKey::from_encrypted_pem(self.profile, text, secret).map_err(|source| {
            SoftwareCardError::Key {
                path: path.clone(),
                source,
            }
        })?;
        key.sign(message)
            .map_err(|source| SoftwareCardError::Key { path, source })
    }
}
