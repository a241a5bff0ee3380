use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use renkei_pki::{Identity, PkiError, TrustAnchors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, SetupError};

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

    pub(crate) fn matches(&self, presented: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Constant time: fold the differences instead of returning early.
        h.iter().zip(self.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The least a bearer token may carry: 32 bytes of entropy.
pub const MIN_TOKEN_BITS: u32 = 256;

/// Why a token is too weak to protect anything, or `None` if it is not.
///
/// The estimate is its length times the bits of the smallest alphabet that
/// holds all its characters (hex: 4, base64: 6, other printable: 6.5), so
/// 32 random bytes pass as 64 hex digits or 43 base64 characters; a token
/// of fewer than 10 distinct characters (`aaaa…`) is refused whatever its
/// length.
pub fn token_weakness(token: &str) -> Option<String> {
    if token.is_empty() {
        return Some("is empty".into());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace or control characters inside the token".into());
    }
    let tenths_per_char: u64 = if token.bytes().all(|b| b.is_ascii_hexdigit()) {
        40
    } else if token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
    {
        60
    } else {
        65
    };
    let bits = token.chars().count() as u64 * tenths_per_char / 10;
    let distinct = token.chars().collect::<std::collections::HashSet<_>>().len();
    if bits < u64::from(MIN_TOKEN_BITS) || distinct < 10 {
        return Some(format!(
            "is too weak for a bearer token ({} characters, {distinct} distinct: about {bits} bits; at least {MIN_TOKEN_BITS} are needed, e.g. 32 random bytes as base64url)",
            token.chars().count()
        ));
    }
    None
}

/// Read a bearer-token or secret file (0600): its content without the
/// surrounding whitespace, refused at start-up — naming the file — when
/// empty or too weak ([`token_weakness`]).
pub fn read_token_file(path: &Path) -> Result<zeroize::Zeroizing<String>, SetupError> {
    let bytes = renkei_pki::read_private(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| SetupError::config(path.display().to_string(), "the token file is not UTF-8"))?;
    let token = zeroize::Zeroizing::new(text.trim().to_owned());
    if let Some(why) = token_weakness(&token) {
        return Err(SetupError::config(
            path.display().to_string(),
            format!("the token {why}"),
        ));
    }
    Ok(token)
}

/// Read a token file (0600), e.g. `admin.token`; see [`read_token_file`].
pub fn read_admin_token(path: &Path) -> Result<AdminToken, SetupError> {
    Ok(AdminToken::from_secret(&read_token_file(path)?))
}

/// Middleware of operator surfaces: `Authorization: Bearer <token>`.
pub async fn require_token(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let refusal = match presented {
        Some(p) if token.matches(p) => return next.run(req).await,
        Some(_) => ApiError::unauthorized("the bearer token is not valid for this API"),
        None => ApiError::unauthorized("send `Authorization: Bearer <token>`"),
    };
    crate::error::refuse_unread(req, refusal).await
}

use renkei_crypto::{
    KeyFile, PublicKeyFile, SealingKeyPair, SealingPublicKey, SigningKey, Suite, VerifyingKey,
};

pub fn read_text(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| SetupError::config(path.display().to_string(), e))
}

fn read_key_file(path: &Path) -> Result<KeyFile, SetupError> {
    let bytes = renkei_pki::read_private(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| SetupError::config(path.display().to_string(), "not UTF-8"))?;
    KeyFile::parse(text).map_err(|e| SetupError::config(path.display().to_string(), e))
}

/// A signing key file that must belong to the network's suite.
pub fn load_signing_key(path: &Path, suite: Suite) -> Result<SigningKey, SetupError> {
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

pub fn load_sealing_key(path: &Path, suite: Suite) -> Result<SealingKeyPair, SetupError> {
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

pub fn load_verifying_key(path: &Path, suite: Suite) -> Result<VerifyingKey, SetupError> {
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
pub fn load_sealing_public(path: &Path, suite: Suite) -> Result<SealingPublicKey, SetupError> {
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

pub fn default_skew_secs() -> u64 {
    120
}

pub fn default_crl_poll_secs() -> u64 {
    5
}

pub fn default_timeout_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn empty_short_and_guessable_token_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &str| {
            let p = dir.path().join(name);
            renkei_pki::write_private(&p, content.as_bytes(), renkei_pki::WriteMode::Replace).unwrap();
            p
        };
        let repeated = "a".repeat(64);
        for (name, content) in [
            ("empty.token", ""),
            ("blank.token", " \n\t\n"),
            ("short.token", "correct horse battery staple"),
            ("repeated.token", repeated.as_str()),
        ] {
            let path = write(name, content);
            let e = read_admin_token(&path).unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        // 32 random bytes in base64url (what `renkei` writes), or in hex.
        let good = write("admin.token", "tGQDvaVMWMDqlWY1hVp3TtDVxyLwU8gykXKCn6jNzAo\n");
        let token = read_admin_token(&good).unwrap();
        assert!(token.matches("tGQDvaVMWMDqlWY1hVp3TtDVxyLwU8gykXKCn6jNzAo"));
        let hex = write(
            "hex.token",
            "6a1f0c9d2e7b4a58c3f61d0e9b2a7c4f5e8d1a3b6c9f0e2d4a7b1c8e5f3a6d09",
        );
        read_admin_token(&hex).unwrap();
    }
}
