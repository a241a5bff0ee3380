//! rustls configurations for the network: TLS 1.3 only, aws-lc-rs passed
//! explicitly, mutual authentication against the network CA with its CRL.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroize;

use crate::files::{read_private, read_public};
use crate::{PeerCertificate, PkiError, RevocationList, pem};

/// ALPN protocols offered by both sides, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The one crypto provider of the network. Always passed explicitly so that
/// nothing depends on the process-wide default provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// What a peer is checked against: the network CA certificate and its CRL
/// (whose signature has been verified against that CA).
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    ca_cert: CertificateDer<'static>,
    roots: Arc<RootCertStore>,
    crl: CertificateRevocationListDer<'static>,
    revocations: RevocationList,
    /// The handshake's client-certificate checks, for certificates that
    /// arrive inside messages.
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl TrustAnchors {
    /// Load `ca.crt` and `ca.crl` (both PEM).
    pub fn load(ca_crt_path: &Path, crl_path: &Path) -> Result<Self, PkiError> {
        let ca_pem = read_public(ca_crt_path)?;
        let ca_cert = ca_certificate(&ca_pem).map_err(|e| e.in_file(ca_crt_path))?;
        let crl_pem = read_public(crl_path)?;
        let crl = pem::crl(&crl_pem).map_err(|e| e.in_file(crl_path))?;
        let revocations = RevocationList::from_der(&crl, &ca_cert).map_err(|e| e.in_file(crl_path))?;
        let roots = root_store(&ca_cert).map_err(|e| e.in_file(ca_crt_path))?;
        let verifier = message_verifier(&roots, &crl)?;
        Ok(TrustAnchors {
            ca_cert,
            roots,
            crl,
            revocations,
            verifier,
        })
    }

    /// Build from the PEM text of the CA certificate and of its CRL.
    pub fn from_pem(ca_pem: &[u8], crl_pem: &[u8]) -> Result<Self, PkiError> {
        let ca_cert = ca_certificate(ca_pem)?;
        let crl = pem::crl(crl_pem)?;
        TrustAnchors::from_der(ca_cert, crl)
    }

    /// Build from DER.
    pub fn from_der(
        ca_cert: CertificateDer<'static>,
        crl: CertificateRevocationListDer<'static>,
    ) -> Result<Self, PkiError> {
        check_is_ca(&ca_cert)?;
        let revocations = RevocationList::from_der(&crl, &ca_cert)?;
        let roots = root_store(&ca_cert)?;
        let verifier = message_verifier(&roots, &crl)?;
        Ok(TrustAnchors {
            ca_cert,
            roots,
            crl,
            revocations,
            verifier,
        })
    }

    /// Verify a certificate that arrived inside a message rather than in a
    /// handshake, with the checks a handshake makes: issued by the network
    /// CA, valid at `now`, not revoked by the current CRL, usable for client
    /// authentication. Returns what it says about its holder.
    pub fn verify_certificate(
        &self,
        der: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<PeerCertificate, PkiError> {
        let cert = CertificateDer::from(der);
        self.verifier
            .verify_client_cert(&cert, &[], now)
            .map_err(|e| PkiError::CertificateRefused {
                reason: e.to_string(),
            })?;
        PeerCertificate::parse(der)
    }

    pub fn ca_certificate(&self) -> &CertificateDer<'static> {
        &self.ca_cert
    }

    pub fn crl_der(&self) -> &CertificateRevocationListDer<'static> {
        &self.crl
    }

    /// The revoked serials, for per-request checks by the application.
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }
}

/// Exactly one CA certificate: the network has one root, and accepting a
/// bundle here would quietly widen who can mint identities.
fn ca_certificate(pem_text: &[u8]) -> Result<CertificateDer<'static>, PkiError> {
    let mut certs = pem::certificates(pem_text, "CA certificate")?;
    if certs.len() != 1 {
        return Err(PkiError::Der {
            what: "CA certificate",
            reason: format!("expected exactly one certificate, found {}", certs.len()),
        });
    }
    let cert = certs.remove(0);
    check_is_ca(&cert)?;
    Ok(cert)
}

fn check_is_ca(cert: &[u8]) -> Result<(), PkiError> {
    let (_, parsed) = X509Certificate::from_der(cert).map_err(PkiError::der("CA certificate"))?;
    if !parsed.is_ca() {
        return Err(PkiError::Der {
            what: "CA certificate",
            reason: "basic constraints do not mark it as a CA".to_owned(),
        });
    }
    Ok(())
}

fn message_verifier(
    roots: &Arc<RootCertStore>,
    crl: &CertificateRevocationListDer<'static>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, PkiError> {
    Ok(
        WebPkiClientVerifier::builder_with_provider(roots.clone(), crypto_provider())
            .with_crls([crl.clone()])
            .build()?,
    )
}

fn root_store(ca_cert: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, PkiError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.clone())?;
    Ok(Arc::new(roots))
}

/// Our own certificate chain and private key.
pub struct Identity {
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    certificate: PeerCertificate,
}

impl Identity {
    /// Load a PEM certificate (chain) and a PEM private key; the key file
    /// must not be accessible by group or others.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let cert_pem = read_public(cert_path)?;
        let cert_chain = pem::certificates(&cert_pem, "certificate").map_err(|e| e.in_file(cert_path))?;
        let certificate = PeerCertificate::parse(&cert_chain[0]).map_err(|e| e.in_file(cert_path))?;
        let key_pem = read_private(key_path)?;
        let key = pem::private_key(&key_pem).map_err(|e| e.in_file(key_path))?;
        Ok(Identity {
            cert_chain,
            key,
            certificate,
        })
    }

    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, PkiError> {
        let cert_chain = pem::certificates(cert_pem, "certificate")?;
        let certificate = PeerCertificate::parse(&cert_chain[0])?;
        let key = pem::private_key(key_pem)?;
        Ok(Identity {
            cert_chain,
            key,
            certificate,
        })
    }

    /// Our own certificate, parsed (who we are in the network).
    pub fn certificate(&self) -> &PeerCertificate {
        &self.certificate
    }

    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.cert_chain
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            certificate: self.certificate.clone(),
        }
    }
}

// PrivateKeyDer can be zeroized but does not do it on drop by itself.
impl Drop for Identity {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificate", &self.certificate)
            .field("chain_len", &self.cert_chain.len())
            .field("key", &"[elided]")
            .finish()
    }
}

/// Whether a server demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Mutual TLS: the client must present a certificate from the network
    /// CA that is not on the CRL.
    Required,
    /// No client certificate is requested (e.g. a public portal endpoint).
    None,
    /// A client certificate is asked for but optional, and any certificate
    /// is accepted once its handshake signature verifies: the application
    /// pins it (RFC 8705's self-signed certificate method, the consent
    /// API's `tls_client_auth` by registered SHA-256).
    Pinned,
}

/// Accepts any client certificate whose key signed the handshake; who it
/// belongs to is the application's decision (by fingerprint).
#[derive(Debug)]
struct PinnedClientCert {
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for PinnedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // Well-formed is all TLS checks; the pin is checked per request.
        X509Certificate::from_der(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

fn alpn() -> Vec<Vec<u8>> {
    ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect()
}

/// Server configuration: TLS 1.3 only, ALPN `h2` and `http/1.1`.
///
/// With [`ClientAuth::Required`] the client chain is verified against the CA
/// and the CRL in `trust` at every handshake. CRL policy:
///
/// * a certificate whose revocation status the CRL cannot establish (e.g.
///   the CRL is from another CA) is rejected (rustls' default, kept);
/// * an *expired* CRL (past nextUpdate) is still enforced rather than
///   treated as an error (rustls' default, kept deliberately). Making
///   expiry fatal would turn a CA that missed a re-signing into an outage
///   of the whole network, while a stale CRL still blocks every revocation
///   it lists. Freshness is handled out of band: the CA re-signs with
///   [`crate::NetworkCa::refresh_crl`], and [`crate::CrlWatcher`] logs a
///   warning when it loads a CRL past its nextUpdate.
///
/// Session resumption is disabled when client auth is required: a resumed
/// TLS 1.3 session reuses the client certificate verified at the original
/// handshake without consulting the CRL again, so a revoked node could keep
/// reconnecting on an old ticket. Every new connection is a full handshake.
pub fn server_config(
    identity: &Identity,
    trust: &TrustAnchors,
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_auth {
        ClientAuth::Required => {
            let verifier = WebPkiClientVerifier::builder_with_provider(trust.roots.clone(), provider)
                .with_crls([trust.crl.clone()])
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Pinned => builder.with_client_cert_verifier(Arc::new(PinnedClientCert {
            algs: provider.signature_verification_algorithms,
        })),
    };
    let mut config = builder.with_single_cert(identity.cert_chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = alpn();
    if client_auth != ClientAuth::None {
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
    }
    Ok(Arc::new(config))
}

/// Client configuration: TLS 1.3 only, the server verified against the CA
/// and the CRL (same policy as [`server_config`]), our certificate presented
/// when `identity` is given, ALPN `h2` and `http/1.1`.
///
/// Resumption is off on the client too, so the server's certificate is
/// re-checked against the current CRL on every new connection.
pub fn client_config(identity: Option<&Identity>, trust: &TrustAnchors) -> Result<ClientConfig, PkiError> {
    let provider = crypto_provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider.clone())
        .with_crls([trust.crl.clone()])
        .build()?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier);
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(id.cert_chain.clone(), id.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn();
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// Whom a client requires the server to be, checked *during* the TLS
/// handshake, so that not one byte of a request reaches another server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerPin {
    /// The certificate with this SHA-256 (of its DER): an institution's
    /// registered certificate.
    Fingerprint([u8; 32]),
    /// Any certificate of the network CA with this role.
    Role(crate::Role),
}

/// Why a server's (otherwise valid) certificate is not the pinned one; its
/// `Debug` is the reason, because rustls shows it so.
struct PinMismatch(String);

impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinMismatch {}

/// webpki's full check (chain to the network CA, validity, host name, CRL),
/// then the pin.
#[derive(Debug)]
struct PinnedServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pin: ServerPin,
}

impl ServerPin {
    /// `Ok` if `end_entity` is the pinned peer.
    pub fn check(&self, end_entity: &[u8]) -> Result<(), String> {
        let cert = PeerCertificate::parse(end_entity).map_err(|e| format!("server certificate: {e}"))?;
        match *self {
            Self::Fingerprint(fp) if cert.fingerprint == fp => Ok(()),
            Self::Fingerprint(_) => {
                Err("the server's certificate is not the one registered for this institution".into())
            }
            Self::Role(role) if cert.identity.role == role => Ok(()),
            Self::Role(role) => Err(format!(
                "the server is a {}, expected the {}",
                cert.identity.role.as_str(),
                role.as_str()
            )),
        }
    }
}

impl rustls::client::danger::ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.pin.check(end_entity).map_err(|why| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                PinMismatch(why),
            ))))
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// [`client_config`] whose server must also match `pin`: the check runs in
/// the handshake, after webpki's, before any application data is sent.
pub fn client_config_pinned(
    identity: Option<&Identity>,
    trust: &TrustAnchors,
    pin: ServerPin,
) -> Result<ClientConfig, PkiError> {
    let provider = crypto_provider();
    let inner = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider.clone())
        .with_crls([trust.crl.clone()])
        .build()?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier { inner, pin }));
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(id.cert_chain.clone(), id.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn();
    config.resumption = Resumption::disabled();
    Ok(config)
}
