//! The portal's credential is not a master key. Office works done for the
//! person themselves need the hub's proof, rooted in the person's card,
//! that they are present: the Digital Agency's node checks it before it
//! sends, the hub checks it again, and a card is resolved only with its
//! signature over a fresh challenge that the registry verifies itself.

use super::*;

use renkei_api::card::ResolveCardRequest;
use renkei_api::net::ProofIssueWire;
use renkei_api::node::CardHolder;
use renkei_api::node::PersonKeyAsk;
use renkei_card::{CardKey, CardProfile, CardSecret, CertPurpose, SoftwareCard};
use renkei_protocol::{PersonProof, ProofPurpose};

fn pin() -> CardSecret {
    CardSecret::auth_pin("1234").unwrap()
}

fn auth_key(card: &SoftwareCard) -> CardKey {
    let pem = renkei_pki::read_private(&card.key_path(CertPurpose::Authentication)).unwrap();
    CardKey::from_encrypted_pem(card.profile(), std::str::from_utf8(&pem).unwrap(), &pin()).unwrap()
}

/// A card for the person the Digital Agency knows as `digital_id`.
async fn card_of(h: &Harness, digital_id: &str, dir: &std::path::Path) -> (SoftwareCard, Vec<u8>) {
    let who = h.country.inhabitant(DIGITAL.key, digital_id).unwrap().clone();
    let (card, _) = renkei_demo::cards::issue_card(
        &h.net.registry_admin,
        &who.my_number,
        dir,
        CardProfile::EcdsaP384Sha384,
        &pin(),
        &CardSecret::signing_password("ABC123").unwrap(),
    )
    .await
    .unwrap();
    let cert = card.certificate(CertPurpose::Authentication).unwrap();
    (card, cert)
}

fn own(
    local_id: &str,
    item: &str,
    provider: &renkei_demo::institutions::InstitutionSpec,
    proof: Option<String>,
) -> QueryRequest {
    QueryRequest {
        local_id: local_id.to_owned(),
        provider: provider.id().to_string(),
        office_work: "own_disclosure".into(),
        item: item.into(),
        fiscal_year: None,
        consent: None,
        person_proof: proof,
    }
}

fn challenge(purpose: renkei_portal::ChallengePurpose, ttl_ms: i64) -> Vec<u8> {
    let c = renkei_portal::Challenge::new(
        purpose,
        &renkei_portal::Secret::random(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        UnixMillis::now(),
        ttl_ms,
    );
    c.to_be_signed("https://portal.invalid", c.match_value)
}

async fn resolve(
    h: &Harness,
    cert: &[u8],
    text: &[u8],
    signature: &[u8],
    proof: Option<ProofIssueWire>,
) -> Result<CardHolder, ApiFailure> {
    use base64::Engine as _;
    h.net
        .node(DIGITAL.key)
        .local
        .post(
            "/local/v1/cards/resolve",
            &ResolveCardRequest {
                certificate: renkei_crypto::b64(cert),
                challenge: String::from_utf8(text.to_vec()).unwrap(),
                signature: base64::engine::general_purpose::STANDARD.encode(signature),
                proof,
            },
        )
        .await
}

fn session_proof() -> Option<ProofIssueWire> {
    Some(ProofIssueWire {
        purpose: "session".into(),
        grant: None,
        until: UnixMillis::now().plus_ms(3_600_000).0,
        card_challenge: String::new(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portals_credential_alone_reads_no_ones_data() {
    let h = harness().await;
    let tmp = tempfile::tempdir().unwrap();
    let portal = h.net.node(DIGITAL.key).local.clone();
    let me = h.country.cast.account_holder.1.clone();
    let someone_else = h
        .country
        .people
        .iter()
        .filter_map(|p| p.ids.get(DIGITAL.key))
        .find(|id| **id != me)
        .unwrap()
        .clone();
    let records_before = h.node_records(DIGITAL.key).await.len();
    let hub_before = h.hub_records().await.len();

    // No proof: refused at the node, nothing leaves, the refusal is kept.
    let r: Result<QueryResult, _> = portal
        .post("/local/v1/queries", &own(&me, "four_facts", &REGISTRY, None))
        .await;
    assert_eq!(rejected_code(&r), "person_proof_required");
    // A proof the portal's node made itself (its own key, not the hub's).
    let raw = h.net.impersonate(DIGITAL.key).unwrap();
    let made_up = PersonProof {
        institution: DIGITAL.id(),
        subject: h.code(DIGITAL.key, &me).await,
        purpose: ProofPurpose::Session,
        card_challenge: [0; 32],
        issued_at: UnixMillis::now(),
        expires_at: UnixMillis::now().plus_ms(3_600_000),
    }
    .sign(&raw.signing);
    let r: Result<QueryResult, _> = portal
        .post(
            "/local/v1/queries",
            &own(&me, "four_facts", &REGISTRY, Some(made_up.to_text())),
        )
        .await;
    assert_eq!(rejected_code(&r), "person_proof_invalid");
    let kept = h.node_records(DIGITAL.key).await;
    let outcomes: Vec<&str> = kept[records_before..]
        .iter()
        .map(|r| r.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["person_proof_required", "person_proof_invalid"]);
    assert_eq!(h.hub_records().await.len(), hub_before, "nothing reached the hub");

    // The card's certificate is public; resolving it needs the card itself.
    let (card, cert) = card_of(&h, &me, &tmp.path().join("me")).await;
    let (other_card, _) = card_of(&h, &someone_else, &tmp.path().join("other")).await;
    let text = challenge(renkei_portal::ChallengePurpose::Login, 300_000);
    let forged = auth_key(&other_card).sign(&text).unwrap();
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &text, &forged, session_proof()).await),
        "card_signature_invalid"
    );

    // With the person's card: a session proof, and their own data.
    let key = auth_key(&card);
    let signature = key.sign(&text).unwrap();
    let holder = resolve(&h, &cert, &text, &signature, session_proof())
        .await
        .unwrap();
    assert_eq!(holder.local_id, me);
    let proof = holder.person_proof.clone().unwrap();
    let found: QueryResult = portal
        .post(
            "/local/v1/queries",
            &own(&me, "four_facts", &REGISTRY, Some(proof.clone())),
        )
        .await
        .unwrap();
    assert_eq!(found.status, "found");
    // The same signature does not resolve twice.
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &text, &signature, session_proof()).await),
        "challenge_replayed"
    );

    // The person's proof opens no one else's data: at the node …
    let r: Result<QueryResult, _> = portal
        .post(
            "/local/v1/queries",
            &own(&someone_else, "four_facts", &REGISTRY, Some(proof.clone())),
        )
        .await;
    assert_eq!(rejected_code(&r), "person_proof_invalid");
    // … and at the hub, for a node that skips its own check.
    let other_code = h.code(DIGITAL.key, &someone_else).await;
    let hub_records = h.hub_records().await.len();
    let mut request = LinkageRequest {
        message_id: MessageId::random(),
        requester: DIGITAL.id(),
        provider: REGISTRY.id(),
        office_work: renkei_catalog::OfficeWorkCode::parse("own_disclosure").unwrap(),
        item: renkei_catalog::ItemCode::parse("four_facts").unwrap(),
        fiscal_year: None,
        subject: other_code,
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: Some(renkei_protocol::SignedPersonProof::parse(&proof).unwrap()),
        payload: None,
    };
    let signed = request.clone().sign(&raw.signing, raw.certificate.clone());
    let r = raw
        .post_hub::<_, HubReplyWire>(&h.net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&signed))
        .await;
    assert_eq!(rejected_code(&r), "person_proof_invalid");
    request.message_id = MessageId::random();
    request.person_proof = None;
    let signed = request.sign(&raw.signing, raw.certificate.clone());
    let r = raw
        .post_hub::<_, HubReplyWire>(&h.net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&signed))
        .await;
    assert_eq!(rejected_code(&r), "person_proof_required");
    let at_hub = h.hub_records().await;
    assert_eq!(at_hub.len(), hub_records + 2, "both refusals are recorded");
    assert_eq!(
        at_hub[hub_records..]
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["person_proof_invalid", "person_proof_required"]
    );
    assert!(
        at_hub[hub_records..].iter().all(|r| r.subject.is_some()),
        "the person sees them"
    );

    // A person's log key goes to the person only.
    let r: Result<renkei_api::node::PersonKeyResult, _> = portal
        .post(
            &format!("/local/v1/persons/{someone_else}/person-key"),
            &PersonKeyAsk {
                person_proof: proof.clone(),
                consent: None,
            },
        )
        .await;
    assert_eq!(rejected_code(&r), "person_proof_invalid");
    let r: Result<renkei_api::node::PersonKeyResult, _> = portal
        .post(
            &format!("/local/v1/persons/{me}/person-key"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(rejected_code(&r), "malformed");
    let mine: renkei_api::node::PersonKeyResult = portal
        .post(
            &format!("/local/v1/persons/{me}/person-key"),
            &PersonKeyAsk {
                person_proof: proof,
                consent: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(mine.local_id, me);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_checks_the_cards_challenge_itself() {
    let h = harness().await;
    let tmp = tempfile::tempdir().unwrap();
    let me = h.country.cast.account_holder.1.clone();
    let (card, cert) = card_of(&h, &me, tmp.path()).await;
    let key = auth_key(&card);
    let signed = |text: &[u8]| key.sign(text).unwrap();

    // Expired, or running for far longer than a login ever does.
    let old = challenge(renkei_portal::ChallengePurpose::Login, -1_000);
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &old, &signed(&old), session_proof()).await),
        "challenge_expired"
    );
    let long = challenge(renkei_portal::ChallengePurpose::Login, 3_600_000);
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &long, &signed(&long), session_proof()).await),
        "challenge_invalid"
    );
    // A signature over other text than the one presented.
    let text = challenge(renkei_portal::ChallengePurpose::Login, 300_000);
    let other = challenge(renkei_portal::ChallengePurpose::Login, 300_000);
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &text, &signed(&other), session_proof()).await),
        "card_signature_invalid"
    );
    // Not a challenge at all.
    let junk = b"please resolve this card".to_vec();
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &junk, &signed(&junk), session_proof()).await),
        "malformed"
    );
    // A confirmation is no login; a consent proof names the grant confirmed.
    let confirm = challenge(
        renkei_portal::ChallengePurpose::Confirm {
            action: "同意".into(),
            grant: Some("gr_aaaaaaaaaaaaaaaaaaaaaa".into()),
        },
        300_000,
    );
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &confirm, &signed(&confirm), session_proof()).await),
        "challenge_invalid"
    );
    let other_grant = Some(ProofIssueWire {
        purpose: "consent".into(),
        grant: Some("gr_bbbbbbbbbbbbbbbbbbbbbb".into()),
        until: UnixMillis::now().plus_ms(86_400_000).0,
        card_challenge: String::new(),
    });
    let confirm2 = challenge(
        renkei_portal::ChallengePurpose::Confirm {
            action: "同意".into(),
            grant: Some("gr_aaaaaaaaaaaaaaaaaaaaaa".into()),
        },
        300_000,
    );
    assert_eq!(
        rejected_code(&resolve(&h, &cert, &confirm2, &signed(&confirm2), other_grant).await),
        "challenge_invalid"
    );
    // The right one: a consent proof for that grant, for this person.
    let confirm3 = challenge(
        renkei_portal::ChallengePurpose::Confirm {
            action: "同意".into(),
            grant: Some("gr_aaaaaaaaaaaaaaaaaaaaaa".into()),
        },
        300_000,
    );
    let holder = resolve(
        &h,
        &cert,
        &confirm3,
        &signed(&confirm3),
        Some(ProofIssueWire {
            purpose: "consent".into(),
            grant: Some("gr_aaaaaaaaaaaaaaaaaaaaaa".into()),
            until: UnixMillis::now().plus_ms(86_400_000).0,
            card_challenge: String::new(),
        }),
    )
    .await
    .unwrap();
    let proof = renkei_protocol::SignedPersonProof::parse(&holder.person_proof.unwrap()).unwrap();
    assert_eq!(
        proof.proof.purpose,
        ProofPurpose::Consent(renkei_protocol::ConsentRef::parse("gr_aaaaaaaaaaaaaaaaaaaaaa").unwrap())
    );
    assert_eq!(proof.proof.institution, DIGITAL.id());
    assert_eq!(proof.proof.subject, h.code(DIGITAL.key, &me).await);
    assert_eq!(proof.proof.card_challenge, renkei_crypto::sha256_plain(&confirm3));
    proof
        .verify(
            &h.net.hub_key,
            &DIGITAL.id(),
            Some(&renkei_protocol::ConsentRef::parse("gr_aaaaaaaaaaaaaaaaaaaaaa").unwrap()),
            UnixMillis::now(),
        )
        .unwrap();
}
