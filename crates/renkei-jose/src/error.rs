/// Why a JOSE object or key is refused. Messages name what is wrong and are
/// safe to show to the client that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not allowed (use ES256, EdDSA or PS256)")]
    AlgorithmNotAllowed(String),
    #[error("the key does not fit algorithm {alg}: {why}")]
    KeyMismatch { alg: &'static str, why: String },
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    #[error("the JWK contains private key members ({0}); send only the public key")]
    PrivateMembers(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("no key in the JWKS matches (kid {kid:?}, alg {alg})")]
    NoMatchingKey { kid: Option<String>, alg: &'static str },
    #[error("the JWE cannot be decrypted: {0}")]
    Decrypt(&'static str),
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}
