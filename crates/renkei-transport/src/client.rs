//! Clients: [`NetClient`] for role-to-role calls over mutual TLS, and
//! [`LocalClient`] for operator surfaces (local and admin APIs).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use renkei_pki::{Identity, Role, ServerPin, TrustAnchors, client_config_pinned};

use crate::error::SetupError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call to another role did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiFailure {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within the time limit")]
    Timeout,
    /// The TLS handshake failed: a certificate was refused (revoked,
    /// expired, from another CA) by one side or the other.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("{code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        retryable: bool,
        query_id: Option<String>,
    },
    #[error("unusable answer: {0}")]
    Protocol(String),
}

/// Whom the server at the URL must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// The certificate registered for an institution (by fingerprint).
    Certificate([u8; 32]),
    /// Any certificate of the network CA with this role.
    Role(Role),
}

/// A request that got no response: the connection failed or was refused.
/// In TLS 1.3 a server judges the client certificate after the client has
/// finished its handshake, so a refused certificate may surface as an alert
/// or merely as a connection that closes under the first request.
fn failure(e: reqwest::Error) -> ApiFailure {
    let cause = root_cause(&e);
    if e.is_timeout() {
        ApiFailure::Timeout
    } else if cause.contains("fatal alert") || cause.contains("invalid peer certificate") {
        ApiFailure::Tls(cause)
    } else {
        ApiFailure::Connect(cause)
    }
}

/// A response whose body could not be read.
fn body_failure(e: reqwest::Error) -> ApiFailure {
    if e.is_timeout() {
        ApiFailure::Timeout
    } else {
        ApiFailure::Protocol(root_cause(&e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(serde::Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
    #[serde(default)]
    retryable: bool,
    #[serde(default)]
    query_id: Option<String>,
}

async fn decode<R: DeserializeOwned>(resp: reqwest::Response) -> Result<R, ApiFailure> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(body_failure)?;
    if status.is_success() {
        return renkei_protocol::strict_json::from_slice(&bytes)
            .map_err(|e| ApiFailure::Protocol(format!("answer is not the expected JSON: {e}")));
    }
    match renkei_protocol::strict_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => Err(ApiFailure::Rejected {
            status: status.as_u16(),
            code: b.error.code,
            message: b.error.message,
            retryable: b.error.retryable,
            query_id: b.error.query_id,
        }),
        Err(_) => Err(ApiFailure::Rejected {
            status: status.as_u16(),
            code: "http_error".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            retryable: status.is_server_error(),
            query_id: None,
        }),
    }
}

/// The handshake already refused any other server; checked again on the
/// response (defence in depth: a pooled connection is the pinned peer's).
fn check_peer(resp: &reqwest::Response, expect: Expect) -> Result<(), ApiFailure> {
    let der = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .ok_or_else(|| ApiFailure::Protocol("no server certificate".into()))?;
    expect.pin().check(der).map_err(ApiFailure::Protocol)
}

impl Expect {
    fn pin(self) -> ServerPin {
        match self {
            Self::Certificate(fp) => ServerPin::Fingerprint(fp),
            Self::Role(r) => ServerPin::Role(r),
        }
    }
}

/// Pinned clients kept at most; beyond it the cache starts again (one per
/// institution called, so only a network of more institutions than this
/// rebuilds connections now and then).
const MAX_PINNED_CLIENTS: usize = 4096;

/// A mutual-TLS client presenting one role's certificate. The server is
/// pinned *in the TLS handshake* (its registered certificate, or its
/// role — see [`renkei_pki::client_config_pinned`]), so no byte of a
/// request reaches any other server; hence one connection pool per pin.
/// Connections are pooled and kept alive; the TLS configuration is rebuilt
/// when the CRL changes ([`crate::TrustState::replace`]).
#[derive(Debug)]
pub struct NetClient {
    identity: Arc<Identity>,
    timeout: Duration,
    state: RwLock<Clients>,
}

#[derive(Debug)]
struct Clients {
    anchors: TrustAnchors,
    pinned: HashMap<ServerPin, reqwest::Client>,
}

impl NetClient {
    pub(crate) fn new(
        identity: Arc<Identity>,
        anchors: &TrustAnchors,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        // Build one client now so that a bad identity fails at start-up.
        Self::build(&identity, anchors, ServerPin::Role(Role::Hub), timeout)?;
        Ok(Self {
            identity,
            timeout,
            state: RwLock::new(Clients {
                anchors: anchors.clone(),
                pinned: HashMap::new(),
            }),
        })
    }

    fn build(
        identity: &Identity,
        anchors: &TrustAnchors,
        pin: ServerPin,
        timeout: Duration,
    ) -> Result<reqwest::Client, SetupError> {
        let tls = client_config_pinned(Some(identity), anchors, pin)?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .https_only(true)
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))
    }

    pub(crate) fn rebuild(&self, anchors: &TrustAnchors) -> Result<(), SetupError> {
        // Check the new anchors build before dropping the clients in use.
        Self::build(&self.identity, anchors, ServerPin::Role(Role::Hub), self.timeout)?;
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        st.anchors = anchors.clone();
        st.pinned.clear();
        Ok(())
    }

    /// The client whose handshake accepts only the expected server.
    fn client(&self, expect: Expect) -> Result<reqwest::Client, ApiFailure> {
        let pin = expect.pin();
        if let Some(c) = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .pinned
            .get(&pin)
        {
            return Ok(c.clone());
        }
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = st.pinned.get(&pin) {
            return Ok(c.clone());
        }
        let c = Self::build(&self.identity, &st.anchors, pin, self.timeout)
            .map_err(|e| ApiFailure::Connect(e.to_string()))?;
        if st.pinned.len() >= MAX_PINNED_CLIENTS {
            st.pinned.clear();
        }
        st.pinned.insert(pin, c.clone());
        Ok(c)
    }

    /// POST raw bytes as `application/json` to the hub (tests of
    /// malformed input).
    pub async fn post_raw<R: DeserializeOwned>(&self, url: &str, body: Vec<u8>) -> Result<R, ApiFailure> {
        let expect = Expect::Role(Role::Hub);
        let resp = self
            .client(expect)?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(failure)?;
        check_peer(&resp, expect)?;
        decode(resp).await
    }

    /// POST a text body and return the text answer (the C2SP witness
    /// protocol speaks text), after checking the server's role.
    pub async fn post_text(&self, url: &str, body: String, expect: Expect) -> Result<String, ApiFailure> {
        let resp = self
            .client(expect)?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(failure)?;
        check_peer(&resp, expect)?;
        let status = resp.status();
        let text = resp.text().await.map_err(body_failure)?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ApiFailure::Rejected {
                status: status.as_u16(),
                code: "http_error".into(),
                message: text.chars().take(500).collect(),
                retryable: status.is_server_error(),
                query_id: None,
            })
        }
    }

    /// GET JSON from the expected server.
    pub async fn get<R: DeserializeOwned>(&self, url: &str, expect: Expect) -> Result<R, ApiFailure> {
        let resp = self.client(expect)?.get(url).send().await.map_err(failure)?;
        check_peer(&resp, expect)?;
        decode(resp).await
    }

    /// POST JSON to the expected server and decode JSON.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
        expect: Expect,
        timeout: Option<Duration>,
    ) -> Result<R, ApiFailure> {
        let mut req = self.client(expect)?.post(url).json(body);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(failure)?;
        check_peer(&resp, expect)?;
        decode(resp).await
    }
}

/// A client of an operator surface: the server is verified against the
/// network CA; the caller is authenticated by a bearer token.
#[derive(Debug, Clone)]
pub struct LocalClient {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl LocalClient {
    pub fn new(base: &str, ca_pem: &[u8], token: &str, timeout: Duration) -> Result<Self, ApiFailure> {
        let cert = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| ApiFailure::Protocol(format!("CA certificate: {e}")))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([cert])
            .https_only(true)
            .no_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiFailure::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }

    /// A client of an operator surface served over plain HTTP, which the
    /// portal allows only on loopback; any other host is refused here too,
    /// so a token is never sent in clear over a network.
    pub fn loopback(base: &str, token: &str, timeout: Duration) -> Result<Self, ApiFailure> {
        let url = reqwest::Url::parse(base).map_err(|e| ApiFailure::Protocol(format!("{base:?}: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.scheme() != "http" || !loopback {
            return Err(ApiFailure::Protocol(format!(
                "{base}: plain HTTP only to a loopback address (use https with a CA otherwise)"
            )));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiFailure::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn send<R: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<R, ApiFailure> {
        decode(req.send().await.map_err(failure)?).await
    }

    /// GET a text resource (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String, ApiFailure> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(failure)?;
        let status = resp.status();
        let text = resp.text().await.map_err(body_failure)?;
        if !status.is_success() {
            return Err(ApiFailure::Rejected {
                status: status.as_u16(),
                code: "http_error".into(),
                message: text.chars().take(200).collect(),
                retryable: status.is_server_error(),
                query_id: None,
            });
        }
        Ok(text)
    }

    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiFailure> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ApiFailure> {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    pub async fn put<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ApiFailure> {
        self.send(self.request(reqwest::Method::PUT, path).json(body))
            .await
    }

    /// POST a raw body (an import file).
    pub async fn post_bytes<R: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<R, ApiFailure> {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }
}

/// A client of a public surface (the card CA's certificates and CRLs, the
/// log): the server is verified against the network CA, no credential is
/// sent.
#[derive(Debug, Clone)]
pub struct PublicClient {
    client: reqwest::Client,
    base: String,
}

impl PublicClient {
    pub fn new(base: &str, ca_pem: &[u8], timeout: Duration) -> Result<Self, ApiFailure> {
        let cert = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| ApiFailure::Protocol(format!("CA certificate: {e}")))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([cert])
            .https_only(true)
            .no_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiFailure::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// GET JSON presenting a person's own access token (the log's view
    /// of a person's records): the person's credential, not the caller's.
    pub async fn get_json_as_person<R: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<R, ApiFailure> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(failure)?;
        decode(resp).await
    }

    /// GET `path`; the body of a 200, otherwise a rejection.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ApiFailure> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(failure)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(body_failure)?;
        if status.is_success() {
            Ok(bytes.to_vec())
        } else {
            Err(ApiFailure::Rejected {
                status: status.as_u16(),
                code: "http_error".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                retryable: status.is_server_error(),
                query_id: None,
            })
        }
    }
}
