use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// A SHA-256 value; used for request digests and fingerprints.
pub type Digest32 = [u8; 32];

/// SHA-256 over length-prefixed parts, so that ("ab","c") and ("a","bc")
/// hash differently.
pub fn sha256(parts: &[&[u8]]) -> Digest32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The plain SHA-256 of one byte string — how certificates are
/// fingerprinted (what `openssl x509 -fingerprint -sha256` prints).
pub fn sha256_plain(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

/// HMAC-SHA-256 over length-prefixed parts.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Digest32 {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}
