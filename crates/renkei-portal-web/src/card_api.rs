//! The card app's API: fetch a challenge by its code, return it signed
//! with the card's authentication key together with the certificate.
//!
//! The signature is over the exact text of the challenge
//! ([`renkei_portal::ChallengeText`]: its origin, code, nonce, the asking
//! browser's address and time, and — for a login — the two-digit number
//! the person entered from their own screen, for a confirmation the
//! action), RSASSA-PKCS1-v1_5/SHA-256 or ECDSA P-384/SHA-384 as the card's
//! profile has it: what a card, a card reader library or `openssl dgst
//! -sign` produce alike.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use renkei_card::{CardCertError, CertPurpose};
use renkei_portal::{CHALLENGE_FORMAT, CardHolder, ChallengePurpose, ChallengeState, MatchValue, ShortCode};
use renkei_protocol::UnixMillis;
use renkei_transport::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};

use crate::state::PortalState;

/// A challenge as the card app sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeWire {
    pub format: String,
    pub code: String,
    pub purpose: String,
    pub origin: String,
    /// The challenge text, base64: for a confirmation exactly what is
    /// signed; for a login the card app first enters the number the person
    /// types (`match_required`; `ChallengeText::parse`, then `with_match`)
    /// and signs that.
    pub to_be_signed: String,
    /// The same as text, to show the person.
    pub text: String,
    pub action: Option<String>,
    /// The browser that asked: its address as the portal saw it…
    pub browser_address: String,
    /// … and when (Unix milliseconds).
    pub requested_at: i64,
    /// A login: the person enters the two-digit number the asking
    /// browser's page shows (never sent here: a phished person cannot see it).
    pub match_required: bool,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The authentication certificate: base64 DER or PEM.
    pub certificate: String,
    /// base64.
    pub signature: String,
    /// A login: the number the person entered, as it is in the signed text.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approved {
    pub approved: bool,
    pub purpose: String,
}

fn unknown() -> ApiError {
    ApiError::not_found("unknown_challenge", "no challenge has this code")
}

/// A challenge a card can no longer approve.
fn not_pending(state: &ChallengeState) -> ApiError {
    match state {
        ChallengeState::Refused => ApiError::new(
            StatusCode::CONFLICT,
            "challenge_refused",
            "this login was cancelled: a card signed another number than its page showed",
        ),
        _ => ApiError::new(
            StatusCode::CONFLICT,
            "challenge_used",
            "the challenge was already approved",
        ),
    }
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
        return Err(not_pending(&c.state));
    }
    let tbs = c.text(&st.origin).to_bytes();
    Ok(Json(ChallengeWire {
        format: CHALLENGE_FORMAT.to_owned(),
        code: c.code.to_string(),
        purpose: c.purpose.as_str().to_owned(),
        origin: st.origin.clone(),
        to_be_signed: STANDARD.encode(&tbs),
        text: String::from_utf8_lossy(&tbs).into_owned(),
        action: match &c.purpose {
            ChallengePurpose::Confirm { action, .. } => Some(action.clone()),
            ChallengePurpose::Login => None,
        },
        browser_address: c.browser.to_string(),
        requested_at: c.created_at.0,
        match_required: c.match_value.is_some(),
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
        return Err(fail(not_pending(&c.state)));
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
    // A login's text carries the number the person entered.
    let entered = match (&c.match_value, body.match_value.as_deref()) {
        (Some(_), Some(m)) => Some(MatchValue::parse(m).ok_or_else(|| {
            fail(ApiError::malformed(
                "match: the two digits shown on the login page, e.g. 42",
            ))
        })?),
        (Some(_), None) => {
            return Err(fail(ApiError::new(
                StatusCode::BAD_REQUEST,
                "match_required",
                "this login needs the two-digit number its page shows, entered on the card app",
            )));
        }
        (None, Some(_)) => {
            return Err(fail(ApiError::malformed("match: a confirmation takes no number")));
        }
        (None, None) => None,
    };
    // Chain, purpose, validity and the CRL first: a foreign, expired or
    // revoked certificate never reaches the registry.
    let verified = {
        let trust = st.trust.read().unwrap_or_else(|p| p.into_inner());
        trust.verify(&cert, CertPurpose::Authentication, now.to_datetime())
    }
    .map_err(|e| fail(cert_error(&e)))?;
    let signed_text = c.to_be_signed(&st.origin, entered);
    verified
        .public_key
        .verify(&signed_text, &signature)
        .map_err(|_| {
            fail(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "the signature does not verify with the certificate's key over this challenge",
            ))
        })?;
    // The card signed a number; not the one the asking browser's page
    // shows: the code reached this card app from somewhere else (relayed,
    // phished). The login is ended for good; its browser is told so.
    if !c.matches(entered) {
        let ended = st
            .store
            .refuse_challenge(&code, now)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        metrics::counter!("renkei_portal_login_match_refusals_total").increment(1);
        tracing::warn!(
            browser = %c.browser,
            ended,
            "a card signed a login with another number than its page shows (a relayed code?)"
        );
        return Err(fail(ApiError::new(
            StatusCode::FORBIDDEN,
            "match_mismatch",
            "the number entered is not the one shown on the screen that asked to log in: \
             this login is cancelled (if you did not start it yourself, someone else did)",
        )));
    }
    // The registry decides who it is, checks the card's status once more
    // and verifies the card's signature itself; for a login (and for a
    // confirmation that gives a consent) the hub states the person's
    // presence in a proof the node and the hub check on every request for
    // the person's own data. The portal's credential alone gets no one's.
    const CONSENT_PROOF_MS: i64 = 400 * 86_400_000;
    let proof = match &c.purpose {
        ChallengePurpose::Login => Some(renkei_api::net::ProofIssueWire {
            purpose: "session".into(),
            grant: None,
            until: now.plus_ms(st.settings.session_max_secs as i64 * 1000).0,
            card_challenge: String::new(),
        }),
        ChallengePurpose::Confirm { grant: Some(g), .. } => Some(renkei_api::net::ProofIssueWire {
            purpose: "consent".into(),
            grant: Some(g.clone()),
            // The hub caps it; the portal stops relaying when the consent
            // ends or is revoked.
            until: now.plus_ms(CONSENT_PROOF_MS).0,
            card_challenge: String::new(),
        }),
        ChallengePurpose::Confirm { grant: None, .. } => None,
    };
    let text = String::from_utf8(signed_text)
        .map_err(|e| ApiError::internal("challenge text", e).into_response())?;
    let holder = st
        .backend
        .resolve_card(&cert, &text, &signature, proof)
        .await
        .map_err(|f| match f {
            renkei_transport::ApiFailure::Rejected {
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
                person_proof: holder.person_proof,
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
