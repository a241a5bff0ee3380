use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use renkei_pki::{Identity, PkiError, TrustAnchors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The TLS material of one role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub crl: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn load(&self) -> Result<(Identity, TrustAnchors), PkiError> {
        Ok((
            Identity::load(&self.cert, &self.key)?,
            TrustAnchors::load(&self.ca_cert, &self.crl)?,
        ))
    }
}

/// A bearer credential for an operator surface (admin or local API). The
/// server keeps only its SHA-256 and compares in constant time.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<hash>)")
    }
}

impl AdminToken {
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.trim().as_bytes()).into())
    }

    fn matches(&self, presented: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Constant time: fold the differences instead of returning early.
        h.iter().zip(self.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Read a token file (0600), e.g. `admin.token`.
pub fn read_admin_token(path: &Path) -> Result<AdminToken, PkiError> {
    let bytes = renkei_pki::read_private(path)?;
    Ok(AdminToken::from_secret(&String::from_utf8_lossy(&bytes)))
}

/// Middleware of operator surfaces: `Authorization: Bearer <token>`.
pub async fn require_token(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if token.matches(p) => next.run(req).await,
        Some(_) => ApiError::unauthorized("the bearer token is not valid for this API").into_response(),
        None => ApiError::unauthorized("send `Authorization: Bearer <token>`").into_response(),
    }
}

use renkei_crypto::{
    KeyFile, PublicKeyFile, SealingKeyPair, SealingPublicKey, SigningKey, Suite, VerifyingKey,
};

use crate::error::SetupError;

pub(crate) fn read_text(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| SetupError::config(path.display().to_string(), e))
}

fn read_key_file(path: &Path) -> Result<KeyFile, SetupError> {
    let bytes = renkei_pki::read_private(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| SetupError::config(path.display().to_string(), "not UTF-8"))?;
    KeyFile::parse(text).map_err(|e| SetupError::config(path.display().to_string(), e))
}

/// A signing key file that must belong to the network's suite.
pub(crate) fn load_signing_key(path: &Path, suite: Suite) -> Result<SigningKey, SetupError> {
    match read_key_file(path)? {
        KeyFile::Signing(k) if k.algorithm() == suite.signature() => Ok(k),
        KeyFile::Signing(k) => Err(SetupError::config(
            path.display().to_string(),
            format!(
                "is a {} key but the network suite {suite} signs with {}",
                k.algorithm(),
                suite.signature()
            ),
        )),
        KeyFile::Sealing(_) => Err(SetupError::config(
            path.display().to_string(),
            "is a sealing key, expected a signing key",
        )),
    }
}

pub(crate) fn load_sealing_key(path: &Path, suite: Suite) -> Result<SealingKeyPair, SetupError> {
    match read_key_file(path)? {
        KeyFile::Sealing(k) if k.algorithm() == suite.sealing() => Ok(k),
        KeyFile::Sealing(k) => Err(SetupError::config(
            path.display().to_string(),
            format!(
                "is a {} key but the network suite {suite} seals with {}",
                k.algorithm(),
                suite.sealing()
            ),
        )),
        KeyFile::Signing(_) => Err(SetupError::config(
            path.display().to_string(),
            "is a signing key, expected a sealing key",
        )),
    }
}

pub(crate) fn load_verifying_key(path: &Path, suite: Suite) -> Result<VerifyingKey, SetupError> {
    match PublicKeyFile::parse(&read_text(path)?)
        .map_err(|e| SetupError::config(path.display().to_string(), e))?
    {
        PublicKeyFile::Verifying(k) if k.algorithm() == suite.signature() => Ok(k),
        _ => Err(SetupError::config(
            path.display().to_string(),
            format!("must be a {} public signing key", suite.signature()),
        )),
    }
}

#[allow(dead_code)]
pub(crate) fn load_sealing_public(path: &Path, suite: Suite) -> Result<SealingPublicKey, SetupError> {
    match PublicKeyFile::parse(&read_text(path)?)
        .map_err(|e| SetupError::config(path.display().to_string(), e))?
    {
        PublicKeyFile::Sealing(k) if k.algorithm() == suite.sealing() => Ok(k),
        _ => Err(SetupError::config(
            path.display().to_string(),
            format!("must be a {} public sealing key", suite.sealing()),
        )),
    }
}

pub(crate) fn default_skew_secs() -> u64 {
    120
}

pub(crate) fn default_crl_poll_secs() -> u64 {
    5
}

pub(crate) fn default_timeout_ms() -> u64 {
    10_000
}
