//! JOSE for the consent API (FAPI 2.0).
//!
//! Only what FAPI 2.0 allows: JWS with ES256, EdDSA (Ed25519) or PS256 —
//! `none`, HS*, RS* and everything else are refused by name — public JWKs
//! with RFC 7638 thumbprints, and JWE with ECDH-ES + A256GCM to a client's
//! P-256 key. Every primitive is aws-lc-rs, the workspace's one crypto
//! provider. No I/O: keys come in as bytes and JSON.

mod error;
mod jwe;
mod jwk;
mod jws;

pub use error::JoseError;
pub use jwe::{DecryptionKey, encrypt};
pub use jwk::{Jwk, Jwks};
pub use jws::{Alg, Header, SigningKey, Unverified, Verified, decode_unverified, verify};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64url without padding, as JOSE writes it.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding; `what` names the field in the error.
pub fn unb64(what: &'static str, text: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JoseError::Malformed(format!("{what} is not unpadded base64url")))
}

/// SHA-256, base64url: `ath` of DPoP, PKCE S256, thumbprints.
pub fn sha256_b64(bytes: &[u8]) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Fill `buf` from the system generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), JoseError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| JoseError::Crypto("random generator"))
}

/// `len` random bytes, base64url (codes, tokens, ids).
pub fn random_b64(len: usize) -> Result<String, JoseError> {
    let mut buf = vec![0u8; len];
    random_bytes(&mut buf)?;
    Ok(b64(&buf))
}

#[cfg(test)]
mod tests;
