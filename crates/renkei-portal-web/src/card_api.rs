//! The card app's API: fetch a challenge by its code, return it signed
//! with the card's authentication key together with the certificate.
//!
//! The signature is over the exact text of the challenge (its origin, code,
//! nonce and — for a confirmation — the action), RSASSA-PKCS1-v1_5/SHA-256
//! or ECDSA P-384/SHA-384 as the card's profile has it: what a card, a
//! card reader library or `openssl dgst -sign` produce alike.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use renkei_card::{CardCertError, CertPurpose};
use renkei_http::{ApiError, JsonBody};
use renkei_portal::{CHALLENGE_FORMAT, CardHolder, ChallengePurpose, ChallengeState, ShortCode};
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::state::PortalState;

/// A challenge as the card app sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeWire {
    pub format: String,
    pub code: String,
    pub purpose: String,
    pub origin: String,
    /// What to sign, base64.
    pub to_be_signed: String,
    /// The same as text, to show the person.
    pub text: String,
    pub action: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The authentication certificate: base64 DER or PEM.
    pub certificate: String,
    /// base64.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approved {
    pub approved: bool,
    pub purpose: String,
}

fn unknown() -> ApiError {
    ApiError::not_found("unknown_challenge", "no challenge has this code")
}

fn code_of(s: &str) -> Result<ShortCode, ApiError> {
    ShortCode::parse(s).ok_or_else(|| ApiError::malformed("a code is 8 letters and digits, e.g. K7PQ-4XR2"))
}

pub(crate) async fn show<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(code): Path<String>,
) -> Result<Json<ChallengeWire>, ApiError> {
    let code = code_of(&code)?;
    let c = st.store.challenge(&code).await?.ok_or_else(unknown)?;
    let now = UnixMillis::now();
    if c.is_expired(now) {
        return Err(ApiError::new(
            StatusCode::GONE,
            "challenge_expired",
            "the challenge has expired",
        ));
    }
    if c.state != ChallengeState::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "challenge_used",
            "the challenge was already approved",
        ));
    }
    let tbs = c.to_be_signed(&st.origin);
    Ok(Json(ChallengeWire {
        format: CHALLENGE_FORMAT.to_owned(),
        code: c.code.to_string(),
        purpose: c.purpose.as_str().to_owned(),
        origin: st.origin.clone(),
        to_be_signed: STANDARD.encode(&tbs),
        text: String::from_utf8_lossy(&tbs).into_owned(),
        action: match &c.purpose {
            ChallengePurpose::Confirm { action } => Some(action.clone()),
            ChallengePurpose::Login => None,
        },
        expires_at: c.expires_at.0,
    }))
}

fn cert_error(e: &CardCertError) -> ApiError {
    let status = match e {
        CardCertError::Malformed(_) => StatusCode::BAD_REQUEST,
        CardCertError::RevocationUnknown(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// The refusal codes counted by name. Anything else — e.g. a code relayed
/// from the node's answer — is counted as `other`, so a label is always one
/// of a fixed set.
const REFUSAL_CODES: &[&str] = &[
    "malformed",
    "not_found",
    "challenge_expired",
    "challenge_used",
    "bad_signature",
    "registry_unavailable",
    "certificate_malformed",
    "unknown_issuer",
    "certificate_signature_invalid",
    "wrong_certificate_purpose",
    "unsupported_algorithm",
    "certificate_not_yet_valid",
    "certificate_expired",
    "certificate_revoked",
    "card_suspended",
    "revocation_status_unknown",
    "unknown_card",
    "cards_not_configured",
    "facts_changing",
    "not_a_card_resolver",
    "registry_error",
    "resident_deceased",
];

fn refusal_label(code: &str) -> &'static str {
    REFUSAL_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("other")
}

pub(crate) async fn approve<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> Result<Json<Approved>, Response> {
    let started = std::time::Instant::now();
    let code = code_of(&code).map_err(IntoResponse::into_response)?;
    let fail = |e: ApiError| {
        metrics::counter!("renkei_portal_card_refusals_total", "code" => refusal_label(&e.code)).increment(1);
        tracing::info!(code = %e.code, "card approval refused");
        e.into_response()
    };
    let c = st
        .store
        .challenge(&code)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| fail(unknown()))?;
    let now = UnixMillis::now();
    if c.is_expired(now) {
        return Err(fail(ApiError::new(
            StatusCode::GONE,
            "challenge_expired",
            "the challenge has expired",
        )));
    }
    if c.state != ChallengeState::Pending {
        // A replayed signature, or a second card: the challenge is spent.
        return Err(fail(ApiError::new(
            StatusCode::CONFLICT,
            "challenge_used",
            "the challenge was already approved",
        )));
    }
    let cert = if body.certificate.trim_start().starts_with("-----BEGIN") {
        renkei_card::pem_or_der(body.certificate.as_bytes(), "CERTIFICATE")
    } else {
        STANDARD
            .decode(body.certificate.trim())
            .map_err(|e| e.to_string())
    }
    .map_err(|e| fail(ApiError::malformed(format!("certificate: {e}"))))?;
    let signature = STANDARD
        .decode(body.signature.trim())
        .map_err(|e| fail(ApiError::malformed(format!("signature: {e}"))))?;
    // Chain, purpose, validity and the CRL first: a foreign, expired or
    // revoked certificate never reaches the registry.
    let verified = {
        let trust = st.trust.read().unwrap_or_else(|p| p.into_inner());
        trust.verify(&cert, CertPurpose::Authentication, now.to_datetime())
    }
    .map_err(|e| fail(cert_error(&e)))?;
    verified
        .public_key
        .verify(&c.to_be_signed(&st.origin), &signature)
        .map_err(|_| {
            fail(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "the signature does not verify with the certificate's key over this challenge",
            ))
        })?;
    // The registry decides who it is, and checks the card's status once more.
    let holder = st.backend.resolve_card(&cert).await.map_err(|f| match f {
        renkei_http::ApiFailure::Rejected {
            status,
            code,
            message,
            ..
        } => fail(ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            code,
            message,
        )),
        other => {
            tracing::error!(error = %other, "card resolution failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                "the card cannot be checked now; try again",
            )
            .retryable(true)
            .into_response()
        }
    })?;
    let person = renkei_ids::LocalPersonId::parse(&holder.local_id)
        .map_err(|e| ApiError::internal("card resolution", e).into_response())?;
    let approved = st
        .store
        .approve_challenge(
            &code,
            CardHolder {
                person,
                serial: verified.serial,
                profile: verified.profile,
                card_status_since: holder.card.status_since,
            },
            now,
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    if !approved {
        return Err(fail(ApiError::new(
            StatusCode::CONFLICT,
            "challenge_used",
            "the challenge was already approved",
        )));
    }
    metrics::histogram!("renkei_portal_card_approval_seconds").record(started.elapsed().as_secs_f64());
    Ok(Json(Approved {
        approved: true,
        purpose: c.purpose.as_str().to_owned(),
    }))
}
