//! The public-key infrastructure of the renkei network.
//!
//! # Model
//!
//! * **One network CA.** A self-signed root ([`NetworkCa`]) kept in a
//!   directory: `ca.crt`, `ca.key` (0600), `ca-state.toml` (CRL number and
//!   revoked serials), `ca.crl`, and `issued/<serial>.crt`, a copy of every
//!   certificate issued. It signs nothing but end-entity certificates
//!   (path length 0) and the CRL.
//! * **End-entity certificates per role and institution.** The hub, the
//!   registry, every institution node, portals, witnesses and operators
//!   each get their own certificate, usable as TLS server *and* client
//!   (EKU serverAuth + clientAuth), with a random 127-bit serial.
//! * **URI SANs carry the identity.** `urn:renkei:role:<role>` (exactly
//!   one) and, for institutions, `urn:renkei:institution:<corporate
//!   number>`. [`PeerCertificate::parse`] turns a verified peer certificate
//!   into a [`NetworkIdentity`]; authorisation decisions use that, never the
//!   common name or a DNS name.
//! * **URI SANs also certify an institution's own keys** — the signing key
//!   of its linkage messages and the HPKE key its answers are sealed to
//!   ([`CertifiedKey`]) — so a party that verifies the certificate knows
//!   them without trusting the hub's directory.
//! * **Revocation by CRL, checked twice.** rustls checks the CRL at every
//!   handshake ([`server_config`], [`client_config`]; session resumption is
//!   off so there is no handshake that skips it), and the application checks
//!   [`RevocationList::is_revoked`] per request, which catches a peer
//!   revoked while its keep-alive connection stays open. [`CrlWatcher`]
//!   reloads the CRL when the file changes. A stale CRL (past nextUpdate)
//!   is still enforced rather than rejected; see [`server_config`].
//! * **Keys are files with mode 0600**, written atomically
//!   ([`write_private`]), refused when group or others can read them
//!   ([`read_private`]), and held in [`zeroize::Zeroizing`] buffers.
//!
//! * **Provisioning** ([`provision`]) writes everything a role needs — its
//!   certificate, the signing and sealing keys it certifies, a bearer token,
//!   the hub's secrets, the data key of a role that holds personal data —
//!   into a directory only its owner can use; failures are
//!   [`ProvisionError`]s naming the step and the file or role.
//!
//! Key type: [`KeyAlgorithm::Ed25519`] by default, [`KeyAlgorithm::EcdsaP256`]
//! for the NIST suite. TLS is 1.3 only, with aws-lc-rs as the single crypto
//! provider, always passed explicitly ([`crypto_provider`]).

mod ca;
mod crl;
mod error;
mod files;
mod identity;
mod key;
mod keys;
mod peer;
mod pem;
pub mod provision;
mod serial;
mod tls;

pub use ca::{
    CA_CERT_FILE, CA_CRL_FILE, CA_KEY_FILE, CA_STATE_FILE, CA_VALIDITY_DAYS, CRL_VALIDITY,
    CertificateRequest, DEFAULT_VALIDITY_DAYS, ISSUED_DIR, IssuedCertificate, NetworkCa, RevocationReason,
    RevokedEntry, Validity,
};
pub use crl::{CrlWatcher, RevocationList};
pub use error::PkiError;
pub use files::{
    PRIVATE_MODE, PUBLIC_MODE, WriteMode, read_private, read_public, write_private, write_public,
};
pub use identity::{INSTITUTION_URI_PREFIX, NetworkIdentity, ROLE_URI_PREFIX, Role};
pub use key::{KeyAlgorithm, UnknownKeyAlgorithm};
pub use keys::{CertifiedKey, KeyPurpose, SEALING_KEY_URI_PREFIX, SIGNING_KEY_URI_PREFIX};
pub use peer::{PeerCertificate, certificate_fingerprint_hex};
pub use provision::ProvisionError;
pub use serial::normalize_serial;
pub use tls::{
    ALPN_PROTOCOLS, ClientAuth, Identity, ServerPin, TrustAnchors, client_config, client_config_pinned,
    crypto_provider, server_config,
};
