//! The card CA in the registry role over HTTP.
//!
//! * admin listener (bearer token): issue a card (with reissue of an
//!   earlier one), suspend, resume, report lost, renew the signing
//!   certificate, look a person's cards up;
//! * card listener (server TLS, no credential): the CA certificates and
//!   their CRLs, as a JPKI relying party fetches them;
//! * network listener (mutual TLS): a card's status for network members,
//!   and resolution of an authentication certificate into the requesting
//!   institution's code for its holder — only for institutions the registry
//!   is configured to serve (the portal's).

use renkei_api::card::{
    CardCertWire, CardLookupRequest, CardStatusWire, CardWire, IssueCardRequest, IssuedCard,
    RenewSigningRequest, RenewedSigning, ResolveCardRequest, ResolvedCard,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use renkei_card::{
    CardAuthorities, CardCertRequest, CardProfile, CardSerial, CertPurpose, pem_or_der, serial_of,
};
use renkei_crypto::unb64;
use renkei_ids::{AcquisitionNumber, CorporateNumber, MyNumber};
use renkei_pki::Role;
use renkei_protocol::UnixMillis;
use renkei_registry::{
    Card, CardAction, CardActionRefusal, CardCert, CardId, CardStatus, CertStanding, NewCard, RegistryStore,
    Resident, ResidentStatus,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::registry::RegistryState;
use renkei_transport::Peer;
use renkei_transport::{ApiError, JsonBody};

fn default_cert_validity_days() -> u32 {
    // Five years, as the card's certificates (JPKI: to the fifth birthday).
    1826
}

fn default_crl_validity_secs() -> u64 {
    3600
}

/// `[cards]` of the registry's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSettings {
    /// The card CAs (`renkei registry card-ca init`).
    pub ca_dir: PathBuf,
    /// Where the CA certificates and CRLs are served (server TLS).
    pub listen: SocketAddr,
    /// The base URL written into certificates as the CRL location; by
    /// default `https://<listen address>`.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default = "default_cert_validity_days")]
    pub certificate_validity_days: u32,
    /// How long a CRL is valid (its nextUpdate); it is re-signed at half
    /// that age and at once when its list changes.
    #[serde(default = "default_crl_validity_secs")]
    pub crl_validity_secs: u64,
    /// Institutions that may resolve an authentication certificate into
    /// their own code for its holder (the portal's).
    #[serde(default)]
    pub resolvers: Vec<CorporateNumber>,
}

struct PublishedCrl {
    version: u64,
    number: u64,
    this_update: OffsetDateTime,
    der: Arc<Vec<u8>>,
}

/// The card side of a running registry.
pub(crate) struct CardService {
    authorities: CardAuthorities,
    public_url: OnceLock<String>,
    validity: time::Duration,
    crl_validity: time::Duration,
    resolvers: Vec<CorporateNumber>,
    crls: Mutex<HashMap<(CardProfile, CertPurpose), PublishedCrl>>,
    /// Nonces of the challenges cards signed for a resolution, until they
    /// expire: a signature approves one resolution.
    used_challenges: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for CardService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardService").finish_non_exhaustive()
    }
}

impl CardService {
    pub(crate) fn load(settings: &CardSettings) -> Result<Self, renkei_transport::SetupError> {
        let authorities = CardAuthorities::load(&settings.ca_dir)
            .map_err(|e| renkei_transport::SetupError::config(settings.ca_dir.display().to_string(), e))?;
        let svc = Self {
            authorities,
            public_url: OnceLock::new(),
            validity: time::Duration::days(i64::from(settings.certificate_validity_days.max(1))),
            crl_validity: time::Duration::seconds(settings.crl_validity_secs.clamp(60, 7 * 86_400) as i64),
            resolvers: settings.resolvers.clone(),
            crls: Mutex::new(HashMap::new()),
            used_challenges: Mutex::new(HashMap::new()),
        };
        if let Some(u) = &settings.public_url {
            let _ = svc.public_url.set(u.trim_end_matches('/').to_owned());
        }
        Ok(svc)
    }

    pub(crate) fn set_bound_url(&self, addr: SocketAddr) {
        let _ = self.public_url.set(format!("https://{addr}"));
    }

    fn crl_url(&self, profile: CardProfile, purpose: CertPurpose) -> Option<String> {
        self.public_url
            .get()
            .map(|base| format!("{base}/card/v1/crl/{}/{}.crl", profile.as_str(), purpose.as_str()))
    }
}

fn card_service<S>(st: &RegistryState<S>) -> Result<&CardService, ApiError> {
    st.cards.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "cards_not_configured",
            "this registry runs no card CA ([cards] is not configured)",
        )
    })
}

pub(crate) fn admin_routes<S: RegistryStore + Clone>() -> Router<Arc<RegistryState<S>>> {
    Router::new()
        .route("/admin/v1/cards", post(issue_card::<S>))
        .route("/admin/v1/cards/lookup", post(lookup::<S>))
        .route("/admin/v1/cards/{id}", get(show::<S>))
        .route(
            "/admin/v1/cards/{id}/signing-certificate",
            post(renew_signing::<S>),
        )
        .route("/admin/v1/cards/{id}/{action}", post(act::<S>))
}

pub(crate) fn network_routes<S: RegistryStore + Clone>() -> Router<Arc<RegistryState<S>>> {
    Router::new()
        .route("/v1/cards/resolve", post(resolve::<S>))
        .route("/v1/cards/{serial}/status", get(status::<S>))
}

pub(crate) fn public_router<S: RegistryStore + Clone>(state: Arc<RegistryState<S>>) -> Router {
    Router::new()
        .route("/card/v1/ca/{profile}/{file}", get(ca_certificate::<S>))
        .route("/card/v1/crl/{profile}/{file}", get(crl::<S>))
        .route("/health", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn(|r, n| {
            renkei_transport::track("registry-cards", r, n)
        }))
        .with_state(state)
}

// ---- wire types ----------------------------------------------------------

/// Longest a challenge may still have to run when it reaches the registry:
/// an old signature (or one made for far ahead) is not a fresh presence.
const MAX_CHALLENGE_AHEAD_MS: i64 = 15 * 60_000;

fn pem(label: &str, der: &[u8]) -> String {
    renkei_card::to_pem(label, der)
}

fn cert_wire(card: &Card, c: &CardCert, now: UnixMillis) -> CardCertWire {
    CardCertWire {
        serial: c.serial.to_string(),
        purpose: c.purpose.as_str().to_owned(),
        standing: CertStanding::of(card, c, now).as_str().to_owned(),
        issued_at: c.issued_at.0,
        not_after: c.not_after.0,
        revoked_at: c.revoked.map(|(at, _)| at.0),
        revoked_reason: c.revoked.map(|(_, r)| r.as_str().to_owned()),
    }
}

pub(crate) fn card_wire(card: &Card, now: UnixMillis) -> CardWire {
    CardWire {
        card_id: card.id.0,
        profile: card.profile.as_str().to_owned(),
        status: card.status.as_str().to_owned(),
        status_since: card.status_since.0,
        issued_at: card.issued_at.0,
        certificates: card.certs.iter().map(|c| cert_wire(card, c, now)).collect(),
    }
}

fn status_wire(card: &Card, c: &CardCert, now: UnixMillis) -> CardStatusWire {
    CardStatusWire {
        serial: c.serial.to_string(),
        purpose: c.purpose.as_str().to_owned(),
        profile: card.profile.as_str().to_owned(),
        card_id: card.id.0,
        card_status: card.status.as_str().to_owned(),
        standing: CertStanding::of(card, c, now).as_str().to_owned(),
        revoked_reason: c.revoked.map(|(_, r)| r.as_str().to_owned()),
        status_since: card.status_since.0,
        not_after: c.not_after.0,
    }
}

/// A public key as PEM or base64 DER.
fn public_key(field: &'static str, text: &str) -> Result<Vec<u8>, ApiError> {
    if text.trim_start().starts_with("-----BEGIN") {
        pem_or_der(text.as_bytes(), "PUBLIC KEY").map_err(|e| ApiError::malformed(format!("{field}: {e}")))
    } else {
        unb64(field, text.trim()).map_err(|e| ApiError::malformed(format!("{field}: {e}")))
    }
}

fn millis(t: OffsetDateTime) -> UnixMillis {
    UnixMillis((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn refusal(r: CardActionRefusal) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, r.code(), r.to_string())
}

fn card_error(e: renkei_card::CardError) -> ApiError {
    match e {
        renkei_card::CardError::WrongProfile { .. } | renkei_card::CardError::UnsupportedAlgorithm(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "wrong_key_type", e.to_string())
        }
        renkei_card::CardError::Malformed(m) => ApiError::malformed(m),
        other => ApiError::internal("certificate issuance", other),
    }
}

async fn resident_by_my_number<S: RegistryStore>(
    st: &RegistryState<S>,
    text: &str,
) -> Result<Resident, ApiError> {
    let n = MyNumber::parse(text).map_err(|e| ApiError::malformed(format!("my_number: {e}")))?;
    st.store
        .by_my_numbers(vec![n])
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| ApiError::not_found("unknown_my_number", "no resident has this My Number"))
}

fn living(r: &Resident) -> Result<(), ApiError> {
    match r.status {
        ResidentStatus::Living => Ok(()),
        ResidentStatus::Deceased { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "resident_deceased",
            "the resident is recorded as deceased; no card can be issued",
        )),
    }
}

// ---- admin ---------------------------------------------------------------

async fn issue_card<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    JsonBody(body): JsonBody<IssueCardRequest>,
) -> Result<Json<IssuedCard>, ApiError> {
    let svc = card_service(&st)?;
    let profile: CardProfile = body
        .profile
        .parse()
        .map_err(|e: renkei_card::UnknownProfile| ApiError::malformed(format!("profile: {e}")))?;
    let auth_spki = public_key("auth_public_key", &body.auth_public_key)?;
    let sign_spki = public_key("sign_public_key", &body.sign_public_key)?;
    if auth_spki == sign_spki {
        return Err(ApiError::malformed(
            "auth_public_key and sign_public_key must be two different keys",
        ));
    }
    // The facts can change between reading them and storing the card; the
    // store refuses then and we certify the new facts.
    for _ in 0..3 {
        let resident = resident_by_my_number(&st, &body.my_number).await?;
        living(&resident)?;
        let now = OffsetDateTime::now_utc();
        let issue = |purpose: CertPurpose, spki: &[u8]| -> Result<CardCert, ApiError> {
            let serial = CardSerial::random();
            let not_after = now + svc.validity;
            let crl_url = svc.crl_url(profile, purpose);
            let der = svc
                .authorities
                .get(profile, purpose)
                .issue(&CardCertRequest {
                    spki_der: spki,
                    serial,
                    not_before: now - time::Duration::minutes(5),
                    not_after,
                    facts: (purpose == CertPurpose::Signing).then_some(&resident.facts),
                    crl_url: crl_url.as_deref(),
                })
                .map_err(card_error)?;
            Ok(CardCert {
                serial,
                purpose,
                der,
                issued_at: millis(now),
                not_after: millis(not_after),
                revoked: None,
            })
        };
        let auth = issue(CertPurpose::Authentication, &auth_spki)?;
        let sign = issue(CertPurpose::Signing, &sign_spki)?;
        let new = NewCard {
            link_id: resident.link_id,
            profile,
            issued_at: millis(now),
            certs: vec![auth.clone(), sign.clone()],
        };
        match st.store.insert_card(new, resident.facts.clone()).await {
            Ok((card, replaced)) => {
                metrics::counter!("renkei_registry_cards_issued_total", "profile" => profile.as_str())
                    .increment(1);
                tracing::info!(card = %card.id, %profile, replaced = ?replaced.map(|r| r.0), "card issued");
                return Ok(Json(IssuedCard {
                    card: card_wire(&card, millis(now)),
                    auth_certificate: pem("CERTIFICATE", &auth.der),
                    sign_certificate: pem("CERTIFICATE", &sign.der),
                    replaced_card: replaced.map(|r| r.0),
                }));
            }
            Err(renkei_protocol::StoreError::Conflict(reason)) => {
                tracing::info!(%reason, "card issuance raced a change; issuing again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "facts_changing",
        "the resident's facts kept changing during issuance; try again",
    )
    .retryable(true))
}

async fn lookup<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    JsonBody(body): JsonBody<CardLookupRequest>,
) -> Result<Json<Vec<CardWire>>, ApiError> {
    card_service(&st)?;
    let resident = resident_by_my_number(&st, &body.my_number).await?;
    let now = UnixMillis::now();
    let cards = st.store.cards_of(resident.link_id).await?;
    Ok(Json(cards.iter().map(|c| card_wire(c, now)).collect()))
}

fn card_id(text: &str) -> Result<CardId, ApiError> {
    text.parse::<u64>().map(CardId).map_err(|_| {
        ApiError::malformed(format!(
            "card id {:?} is not a number",
            text.chars().take(24).collect::<String>()
        ))
    })
}

fn unknown_card() -> ApiError {
    ApiError::not_found("unknown_card", "no card has this id")
}

async fn show<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<CardWire>, ApiError> {
    card_service(&st)?;
    let card = st.store.card(card_id(&id)?).await?.ok_or_else(unknown_card)?;
    Ok(Json(card_wire(&card, UnixMillis::now())))
}

async fn act<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<CardWire>, ApiError> {
    card_service(&st)?;
    let id = card_id(&id)?;
    let action = CardAction::parse(&action)
        .ok_or_else(|| ApiError::not_found("unknown_action", "card actions are suspend, resume and lost"))?;
    let now = UnixMillis::now();
    let card = st
        .store
        .card_action(id, action, now)
        .await?
        .ok_or_else(unknown_card)?
        .map_err(refusal)?;
    metrics::counter!("renkei_registry_card_actions_total", "status" => card.status.as_str()).increment(1);
    tracing::info!(card = %card.id, status = %card.status, "card status changed");
    Ok(Json(card_wire(&card, now)))
}

async fn renew_signing<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenewSigningRequest>,
) -> Result<Json<RenewedSigning>, ApiError> {
    let svc = card_service(&st)?;
    let id = card_id(&id)?;
    let spki = public_key("sign_public_key", &body.sign_public_key)?;
    for _ in 0..3 {
        let card = st.store.card(id).await?.ok_or_else(unknown_card)?;
        if card.status != CardStatus::Active {
            return Err(refusal(CardActionRefusal::CannotRenew(card.status)));
        }
        let resident = st
            .store
            .resident_by_link(card.link_id)
            .await?
            .ok_or_else(|| ApiError::internal("renewal", "card without resident"))?;
        living(&resident)?;
        let now = OffsetDateTime::now_utc();
        let serial = CardSerial::random();
        let not_after = now + svc.validity;
        let crl_url = svc.crl_url(card.profile, CertPurpose::Signing);
        let der = svc
            .authorities
            .get(card.profile, CertPurpose::Signing)
            .issue(&CardCertRequest {
                spki_der: &spki,
                serial,
                not_before: now - time::Duration::minutes(5),
                not_after,
                facts: Some(&resident.facts),
                crl_url: crl_url.as_deref(),
            })
            .map_err(card_error)?;
        let cert = CardCert {
            serial,
            purpose: CertPurpose::Signing,
            der: der.clone(),
            issued_at: millis(now),
            not_after: millis(not_after),
            revoked: None,
        };
        match st.store.add_signing_cert(id, cert, resident.facts.clone()).await {
            Ok(Some(Ok(card))) => {
                return Ok(Json(RenewedSigning {
                    card: card_wire(&card, millis(now)),
                    sign_certificate: pem("CERTIFICATE", &der),
                }));
            }
            Ok(Some(Err(r))) => return Err(refusal(r)),
            Ok(None) => return Err(unknown_card()),
            Err(renkei_protocol::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "facts_changing",
        "the resident's facts kept changing; try again",
    )
    .retryable(true))
}

// ---- public: CA certificates and CRLs ------------------------------------

fn profile_purpose(profile: &str, file: &str, ext: &str) -> Result<(CardProfile, CertPurpose), ApiError> {
    let profile: CardProfile = profile
        .parse()
        .map_err(|e: renkei_card::UnknownProfile| ApiError::not_found("unknown_profile", e.to_string()))?;
    let purpose = file
        .strip_suffix(ext)
        .and_then(|p| p.parse::<CertPurpose>().ok())
        .ok_or_else(|| ApiError::not_found("unknown_file", format!("expected auth{ext} or sign{ext}")))?;
    Ok((profile, purpose))
}

async fn ca_certificate<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Path((profile, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let svc = card_service(&st)?;
    let (profile, purpose) = profile_purpose(&profile, &file, ".pem")?;
    let pem = svc.authorities.get(profile, purpose).cert_pem();
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// The current CRL of one CA: re-signed when its list changed or at half
/// its validity; numbers grow monotonically (milliseconds of issue, or one
/// more than the last).
pub(crate) async fn current_crl<S: RegistryStore>(
    st: &RegistryState<S>,
    profile: CardProfile,
    purpose: CertPurpose,
) -> Result<Arc<Vec<u8>>, ApiError> {
    let svc = card_service(st)?;
    let now = OffsetDateTime::now_utc();
    let (version, entries) = st.store.card_revocations(profile, purpose, millis(now)).await?;
    let mut crls = svc.crls.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = crls.get(&(profile, purpose))
        && p.version == version
        && now - p.this_update < svc.crl_validity / 2
    {
        return Ok(p.der.clone());
    }
    let last = crls.get(&(profile, purpose)).map_or(0, |p| p.number);
    let number = (millis(now).0 as u64).max(last + 1);
    let der = svc
        .authorities
        .get(profile, purpose)
        .crl(number, now, now + svc.crl_validity, &entries)
        .map_err(|e| ApiError::internal("signing the CRL", e))?;
    let der = Arc::new(der);
    crls.insert(
        (profile, purpose),
        PublishedCrl {
            version,
            number,
            this_update: now,
            der: der.clone(),
        },
    );
    metrics::counter!("renkei_registry_crls_signed_total").increment(1);
    Ok(der)
}

async fn crl<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Path((profile, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (profile, purpose) = profile_purpose(&profile, &file, ".crl")?;
    let der = current_crl(&st, profile, purpose).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-crl"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        der.as_ref().clone(),
    )
        .into_response())
}

// ---- network: status and resolution --------------------------------------

fn parse_certificate(text: &str) -> Result<Vec<u8>, ApiError> {
    if text.trim_start().starts_with("-----BEGIN") {
        pem_or_der(text.as_bytes(), "CERTIFICATE")
            .map_err(|e| ApiError::malformed(format!("certificate: {e}")))
    } else {
        unb64("certificate", text.trim()).map_err(|e| ApiError::malformed(format!("certificate: {e}")))
    }
}

async fn status<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Extension(_peer): Extension<Peer>,
    Path(serial): Path<String>,
) -> Result<Json<CardStatusWire>, ApiError> {
    card_service(&st)?;
    let serial: CardSerial = serial
        .parse()
        .map_err(|e: renkei_card::BadSerial| ApiError::malformed(e.to_string()))?;
    let card = st
        .store
        .card_by_serial(serial)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_card", "no card certificate has this serial"))?;
    let cert = card
        .cert(serial)
        .ok_or_else(|| ApiError::internal("card status", "serial not on its card"))?;
    Ok(Json(status_wire(&card, cert, UnixMillis::now())))
}

async fn resolve<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<ResolveCardRequest>,
) -> Result<Json<ResolvedCard>, ApiError> {
    let svc = card_service(&st)?;
    let institution = peer.institution_as(&[Role::Node])?;
    if !svc.resolvers.contains(&institution) {
        return Err(ApiError::forbidden(
            "not_a_card_resolver",
            format!("institution {institution} is not authorised to resolve card certificates"),
        ));
    }
    let der = parse_certificate(&body.certificate)?;
    let serial = serial_of(&der).map_err(|e| ApiError::malformed(e.to_string()))?;
    let unknown = || ApiError::not_found("unknown_card", "this certificate was not issued by this registry");
    let card = st.store.card_by_serial(serial).await?.ok_or_else(unknown)?;
    let cert = card.cert(serial).ok_or_else(unknown)?;
    // The very certificate issued, not another one claiming its serial.
    if cert.der != der || cert.purpose != CertPurpose::Authentication {
        return Err(unknown());
    }
    let now = UnixMillis::now();
    match CertStanding::of(&card, cert, now) {
        CertStanding::Good => {}
        CertStanding::Suspended => {
            return Err(ApiError::forbidden("card_suspended", "the card is suspended"));
        }
        CertStanding::Revoked(r) => {
            return Err(ApiError::forbidden(
                "certificate_revoked",
                format!("the certificate was revoked ({})", r.as_str()),
            ));
        }
        CertStanding::Expired => {
            return Err(ApiError::forbidden(
                "certificate_expired",
                "the certificate has expired",
            ));
        }
    }
    let card_challenge = check_card_challenge(svc, &body, &der, now)?;
    let proof = body.proof.clone().map(|mut p| {
        p.card_challenge = renkei_crypto::b64(&card_challenge);
        p
    });
    let acq = AcquisitionNumber::random();
    st.store
        .claim_acquisition_numbers(institution, vec![acq], now)
        .await?;
    let delivery =
        crate::registry::request_codes_with_proof(&st, institution, &[(acq, card.link_id)], proof).await?;
    if delivery.institution != institution.to_string() {
        return Err(ApiError::internal(
            "card resolution",
            "the hub sealed a code for another institution",
        ));
    }
    metrics::counter!("renkei_registry_cards_resolved_total").increment(1);
    Ok(Json(ResolvedCard {
        acquisition_number: acq.to_string(),
        delivery,
        card: status_wire(&card, cert, now),
    }))
}

/// The card signed a fresh challenge for what is asked: the signature
/// verifies with the issued certificate's key, the challenge has not
/// expired (nor runs for longer than a quarter of an hour), was not used
/// before, and says what it is for — a login for a session proof, the
/// confirmation of exactly that grant for a consent proof. Returns the
/// challenge's digest, which the proof names.
fn check_card_challenge(
    svc: &CardService,
    body: &ResolveCardRequest,
    der: &[u8],
    now: UnixMillis,
) -> Result<[u8; 32], ApiError> {
    let refused = |code: &str, m: String| {
        metrics::counter!("renkei_registry_card_challenges_refused_total").increment(1);
        tracing::warn!(code, reason = %m, "card challenge refused");
        ApiError::forbidden(code, m)
    };
    let text = body.challenge.as_bytes();
    let header = renkei_card::ChallengeHeader::parse(text)
        .map_err(|e| ApiError::malformed(format!("challenge: {e}")))?;
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(body.signature.trim())
        .map_err(|_| ApiError::malformed("signature: not base64"))?;
    let key =
        renkei_card::public_key_of(der).map_err(|e| ApiError::malformed(format!("certificate: {e}")))?;
    key.verify(text, &signature).map_err(|_| {
        refused(
            "card_signature_invalid",
            "the card's signature does not verify over this challenge".into(),
        )
    })?;
    if header.expires_at < now.0 {
        return Err(refused("challenge_expired", "the challenge has expired".into()));
    }
    if header.expires_at > now.0 + MAX_CHALLENGE_AHEAD_MS {
        return Err(refused(
            "challenge_invalid",
            "the challenge runs for longer than a quarter of an hour".into(),
        ));
    }
    if let Some(p) = &body.proof {
        let fits = match (p.purpose.as_str(), header.purpose.as_str()) {
            ("session", "login") => header.grant.is_none(),
            ("consent", "confirm") => header.grant.is_some() && header.grant == p.grant,
            _ => false,
        };
        if !fits {
            return Err(refused(
                "challenge_invalid",
                format!(
                    "a {} challenge{} does not prove presence for a {} proof",
                    header.purpose,
                    header
                        .grant
                        .as_deref()
                        .map(|g| format!(" for grant {g}"))
                        .unwrap_or_default(),
                    p.purpose
                ),
            ));
        }
    }
    {
        let mut used = svc.used_challenges.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, expires| *expires >= now.0);
        if used.insert(header.nonce.clone(), header.expires_at).is_some() {
            return Err(refused(
                "challenge_replayed",
                "this challenge was already used to resolve the card".into(),
            ));
        }
    }
    Ok(renkei_crypto::sha256_plain(text))
}

/// Have the registry issue certificates for a software card's two keys
/// (the municipal window's step), and install them in the card.
pub async fn certify_card(
    registry_admin: &renkei_transport::LocalClient,
    my_number: &str,
    card: &renkei_card::SoftwareCard,
) -> Result<IssuedCard, CertifyError> {
    let pem = |purpose| -> Result<String, CertifyError> {
        Ok(renkei_card::to_pem("PUBLIC KEY", &card.public_key(purpose)?))
    };
    let issued: IssuedCard = registry_admin
        .post(
            "/admin/v1/cards",
            &IssueCardRequest {
                my_number: my_number.to_owned(),
                profile: card.profile().as_str().to_owned(),
                auth_public_key: pem(CertPurpose::Authentication)?,
                sign_public_key: pem(CertPurpose::Signing)?,
            },
        )
        .await?;
    for (purpose, text) in [
        (CertPurpose::Authentication, &issued.auth_certificate),
        (CertPurpose::Signing, &issued.sign_certificate),
    ] {
        let der = pem_or_der(text.as_bytes(), "CERTIFICATE").map_err(CertifyError::Certificate)?;
        card.install_certificate(purpose, &der)?;
    }
    Ok(issued)
}

#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    #[error(transparent)]
    Registry(#[from] renkei_transport::ApiFailure),
    #[error(transparent)]
    Card(#[from] renkei_card::SoftwareCardError),
    #[error("the registry's certificate is unusable: {0}")]
    Certificate(String),
}
