/// Why a cryptographic operation failed. Messages are safe to show to the
/// other party: they never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("unknown {what} `{name}`")]
    UnknownAlgorithm { what: &'static str, name: String },
    #[error("expected a {expected} key or signature, got {actual}")]
    AlgorithmMismatch {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("signature was made with key {actual}, expected key {expected}")]
    KeyIdMismatch { expected: String, actual: String },
    #[error("invalid {what}: {reason}")]
    Malformed {
        what: &'static str,
        reason: &'static str,
    },
    #[error("signature does not verify")]
    BadSignature,
    #[error("envelope is addressed to key {actual}, not to this key ({expected})")]
    WrongRecipient { expected: String, actual: String },
    #[error("envelope was sealed by key {actual}, not by the expected sender ({expected})")]
    WrongSender { expected: String, actual: String },
    #[error("envelope cannot be opened: tampered, or bound to a different request")]
    OpenFailed,
    #[error("sealing failed")]
    SealFailed,
}
