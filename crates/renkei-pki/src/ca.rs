//! The network CA: a self-signed root kept in a directory, issuing
//! end-entity certificates and the CRL.

use std::fmt;
use std::fs::DirBuilder;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType,
    SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::files::{WriteMode, read_private, read_public, write_private, write_public};
use crate::{
    CertifiedKey, Identity, KeyAlgorithm, NetworkIdentity, PkiError, RevocationList, TrustAnchors,
    peer::fingerprint, pem, serial,
};

/// CA certificate, PEM.
pub const CA_CERT_FILE: &str = "ca.crt";
/// CA private key, PEM, mode 0600.
pub const CA_KEY_FILE: &str = "ca.key";
/// CRL number and revoked serials (TOML).
pub const CA_STATE_FILE: &str = "ca-state.toml";
/// The current CRL, PEM.
pub const CA_CRL_FILE: &str = "ca.crl";
/// A copy of every issued certificate, named `<serial>.crt`.
pub const ISSUED_DIR: &str = "issued";

/// Lifetime of the CA certificate.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Default lifetime of end-entity certificates.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
/// nextUpdate of each CRL, counted from its signing.
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// not_before is back-dated by this much so that peers whose clocks are a
/// little behind accept a certificate issued just now.
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Random bytes in a serial (RFC 5280 allows 20; CA/B asks for >= 64 bits).
const SERIAL_BYTES: usize = 16;
const STATE_FORMAT: u32 = 1;

/// Why a certificate was revoked (RFC 5280 §5.3.1 subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl From<RevocationReason> for rcgen::RevocationReason {
    fn from(r: RevocationReason) -> Self {
        match r {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::CaCompromise => rcgen::RevocationReason::CaCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

/// One revoked certificate as recorded in the CA state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedEntry {
    pub serial: String,
    #[serde(with = "rfc3339")]
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// `ca-state.toml`. Serials are random, so there is no "next serial"; the
/// record of what was issued is the `issued/` directory, which lets
/// `issue` leave this file alone (no lost updates between issuers).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaState {
    format: u32,
    key_algorithm: KeyAlgorithm,
    /// Number of the CRL currently in `ca.crl`; every new CRL gets +1.
    crl_number: u64,
    #[serde(default)]
    revoked: Vec<RevokedEntry>,
}

mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

/// How long an end-entity certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From now (minus a few minutes of clock skew) for this many days.
    Days(u32),
    /// An explicit window, e.g. an already expired certificate for tests.
    Window {
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
}

/// What to put in an end-entity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    pub common_name: String,
    pub identity: NetworkIdentity,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub validity: Validity,
    pub key_algorithm: KeyAlgorithm,
    /// The holder's application keys the CA certifies (URI SANs).
    pub certified_keys: Vec<CertifiedKey>,
}

impl CertificateRequest {
    pub fn new(
        common_name: impl Into<String>,
        identity: NetworkIdentity,
        key_algorithm: KeyAlgorithm,
    ) -> Self {
        CertificateRequest {
            common_name: common_name.into(),
            identity,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            validity: Validity::Days(DEFAULT_VALIDITY_DAYS),
            key_algorithm,
            certified_keys: Vec::new(),
        }
    }

    /// Certify one of the holder's application keys (at most one per purpose).
    pub fn with_certified_key(mut self, key: CertifiedKey) -> Self {
        self.certified_keys.push(key);
        self
    }

    pub fn with_dns_name(mut self, name: impl Into<String>) -> Self {
        self.dns_names.push(name.into());
        self
    }

    pub fn with_ip_address(mut self, ip: IpAddr) -> Self {
        self.ip_addresses.push(ip);
        self
    }

    pub fn with_validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }
}

/// A freshly issued certificate with its new private key.
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pem: Zeroizing<String>,
    /// Canonical lowercase hex, as used by `revoke` and the CRL.
    pub serial: String,
    pub fingerprint: [u8; 32],
    pub identity: NetworkIdentity,
    pub not_after: OffsetDateTime,
}

impl IssuedCertificate {
    /// Write `<stem>.crt` (0644) and `<stem>.key` (0600) into `dir`;
    /// returns their paths.
    pub fn write_to(&self, dir: &Path, stem: &str, mode: WriteMode) -> Result<(PathBuf, PathBuf), PkiError> {
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        if mode == WriteMode::CreateNew && cert_path.exists() {
            return Err(PkiError::AlreadyExists { path: cert_path });
        }
        write_private(&key_path, self.key_pem.as_bytes(), mode)?;
        write_public(&cert_path, self.cert_pem.as_bytes(), mode)?;
        Ok((cert_path, key_path))
    }

    /// The certificate and key as a TLS [`Identity`].
    pub fn to_identity(&self) -> Result<Identity, PkiError> {
        Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("serial", &self.serial)
            .field("identity", &self.identity)
            .field("not_after", &self.not_after)
            .field("key_pem", &"[elided]")
            .finish_non_exhaustive()
    }
}

/// The network CA, backed by a directory (see the `*_FILE` constants).
pub struct NetworkCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    not_after: OffsetDateTime,
    state: CaState,
    crl_der: CertificateRevocationListDer<'static>,
    crl_pem: String,
}

impl fmt::Debug for NetworkCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkCa")
            .field("dir", &self.dir)
            .field("key_algorithm", &self.state.key_algorithm)
            .field("crl_number", &self.state.crl_number)
            .field("revoked", &self.state.revoked.len())
            .finish_non_exhaustive()
    }
}

impl NetworkCa {
    /// Create a new CA in `dir` (created with mode 0700 if missing). Refuses
    /// to touch a directory that already holds a CA.
    pub fn create(dir: &Path, common_name: &str, algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        if common_name.trim().is_empty() {
            return Err(PkiError::InvalidRequest {
                reason: "the CA common name is empty".to_owned(),
            });
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| PkiError::io("create directory", dir, e))?;
        for name in [CA_KEY_FILE, CA_CERT_FILE, CA_STATE_FILE, CA_CRL_FILE] {
            let path = dir.join(name);
            if path.exists() {
                return Err(PkiError::AlreadyExists { path });
            }
        }

        let key = algorithm.generate_key()?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(random_serial()?.1);
        let not_after = params.not_after;
        let cert = params
            .self_signed(&key)
            .map_err(PkiError::rcgen("self-sign the CA certificate"))?;
        let issuer = Issuer::new(params, key);

        let state = CaState {
            format: STATE_FORMAT,
            key_algorithm: algorithm,
            crl_number: 1,
            revoked: Vec::new(),
        };
        let (crl_der, crl_pem) = sign_crl(&issuer, &state)?;
        let ca = NetworkCa {
            dir: dir.to_owned(),
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer,
            not_after,
            state,
            crl_der,
            crl_pem,
        };

        // The key goes first with CreateNew: it doubles as the lock against
        // two concurrent `create` calls on the same directory.
        let key_pem = Zeroizing::new(ca.issuer.key().serialize_pem());
        write_private(&ca.path(CA_KEY_FILE), key_pem.as_bytes(), WriteMode::CreateNew)?;
        write_public(
            &ca.path(CA_CERT_FILE),
            ca.cert_pem.as_bytes(),
            WriteMode::CreateNew,
        )?;
        ca.save_state(&ca.state, WriteMode::CreateNew)?;
        write_public(&ca.path(CA_CRL_FILE), ca.crl_pem.as_bytes(), WriteMode::CreateNew)?;
        ca.ensure_issued_dir()?;
        tracing::info!(dir = %dir.display(), %algorithm, "created network CA");
        Ok(ca)
    }

    /// Load a CA created by [`NetworkCa::create`]. If a crash left `ca.crl`
    /// behind the state file, the CRL is re-signed from the state.
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let state_path = dir.join(CA_STATE_FILE);
        let crl_path = dir.join(CA_CRL_FILE);

        let cert_pem =
            pem::utf8(read_public(&cert_path)?, "CA certificate").map_err(|e| e.in_file(&cert_path))?;
        let mut certs =
            pem::certificates(cert_pem.as_bytes(), "CA certificate").map_err(|e| e.in_file(&cert_path))?;
        let cert_der = certs.remove(0);
        let (_, parsed) = X509Certificate::from_der(&cert_der)
            .map_err(|e| PkiError::der("CA certificate")(e).in_file(&cert_path))?;
        let not_after = parsed.validity().not_after.to_datetime();

        let key_pem = read_private(&key_path)?;
        let key = std::str::from_utf8(&key_pem)
            .map_err(|_| PkiError::Der {
                what: "CA key",
                reason: "file is not UTF-8 text".to_owned(),
            })
            .and_then(|text| KeyPair::from_pem(text).map_err(PkiError::rcgen("parse the CA key")))
            .map_err(|e| e.in_file(&key_path))?;
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::CaKeyMismatch.in_file(&key_path));
        }
        let algorithm =
            KeyAlgorithm::of_key(&key).ok_or_else(|| PkiError::UnsupportedKeyAlgorithm.in_file(&key_path))?;

        let state_text =
            pem::utf8(read_public(&state_path)?, "CA state").map_err(|e| e.in_file(&state_path))?;
        let state: CaState =
            toml::from_str(&state_text).map_err(|e| PkiError::StateParse(e).in_file(&state_path))?;
        validate_state(&state).map_err(|e| e.in_file(&state_path))?;
        if state.key_algorithm != algorithm {
            return Err(PkiError::CaAlgorithmMismatch {
                expected: state.key_algorithm,
                found: algorithm.as_str(),
            }
            .in_file(&key_path));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| PkiError::rcgen("read the CA certificate")(e).in_file(&cert_path))?;

        let crl_pem = pem::utf8(read_public(&crl_path)?, "X509 CRL").map_err(|e| e.in_file(&crl_path))?;
        let crl_der = pem::crl(crl_pem.as_bytes()).map_err(|e| e.in_file(&crl_path))?;
        let on_disk = RevocationList::from_der(&crl_der, &cert_der).map_err(|e| e.in_file(&crl_path))?;

        let mut ca = NetworkCa {
            dir: dir.to_owned(),
            issuer,
            cert_der,
            cert_pem,
            not_after,
            state,
            crl_der,
            crl_pem,
        };
        ca.reconcile_crl(&on_disk)?;
        Ok(ca)
    }

    /// Make `ca.crl` agree with the state after an interrupted update. The
    /// state is written first, so it may be ahead of the CRL, never behind;
    /// if the CRL lists a serial the state lacks, something else edited the
    /// files and we stop rather than un-revoke anything.
    fn reconcile_crl(&mut self, on_disk: &RevocationList) -> Result<(), PkiError> {
        let in_state: std::collections::BTreeSet<&str> =
            self.state.revoked.iter().map(|r| r.serial.as_str()).collect();
        if let Some(extra) = on_disk.serials().find(|s| !in_state.contains(s)) {
            return Err(PkiError::StateInvalid {
                reason: format!("{CA_CRL_FILE} revokes {extra}, which the state does not list"),
            }
            .in_file(self.path(CA_STATE_FILE)));
        }
        if on_disk.crl_number() == self.state.crl_number && on_disk.len() == in_state.len() {
            return Ok(());
        }
        tracing::warn!(
            dir = %self.dir.display(),
            crl_number = on_disk.crl_number(),
            state_crl_number = self.state.crl_number,
            "CRL does not match the CA state (interrupted update?); re-signing it"
        );
        let mut state = self.state.clone();
        state.crl_number = state.crl_number.max(on_disk.crl_number()) + 1;
        self.publish(state)
    }

    /// Issue an end-entity certificate usable as TLS server and client.
    pub fn issue(&self, req: &CertificateRequest) -> Result<IssuedCertificate, PkiError> {
        req.identity.validate()?;
        if req.common_name.trim().is_empty() {
            return Err(PkiError::InvalidRequest {
                reason: "the common name is empty".to_owned(),
            });
        }
        let now = OffsetDateTime::now_utc();
        let (not_before, not_after) = match req.validity {
            Validity::Days(0) => {
                return Err(PkiError::InvalidRequest {
                    reason: "validity must be at least one day".to_owned(),
                });
            }
            Validity::Days(days) => (now - CLOCK_SKEW, now + Duration::days(i64::from(days))),
            Validity::Window {
                not_before,
                not_after,
            } => (not_before, not_after),
        };
        if not_after <= not_before {
            return Err(PkiError::InvalidRequest {
                reason: "not_after is not later than not_before".to_owned(),
            });
        }
        if not_after > self.not_after {
            return Err(PkiError::InvalidRequest {
                reason: format!(
                    "the certificate would outlive the CA (valid until {})",
                    self.not_after
                ),
            });
        }

        let mut sans = Vec::new();
        for uri in req.identity.to_uris() {
            sans.push(SanType::URI(ia5(&uri)?));
        }
        let key_uris: Vec<String> = req.certified_keys.iter().map(CertifiedKey::to_uri).collect();
        // The same rules a verifier applies: well-formed, one per purpose.
        crate::keys::keys_from_uris(key_uris.iter().map(String::as_str))?;
        for uri in &key_uris {
            sans.push(SanType::URI(ia5(uri)?));
        }
        for name in &req.dns_names {
            // Check with the same rules the peers' verifier will apply.
            rustls_pki_types::DnsName::try_from(name.as_str()).map_err(|e| PkiError::InvalidSan {
                value: name.clone(),
                reason: e.to_string(),
            })?;
            sans.push(SanType::DnsName(ia5(name)?));
        }
        sans.extend(req.ip_addresses.iter().copied().map(SanType::IpAddress));

        let (serial_hex, serial_number) = random_serial()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(&req.common_name);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial_number);
        params.not_before = not_before;
        params.not_after = not_after;

        let key = req.key_algorithm.generate_key()?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PkiError::rcgen("sign the certificate"))?;
        let issued = IssuedCertificate {
            cert_pem: cert.pem(),
            fingerprint: fingerprint(cert.der()),
            cert_der: cert.der().clone(),
            key_pem: Zeroizing::new(key.serialize_pem()),
            serial: serial_hex,
            identity: req.identity,
            not_after,
        };

        // The copy in issued/ is what makes the serial "ours" for `revoke`.
        self.ensure_issued_dir()?;
        write_public(
            &self.issued_path(&issued.serial),
            issued.cert_pem.as_bytes(),
            WriteMode::CreateNew,
        )?;
        tracing::info!(
            serial = %issued.serial,
            identity = %issued.identity,
            common_name = %req.common_name,
            %not_after,
            "issued certificate"
        );
        Ok(issued)
    }

    /// Revoke a certificate this CA issued and publish a new CRL. Revoking
    /// an already revoked serial changes nothing.
    pub fn revoke(&mut self, serial: &str, reason: RevocationReason) -> Result<(), PkiError> {
        let serial = serial::normalize_serial(serial)?;
        if self.state.revoked.iter().any(|r| r.serial == serial) {
            tracing::debug!(%serial, "already revoked");
            return Ok(());
        }
        if !self.issued_path(&serial).exists() {
            return Err(PkiError::UnknownSerial { serial });
        }
        let mut state = self.state.clone();
        state.revoked.push(RevokedEntry {
            serial: serial.clone(),
            // CRLs carry whole seconds; keep the state equal to the CRL.
            revoked_at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
            reason,
        });
        state.crl_number += 1;
        self.publish(state)?;
        tracing::info!(%serial, ?reason, crl_number = self.state.crl_number, "revoked certificate");
        Ok(())
    }

    /// Re-sign the CRL with a new number and a fresh nextUpdate. Run this
    /// well within [`CRL_VALIDITY`] (e.g. daily) so peers never hold a CRL
    /// past its nextUpdate.
    pub fn refresh_crl(&mut self) -> Result<(), PkiError> {
        let mut state = self.state.clone();
        state.crl_number += 1;
        self.publish(state)
    }

    /// Sign a CRL for `state`, then write the state and the CRL, in that
    /// order (see [`NetworkCa::load`]); memory is updated only on success.
    fn publish(&mut self, state: CaState) -> Result<(), PkiError> {
        let (crl_der, crl_pem) = sign_crl(&self.issuer, &state)?;
        self.save_state(&state, WriteMode::Replace)?;
        write_public(&self.path(CA_CRL_FILE), crl_pem.as_bytes(), WriteMode::Replace)?;
        self.state = state;
        self.crl_der = crl_der;
        self.crl_pem = crl_pem;
        Ok(())
    }

    fn save_state(&self, state: &CaState, mode: WriteMode) -> Result<(), PkiError> {
        let path = self.path(CA_STATE_FILE);
        let text = toml::to_string_pretty(state).map_err(|e| PkiError::StateSerialize(e).in_file(&path))?;
        write_public(&path, text.as_bytes(), mode)
    }

    fn ensure_issued_dir(&self) -> Result<(), PkiError> {
        let dir = self.path(ISSUED_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| PkiError::io("create directory", dir, e))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn issued_path(&self, canonical_serial: &str) -> PathBuf {
        self.path(ISSUED_DIR).join(format!("{canonical_serial}.crt"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.state.key_algorithm
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    pub fn crl_pem(&self) -> &str {
        &self.crl_pem
    }

    pub fn crl_der(&self) -> &CertificateRevocationListDer<'static> {
        &self.crl_der
    }

    pub fn crl_number(&self) -> u64 {
        self.state.crl_number
    }

    pub fn revoked(&self) -> &[RevokedEntry] {
        &self.state.revoked
    }

    pub fn cert_path(&self) -> PathBuf {
        self.path(CA_CERT_FILE)
    }

    pub fn crl_path(&self) -> PathBuf {
        self.path(CA_CRL_FILE)
    }

    /// Trust anchors for this CA's current certificate and CRL.
    pub fn trust_anchors(&self) -> Result<TrustAnchors, PkiError> {
        TrustAnchors::from_der(self.cert_der.clone(), self.crl_der.clone())
    }
}

fn common_name_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ia5(value: &str) -> Result<Ia5String, PkiError> {
    Ia5String::try_from(value).map_err(|e| PkiError::InvalidSan {
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

/// A positive random serial with the top bit clear and a non-zero first
/// byte, so its DER encoding has no sign byte and no leading zero: the hex
/// of these bytes is exactly what parsers report.
fn random_serial() -> Result<(String, SerialNumber), PkiError> {
    let mut bytes = [0u8; SERIAL_BYTES];
    crate::crypto_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    Ok((serial::hex(&bytes), SerialNumber::from_slice(&bytes)))
}

fn sign_crl(
    issuer: &Issuer<'_, KeyPair>,
    state: &CaState,
) -> Result<(CertificateRevocationListDer<'static>, String), PkiError> {
    let now = OffsetDateTime::now_utc();
    let revoked_certs = state
        .revoked
        .iter()
        .map(|r| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial::to_bytes(&r.serial)?),
                revocation_time: r.revoked_at,
                reason_code: Some(r.reason.into()),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + CRL_VALIDITY,
        crl_number: SerialNumber::from(state.crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(issuer)
        .map_err(PkiError::rcgen("sign the CRL"))?;
    let pem = crl.pem().map_err(PkiError::rcgen("encode the CRL"))?;
    Ok((crl.der().clone(), pem))
}

fn validate_state(state: &CaState) -> Result<(), PkiError> {
    if state.format != STATE_FORMAT {
        return Err(PkiError::StateInvalid {
            reason: format!("unsupported format {} (expected {STATE_FORMAT})", state.format),
        });
    }
    for entry in &state.revoked {
        let canonical = serial::normalize_serial(&entry.serial)?;
        if canonical != entry.serial {
            return Err(PkiError::StateInvalid {
                reason: format!("serial `{}` is not in canonical form `{canonical}`", entry.serial),
            });
        }
    }
    Ok(())
}
