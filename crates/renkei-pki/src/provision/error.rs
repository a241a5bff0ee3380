//! What can go wrong while provisioning.

use std::path::PathBuf;

use renkei_crypto::AtRestError;
use renkei_log::NoteError;

use crate::{KeyPurpose, PkiError, Role};

/// A file provisioning writes, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProvisionedFile {
    DataKey,
    SigningKey,
    SigningPublicKey,
    SealingKey,
    SealingPublicKey,
    /// A role's admin or local-API bearer token.
    Token,
    /// The hub's code keyring.
    CodeKeys,
    /// The hub's record key.
    RecordKey,
    /// The note key the hub signs the log's checkpoints with.
    LogKey,
}

impl ProvisionedFile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataKey => "data key",
            Self::SigningKey => "signing key",
            Self::SigningPublicKey => "public signing key",
            Self::SealingKey => "sealing key",
            Self::SealingPublicKey => "public sealing key",
            Self::Token => "bearer token",
            Self::CodeKeys => "code keyring",
            Self::RecordKey => "record key",
            Self::LogKey => "log key",
        }
    }
}

impl std::fmt::Display for ProvisionedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong while provisioning, with the step and the file or role
/// it went wrong for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    #[error("cannot create the directory {path} (mode 0700): {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot certify the {purpose} key in a certificate: {source}")]
    CertifyKey {
        purpose: KeyPurpose,
        #[source]
        source: PkiError,
    },

    #[error("cannot issue the {role} certificate of {common_name}: {source}")]
    Issue {
        role: Role,
        common_name: String,
        #[source]
        source: PkiError,
    },

    /// The source names the file.
    #[error("cannot write the {role} certificate of {common_name} or its key: {source}")]
    WriteCertificate {
        role: Role,
        common_name: String,
        #[source]
        source: PkiError,
    },

    #[error("cannot write the {file} {path}: {source}")]
    Write {
        file: ProvisionedFile,
        path: PathBuf,
        #[source]
        source: PkiError,
    },

    #[error("cannot generate the log key for origin `{origin}`: {source}")]
    LogKey {
        origin: String,
        #[source]
        source: NoteError,
    },

    #[error("cannot read the data key {path}: {source}")]
    ReadDataKey {
        path: PathBuf,
        #[source]
        source: PkiError,
    },

    #[error("{path}: not a data key file (not text)")]
    DataKeyNotText { path: PathBuf },

    #[error("reading the data key {path}: {source}")]
    InvalidDataKey {
        path: PathBuf,
        #[source]
        source: AtRestError,
    },

    #[error("cannot read the note key {path}: {source}")]
    ReadNoteKey {
        path: PathBuf,
        #[source]
        source: PkiError,
    },

    #[error("{path}: {source}")]
    InvalidNoteKey {
        path: PathBuf,
        #[source]
        source: NoteError,
    },
}
