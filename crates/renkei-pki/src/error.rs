use std::path::PathBuf;

use renkei_ids::IdError;

/// Everything that can go wrong in the PKI. Errors coming from a file are
/// wrapped in [`PkiError::InFile`] so the message always names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<PkiError>,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} already exists; refusing to overwrite it")]
    AlreadyExists { path: PathBuf },

    #[error(
        "private key file {path} is accessible by group or others (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    InsecureKeyFile { path: PathBuf, mode: u32 },

    #[error("no {what} PEM block found")]
    NoPem { what: &'static str },

    #[error("{what} is not valid PEM: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },

    #[error("cannot parse {what}: {reason}")]
    Der { what: &'static str, reason: String },

    #[error("cannot {action}: {source}")]
    Rcgen {
        action: &'static str,
        #[source]
        source: rcgen::Error,
    },

    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),

    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),

    #[error("the system random number generator failed")]
    Random,

    #[error("certificate has no `urn:renkei:role:` URI SAN")]
    MissingRole,

    #[error("certificate has two role URIs (`{first}` and `{second}`); exactly one is allowed")]
    MultipleRoles { first: String, second: String },

    #[error("unknown role `{value}` in URI SAN (expected hub, registry, node, portal, witness or operator)")]
    UnknownRole { value: String },

    #[error("certificate has more than one `urn:renkei:institution:` URI SAN")]
    MultipleInstitutions,

    #[error("malformed institution URI `{uri}`: {source}")]
    MalformedInstitution {
        uri: String,
        #[source]
        source: IdError,
    },

    #[error(
        "unknown renkei URI `{uri}` (only urn:renkei:role:, urn:renkei:institution:, urn:renkei:signing-key: and urn:renkei:sealing-key: are defined)"
    )]
    UnknownRenkeiUri { uri: String },

    #[error("role {role} requires an institution (urn:renkei:institution:<corporate number>)")]
    InstitutionRequired { role: crate::Role },

    #[error("invalid certified {purpose} key: {reason}")]
    InvalidCertifiedKey {
        purpose: crate::KeyPurpose,
        reason: String,
    },

    #[error("certificate refused: {reason}")]
    CertificateRefused { reason: String },

    #[error("invalid SAN `{value}`: {reason}")]
    InvalidSan { value: String, reason: String },

    #[error("invalid certificate request: {reason}")]
    InvalidRequest { reason: String },

    #[error("`{serial}` is not a certificate serial number (expected 1 to 20 bytes of hex)")]
    InvalidSerial { serial: String },

    #[error("serial {serial} was never issued by this CA")]
    UnknownSerial { serial: String },

    #[error("the peer presented no certificate")]
    NoPeerCertificate,

    #[error("CA key does not belong to the CA certificate")]
    CaKeyMismatch,

    #[error("CA key is {found} but the CA state says {expected}")]
    CaAlgorithmMismatch {
        expected: crate::KeyAlgorithm,
        found: &'static str,
    },

    #[error("CA key uses a signature algorithm this network does not use")]
    UnsupportedKeyAlgorithm,

    #[error("cannot read the CA state: {0}")]
    StateParse(#[source] toml::de::Error),

    #[error("cannot write the CA state: {0}")]
    StateSerialize(#[source] toml::ser::Error),

    #[error("CA state is inconsistent: {reason}")]
    StateInvalid { reason: String },

    #[error("CRL is not signed by the CA certificate: {reason}")]
    CrlSignature { reason: String },

    #[error("CRL issuer is not the CA certificate's subject")]
    CrlIssuerMismatch,

    #[error("CRL has no CRL number extension")]
    CrlNumberMissing,

    #[error("CRL number {offered} is older than the CRL already loaded ({current}); refusing to roll back")]
    CrlRollback { current: u64, offered: u64 },
}

impl PkiError {
    /// Attach the file an error came from.
    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> Self {
        PkiError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn rcgen(action: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| PkiError::Rcgen { action, source }
    }

    pub(crate) fn der(
        what: &'static str,
    ) -> impl FnOnce(x509_parser::nom::Err<x509_parser::error::X509Error>) -> Self {
        move |e| PkiError::Der {
            what,
            reason: e.to_string(),
        }
    }

    /// The innermost error, past any [`PkiError::InFile`] wrappers (handy in
    /// `matches!` checks).
    pub fn root(&self) -> &PkiError {
        match self {
            PkiError::InFile { source, .. } => source.root(),
            other => other,
        }
    }
}
