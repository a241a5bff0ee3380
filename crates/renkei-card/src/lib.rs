//! The card PKI of renkei: what JPKI (公的個人認証) is to the My Number Card.
//!
//! # Model
//!
//! * **Two certificates per card.** An authentication certificate
//!   (利用者証明用) that carries no personal facts — a service recognises
//!   the holder by its serial — and a signing certificate (署名用) that
//!   carries the four basic facts and is revoked whenever one changes.
//! * **Two profiles.** RSA-2048 / SHA-256 (cards in circulation) and ECDSA
//!   P-384 / SHA-384 (cards from 2026). Each (profile, purpose) has its own
//!   CA ([`CardCa`]), named as JPKI names its CAs; a verifier
//!   ([`CardTrust`]) accepts any it trusts, and also parses the real JPKI CA
//!   certificates.
//! * **Revocation by CRL.** The CA signs CRLs with reason codes; a
//!   suspended card is on the CRL with certificateHold until it is resumed.
//!   [`CardTrust::verify`] refuses a certificate whose status it cannot
//!   establish (no CRL, or one past its nextUpdate): it fails closed.
//! * **Keys never in clear at rest.** A software card ([`SoftwareCard`])
//!   keeps its keys as PBES2-encrypted PKCS#8 under the PIN, mode 0600;
//!   OpenSSL can use the same files.
//!
//! This crate does not know about residents, stores or HTTP: the registry
//! decides what to issue and revoke, the portal what to accept.

mod authority;
mod ca;
mod challenge;
mod der;
mod error;
mod facts;
mod key;
mod profile;
mod serial;
mod software;
mod verify;

pub use authority::{AuthorityError, CardAuthorities};
pub use ca::{CA_VALIDITY_YEARS, CaOperator, CardCa, CardCertRequest, RevocationReason, RevokedCard};
pub use challenge::{BadChallenge, CHALLENGE_FORMAT, ChallengeHeader};
pub use error::{CardCertError, CardError};
pub use key::{CardKey, CardSecret, ENCRYPTED_KEY_LABEL, KeyError, PBKDF2_ITERATIONS, SecretError};
pub use profile::{CardProfile, CertPurpose, UnknownProfile, UnknownPurpose};
pub use serial::{BadSerial, CardSerial};
pub use software::{CARD_FILE, SoftwareCard, SoftwareCardError};
pub use verify::{
    BadCardSignature, CardCaCertificate, CardCertificate, CardCrl, CardPublicKey, CardTrust, pem_or_der,
    public_key_of, serial_of, to_pem,
};
