//! Certificates that travel inside messages: a requester's in its request,
//! a provider's in its answer. Each is verified against the network CA and
//! the current CRL (as a handshake would be) and yields the institution and
//! the keys the CA certified for it — never keys a directory names.

use std::collections::HashMap;
use std::sync::RwLock;

use renkei_crypto::{SealingAlgorithm, SealingPublicKey, SignatureAlgorithm, Suite, VerifyingKey, sha256};
use renkei_ids::CorporateNumber;
use renkei_pki::{KeyPurpose, PeerCertificate, Role, TrustAnchors};
use renkei_protocol::CertifiedParty;
use time::OffsetDateTime;

/// Why a certificate in a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertifiedError {
    #[error("the certificate does not verify against the network CA and CRL: {0}")]
    Untrusted(String),
    #[error("a {role} certificate cannot sign linkage messages")]
    WrongRole { role: &'static str },
    #[error("the certificate is {certified}'s, not {expected}'s")]
    OtherInstitution {
        certified: String,
        expected: CorporateNumber,
    },
    #[error("the certificate certifies no {0} key")]
    MissingKey(KeyPurpose),
    #[error("the certified {purpose} key is unusable: {reason}")]
    BadKey { purpose: KeyPurpose, reason: String },
}

/// Read the institution and its certified keys from a certificate the
/// caller has verified (or the node's own).
pub fn party_of(cert: &PeerCertificate, suite: Suite) -> Result<CertifiedParty, CertifiedError> {
    if !matches!(cert.identity.role, Role::Node | Role::Registry | Role::Portal) {
        return Err(CertifiedError::WrongRole {
            role: cert.identity.role.as_str(),
        });
    }
    let institution = cert.identity.institution.ok_or(CertifiedError::WrongRole {
        role: cert.identity.role.as_str(),
    })?;
    let key = |purpose| {
        cert.certified_key(purpose)
            .ok_or(CertifiedError::MissingKey(purpose))
    };
    let bad = |purpose| {
        move |e: renkei_crypto::CryptoError| CertifiedError::BadKey {
            purpose,
            reason: e.to_string(),
        }
    };
    let s = key(KeyPurpose::Signing)?;
    let signing = SignatureAlgorithm::parse(&s.algorithm)
        .and_then(|alg| VerifyingKey::from_bytes(alg, &s.public_key))
        .map_err(bad(KeyPurpose::Signing))?;
    let e = key(KeyPurpose::Sealing)?;
    let sealing = SealingAlgorithm::parse(&e.algorithm)
        .and_then(|alg| SealingPublicKey::from_bytes(alg, &e.public_key))
        .map_err(bad(KeyPurpose::Sealing))?;
    if signing.algorithm() != suite.signature() || sealing.algorithm() != suite.sealing() {
        return Err(CertifiedError::BadKey {
            purpose: KeyPurpose::Signing,
            reason: format!(
                "the network suite is {suite}; the keys are {} and {}",
                signing.algorithm(),
                sealing.algorithm()
            ),
        });
    }
    Ok(CertifiedParty {
        institution,
        signing,
        sealing,
    })
}

/// Verified certificates by their SHA-256, until the CRL changes (the
/// cache is dropped with the trust anchors) or the certificate expires.
/// Verifying a certificate costs a signature check; a busy provider sees
/// the same few requesters' certificates all day.
#[derive(Debug, Default)]
pub(crate) struct CertifiedCache {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Bumped by every clear: a verification that began under older trust
    /// anchors is not cached after them.
    generation: u64,
    map: HashMap<[u8; 32], (CertifiedParty, OffsetDateTime)>,
}

/// More distinct certificates than any network has institutions: past it
/// the cache starts over rather than grow.
const CACHE_LIMIT: usize = 20_000;

impl CertifiedCache {
    pub(crate) fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.generation += 1;
        entries.map.clear();
    }

    /// The party `der` certifies, if it verifies against `anchors` now and
    /// names `expected`.
    pub(crate) fn verify(
        &self,
        anchors: impl FnOnce() -> TrustAnchors,
        der: &[u8],
        expected: CorporateNumber,
        suite: Suite,
    ) -> Result<CertifiedParty, CertifiedError> {
        let fingerprint = sha256(&[der]);
        let now = OffsetDateTime::now_utc();
        let (generation, cached) = {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            let cached = entries
                .map
                .get(&fingerprint)
                .filter(|(_, not_after)| *not_after > now)
                .map(|(party, _)| party.clone());
            (entries.generation, cached)
        };
        let party = match cached {
            Some(p) => p,
            None => {
                let cert = anchors()
                    .verify_certificate(der, rustls_pki_types::UnixTime::now())
                    .map_err(|e| CertifiedError::Untrusted(e.to_string()))?;
                let party = party_of(&cert, suite)?;
                let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
                if entries.generation == generation {
                    if entries.map.len() >= CACHE_LIMIT {
                        entries.map.clear();
                    }
                    entries.map.insert(fingerprint, (party.clone(), cert.not_after));
                }
                party
            }
        };
        if party.institution != expected {
            return Err(CertifiedError::OtherInstitution {
                certified: party.institution.to_string(),
                expected,
            });
        }
        Ok(party)
    }
}
