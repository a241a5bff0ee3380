//! The card CA in the registry role: issuance in both profiles, CRLs that
//! verify, resolution for the portal's node only, and every change of a
//! card's life — suspension, resumption, a change of address, reissue,
//! loss, death — reaching the CRL, the status and the resolution at once.

use std::time::Duration;

use renkei_api::card::{
    CardLookupRequest, CardStatusWire, CardWire, IssueCardRequest, IssuedCard, RenewSigningRequest,
    RenewedSigning, ResolveCardRequest,
};
use renkei_api::net::ProofIssueWire;
use renkei_api::node::CardHolder;
use renkei_api::registry::{AddressChange, DeathReport, EventRecorded, RegistryHealth};
use renkei_card::{
    CardCaCertificate, CardCertError, CardCrl, CardKey, CardProfile, CardSecret, CardTrust, CertPurpose,
    SoftwareCard,
};
use renkei_demo::cards::issue_card;
use renkei_demo::institutions::{DIGITAL, SETAGAYA};
use renkei_transport::{ApiFailure, PublicClient};

use super::{Harness, harness, rejected_code};

fn pin() -> CardSecret {
    CardSecret::auth_pin("1234").unwrap()
}

fn password() -> CardSecret {
    CardSecret::signing_password("ABC123").unwrap()
}

async fn trust(h: &Harness) -> CardTrust {
    let base = h.net.registry.cards.as_ref().unwrap().url();
    let ca = std::fs::read(h.net.ca_dir.join(renkei_pki::CA_CERT_FILE)).unwrap();
    let public = PublicClient::new(&base, &ca, Duration::from_secs(10)).unwrap();
    let mut cas = Vec::new();
    for profile in CardProfile::ALL {
        for purpose in CertPurpose::ALL {
            let pem = public
                .get_bytes(&format!(
                    "/card/v1/ca/{}/{}.pem",
                    profile.as_str(),
                    purpose.as_str()
                ))
                .await
                .unwrap();
            cas.push(CardCaCertificate::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap());
        }
    }
    let mut trust = CardTrust::new(cas.clone());
    for ca in &cas {
        let der = public
            .get_bytes(&format!(
                "/card/v1/crl/{}/{}.crl",
                ca.profile().as_str(),
                ca.purpose().as_str()
            ))
            .await
            .unwrap();
        trust.install_crl(CardCrl::parse(&der, ca).unwrap()).unwrap();
    }
    trust
}

fn der(pem: &str) -> Vec<u8> {
    renkei_card::pem_or_der(pem.as_bytes(), "CERTIFICATE").unwrap()
}

fn auth_key(card: &SoftwareCard) -> CardKey {
    let pem = renkei_pki::read_private(&card.key_path(CertPurpose::Authentication)).unwrap();
    CardKey::from_encrypted_pem(card.profile(), std::str::from_utf8(&pem).unwrap(), &pin()).unwrap()
}

/// A login challenge as the portal writes it, expiring in `ttl_ms`.
fn login_text(ttl_ms: i64) -> Vec<u8> {
    let c = renkei_portal::Challenge::new(
        renkei_portal::ChallengePurpose::Login,
        &renkei_portal::Secret::random(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        renkei_protocol::UnixMillis::now(),
        ttl_ms,
    );
    c.to_be_signed("https://portal.invalid", c.match_value)
}

async fn resolve_signed(
    h: &Harness,
    node: &str,
    cert_pem: &str,
    text: &[u8],
    signature: &[u8],
    proof: Option<ProofIssueWire>,
) -> Result<CardHolder, ApiFailure> {
    use base64::Engine as _;
    h.net
        .node(node)
        .local
        .post(
            "/local/v1/cards/resolve",
            &ResolveCardRequest {
                certificate: cert_pem.to_owned(),
                challenge: String::from_utf8(text.to_vec()).unwrap(),
                signature: base64::engine::general_purpose::STANDARD.encode(signature),
                proof,
            },
        )
        .await
}

/// Resolve `cert_pem` with `card`'s signature over a fresh login challenge.
async fn resolve(
    h: &Harness,
    node: &str,
    card: &SoftwareCard,
    cert_pem: &str,
) -> Result<CardHolder, ApiFailure> {
    let text = login_text(300_000);
    let signature = auth_key(card).sign(&text).unwrap();
    resolve_signed(h, node, cert_pem, &text, &signature, None).await
}

async fn act(h: &Harness, card: u64, action: &str) -> Result<CardWire, ApiFailure> {
    h.net
        .registry_admin
        .post(
            &format!("/admin/v1/cards/{card}/{action}"),
            &serde_json::json!({}),
        )
        .await
}

async fn cards_count(h: &Harness) -> u64 {
    let health: RegistryHealth = h.net.registry_admin.get("/health").await.unwrap();
    health.cards
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_card_ca_issues_resolves_suspends_reissues_and_revokes() {
    let h = harness().await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, digital_id) = h.country.cast.account_holder.clone();
    let holder = h.country.inhabitant(DIGITAL.key, &digital_id).unwrap().clone();

    // Issue (ECDSA P-384, the 2026 cards) and verify against the published CRLs.
    let (card, issued) = issue_card(
        &h.net.registry_admin,
        &holder.my_number,
        &tmp.path().join("card1"),
        CardProfile::EcdsaP384Sha384,
        &pin(),
        &password(),
    )
    .await
    .unwrap();
    assert_eq!(issued.card.status, "active");
    assert_eq!(issued.card.certificates.len(), 2);
    assert_eq!(issued.replaced_card, None);
    let t = trust(&h).await;
    let now = time::OffsetDateTime::now_utc();
    let auth = t
        .verify(&der(&issued.auth_certificate), CertPurpose::Authentication, now)
        .unwrap();
    assert_eq!(auth.facts, None);
    let sign = t
        .verify(&der(&issued.sign_certificate), CertPurpose::Signing, now)
        .unwrap();
    assert_eq!(sign.facts.as_ref().unwrap().name.as_str(), holder.name);
    assert_eq!(
        card.certificate(CertPurpose::Authentication).unwrap(),
        der(&issued.auth_certificate)
    );

    // The portal's node resolves the card to the person it already knows.
    let resolved = resolve(&h, DIGITAL.key, &card, &issued.auth_certificate)
        .await
        .unwrap();
    assert_eq!(
        (resolved.local_id.as_str(), resolved.enrolled_now),
        (digital_id.as_str(), false)
    );
    assert_eq!(resolved.card.standing, "good");
    // Another institution is not a resolver; the signing certificate is not a login.
    assert_eq!(
        rejected_code(&resolve(&h, SETAGAYA.key, &card, &issued.auth_certificate).await),
        "not_a_card_resolver"
    );
    assert_eq!(
        rejected_code(&resolve(&h, DIGITAL.key, &card, &issued.sign_certificate).await),
        "unknown_card"
    );
    assert_eq!(
        rejected_code(&resolve(&h, DIGITAL.key, &card, "bm90IGEgY2VydA==").await),
        "malformed"
    );

    // A resident the Digital Agency never enrolled is enrolled by the resolution, once.
    let stranger = h
        .country
        .people
        .iter()
        .find(|p| p.age >= 20 && !p.ids.contains_key(DIGITAL.key))
        .unwrap()
        .clone();
    let (s_card, s_issued) = issue_card(
        &h.net.registry_admin,
        &stranger.my_number,
        &tmp.path().join("stranger"),
        CardProfile::Rsa2048Sha256,
        &pin(),
        &password(),
    )
    .await
    .unwrap();
    let first = resolve(&h, DIGITAL.key, &s_card, &s_issued.auth_certificate)
        .await
        .unwrap();
    assert!(first.enrolled_now);
    assert!(first.local_id.starts_with("C-"));
    let again = resolve(&h, DIGITAL.key, &s_card, &s_issued.auth_certificate)
        .await
        .unwrap();
    assert_eq!((again.local_id, again.enrolled_now), (first.local_id, false));

    // Suspension: on the CRL as a hold, refused at resolution, visible in the status.
    let id = issued.card.card_id;
    let serial = &issued.card.certificates[0].serial;
    let before: CardStatusWire = h
        .net
        .node(DIGITAL.key)
        .local
        .get(&format!("/local/v1/cards/{serial}/status"))
        .await
        .unwrap();
    assert_eq!(before.standing, "good");
    let suspended = act(&h, id, "suspend").await.unwrap();
    assert_eq!(suspended.status, "suspended");
    assert!(matches!(
        trust(&h).await.verify(
            &der(&issued.auth_certificate),
            CertPurpose::Authentication,
            time::OffsetDateTime::now_utc()
        ),
        Err(CardCertError::Suspended(_))
    ));
    assert_eq!(
        rejected_code(&resolve(&h, DIGITAL.key, &card, &issued.auth_certificate).await),
        "card_suspended"
    );
    assert_eq!(rejected_code(&act(&h, id, "suspend").await), "card_not_active");
    let resumed = act(&h, id, "resume").await.unwrap();
    assert_eq!(resumed.status, "active");
    let after: CardStatusWire = h
        .net
        .node(DIGITAL.key)
        .local
        .get(&format!("/local/v1/cards/{serial}/status"))
        .await
        .unwrap();
    assert_eq!(after.standing, "good");
    // A relying party that saw the card before learns it changed meanwhile.
    assert!(after.status_since > before.status_since);
    resolve(&h, DIGITAL.key, &card, &issued.auth_certificate)
        .await
        .unwrap();

    // A change of address revokes the signing certificate in the same
    // transaction; the authentication certificate stays good.
    let _: EventRecorded = h
        .net
        .registry_admin
        .post(
            "/admin/v1/residents/address",
            &AddressChange {
                my_number: holder.my_number.clone(),
                address: "東京都世田谷区太子堂四丁目9番9号".to_owned(),
                moved_on: None,
            },
        )
        .await
        .unwrap();
    let t = trust(&h).await;
    let now = time::OffsetDateTime::now_utc();
    assert!(matches!(
        t.verify(&der(&issued.sign_certificate), CertPurpose::Signing, now),
        Err(CardCertError::Revoked {
            reason: "facts_changed",
            ..
        })
    ));
    t.verify(&der(&issued.auth_certificate), CertPurpose::Authentication, now)
        .unwrap();
    // A new signing certificate certifies the new address.
    let new_key = renkei_card::CardKey::generate(CardProfile::EcdsaP384Sha384).unwrap();
    let renewed: RenewedSigning = h
        .net
        .registry_admin
        .post(
            &format!("/admin/v1/cards/{id}/signing-certificate"),
            &RenewSigningRequest {
                sign_public_key: renkei_card::to_pem("PUBLIC KEY", &new_key.spki_der()),
            },
        )
        .await
        .unwrap();
    let renewed_cert = t
        .verify(&der(&renewed.sign_certificate), CertPurpose::Signing, now)
        .unwrap();
    assert_eq!(
        renewed_cert.facts.unwrap().address.as_str(),
        "東京都世田谷区太子堂四丁目9番9号"
    );
    // An RSA key cannot go onto a P-384 card.
    let rsa = renkei_card::CardKey::generate(CardProfile::Rsa2048Sha256).unwrap();
    let wrong: Result<RenewedSigning, _> = h
        .net
        .registry_admin
        .post(
            &format!("/admin/v1/cards/{id}/signing-certificate"),
            &RenewSigningRequest {
                sign_public_key: renkei_card::to_pem("PUBLIC KEY", &rsa.spki_der()),
            },
        )
        .await;
    assert_eq!(rejected_code(&wrong), "wrong_key_type");

    // Reissue: a new card supersedes the old one at once.
    let (r_card, reissued) = issue_card(
        &h.net.registry_admin,
        &holder.my_number,
        &tmp.path().join("card2"),
        CardProfile::Rsa2048Sha256,
        &pin(),
        &password(),
    )
    .await
    .unwrap();
    assert_eq!(reissued.replaced_card, Some(id));
    assert_eq!(
        rejected_code(&resolve(&h, DIGITAL.key, &card, &issued.auth_certificate).await),
        "certificate_revoked"
    );
    assert!(matches!(
        trust(&h).await.verify(
            &der(&issued.auth_certificate),
            CertPurpose::Authentication,
            time::OffsetDateTime::now_utc()
        ),
        Err(CardCertError::Revoked {
            reason: "reissued",
            ..
        })
    ));
    let same_person = resolve(&h, DIGITAL.key, &r_card, &reissued.auth_certificate)
        .await
        .unwrap();
    assert_eq!(same_person.local_id, digital_id);
    let listed: Vec<CardWire> = h
        .net
        .registry_admin
        .post(
            "/admin/v1/cards/lookup",
            &CardLookupRequest {
                my_number: holder.my_number.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(),
        ["active", "reissued"]
    );

    // Lost: final.
    let lost = act(&h, reissued.card.card_id, "lost").await.unwrap();
    assert_eq!(lost.status, "lost");
    assert!(lost.certificates.iter().all(|c| c.standing == "revoked"));
    assert_eq!(
        rejected_code(&act(&h, reissued.card.card_id, "resume").await),
        "card_final"
    );

    // Death ceases the stranger's card.
    let _: EventRecorded = h
        .net
        .registry_admin
        .post(
            "/admin/v1/residents/death",
            &DeathReport {
                my_number: stranger.my_number.clone(),
                date: "2026-01-02".to_owned(),
            },
        )
        .await
        .unwrap();
    let ceased: CardWire = h
        .net
        .registry_admin
        .get(&format!("/admin/v1/cards/{}", s_issued.card.card_id))
        .await
        .unwrap();
    assert_eq!(ceased.status, "ceased");
    assert_eq!(
        rejected_code(&resolve(&h, DIGITAL.key, &s_card, &s_issued.auth_certificate).await),
        "certificate_revoked"
    );
    assert_eq!(
        rejected_code(
            &issue_card(
                &h.net.registry_admin,
                &stranger.my_number,
                &tmp.path().join("stranger2"),
                CardProfile::Rsa2048Sha256,
                &pin(),
                &password()
            )
            .await
            .map_err(|e| e.downcast::<ApiFailure>().unwrap())
        ),
        "resident_deceased"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_card_requests_get_clear_errors_and_change_nothing() {
    let h = harness().await;
    let holder = h.country.people.iter().find(|p| p.age >= 20).unwrap().clone();
    let key = |p| {
        renkei_card::to_pem(
            "PUBLIC KEY",
            &renkei_card::CardKey::generate(p).unwrap().spki_der(),
        )
    };
    let (a, b) = (key(CardProfile::Rsa2048Sha256), key(CardProfile::Rsa2048Sha256));
    let before = cards_count(&h).await;
    let issue = |my_number: &str, profile: &str, auth: &str, sign: &str| IssueCardRequest {
        my_number: my_number.to_owned(),
        profile: profile.to_owned(),
        auth_public_key: auth.to_owned(),
        sign_public_key: sign.to_owned(),
    };
    let post = |req: IssueCardRequest| {
        let c = h.net.registry_admin.clone();
        async move { c.post::<_, IssuedCard>("/admin/v1/cards", &req).await }
    };
    let cases = [
        (issue("123", "rsa2048-sha256", &a, &b), "malformed"),
        (
            issue("983205673214", "rsa2048-sha256", &a, &b),
            "unknown_my_number",
        ),
        (issue(&holder.my_number, "rsa1024", &a, &b), "malformed"),
        (
            issue(&holder.my_number, "rsa2048-sha256", "garbage!", &b),
            "malformed",
        ),
        (issue(&holder.my_number, "rsa2048-sha256", &a, &a), "malformed"),
        (issue(&holder.my_number, "p384-sha384", &a, &b), "wrong_key_type"),
    ];
    for (req, code) in cases {
        let r = post(req).await;
        assert_eq!(rejected_code(&r), code, "{r:?}");
        // The My Number is never echoed back.
        if let Err(ApiFailure::Rejected { message, .. }) = &r {
            assert!(!message.contains(&holder.my_number));
        }
    }
    assert_eq!(rejected_code(&act(&h, 999_999, "suspend").await), "unknown_card");
    assert_eq!(rejected_code(&act(&h, 1, "explode").await), "unknown_action");
    let r: Result<CardWire, _> = h.net.registry_admin.get("/admin/v1/cards/x1").await;
    assert_eq!(rejected_code(&r), "malformed");
    let r: Result<CardStatusWire, _> = h
        .net
        .node(DIGITAL.key)
        .local
        .get("/local/v1/cards/NOTHEX/status")
        .await;
    assert_eq!(rejected_code(&r), "malformed");
    let r: Result<CardStatusWire, _> = h
        .net
        .node(DIGITAL.key)
        .local
        .get("/local/v1/cards/0123456789ABCDEF/status")
        .await;
    assert_eq!(rejected_code(&r), "unknown_card");
    assert_eq!(cards_count(&h).await, before);

    // A certificate from a CA the registry does not run: unknown.
    let foreign_ca = renkei_card::CardCa::create(
        CardProfile::Rsa2048Sha256,
        CertPurpose::Authentication,
        &renkei_card::CaOperator {
            name: "elsewhere".into(),
            name_ja: "よそ".into(),
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let k = renkei_card::CardKey::generate(CardProfile::Rsa2048Sha256).unwrap();
    let foreign = foreign_ca
        .issue(&renkei_card::CardCertRequest {
            spki_der: &k.spki_der(),
            serial: renkei_card::CardSerial::random(),
            not_before: time::OffsetDateTime::now_utc(),
            not_after: time::OffsetDateTime::now_utc() + time::Duration::days(1),
            facts: None,
            crl_url: None,
        })
        .unwrap();
    // (signed by the foreign key itself, as its holder would)
    let text = login_text(300_000);
    let signature = k.sign(&text).unwrap();
    assert_eq!(
        rejected_code(
            &resolve_signed(
                &h,
                DIGITAL.key,
                &renkei_card::to_pem("CERTIFICATE", &foreign),
                &text,
                &signature,
                None,
            )
            .await
        ),
        "unknown_card"
    );
    // The public listener names what it does not have.
    let ca = std::fs::read(h.net.ca_dir.join(renkei_pki::CA_CERT_FILE)).unwrap();
    let public = PublicClient::new(
        &h.net.registry.cards.as_ref().unwrap().url(),
        &ca,
        Duration::from_secs(5),
    )
    .unwrap();
    for path in [
        "/card/v1/crl/rsa1024/auth.crl",
        "/card/v1/crl/p384-sha384/other.crl",
        "/card/v1/ca/p384-sha384/auth.crl",
    ] {
        assert!(
            matches!(
                public.get_bytes(path).await,
                Err(ApiFailure::Rejected { status: 404, .. })
            ),
            "{path}"
        );
    }
}
