use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use renkei_ids::QueryId;
use renkei_protocol::{Denial, DenialCode, StoreError};
use serde::Serialize;

/// An error as the caller sees it: an HTTP status, a stable code, a message
/// safe to show (no personal data, no internals) and whether to retry.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retryable: bool,
    pub query_id: Option<QueryId>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: BodyInner<'a>,
}

#[derive(Serialize)]
struct BodyInner<'a> {
    code: &'a str,
    message: &'a str,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_id: Option<String>,
}

/// Any run of exactly 12 digits (a My Number's length) is replaced: a
/// message built from parser errors must never carry a My Number back out,
/// whatever it quoted. Corporate numbers (13 digits) stay readable.
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    for c in message.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        if run.len() == 12 {
            out.push_str("<digits>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: scrub(&message.into()),
            retryable: false,
            query_id: None,
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// Something failed inside: the details go to the log, the caller gets
    /// a generic message.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, context, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: format!("{context} failed; the operator has the details in the log"),
            retryable: true,
            query_id: None,
        }
    }

    pub fn with_query_id(mut self, q: Option<QueryId>) -> Self {
        self.query_id = q;
        self
    }

    pub fn retryable(mut self, r: bool) -> Self {
        self.retryable = r;
        self
    }
}

pub(crate) fn denial_status(code: DenialCode) -> StatusCode {
    use DenialCode as D;
    match code {
        D::Malformed
        | D::StaleTimestamp
        | D::FutureTimestamp
        | D::UnknownOfficeWork
        | D::UnknownItem
        | D::FiscalYearRequired
        | D::FiscalYearNotApplicable => StatusCode::BAD_REQUEST,
        D::Unauthenticated | D::BadSignature => StatusCode::UNAUTHORIZED,
        D::CertificateMismatch
        | D::CertificateRevoked
        | D::UnknownRequester
        | D::RequesterSuspended
        | D::ProviderSuspended
        | D::NotPermitted
        | D::CodeInvalid
        | D::CodeKeyExpired
        | D::CodeKeyUnknown
        | D::PersonProofRequired
        | D::PersonProofInvalid => StatusCode::FORBIDDEN,
        D::UnknownProvider => StatusCode::NOT_FOUND,
        D::Replayed => StatusCode::CONFLICT,
        D::ProviderUnavailable | D::HubUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        D::ProviderTimeout => StatusCode::GATEWAY_TIMEOUT,
        D::ProviderError | D::ProviderRefused => StatusCode::BAD_GATEWAY,
    }
}

impl From<Denial> for ApiError {
    fn from(d: Denial) -> Self {
        Self {
            status: denial_status(d.code),
            code: d.code.as_str().to_owned(),
            message: scrub(&d.message),
            retryable: d.code.is_retryable(),
            query_id: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            other => {
                tracing::error!(error = %other, "store failure");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "store_unavailable".into(),
                    message: "the store is unavailable; nothing was changed, retry later".into(),
                    retryable: true,
                    query_id: None,
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: BodyInner {
                code: &self.code,
                message: &self.message,
                retryable: self.retryable,
                query_id: self.query_id.map(|q| q.to_string()),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_long_digit_runs_only() {
        assert_eq!(
            scrub("invalid type: integer `983205673214`, expected a string at line 1 column 20"),
            "invalid type: integer `<digits>`, expected a string at line 1 column 20"
        );
        assert_eq!(scrub("4011001098993"), "4011001098993");
        assert_eq!(scrub("a983205673214b"), "a<digits>b");
        assert_eq!(scrub("fiscal year 2025"), "fiscal year 2025");
    }
}

/// Why a role could not start or reconfigure.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Pki(#[from] renkei_pki::PkiError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{what}: {reason}")]
    Config { what: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl SetupError {
    pub fn config(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Config {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// How much of a refused request's body is read (and dropped) so that its
/// connection stays usable.
const REFUSED_BODY_DRAIN: usize = 64 * 1024;

/// The response to a request refused before its body was read (no valid
/// token, a refused certificate). hyper closes a connection whose request
/// body was left unread, after a response that said nothing about it, so a
/// client's next request on that kept-alive connection failed (found by
/// the API tester). The body, up to 64 KiB, is read and dropped first;
/// beyond that the response says `Connection: close`.
pub(crate) async fn refuse_unread(req: axum::extract::Request, refusal: ApiError) -> Response {
    let drained = axum::body::to_bytes(req.into_body(), REFUSED_BODY_DRAIN)
        .await
        .is_ok();
    let mut resp = refusal.into_response();
    if !drained {
        resp.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Query parameters whose rejections are [`ApiError`]s in the common
/// format: axum's own `Query` answers a malformed query (an unknown or
/// repeated parameter, a word where a number goes) in plain text, which no
/// client of these JSON APIs reads. Found by the API tester.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|rejection| ApiError::malformed(rejection.body_text()))
    }
}

/// A JSON body whose rejections are [`ApiError`]s in the common format.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            // Read what was sent first (up to the drain limit), as
            // `refuse_unread` does: hyper closes a connection whose body
            // was left unread, and the client may still be writing it.
            let _ = axum::body::to_bytes(req.into_body(), REFUSED_BODY_DRAIN).await;
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = <axum::body::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than this endpoint accepts",
                    )
                } else {
                    ApiError::malformed(format!(
                        "the request body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        // Strict: a struct is read only from an object, never from an array
        // of its fields (found accepted by the API tester).
        renkei_protocol::strict_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::malformed(format!("the JSON body is not what this endpoint takes: {e}")))
    }
}

/// `application/json` or an `application/*+json` type, as axum's `Json`
/// accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}
