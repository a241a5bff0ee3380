use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{CertifiedKey, KeyPurpose, NetworkIdentity, PkiError, serial};

/// What the application needs to know about a peer's (already verified)
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub identity: NetworkIdentity,
    /// Lowercase hex of the serial's magnitude bytes, e.g. `"5a0c…"`; the
    /// same spelling the CA state and [`crate::RevocationList`] use.
    pub serial: String,
    /// SHA-256 of the certificate DER.
    pub fingerprint: [u8; 32],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The holder's application keys certified by the CA (URI SANs).
    pub certified_keys: Vec<CertifiedKey>,
}

impl PeerCertificate {
    /// Parse a DER certificate and read its network identity. This does not
    /// verify the certificate; it is meant for certificates rustls already
    /// verified during the handshake.
    pub fn parse(der: &[u8]) -> Result<PeerCertificate, PkiError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(PkiError::der("certificate"))?;
        if !rest.is_empty() {
            return Err(PkiError::Der {
                what: "certificate",
                reason: format!("{} bytes of trailing data", rest.len()),
            });
        }
        let uris = uri_sans(&cert)?;
        let identity = NetworkIdentity::from_uris(uris.iter().copied())?;
        let certified_keys = crate::keys::keys_from_uris(uris.iter().copied())?;
        Ok(PeerCertificate {
            identity,
            certified_keys,
            serial: serial::from_der_bytes(cert.raw_serial()),
            fingerprint: fingerprint(der),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }

    /// Parse the end-entity certificate of a verified peer chain, e.g.
    /// `tls.get_ref().1.peer_certificates()`.
    pub fn from_peer_chain(chain: Option<&[CertificateDer<'_>]>) -> Result<PeerCertificate, PkiError> {
        let end_entity = chain.and_then(|c| c.first()).ok_or(PkiError::NoPeerCertificate)?;
        PeerCertificate::parse(end_entity)
    }

    pub fn fingerprint_hex(&self) -> String {
        serial::hex(&self.fingerprint)
    }

    /// The key the CA certified for `purpose`, if any.
    pub fn certified_key(&self, purpose: KeyPurpose) -> Option<&CertifiedKey> {
        self.certified_keys.iter().find(|k| k.purpose == purpose)
    }
}

pub(crate) fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// SHA-256 of a DER certificate as lowercase hex — how certificates are
/// registered and pinned (for any certificate, not only the network's).
pub fn certificate_fingerprint_hex(der: &[u8]) -> String {
    serial::hex(&fingerprint(der))
}

fn uri_sans<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a str>, PkiError> {
    let san = cert.subject_alternative_name().map_err(|e| PkiError::Der {
        what: "subject alternative name extension",
        reason: e.to_string(),
    })?;
    Ok(san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect())
}
