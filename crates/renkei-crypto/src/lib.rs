//! renkei's cryptography, behind algorithm-naming types.
//!
//! Crypto agility is the point of this crate's shape: every signature,
//! envelope and institution code carries the name of its algorithm and the
//! id of its key, and the network's [`Suite`] is configuration. Two suites
//! ship: the default (Ed25519 signatures, HPKE with DHKEM(X25519)) and a
//! NIST-curve suite (ECDSA P-256, HPKE with DHKEM(P-256) and AES-128-GCM)
//! for deployments bound to an approved-cipher list such as CRYPTREC's.
//!
//! [`AtRestCipher`] seals personal data in the stores under a data key
//! (AES-256-GCM-SIV, keyed blind indexes).
//!
//! Nothing here does I/O; key files are written by `renkei-pki`.

mod at_rest;
mod codes;
mod encoding;
mod error;
mod hash;
mod keyfile;
mod sealing;
mod signing;
mod suite;

pub use at_rest::{
    AtRestCipher, AtRestError, DATA_KEY_FILE_LABEL, DataKey, DataKeyProblem, Place, settle_store_key,
};
pub use codes::{CodeError, CodeKeyState, CodeKeyring};
pub use encoding::{b64, unb64};
pub use error::CryptoError;
pub use hash::{Digest32, hmac_sha256, sha256, sha256_plain};
pub use keyfile::{KeyFile, KeyFileKind, PublicKeyFile};
pub use sealing::{Envelope, SealingKeyPair, SealingPublicKey};
pub use signing::{Signature, SigningKey, VerifyingKey};
pub use suite::{KeyId, SealingAlgorithm, SignatureAlgorithm, Suite};
