//! The revocation list as the application sees it, and a watcher that
//! reloads it when the file changes.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{PeerCertificate, PkiError, TrustAnchors, pem, serial};

/// The serials revoked by a CRL whose signature has been checked against the
/// CA certificate.
///
/// rustls checks the CRL during every handshake; this copy is for the
/// application, which should also check [`RevocationList::is_revoked`] per
/// request so that a peer revoked while a keep-alive connection stays open
/// is refused too.
///
/// The signature is verified with x509-parser's `verify-aws` feature (the
/// aws-lc-rs backend, the same crypto as rustls), so a CRL not signed by the
/// CA is rejected before any of its entries are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    revoked: BTreeSet<String>,
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
}

impl RevocationList {
    /// Parse a PEM CRL and verify it was issued by `ca_cert_der`.
    pub fn from_pem(crl_pem: &[u8], ca_cert_der: &[u8]) -> Result<Self, PkiError> {
        let der = pem::crl(crl_pem)?;
        RevocationList::from_der(&der, ca_cert_der)
    }

    /// Parse a DER CRL and verify it was issued by `ca_cert_der`.
    pub fn from_der(crl_der: &[u8], ca_cert_der: &[u8]) -> Result<Self, PkiError> {
        let (_, ca) = X509Certificate::from_der(ca_cert_der).map_err(PkiError::der("CA certificate"))?;
        let (rest, crl) = CertificateRevocationList::from_der(crl_der).map_err(PkiError::der("CRL"))?;
        if !rest.is_empty() {
            return Err(PkiError::Der {
                what: "CRL",
                reason: format!("{} bytes of trailing data", rest.len()),
            });
        }
        if crl.issuer().as_raw() != ca.subject().as_raw() {
            return Err(PkiError::CrlIssuerMismatch);
        }
        crl.verify_signature(ca.public_key())
            .map_err(|e| PkiError::CrlSignature {
                reason: e.to_string(),
            })?;
        let crl_number = crl.crl_number().ok_or(PkiError::CrlNumberMissing).and_then(|n| {
            let bytes = n.to_bytes_be();
            if bytes.len() > 8 {
                return Err(PkiError::Der {
                    what: "CRL",
                    reason: "CRL number does not fit in 64 bits".to_owned(),
                });
            }
            Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        })?;
        let revoked = crl
            .iter_revoked_certificates()
            .map(|r| serial::from_der_bytes(r.raw_serial()))
            .collect();
        Ok(RevocationList {
            revoked,
            crl_number,
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
        })
    }

    /// Whether the serial (any spelling [`crate::normalize_serial`] accepts)
    /// is on the list. Something that is not a serial is not revoked.
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        serial::normalize_serial(serial_hex).is_ok_and(|s| self.revoked.contains(&s))
    }

    /// Whether a peer's certificate is on the list.
    pub fn is_revoked_cert(&self, cert: &PeerCertificate) -> bool {
        self.is_revoked(&cert.serial)
    }

    pub fn crl_number(&self) -> u64 {
        self.crl_number
    }

    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }

    /// Whether the CA should already have published a newer CRL. A stale
    /// CRL is still used (see the crate docs); this is for warnings.
    pub fn is_stale_at(&self, now: OffsetDateTime) -> bool {
        self.next_update.is_some_and(|n| now > n)
    }

    /// Revoked serials in canonical spelling, sorted.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.revoked.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// Identifies one version of a file. The CA replaces the CRL by rename, so
/// the inode changes on every update even when mtime has coarse resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    dev: u64,
    ino: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self, PkiError> {
        let meta = std::fs::metadata(path).map_err(|e| PkiError::io("stat", path, e))?;
        Ok(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// Re-reads the CRL file when it changes and hands back fresh
/// [`TrustAnchors`] (which carry the new [`RevocationList`]). Synchronous on
/// purpose: the caller polls it, e.g. every few seconds from a task, and
/// rebuilds its rustls configs when [`CrlWatcher::poll`] returns `Some`.
#[derive(Debug)]
pub struct CrlWatcher {
    ca_path: PathBuf,
    crl_path: PathBuf,
    seen: FileStamp,
    crl_number: u64,
    crl_fingerprint: [u8; 32],
}

impl CrlWatcher {
    /// Load the CA certificate and CRL once and start watching the CRL.
    pub fn new(
        ca_path: impl Into<PathBuf>,
        crl_path: impl Into<PathBuf>,
    ) -> Result<(CrlWatcher, TrustAnchors), PkiError> {
        let ca_path = ca_path.into();
        let crl_path = crl_path.into();
        let seen = FileStamp::of(&crl_path)?;
        let trust = TrustAnchors::load(&ca_path, &crl_path)?;
        warn_if_stale(&crl_path, trust.revocations());
        let watcher = CrlWatcher {
            ca_path,
            crl_path,
            seen,
            crl_number: trust.revocations().crl_number(),
            crl_fingerprint: crate::peer::fingerprint(trust.crl_der()),
        };
        Ok((watcher, trust))
    }

    /// `Ok(None)` when the CRL file is unchanged (or rewritten with the same
    /// content), `Ok(Some(..))` with the new trust anchors when it changed.
    ///
    /// A CRL that fails to load, or that is older than the one already
    /// loaded (lower CRL number), is an error and is retried on the next
    /// poll; the caller keeps using what it has.
    pub fn poll(&mut self) -> Result<Option<TrustAnchors>, PkiError> {
        let stamp = FileStamp::of(&self.crl_path)?;
        if stamp == self.seen {
            return Ok(None);
        }
        let trust = TrustAnchors::load(&self.ca_path, &self.crl_path)?;
        let list = trust.revocations();
        if list.crl_number() < self.crl_number {
            return Err(PkiError::CrlRollback {
                current: self.crl_number,
                offered: list.crl_number(),
            }
            .in_file(&self.crl_path));
        }
        self.seen = stamp;
        let fingerprint = crate::peer::fingerprint(trust.crl_der());
        if fingerprint == self.crl_fingerprint {
            return Ok(None);
        }
        self.crl_fingerprint = fingerprint;
        self.crl_number = list.crl_number();
        warn_if_stale(&self.crl_path, list);
        tracing::info!(
            crl = %self.crl_path.display(),
            crl_number = list.crl_number(),
            revoked = list.len(),
            "loaded new CRL"
        );
        Ok(Some(trust))
    }

    pub fn crl_path(&self) -> &Path {
        &self.crl_path
    }
}

fn warn_if_stale(path: &Path, list: &RevocationList) {
    if list.is_stale_at(OffsetDateTime::now_utc()) {
        tracing::warn!(
            crl = %path.display(),
            next_update = ?list.next_update(),
            "CRL is past its nextUpdate; it is still enforced, but the CA should publish a fresh one"
        );
    }
}
