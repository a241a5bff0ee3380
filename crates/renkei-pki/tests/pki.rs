// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! End-to-end tests of the network PKI: CA files, issuance, revocation and
//! real TLS 1.3 handshakes over loopback with tokio-rustls.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rcgen::{
    CertificateParams, CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams,
    SanType, SerialNumber,
};
use renkei_ids::CorporateNumber;
use renkei_pki::{
    CA_KEY_FILE, CA_STATE_FILE, CertificateRequest, CertifiedKey, ClientAuth, CrlWatcher, ISSUED_DIR,
    Identity, IssuedCertificate, KeyAlgorithm, KeyPurpose, NetworkCa, NetworkIdentity, PeerCertificate,
    PkiError, RevocationList, RevocationReason, Role, TrustAnchors, Validity, WriteMode, client_config,
    read_private, server_config,
};
use rustls::client::Resumption;
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use rustls_pki_types::ServerName;
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const HUB_NAME: &str = "hub.renkei.test";
const INSTITUTION: &str = "4011001098993";

fn institution() -> CorporateNumber {
    CorporateNumber::parse(INSTITUTION).expect("valid corporate number")
}

fn node_identity() -> NetworkIdentity {
    NetworkIdentity::new(Role::Node, Some(institution()))
}

/// A CA in a temporary directory with a hub (server) and a node (client).
struct Net {
    dir: TempDir,
    ca: NetworkCa,
    hub: IssuedCertificate,
    node: IssuedCertificate,
    alg: KeyAlgorithm,
}

impl Net {
    fn new(alg: KeyAlgorithm) -> Net {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = NetworkCa::create(&dir.path().join("ca"), "renkei test network CA", alg).expect("create CA");
        let hub = ca.issue(&hub_request(alg)).expect("issue hub");
        let node = ca
            .issue(&CertificateRequest::new(
                "node 4011001098993",
                node_identity(),
                alg,
            ))
            .expect("issue node");
        Net {
            dir,
            ca,
            hub,
            node,
            alg,
        }
    }

    fn trust(&self) -> TrustAnchors {
        TrustAnchors::load(&self.ca.cert_path(), &self.ca.crl_path()).expect("trust anchors")
    }

    fn server(&self, auth: ClientAuth) -> Arc<ServerConfig> {
        let id = self.hub.to_identity().expect("hub identity");
        server_config(&id, &self.trust(), auth).expect("server config")
    }

    fn client(&self, cert: Option<&IssuedCertificate>) -> Arc<ClientConfig> {
        let id = cert.map(|c| c.to_identity().expect("client identity"));
        Arc::new(client_config(id.as_ref(), &self.trust()).expect("client config"))
    }
}

fn hub_request(alg: KeyAlgorithm) -> CertificateRequest {
    CertificateRequest::new(HUB_NAME, NetworkIdentity::new(Role::Hub, None), alg)
        .with_dns_name(HUB_NAME)
        .with_ip_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The server certificate, ALPN protocol and handshake kind the client saw.
type ClientView = (PeerCertificate, Option<Vec<u8>>, Option<HandshakeKind>);

/// What each side saw of one connection.
#[derive(Debug)]
struct Outcome {
    /// The client certificate the server saw (None: client sent none).
    server: Result<Option<PeerCertificate>, String>,
    /// The server certificate, ALPN and handshake kind the client saw.
    client: Result<ClientView, String>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.server.is_ok() && self.client.is_ok()
    }
}

/// Connect once over loopback, exchange ping/pong, report both sides.
async fn connect(server: Arc<ServerConfig>, client: Arc<ClientConfig>, name: &str) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let acceptor = TlsAcceptor::from(server);
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let peer = match tls.get_ref().1.peer_certificates() {
            Some(chain) => Some(PeerCertificate::from_peer_chain(Some(chain)).map_err(|e| e.to_string())?),
            None => None,
        };
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    });

    let connector = TlsConnector::from(client);
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let client_side = async move {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
        let conn = tls.get_ref().1;
        let server_cert =
            PeerCertificate::from_peer_chain(conn.peer_certificates()).map_err(|e| e.to_string())?;
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let kind = conn.handshake_kind();
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        if &buf != b"pong" {
            return Err(format!("unexpected reply {buf:?}"));
        }
        Ok((server_cert, alpn, kind))
    };

    let run = async {
        let client = client_side.await;
        let server = server_side
            .await
            .unwrap_or_else(|e| Err(format!("server task failed: {e}")));
        Outcome { server, client }
    };
    tokio::time::timeout(StdDuration::from_secs(20), run)
        .await
        .expect("handshake timed out")
}

/// One test per key algorithm for each scenario.
macro_rules! both_algorithms {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn ed25519() {
                super::$name(renkei_pki::KeyAlgorithm::Ed25519).await;
            }
            #[tokio::test]
            async fn ecdsa_p256() {
                super::$name(renkei_pki::KeyAlgorithm::EcdsaP256).await;
            }
        }
    )*};
}

both_algorithms!(
    ca_files_and_issued_certificates,
    mtls_handshake_shows_identities,
    revoked_client_is_refused,
    revoked_server_is_refused,
    other_ca_is_refused,
    expired_certificates_are_refused,
    client_without_certificate,
    key_files_are_private,
    revocation_bookkeeping,
    crl_from_other_ca_is_rejected,
    reloaded_ca_keeps_working,
    crl_watcher_picks_up_revocations,
    no_resumption_with_client_auth,
    stale_crl_is_still_enforced,
    certified_keys_travel_in_messages,
);

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

async fn ca_files_and_issued_certificates(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let dir = net.ca.dir();
    assert_eq!(mode_of(&dir.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode_of(&net.ca.cert_path()), 0o644);
    assert_eq!(mode_of(&net.ca.crl_path()), 0o644);
    assert!(dir.join(CA_STATE_FILE).is_file());
    assert_eq!(net.ca.key_algorithm(), alg);
    assert_eq!(net.ca.crl_number(), 1);
    assert!(net.ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(net.ca.crl_pem().starts_with("-----BEGIN X509 CRL-----"));
    let crl = RevocationList::from_pem(net.ca.crl_pem().as_bytes(), net.ca.cert_der())
        .expect("initial CRL verifies");
    assert!(crl.is_empty());
    assert!(
        crl.next_update()
            .is_some_and(|n| n > OffsetDateTime::now_utc() + Duration::days(6))
    );

    // Creating again over the same directory must not destroy the CA.
    let again = NetworkCa::create(dir, "second", alg);
    assert!(matches!(again, Err(PkiError::AlreadyExists { .. })), "{again:?}");
    assert_eq!(mode_of(&dir.join(CA_KEY_FILE)), 0o600);

    for cert in [&net.hub, &net.node] {
        // Serial: 16 random bytes, positive, canonical lowercase hex.
        assert_eq!(cert.serial.len(), 32, "{}", cert.serial);
        assert!(cert.serial.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert!(!cert.serial.starts_with("00"));
        let parsed = PeerCertificate::parse(&cert.cert_der).expect("parse issued cert");
        assert_eq!(parsed.serial, cert.serial);
        assert_eq!(parsed.fingerprint, cert.fingerprint);
        assert_eq!(parsed.identity, cert.identity);
        assert_eq!(parsed.not_after.unix_timestamp(), cert.not_after.unix_timestamp());
        assert!(
            dir.join(ISSUED_DIR)
                .join(format!("{}.crt", cert.serial))
                .is_file()
        );
    }
    assert_ne!(net.hub.serial, net.node.serial);
    assert_eq!(net.node.identity.institution, Some(institution()));
    assert!(net.node.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

async fn mtls_handshake_shows_identities(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        HUB_NAME,
    )
    .await;
    let seen_by_server = out.server.expect("server side succeeded").expect("client cert");
    assert_eq!(seen_by_server.identity, node_identity());
    assert_eq!(seen_by_server.serial, net.node.serial);
    assert_eq!(seen_by_server.fingerprint, net.node.fingerprint);
    let (seen_by_client, alpn, _) = out.client.expect("client side succeeded");
    assert_eq!(seen_by_client.identity, NetworkIdentity::new(Role::Hub, None));
    assert_eq!(seen_by_client.serial, net.hub.serial);
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    // The IP SAN works as a server name too.
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        "127.0.0.1",
    )
    .await;
    assert!(out.succeeded(), "{out:?}");
    // A name the certificate does not carry is refused by the client.
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        "other.renkei.test",
    )
    .await;
    assert!(out.client.is_err(), "{out:?}");
}

async fn revoked_client_is_refused(alg: KeyAlgorithm) {
    let mut net = Net::new(alg);
    let other_node = net
        .ca
        .issue(&CertificateRequest::new(
            "node 2",
            NetworkIdentity::new(
                Role::Node,
                CorporateNumber::from_base_number(123_456_789_012).ok(),
            ),
            alg,
        ))
        .expect("issue second node");
    let before = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        HUB_NAME,
    )
    .await;
    assert!(before.succeeded(), "{before:?}");

    net.ca
        .revoke(&net.node.serial, RevocationReason::KeyCompromise)
        .expect("revoke node");
    let trust = net.trust();
    assert!(trust.revocations().is_revoked(&net.node.serial));
    assert!(!trust.revocations().is_revoked(&other_node.serial));

    // Server rebuilt with the new CRL: the revoked node is refused...
    let server = net.server(ClientAuth::Required);
    let out = connect(server.clone(), net.client(Some(&net.node)), HUB_NAME).await;
    assert!(out.server.is_err(), "revoked client accepted: {out:?}");
    assert!(
        out.client.is_err(),
        "client did not notice the rejection: {out:?}"
    );
    let msg = out.server.err().unwrap_or_default();
    assert!(msg.to_lowercase().contains("revoked"), "{msg}");
    // ...and another node of the same CA still gets in.
    let out = connect(server, net.client(Some(&other_node)), HUB_NAME).await;
    assert!(out.succeeded(), "{out:?}");
}

async fn revoked_server_is_refused(alg: KeyAlgorithm) {
    let mut net = Net::new(alg);
    net.ca
        .revoke(&net.hub.serial, RevocationReason::Superseded)
        .expect("revoke hub");
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        HUB_NAME,
    )
    .await;
    let err = out.client.expect_err("client accepted a revoked server");
    assert!(err.to_lowercase().contains("revoked"), "{err}");
}

async fn other_ca_is_refused(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let other = Net::new(alg);
    // A node certificate from a different CA, presented to our hub.
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&other.node)),
        HUB_NAME,
    )
    .await;
    assert!(out.server.is_err(), "foreign client accepted: {out:?}");
    // Our node talking to a hub whose certificate is from the other CA.
    let foreign_hub = connect(
        other.server(ClientAuth::Required),
        net.client(Some(&net.node)),
        HUB_NAME,
    )
    .await;
    assert!(
        foreign_hub.client.is_err(),
        "foreign server accepted: {foreign_hub:?}"
    );
}

async fn expired_certificates_are_refused(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let now = OffsetDateTime::now_utc();
    let past = Validity::Window {
        not_before: now - Duration::days(30),
        not_after: now - Duration::days(1),
    };
    let expired_node = net
        .ca
        .issue(&CertificateRequest::new("old node", node_identity(), alg).with_validity(past))
        .expect("issue expired node");
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&expired_node)),
        HUB_NAME,
    )
    .await;
    assert!(out.server.is_err(), "expired client accepted: {out:?}");
    assert!(
        out.server
            .err()
            .unwrap_or_default()
            .to_lowercase()
            .contains("expired")
    );

    let expired_hub = net
        .ca
        .issue(&hub_request(alg).with_validity(past))
        .expect("issue expired hub");
    let id = expired_hub.to_identity().expect("identity");
    let server = server_config(&id, &net.trust(), ClientAuth::Required).expect("server config");
    let out = connect(server, net.client(Some(&net.node)), HUB_NAME).await;
    assert!(out.client.is_err(), "expired server accepted: {out:?}");

    // Not yet valid is refused as well.
    let future = Validity::Window {
        not_before: now + Duration::days(1),
        not_after: now + Duration::days(30),
    };
    let early = net
        .ca
        .issue(&CertificateRequest::new("early node", node_identity(), alg).with_validity(future))
        .expect("issue future node");
    let out = connect(
        net.server(ClientAuth::Required),
        net.client(Some(&early)),
        HUB_NAME,
    )
    .await;
    assert!(out.server.is_err(), "not-yet-valid client accepted: {out:?}");
}

async fn client_without_certificate(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let out = connect(net.server(ClientAuth::Required), net.client(None), HUB_NAME).await;
    assert!(out.server.is_err(), "anonymous client accepted: {out:?}");
    // Without client auth the same client connects, and the server sees no certificate.
    let out = connect(net.server(ClientAuth::None), net.client(None), HUB_NAME).await;
    assert_eq!(out.server.as_ref().ok(), Some(&None), "{out:?}");
    assert!(out.client.is_ok(), "{out:?}");
}

async fn key_files_are_private(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let dir = net.dir.path().join("node");
    fs::create_dir(&dir).expect("mkdir");
    let (crt, key) = net
        .node
        .write_to(&dir, "node", WriteMode::CreateNew)
        .expect("write");
    assert_eq!(mode_of(&key), 0o600);
    assert_eq!(mode_of(&crt), 0o644);
    let again = net.node.write_to(&dir, "node", WriteMode::CreateNew);
    assert!(matches!(again, Err(PkiError::AlreadyExists { .. })), "{again:?}");

    let loaded = Identity::load(&crt, &key).expect("load identity");
    assert_eq!(loaded.certificate().identity, node_identity());
    assert_eq!(
        read_private(&key).expect("read key").as_slice(),
        net.node.key_pem.as_bytes()
    );
    // The loaded identity actually works in a handshake.
    let client = Arc::new(client_config(Some(&loaded), &net.trust()).expect("client config"));
    let out = connect(net.server(ClientAuth::Required), client, HUB_NAME).await;
    assert!(out.succeeded(), "{out:?}");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = read_private(&key);
    assert!(
        matches!(refused, Err(PkiError::InsecureKeyFile { mode: 0o644, .. })),
        "{refused:?}"
    );
    let refused = Identity::load(&crt, &key).expect_err("world-readable key accepted");
    assert!(
        matches!(refused.root(), PkiError::InsecureKeyFile { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("chmod 600"), "{refused}");

    // The CA refuses to load with a readable key too.
    let ca_key = net.ca.dir().join(CA_KEY_FILE);
    fs::set_permissions(&ca_key, fs::Permissions::from_mode(0o640)).expect("chmod");
    let ca = NetworkCa::load(net.ca.dir());
    assert!(matches!(ca, Err(PkiError::InsecureKeyFile { .. })), "{ca:?}");
}

async fn revocation_bookkeeping(alg: KeyAlgorithm) {
    let mut net = Net::new(alg);
    let other = Net::new(alg);
    for unknown in ["0123456789abcdef", other.node.serial.as_str()] {
        let r = net.ca.revoke(unknown, RevocationReason::KeyCompromise);
        assert!(
            matches!(r, Err(PkiError::UnknownSerial { .. })),
            "{unknown}: {r:?}"
        );
    }
    let r = net.ca.revoke("../ca", RevocationReason::KeyCompromise);
    assert!(matches!(r, Err(PkiError::InvalidSerial { .. })), "{r:?}");
    assert_eq!(
        net.ca.crl_number(),
        1,
        "failed revocations must not publish a CRL"
    );

    // Any spelling of the serial works; revoking twice is a no-op.
    let spelled = net.node.serial.to_uppercase();
    net.ca
        .revoke(&spelled, RevocationReason::AffiliationChanged)
        .expect("revoke");
    assert_eq!(net.ca.crl_number(), 2);
    net.ca
        .revoke(&net.node.serial, RevocationReason::KeyCompromise)
        .expect("revoke again");
    assert_eq!(net.ca.crl_number(), 2);
    assert_eq!(net.ca.revoked().len(), 1);
    assert_eq!(net.ca.revoked()[0].serial, net.node.serial);
    assert_eq!(net.ca.revoked()[0].reason, RevocationReason::AffiliationChanged);

    let crl = RevocationList::from_pem(net.ca.crl_pem().as_bytes(), net.ca.cert_der()).expect("crl");
    assert_eq!(crl.crl_number(), 2);
    assert_eq!(crl.serials().collect::<Vec<_>>(), vec![net.node.serial.as_str()]);
    assert!(!crl.is_revoked(&net.hub.serial));
    // The file on disk is the same CRL.
    let on_disk = fs::read(net.ca.crl_path()).expect("read crl");
    assert_eq!(on_disk, net.ca.crl_pem().as_bytes());

    net.ca.refresh_crl().expect("refresh");
    assert_eq!(net.ca.crl_number(), 3);
    assert_eq!(net.ca.revoked().len(), 1);
}

async fn crl_from_other_ca_is_rejected(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    // Same subject name as `net`'s CA, different key: only the signature tells them apart.
    let impostor_dir = tempfile::tempdir().expect("tempdir");
    let impostor =
        NetworkCa::create(impostor_dir.path(), "renkei test network CA", alg).expect("impostor CA");
    let r = RevocationList::from_pem(impostor.crl_pem().as_bytes(), net.ca.cert_der());
    assert!(matches!(r, Err(PkiError::CrlSignature { .. })), "{r:?}");
    // A differently named CA fails on the issuer name already.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = NetworkCa::create(other_dir.path(), "some other CA", alg).expect("other CA");
    let r = RevocationList::from_pem(other.crl_pem().as_bytes(), net.ca.cert_der());
    assert!(matches!(r, Err(PkiError::CrlIssuerMismatch)), "{r:?}");

    let r = TrustAnchors::from_pem(net.ca.cert_pem().as_bytes(), impostor.crl_pem().as_bytes());
    assert!(matches!(r, Err(PkiError::CrlSignature { .. })), "{r:?}");
    // Loading from files names the offending file.
    fs::copy(impostor.crl_path(), net.ca.crl_path()).expect("swap CRL");
    let err = TrustAnchors::load(&net.ca.cert_path(), &net.ca.crl_path()).expect_err("accepted");
    assert!(err.to_string().contains("ca.crl"), "{err}");
    assert!(matches!(err.root(), PkiError::CrlSignature { .. }), "{err:?}");

    // A tampered signature is caught too.
    let mut der = net.ca.crl_der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    let r = RevocationList::from_der(&der, net.ca.cert_der());
    assert!(matches!(r, Err(PkiError::CrlSignature { .. })), "{r:?}");
}

async fn reloaded_ca_keeps_working(alg: KeyAlgorithm) {
    let mut net = Net::new(alg);
    net.ca
        .revoke(&net.hub.serial, RevocationReason::Superseded)
        .expect("revoke");
    let mut reloaded = NetworkCa::load(net.ca.dir()).expect("load CA");
    assert_eq!(reloaded.key_algorithm(), alg);
    assert_eq!(reloaded.crl_number(), 2);
    assert_eq!(reloaded.revoked(), net.ca.revoked());
    // Certificates issued after a reload chain to the same root.
    let hub = reloaded.issue(&hub_request(alg)).expect("issue after reload");
    let node = reloaded
        .issue(&CertificateRequest::new("node again", node_identity(), alg))
        .expect("issue after reload");
    let trust = net.trust();
    let server =
        server_config(&hub.to_identity().expect("id"), &trust, ClientAuth::Required).expect("server config");
    let client = Arc::new(client_config(Some(&node.to_identity().expect("id")), &trust).expect("client"));
    let out = connect(server, client, HUB_NAME).await;
    assert!(out.succeeded(), "{out:?}");
    // A serial issued before the reload can still be revoked.
    reloaded
        .revoke(&net.node.serial, RevocationReason::KeyCompromise)
        .expect("revoke after reload");
    assert_eq!(reloaded.crl_number(), 3);

    // Simulate a crash between writing the state and the CRL: put the old
    // CRL back. Loading re-signs it from the state, with a higher number.
    let stale_crl = net.ca.crl_pem().to_owned();
    fs::write(reloaded.crl_path(), &stale_crl).expect("write stale CRL");
    let healed = NetworkCa::load(net.ca.dir()).expect("load after crash");
    assert!(healed.crl_number() > 3, "{}", healed.crl_number());
    let crl = RevocationList::from_pem(&fs::read(healed.crl_path()).expect("read"), healed.cert_der())
        .expect("healed CRL");
    assert!(crl.is_revoked(&net.node.serial) && crl.is_revoked(&net.hub.serial));
    assert_eq!(crl.crl_number(), healed.crl_number());
}

async fn crl_watcher_picks_up_revocations(alg: KeyAlgorithm) {
    let mut net = Net::new(alg);
    let (mut watcher, trust) = CrlWatcher::new(net.ca.cert_path(), net.ca.crl_path()).expect("watcher");
    assert!(trust.revocations().is_empty());
    assert!(watcher.poll().expect("poll").is_none());

    let old_crl = fs::read(net.ca.crl_path()).expect("read");
    net.ca
        .revoke(&net.node.serial, RevocationReason::KeyCompromise)
        .expect("revoke");
    let fresh = watcher.poll().expect("poll").expect("a new CRL");
    assert!(fresh.revocations().is_revoked(&net.node.serial));
    assert_eq!(fresh.revocations().crl_number(), 2);
    assert!(watcher.poll().expect("poll").is_none());

    // The fresh anchors make a working server config that refuses the node.
    let id = net.hub.to_identity().expect("id");
    let server = server_config(&id, &fresh, ClientAuth::Required).expect("server config");
    let out = connect(server, net.client(Some(&net.node)), HUB_NAME).await;
    assert!(out.server.is_err(), "{out:?}");

    // Rolling back to an older CRL is refused and reported on every poll.
    renkei_pki::write_public(&net.ca.crl_path(), &old_crl, WriteMode::Replace).expect("rollback");
    for _ in 0..2 {
        let r = watcher.poll();
        assert!(
            matches!(
                r.as_ref().map_err(PkiError::root),
                Err(PkiError::CrlRollback {
                    current: 2,
                    offered: 1
                })
            ),
            "{r:?}"
        );
    }
    // Once a current CRL is back, polling recovers.
    net.ca.refresh_crl().expect("refresh");
    let fresh = watcher.poll().expect("poll").expect("a new CRL");
    assert_eq!(fresh.revocations().crl_number(), 3);
}

async fn no_resumption_with_client_auth(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let server = net.server(ClientAuth::Required);
    assert_eq!(server.send_tls13_tickets, 0);
    assert_eq!(server.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);

    // A client that would resume if it could: every connection is still a
    // full handshake (so the CRL is consulted every time).
    let id = net.node.to_identity().expect("id");
    let mut cfg = client_config(Some(&id), &net.trust()).expect("client config");
    cfg.resumption = Resumption::default();
    let client = Arc::new(cfg);
    for _ in 0..2 {
        let out = connect(server.clone(), client.clone(), HUB_NAME).await;
        let (_, _, kind) = out.client.expect("connect");
        assert_eq!(kind, Some(HandshakeKind::Full));
    }
    // Control: without client auth the server issues tickets and the same
    // client resumes, so the check above would notice resumption.
    let server = net.server(ClientAuth::None);
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let out = connect(server.clone(), client.clone(), HUB_NAME).await;
        kinds.push(out.client.expect("connect").2);
    }
    assert_eq!(
        kinds,
        vec![Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)]
    );
    // Our own client config never resumes, even where the server would let it.
    let ours = net.client(Some(&net.node));
    for _ in 0..2 {
        let out = connect(server.clone(), ours.clone(), HUB_NAME).await;
        assert_eq!(out.client.expect("connect").2, Some(HandshakeKind::Full));
    }
}

/// A CRL past its nextUpdate is still enforced (see `server_config` docs):
/// its revocations hold and certificates it does not list keep working.
async fn stale_crl_is_still_enforced(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let key_pem = read_private(&net.ca.dir().join(CA_KEY_FILE)).expect("CA key");
    let key = KeyPair::from_pem(std::str::from_utf8(&key_pem).expect("utf8")).expect("key");
    let issuer = Issuer::from_ca_cert_pem(net.ca.cert_pem(), key).expect("issuer");
    let now = OffsetDateTime::now_utc();
    let serial = (0..net.node.serial.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&net.node.serial[i..i + 2], 16).expect("hex"))
        .collect::<Vec<_>>();
    let stale = CertificateRevocationListParams {
        this_update: now - Duration::days(10),
        next_update: now - Duration::days(3),
        crl_number: SerialNumber::from(99u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time: now - Duration::days(10),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .expect("sign stale CRL");
    let crl_pem = stale.pem().expect("pem");
    let trust = TrustAnchors::from_pem(net.ca.cert_pem().as_bytes(), crl_pem.as_bytes()).expect("trust");
    assert!(trust.revocations().is_stale_at(now));
    assert!(trust.revocations().is_revoked(&net.node.serial));

    let hub_id = net.hub.to_identity().expect("id");
    let server = server_config(&hub_id, &trust, ClientAuth::Required).expect("server config");
    let node_id = net.node.to_identity().expect("id");
    let client = Arc::new(client_config(Some(&node_id), &trust).expect("client config"));
    let out = connect(server.clone(), client, HUB_NAME).await;
    assert!(
        out.server.is_err(),
        "revoked client accepted under a stale CRL: {out:?}"
    );

    let fresh_node = net
        .ca
        .issue(&CertificateRequest::new("node 3", node_identity(), alg))
        .expect("issue");
    let client =
        Arc::new(client_config(Some(&fresh_node.to_identity().expect("id")), &trust).expect("client"));
    let out = connect(server, client, HUB_NAME).await;
    assert!(out.succeeded(), "stale CRL blocked an unrevoked client: {out:?}");
}

#[tokio::test]
async fn mixed_algorithms_interoperate() {
    // An Ed25519 CA issuing ECDSA P-256 leaf certificates and vice versa.
    for (ca_alg, leaf_alg) in [
        (KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256),
        (KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519),
    ] {
        let net = Net::new(ca_alg);
        let hub = net.ca.issue(&hub_request(leaf_alg)).expect("hub");
        let node = net
            .ca
            .issue(&CertificateRequest::new("node", node_identity(), leaf_alg))
            .expect("node");
        let server = server_config(
            &hub.to_identity().expect("id"),
            &net.trust(),
            ClientAuth::Required,
        )
        .expect("server");
        let client =
            Arc::new(client_config(Some(&node.to_identity().expect("id")), &net.trust()).expect("client"));
        let out = connect(server, client, HUB_NAME).await;
        assert!(out.succeeded(), "{ca_alg} CA, {leaf_alg} leaves: {out:?}");
        assert_eq!(net.alg, ca_alg);
    }
}

#[test]
fn parse_rejects_certificates_without_a_proper_identity() {
    type IsExpected = fn(&PkiError) -> bool;
    let cases: [(&[&str], IsExpected); 4] = [
        (&[], |e| matches!(e, PkiError::MissingRole)),
        (&["https://hub.renkei.test/"], |e| {
            matches!(e, PkiError::MissingRole)
        }),
        (&["urn:renkei:role:hub", "urn:renkei:role:node"], |e| {
            matches!(e, PkiError::MultipleRoles { .. })
        }),
        (
            &["urn:renkei:role:node", "urn:renkei:institution:4011001098994"],
            |e| matches!(e, PkiError::MalformedInstitution { .. }),
        ),
    ];
    for (uris, expected) in cases {
        let mut params = CertificateParams::new(vec!["hub.renkei.test".to_owned()]).expect("params");
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().expect("ia5")));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let r = PeerCertificate::parse(cert.der());
        match &r {
            Err(e) => assert!(expected(e), "{uris:?}: wrong error {e:?}"),
            Ok(p) => panic!("{uris:?}: parsed as {p:?}"),
        }
        let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!msg.is_empty());
    }
    let garbage = PeerCertificate::parse(b"not a certificate");
    assert!(matches!(garbage, Err(PkiError::Der { .. })), "{garbage:?}");
}

#[test]
fn invalid_requests_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = NetworkCa::create(dir.path(), "CA", KeyAlgorithm::Ed25519).expect("CA");
    let alg = KeyAlgorithm::Ed25519;
    let no_institution = CertificateRequest::new("n", NetworkIdentity::new(Role::Node, None), alg);
    assert!(matches!(
        ca.issue(&no_institution),
        Err(PkiError::InstitutionRequired { .. })
    ));
    let bad_dns = hub_request(alg).with_dns_name("not a hostname");
    assert!(matches!(ca.issue(&bad_dns), Err(PkiError::InvalidSan { .. })));
    let zero = hub_request(alg).with_validity(Validity::Days(0));
    assert!(matches!(ca.issue(&zero), Err(PkiError::InvalidRequest { .. })));
    let too_long = hub_request(alg).with_validity(Validity::Days(365 * 20));
    assert!(matches!(
        ca.issue(&too_long),
        Err(PkiError::InvalidRequest { .. })
    ));
    let now = OffsetDateTime::now_utc();
    let inverted = hub_request(alg).with_validity(Validity::Window {
        not_before: now,
        not_after: now - Duration::days(1),
    });
    assert!(matches!(
        ca.issue(&inverted),
        Err(PkiError::InvalidRequest { .. })
    ));
    // Nothing was recorded as issued.
    let issued = fs::read_dir(dir.path().join(ISSUED_DIR))
        .expect("issued dir")
        .count();
    assert_eq!(issued, 0);
}

/// An institution's application keys, certified in its certificate and
/// read back by anyone who verifies it — as a handshake would, outside one.
async fn certified_keys_travel_in_messages(alg: KeyAlgorithm) {
    let net = Net::new(alg);
    let signing = CertifiedKey::new(KeyPurpose::Signing, "ed25519", vec![7; 32]).unwrap();
    let sealing = CertifiedKey::new(
        KeyPurpose::Sealing,
        "hpke-x25519-sha256-chacha20poly1305",
        vec![9; 32],
    )
    .unwrap();
    let req = CertificateRequest::new("node with keys", node_identity(), alg)
        .with_certified_key(signing.clone())
        .with_certified_key(sealing.clone());
    let issued = net.ca.issue(&req).unwrap();
    let now = rustls_pki_types::UnixTime::now();
    let cert = net.trust().verify_certificate(&issued.cert_der, now).unwrap();
    assert_eq!(cert.identity, node_identity());
    assert_eq!(cert.certified_key(KeyPurpose::Signing), Some(&signing));
    assert_eq!(cert.certified_key(KeyPurpose::Sealing), Some(&sealing));

    // OpenSSL reads the same names from the certificate.
    let pem_file = net.dir.path().join("with-keys.crt");
    fs::write(&pem_file, &issued.cert_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&pem_file)
        .output()
        .expect("openssl is installed for the tests");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("URI:{}", signing.to_uri())), "{text}");
    assert!(text.contains(&format!("URI:{}", sealing.to_uri())), "{text}");

    // Two keys for one purpose are refused at issuance.
    let twice = CertificateRequest::new("twice", node_identity(), alg)
        .with_certified_key(signing.clone())
        .with_certified_key(CertifiedKey::new(KeyPurpose::Signing, "ed25519", vec![8; 32]).unwrap());
    assert!(matches!(
        net.ca.issue(&twice),
        Err(PkiError::InvalidCertifiedKey { .. })
    ));

    // Another CA's certificate, however well formed, is refused …
    let other = Net::new(alg);
    let foreign = other.ca.issue(&req).unwrap();
    assert!(matches!(
        net.trust().verify_certificate(&foreign.cert_der, now),
        Err(PkiError::CertificateRefused { .. })
    ));
    // … so is an expired one …
    let past = OffsetDateTime::now_utc() - Duration::days(10);
    let expired = net
        .ca
        .issue(&req.clone().with_validity(Validity::Window {
            not_before: past - Duration::days(1),
            not_after: past,
        }))
        .unwrap();
    assert!(net.trust().verify_certificate(&expired.cert_der, now).is_err());
    // … and a revoked one, as soon as the CRL says so.
    let mut ca = NetworkCa::load(&net.dir.path().join("ca")).unwrap();
    ca.revoke(&issued.serial, RevocationReason::KeyCompromise)
        .unwrap();
    let err = net.trust().verify_certificate(&issued.cert_der, now).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("revoked"), "{err}");
}
