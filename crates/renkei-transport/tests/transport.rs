// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! The transport under attack, with real TLS on loopback: a client that
//! pins its peer before sending anything.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use renkei_ids::CorporateNumber;
use renkei_pki::{
    CertificateRequest, ClientAuth, IssuedCertificate, KeyAlgorithm, NetworkCa, NetworkIdentity, Role,
};
use renkei_transport::{ApiFailure, Expect, TrustState, serve_tls};
use sha2::{Digest, Sha256};

struct Pki {
    _dir: tempfile::TempDir,
    ca: NetworkCa,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca =
            NetworkCa::create(&dir.path().join("ca"), "transport test CA", KeyAlgorithm::Ed25519).unwrap();
        Self { _dir: dir, ca }
    }

    fn issue(&self, role: Role, institution: Option<u64>) -> IssuedCertificate {
        let identity = NetworkIdentity::new(
            role,
            institution.map(|n| CorporateNumber::from_base_number(n).unwrap()),
        );
        self.ca
            .issue(
                &CertificateRequest::new(format!("{role:?}"), identity, KeyAlgorithm::Ed25519)
                    .with_ip_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    .with_dns_name("localhost"),
            )
            .unwrap()
    }

    fn trust(&self, cert: &IssuedCertificate) -> Arc<TrustState> {
        TrustState::new(cert.to_identity().unwrap(), self.ca.trust_anchors().unwrap())
    }
}

/// A mutual-TLS server that counts the requests (and body bytes) it
/// receives.
async fn counting_server(pki: &Pki, cert: &IssuedCertificate) -> (SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = Router::new().route(
        "/v1/anything",
        post(move |body: String| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1 + body.len(), Ordering::SeqCst);
                axum::Json(serde_json::json!({"ok": true}))
            }
        }),
    );
    let trust = pki.trust(cert);
    let server = serve_tls(
        "127.0.0.1:0".parse().unwrap(),
        app,
        trust.server_config(ClientAuth::Required).unwrap(),
    )
    .await
    .unwrap();
    let addr = server.addr;
    std::mem::forget(server);
    (addr, seen)
}

/// A server holding a valid certificate of the network — but not the role
/// or the registered certificate the client expects — never receives a
/// byte of the request: the client checks the peer during the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_certificate_of_the_wrong_peer_never_receives_the_body() {
    let pki = Pki::new();
    let impostor = pki.issue(Role::Node, Some(777));
    let (addr, seen) = counting_server(&pki, &impostor).await;
    let client_cert = pki.issue(Role::Node, Some(1));
    let client = pki.trust(&client_cert).client(Duration::from_secs(5)).unwrap();
    let url = format!("https://{addr}/v1/anything");
    let secret = serde_json::json!({"secret": "only for the hub"});

    // Expecting the hub (by role): the node certificate is refused.
    let r: Result<serde_json::Value, _> = client.post(&url, &secret, Expect::Role(Role::Hub), None).await;
    match r {
        Err(ApiFailure::Tls(m)) => assert!(m.contains("hub"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Expecting a registered institution (by fingerprint): another
    // certificate, even of the same role, is refused.
    let registered = pki.issue(Role::Node, Some(777));
    let fp: [u8; 32] = Sha256::digest(registered.cert_der.as_ref()).into();
    let r: Result<serde_json::Value, _> = client.post(&url, &secret, Expect::Certificate(fp), None).await;
    match r {
        Err(ApiFailure::Tls(m)) => assert!(m.contains("registered"), "{m}"),
        other => panic!("{other:?}"),
    }
    let r = client
        .get::<serde_json::Value>(&url, Expect::Role(Role::Hub))
        .await;
    assert!(matches!(r, Err(ApiFailure::Tls(_))), "{r:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the impostor received a request");

    // The expected peer is served, on the same client.
    let fp: [u8; 32] = Sha256::digest(impostor.cert_der.as_ref()).into();
    let ok: serde_json::Value = client
        .post(&url, &secret, Expect::Certificate(fp), None)
        .await
        .unwrap();
    assert_eq!(ok["ok"], true);
    assert!(seen.load(Ordering::SeqCst) > 1);
}

/// Found by the API tester: a request refused by the token check before
/// its body was read left the body unread, so the server closed the
/// connection after the 401 without saying so, and the client's next
/// request on that kept-alive connection failed. Here the body comes only
/// after the server could have answered; the next request must still be
/// served on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_its_body_keeps_the_connection_usable() {
    let token = renkei_transport::AdminToken::from_secret("the right token, long enough to pass");
    let app = Router::new()
        .route("/v1/anything", post(|body: String| async move { body }))
        .layer(axum::middleware::from_fn_with_state(
            token,
            renkei_transport::require_token,
        ));
    refused_then_served(
        app,
        b"POST /v1/anything HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\n\
          content-type: application/json\r\ncontent-length: 16\r\n\r\n",
        "HTTP/1.1 401",
    )
    .await;
}

/// The same for a JSON body sent with another content type (the API
/// tester's negative cases): the 415 must not close the connection either
/// (CI once saw the next request on it fail with an EOF).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_the_wrong_content_type_keeps_the_connection_usable() {
    let app = Router::new().route(
        "/v1/anything",
        post(
            |renkei_transport::JsonBody(v): renkei_transport::JsonBody<serde_json::Value>| async move {
                v.to_string()
            },
        ),
    );
    refused_then_served(
        app,
        b"POST /v1/anything HTTP/1.1\r\nhost: x\r\n\
          content-type: text/plain\r\ncontent-length: 16\r\n\r\n",
        "HTTP/1.1 415",
    )
    .await;
}

/// Send `head`, wait until the server could have answered, then a 16-byte
/// body and a `GET /health` on the same connection: the refusal must start
/// with `refusal` and the health check must still be answered.
async fn refused_then_served(app: Router, head: &[u8], refusal: &str) {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = app.route("/health", get(|| async { "still here" }));
    let server = renkei_transport::serve_plain_limited(
        "127.0.0.1:0".parse().unwrap(),
        app,
        &renkei_transport::ListenerLimits::default(),
    )
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The body, then the next request; a closed connection may refuse them.
    let _ = stream
        .write_all(b"{\"x\": \"abcdef\"}\nGET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("still here") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let seen = String::from_utf8_lossy(&seen);
    assert!(read.is_ok(), "no answer in time: {seen}");
    assert!(seen.starts_with(refusal), "{seen}");
    assert!(
        seen.contains("HTTP/1.1 200") && seen.contains("still here"),
        "the connection was closed after the refusal: {seen}"
    );
}
