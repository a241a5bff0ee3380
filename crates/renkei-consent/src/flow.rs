//! The FAPI 2.0 rules of the flow: pushed authorization requests, client
//! assertions, DPoP proofs and PKCE. Each check takes what arrived and the
//! time, and says yes (with what was learnt) or which rule was broken.

use renkei_catalog::Catalog;
use renkei_jose::{Jwk, decode_unverified, sha256_b64};
use renkei_protocol::UnixMillis;
use serde_json::{Map, Value};

use crate::client::ApiClient;
use crate::rar::SelfInformation;

/// Authorization codes live 60 s at most (FAPI 2.0 §5.3.2.1).
pub const CODE_TTL_MS: i64 = 60_000;
/// A `request_uri` lives 5 minutes — long enough for a card login and a
/// card confirmation — within FAPI 2.0's limit of 600 s.
pub const REQUEST_URI_TTL_MS: i64 = 300_000;
/// Access tokens are short: a client fetches right after consent.
pub const ACCESS_TOKEN_TTL_MS: i64 = 300_000;
/// Clock difference tolerated on `iat`, `nbf` and `exp`.
pub const SKEW_MS: i64 = 10_000;
/// How old a DPoP proof may be.
pub const DPOP_MAX_AGE_MS: i64 = 60_000;
/// Longest lifetime of a client assertion we accept.
pub const ASSERTION_MAX_LIFETIME_MS: i64 = 600_000;
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// An OAuth error (RFC 6749 §5.2 and the extensions' codes), with a
/// description that names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }

    pub fn invalid_dpop(d: impl Into<String>) -> Self {
        Self::new("invalid_dpop_proof", d)
    }

    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new("invalid_token", d)
    }
}

/// Form parameters, each at most once (RFC 6749 §3.1).
#[derive(Debug, Clone, Default)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, OAuthError> {
        let mut m = Map::new();
        for (k, v) in pairs {
            if m.insert(k.clone(), Value::String(v.clone())).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(m))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(Value::as_str).filter(|v| !v.is_empty())
    }

    pub fn require(&self, k: &str) -> Result<&str, OAuthError> {
        self.get(k)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {k} is required")))
    }
}

/// A pushed authorization request, validated (RFC 9126, FAPI 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub details: SelfInformation,
    /// The DPoP key the tokens must be bound to, when the client said so
    /// already (`dpop_jkt`, or the key of a DPoP proof sent with the PAR).
    pub dpop_jkt: Option<String>,
}

fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Check a PAR's parameters for the authenticated `client`.
pub fn check_par(
    p: &Params,
    client: &ApiClient,
    catalog: &Catalog,
    proof_jkt: Option<&str>,
) -> Result<AuthorizationRequest, OAuthError> {
    for banned in ["request_uri", "request"] {
        if p.get(banned).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "{banned} is not accepted at the PAR endpoint; send the parameters themselves"
            )));
        }
    }
    if let Some(id) = p.get("client_id")
        && id != client.id.as_str()
    {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    if p.require("response_type")? != "code" {
        return Err(OAuthError::new(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if let Some(m) = p.get("response_mode")
        && m != "query"
    {
        return Err(OAuthError::invalid_request("response_mode must be query"));
    }
    let redirect_uri = p.require("redirect_uri")?;
    if !client.app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(OAuthError::invalid_request(
            "redirect_uri is not one this client registered",
        ));
    }
    let method = p.get("code_challenge_method");
    let challenge = p.get("code_challenge");
    let code_challenge = match (challenge, method) {
        (None, _) => {
            return Err(OAuthError::invalid_request(
                "PKCE is required: send code_challenge",
            ));
        }
        (Some(_), Some("S256")) => challenge.unwrap_or_default(),
        (Some(_), Some("plain")) | (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        (Some(_), Some(other)) => {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge_method {other:?} is not supported; use S256"
            )));
        }
    };
    if code_challenge.len() != 43 || !unreserved(code_challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge must be the 43-character base64url SHA-256 of the verifier",
        ));
    }
    let state = p.get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > 512) {
        return Err(OAuthError::invalid_request("state is longer than 512 characters"));
    }
    let details = SelfInformation::parse(p.require("authorization_details")?, client, catalog)
        .map_err(|e| OAuthError::new("invalid_authorization_details", e.to_string()))?;
    let dpop_jkt = match (p.get("dpop_jkt"), proof_jkt) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request(
                "dpop_jkt differs from the key of the DPoP proof",
            ));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    Ok(AuthorizationRequest {
        redirect_uri: redirect_uri.to_owned(),
        state,
        code_challenge: code_challenge.to_owned(),
        details,
        dpop_jkt,
    })
}

fn num(claims: &Map<String, Value>, k: &str) -> Result<Option<i64>, String> {
    match claims.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("{k} is not a number")),
    }
}

/// A client assertion's claims that passed the rules; the caller checks
/// `jti` was not seen before `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionOk {
    pub jti: String,
    pub exp: UnixMillis,
}

/// `private_key_jwt` rules (RFC 7523 §3, FAPI 2.0 §5.3.2.1): issuer and
/// subject are the client, the audience is this server's issuer
/// identifier and nothing else, the time claims hold, and `jti` is there.
/// The signature (with a key from the client's JWKS) is checked before.
pub fn check_assertion(
    claims: &Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: UnixMillis,
) -> Result<AssertionOk, OAuthError> {
    let bad = |d: String| OAuthError::invalid_client(format!("client assertion: {d}"));
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) || s("sub") != Some(client_id) {
        return Err(bad("iss and sub must both be the client_id".into()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some(issuer),
        _ => false,
    };
    if !aud_ok {
        return Err(bad(format!(
            "aud must be this server's issuer identifier {issuer:?}"
        )));
    }
    let exp = num(claims, "exp")
        .map_err(bad)?
        .ok_or_else(|| bad("exp is required".into()))?;
    let exp_ms = exp.saturating_mul(1000);
    if exp_ms + SKEW_MS < now.0 {
        return Err(bad("it has expired".into()));
    }
    if exp_ms > now.0 + ASSERTION_MAX_LIFETIME_MS {
        return Err(bad("exp is too far in the future (at most 10 minutes)".into()));
    }
    if let Some(iat) = num(claims, "iat").map_err(bad)?
        && iat.saturating_mul(1000) > now.0 + SKEW_MS
    {
        return Err(bad("iat is in the future".into()));
    }
    if let Some(nbf) = num(claims, "nbf").map_err(bad)?
        && nbf.saturating_mul(1000) > now.0 + SKEW_MS
    {
        return Err(bad("it is not valid yet (nbf)".into()));
    }
    let jti = s("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("jti is required (at most 256 characters)".into()))?;
    Ok(AssertionOk {
        jti: jti.to_owned(),
        exp: UnixMillis(exp_ms),
    })
}

/// A DPoP proof that passed the rules; the caller checks `jti` is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopOk {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub jti: String,
}

/// `htu` is compared without query and fragment (RFC 9449 §4.3).
fn strip_uri(u: &str) -> &str {
    u.split(['?', '#']).next().unwrap_or(u)
}

/// RFC 9449 §4.3: a `dpop+jwt` signed by the key in its header, for this
/// method and URI, recent, and — at a resource — bound to the token.
pub fn check_dpop(
    proof: &str,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    now: UnixMillis,
) -> Result<DpopOk, OAuthError> {
    fn bad(d: impl Into<String>) -> OAuthError {
        OAuthError::invalid_dpop(d)
    }
    let unverified = decode_unverified(proof).map_err(|e| bad(e.to_string()))?;
    if unverified.header.typ.as_deref() != Some("dpop+jwt") {
        return Err(bad("typ must be dpop+jwt"));
    }
    let jwk: Jwk = unverified
        .header
        .jwk()
        .map_err(|e| bad(format!("jwk: {e}")))?
        .ok_or_else(|| bad("the header carries no jwk"))?;
    let v = unverified
        .verify_with(&jwk)
        .map_err(|e| bad(format!("signature: {e}")))?;
    let s = |k: &str| v.claims.get(k).and_then(Value::as_str);
    if s("htm") != Some(method) {
        return Err(bad(format!("htm must be {method}")));
    }
    if s("htu").map(strip_uri) != Some(strip_uri(uri)) {
        return Err(bad(format!("htu must be {}", strip_uri(uri))));
    }
    let iat = num(&v.claims, "iat")
        .map_err(bad)?
        .ok_or_else(|| bad("iat is required"))?
        .saturating_mul(1000);
    if iat > now.0 + SKEW_MS {
        return Err(bad("iat is in the future"));
    }
    if iat + DPOP_MAX_AGE_MS < now.0 {
        return Err(bad("the proof is too old (iat)"));
    }
    let jti = s("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("jti is required"))?;
    match (access_token, s("ath")) {
        (Some(t), Some(ath)) if ath == sha256_b64(t.as_bytes()) => {}
        (Some(_), Some(_)) => return Err(bad("ath is not the hash of this access token")),
        (Some(_), None) => return Err(bad("ath is required with an access token")),
        (None, _) => {}
    }
    Ok(DpopOk {
        jkt: jwk.thumbprint(),
        jti: jti.to_owned(),
    })
}

/// PKCE S256 (RFC 7636 §4.6).
pub fn check_pkce(verifier: &str, challenge: &str) -> Result<(), OAuthError> {
    if !(43..=128).contains(&verifier.len()) || !unreserved(verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier must be 43 to 128 unreserved characters",
        ));
    }
    if sha256_b64(verifier.as_bytes()) != challenge {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(())
}
