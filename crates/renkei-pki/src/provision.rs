//! Provisioning: the files every role needs — certificates from the network
//! CA, signing and sealing keys, tokens, the hub's secrets, the data keys of
//! the roles that hold personal data — written with the right modes, in
//! directories only their owner can use (0700). `renkei pki …` provisions
//! one role at a time with these functions, and the demo's network a whole
//! country. Every failure is a [`ProvisionError`] naming the step and the
//! file (or the role) it failed on.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use renkei_crypto::{CodeKeyring, DataKey, KeyFile, PublicKeyFile, SealingKeyPair, SigningKey, Suite, b64};
use renkei_ids::CorporateNumber;
use renkei_log::NoteSigner;
use zeroize::Zeroizing;

use crate::{
    CertificateRequest, CertifiedKey, KeyAlgorithm, KeyPurpose, NetworkCa, NetworkIdentity, Role, WriteMode,
};

mod error;

pub use error::{ProvisionError, ProvisionedFile};

type Result<T, E = ProvisionError> = std::result::Result<T, E>;

fn write_private(file: ProvisionedFile, path: &Path, bytes: &[u8], mode: WriteMode) -> Result<()> {
    crate::write_private(path, bytes, mode).map_err(|source| ProvisionError::Write {
        file,
        path: path.to_owned(),
        source,
    })
}

fn write_public(file: ProvisionedFile, path: &Path, bytes: &[u8]) -> Result<()> {
    crate::write_public(path, bytes, WriteMode::Replace).map_err(|source| ProvisionError::Write {
        file,
        path: path.to_owned(),
        source,
    })
}

/// The certificate key type that goes with a suite.
pub fn tls_algorithm(suite: Suite) -> KeyAlgorithm {
    match suite {
        Suite::Ed25519X25519 => KeyAlgorithm::Ed25519,
        Suite::NistP256 => KeyAlgorithm::EcdsaP256,
    }
}

/// Files of one role's TLS identity and keys.
#[derive(Debug, Clone)]
pub struct RoleFiles {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub signing_key: PathBuf,
    pub signing_pub: PathBuf,
    pub sealing_key: PathBuf,
    pub sealing_pub: PathBuf,
    pub token: PathBuf,
    /// The serial of the TLS certificate (for revocation).
    pub serial: String,
    /// The key that seals the store's personal data at rest (the registry
    /// and nodes).
    pub data_key: Option<PathBuf>,
}

/// Create `dir` (and missing parents) for the owner alone (0700): the
/// stores refuse a directory others can read or write.
pub fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| ProvisionError::Directory {
            path: dir.to_owned(),
            source,
        })
}

/// The file name of a role's data key.
pub const DATA_KEY_FILE: &str = "data.key";

/// Write a fresh data key (32 random bytes) to `dir/data.key`, 0600; an
/// existing one is never replaced (the store it seals would be lost).
pub fn provision_data_key(dir: &Path) -> Result<PathBuf> {
    private_dir(dir)?;
    let path = dir.join(DATA_KEY_FILE);
    write_private(
        ProvisionedFile::DataKey,
        &path,
        DataKey::generate().to_file_text().as_bytes(),
        WriteMode::CreateNew,
    )?;
    Ok(path)
}

/// Read a data key file, refusing one that group or others can read.
pub fn read_data_key(path: &Path) -> Result<DataKey> {
    let bytes = crate::read_private(path).map_err(|source| ProvisionError::ReadDataKey {
        path: path.to_owned(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ProvisionError::DataKeyNotText {
        path: path.to_owned(),
    })?;
    DataKey::parse_file_text(text).map_err(|source| ProvisionError::InvalidDataKey {
        path: path.to_owned(),
        source,
    })
}

/// A random bearer token as file content.
pub fn new_token() -> String {
    b64(&renkei_ids::random_bytes::<32>())
}

/// Issue a TLS certificate for a loopback server into `dir` (`tls.crt`,
/// `tls.key`); returns their paths and the serial.
pub fn issue_tls(
    ca: &NetworkCa,
    dir: &Path,
    role: Role,
    institution: Option<CorporateNumber>,
    common_name: &str,
    suite: Suite,
) -> Result<(PathBuf, PathBuf, String)> {
    issue_certificate(ca, dir, role, institution, common_name, suite, None)
}

/// The CA's certification of an institution's signing and sealing keys,
/// carried in its certificate.
pub fn certified_keys(signing: &SigningKey, sealing: &SealingKeyPair) -> Result<[CertifiedKey; 2]> {
    let certify = |purpose| move |source| ProvisionError::CertifyKey { purpose, source };
    Ok([
        CertifiedKey::new(
            KeyPurpose::Signing,
            signing.algorithm().name(),
            signing.verifying_key().to_bytes(),
        )
        .map_err(certify(KeyPurpose::Signing))?,
        CertifiedKey::new(
            KeyPurpose::Sealing,
            sealing.algorithm().name(),
            sealing.public_key().to_bytes().to_vec(),
        )
        .map_err(certify(KeyPurpose::Sealing))?,
    ])
}

fn issue_certificate(
    ca: &NetworkCa,
    dir: &Path,
    role: Role,
    institution: Option<CorporateNumber>,
    common_name: &str,
    suite: Suite,
    keys: Option<(&SigningKey, &SealingKeyPair)>,
) -> Result<(PathBuf, PathBuf, String)> {
    private_dir(dir)?;
    let mut req = CertificateRequest::new(
        common_name,
        NetworkIdentity::new(role, institution),
        tls_algorithm(suite),
    )
    .with_dns_name("localhost")
    .with_ip_address(IpAddr::V4(Ipv4Addr::LOCALHOST));
    if let Some((signing, sealing)) = keys {
        for key in certified_keys(signing, sealing)? {
            req = req.with_certified_key(key);
        }
    }
    let issued = ca.issue(&req).map_err(|source| ProvisionError::Issue {
        role,
        common_name: common_name.to_owned(),
        source,
    })?;
    let (cert, key) = issued
        .write_to(dir, "tls", WriteMode::Replace)
        .map_err(|source| ProvisionError::WriteCertificate {
            role,
            common_name: common_name.to_owned(),
            source,
        })?;
    Ok((cert, key, issued.serial.clone()))
}

/// Issue a certificate and keys for one role into `dir`. An institution's
/// certificate (one that names an institution) certifies its signing and
/// sealing keys, so its peers take them from the certificate. The registry
/// and nodes also get a data key (an existing one is kept).
pub fn provision_role(
    ca: &NetworkCa,
    dir: &Path,
    role: Role,
    institution: Option<CorporateNumber>,
    common_name: &str,
    suite: Suite,
) -> Result<RoleFiles> {
    let signing = SigningKey::generate(suite.signature());
    let sealing = SealingKeyPair::generate(suite.sealing());
    let keys = institution.is_some().then_some((&signing, &sealing));
    let (cert, key, serial) = issue_certificate(ca, dir, role, institution, common_name, suite, keys)?;
    let files = RoleFiles {
        dir: dir.to_path_buf(),
        cert,
        key,
        signing_key: dir.join("signing.key"),
        signing_pub: dir.join("signing.pub"),
        sealing_key: dir.join("sealing.key"),
        sealing_pub: dir.join("sealing.pub"),
        token: dir.join(match role {
            Role::Node => "local.token",
            _ => "admin.token",
        }),
        serial,
        data_key: None,
    };
    let files = match role {
        Role::Registry | Role::Node => {
            let path = dir.join(DATA_KEY_FILE);
            let path = if path.exists() {
                path
            } else {
                provision_data_key(dir)?
            };
            RoleFiles {
                data_key: Some(path),
                ..files
            }
        }
        _ => files,
    };
    write_private(
        ProvisionedFile::SigningKey,
        &files.signing_key,
        KeyFile::encode_signing(&signing).as_bytes(),
        WriteMode::Replace,
    )?;
    write_public(
        ProvisionedFile::SigningPublicKey,
        &files.signing_pub,
        PublicKeyFile::Verifying(signing.verifying_key())
            .encode()
            .as_bytes(),
    )?;
    write_private(
        ProvisionedFile::SealingKey,
        &files.sealing_key,
        KeyFile::encode_sealing(&sealing).as_bytes(),
        WriteMode::Replace,
    )?;
    write_public(
        ProvisionedFile::SealingPublicKey,
        &files.sealing_pub,
        PublicKeyFile::Sealing(sealing.public_key()).encode().as_bytes(),
    )?;
    write_private(
        ProvisionedFile::Token,
        &files.token,
        new_token().as_bytes(),
        WriteMode::Replace,
    )?;
    Ok(files)
}

/// The hub's extra secrets: code keyring (a fresh key version), record key
/// (32 random bytes, base64) and the log's note key (named after the log's
/// origin).
pub fn provision_hub_secrets(dir: &Path, log_origin: &str) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let codes = CodeKeyring::generate().to_file_text();
    let record = Zeroizing::new(b64(&renkei_ids::random_bytes::<32>()));
    let code_keys = dir.join("code-keys");
    let record_key = dir.join("record.key");
    let log_key = dir.join("log.key");
    write_private(
        ProvisionedFile::CodeKeys,
        &code_keys,
        codes.as_bytes(),
        WriteMode::Replace,
    )?;
    write_private(
        ProvisionedFile::RecordKey,
        &record_key,
        record.as_bytes(),
        WriteMode::Replace,
    )?;
    let log = NoteSigner::generate(log_origin)
        .map_err(|source| ProvisionError::LogKey {
            origin: log_origin.to_owned(),
            source,
        })?
        .to_private_text();
    write_private(
        ProvisionedFile::LogKey,
        &log_key,
        log.as_bytes(),
        WriteMode::Replace,
    )?;
    Ok((code_keys, record_key, log_key))
}

/// The public (verifier) key of a log or witness note key file.
pub fn note_verifier(key_file: &Path, cosignature: bool) -> Result<String> {
    let text = crate::read_private(key_file).map_err(|source| ProvisionError::ReadNoteKey {
        path: key_file.to_owned(),
        source,
    })?;
    let signer = NoteSigner::parse_private(&String::from_utf8_lossy(&text)).map_err(|source| {
        ProvisionError::InvalidNoteKey {
            path: key_file.to_owned(),
            source,
        }
    })?;
    Ok(if cosignature {
        signer.cosignature_verifier().to_string()
    } else {
        signer.verifier().to_string()
    })
}

#[cfg(test)]
mod tests;
