//! PEM decoding with errors that say what was expected.

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::PkiError;

fn pem_error(what: &'static str) -> impl Fn(pem::Error) -> PkiError {
    move |source| match source {
        pem::Error::NoItemsFound => PkiError::NoPem { what },
        source => PkiError::Pem { what, source },
    }
}

/// All certificates in a PEM buffer; at least one is required.
pub(crate) fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(what))?;
    if certs.is_empty() {
        return Err(PkiError::NoPem { what });
    }
    Ok(certs)
}

pub(crate) fn crl(pem: &[u8]) -> Result<CertificateRevocationListDer<'static>, PkiError> {
    CertificateRevocationListDer::from_pem_slice(pem).map_err(pem_error("X509 CRL"))
}

pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(pem_error("private key"))
}

pub(crate) fn utf8(bytes: Vec<u8>, what: &'static str) -> Result<String, PkiError> {
    String::from_utf8(bytes).map_err(|_| PkiError::Der {
        what,
        reason: "file is not UTF-8 text".to_owned(),
    })
}
