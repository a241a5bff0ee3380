// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The citizen portal against the whole network: card login, every page,
//! the security properties (fixation, CSRF, bad certificates, replay,
//! reading another person's data, proxies out of scope or period), and the
//! same flows in a real headless Chromium.

#[path = "portal/consent.rs"]
mod consent;
#[path = "portal/delivery.rs"]
mod delivery;

use std::path::PathBuf;

use renkei_card::{CardProfile, CardSecret, SoftwareCard};
use renkei_demo::cards::issue_card;
use renkei_demo::country::{Country, Inhabitant};
use renkei_demo::institutions::DIGITAL;
use renkei_demo::network::Network;
use renkei_portal_web::cardapp::CardApp;
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;
use renkei_testnet::portal_client::{self as client, Client};
use renkei_testnet::{TestNet, browser as webdriver};

struct Harness {
    net: Network,
    country: Country,
    dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    harness_with_catalog(None).await
}

async fn harness_with_catalog(catalog: Option<String>) -> Harness {
    renkei_testnet::log_to_test_output();
    let t = TestNet::start(|o| o.catalog = catalog).await.unwrap();
    Harness {
        net: t.net,
        country: t.country,
        dir: t.dir,
    }
}

fn pin() -> CardSecret {
    CardSecret::auth_pin("1234").unwrap()
}

fn password() -> CardSecret {
    CardSecret::signing_password("ABC123").unwrap()
}

impl Harness {
    fn url(&self) -> String {
        self.net.portal.url.clone()
    }

    async fn card(&self, who: &Inhabitant, name: &str, profile: CardProfile) -> SoftwareCard {
        let dir: PathBuf = self.dir.path().join("cards").join(name);
        issue_card(
            &self.net.registry_admin,
            &who.my_number,
            &dir,
            profile,
            &pin(),
            &password(),
        )
        .await
        .unwrap()
        .0
    }

    /// Log in over HTTP with the card app; the client holds the session.
    async fn login(&self, card: &SoftwareCard) -> Client {
        renkei_testnet::portal_login(&self.url(), card, &pin()).await
    }

    fn account_holder(&self) -> Inhabitant {
        let (_, d) = &self.country.cast.account_holder;
        self.country.inhabitant(DIGITAL.key, d).unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_login_shows_my_information_history_and_notices() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let mut c = h.login(&card).await;
    let home = c.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("ホーム"), "{}", home.body);
    let info = c.get("/me").await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert!(
        info.body.contains(&me.name),
        "My Information shows the registered name"
    );
    let history = c.get("/history").await;
    assert_eq!(history.status, 200, "{}", history.body);
    eprintln!("{}", history.id_text("record-count").unwrap());
    std::fs::write("/tmp/portal-me.html", &info.body).unwrap();
    std::fs::write("/tmp/portal-history.html", &history.body).unwrap();
}

/// Nothing wider than the phone's 360 px.
fn assert_fits(b: &webdriver::Browser) {
    let w = b.script("return [window.innerWidth, document.documentElement.scrollWidth];");
    assert_eq!(w[0], 360, "the viewport is a phone's");
    assert!(
        w[1].as_u64().unwrap() <= 360,
        "the page is {} px wide on a 360 px screen",
        w[1]
    );
}

/// Log in in the browser: the page shows a code, the card app approves it,
/// the page logs in by itself.
fn browser_login(b: &mut webdriver::Browser, url: &str, card: &SoftwareCard) {
    b.step("login page");
    b.goto(&format!("{url}/login"));
    let code = b.text("#login-code");
    // The person reads the number off this screen and types it in the card app.
    let shown = b.text("#login-match");
    assert_eq!(shown.len(), 2, "{shown}");
    assert!(b.text("#login-browser").contains("127.0.0.1"));
    b.step("approve with the card");
    let (url2, card2) = (url.to_owned(), card.clone());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                CardApp::new(&url2, None)
                    .unwrap()
                    .approve(&code, Some(&shown), &card2, &pin())
                    .await
            })
    })
    .join()
    .unwrap()
    .unwrap();
    b.step("logged in");
    b.wait_for(
        "document.querySelector('#logout') !== null",
        "the logged-in home page",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_chromium_login_my_information_history_and_english() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "browser", CardProfile::Rsa2048Sha256).await;
    let url = h.url();
    tokio::task::spawn_blocking(move || {
        let driver = webdriver::Driver::start();
        let mut b = driver.browser("login", 360);
        browser_login(&mut b, &url, &card);
        // The session cookie is host-only, Secure, HttpOnly, SameSite=Strict.
        let cookies = b.cookies();
        let session = cookies
            .iter()
            .find(|c| c["name"] == "__Host-renkei-session")
            .expect("a session cookie");
        assert_eq!(session["secure"], true);
        assert_eq!(session["httpOnly"], true);
        assert_eq!(session["sameSite"], "Strict");
        assert!(
            !cookies.iter().any(|c| c["name"] == "__Host-renkei-login"),
            "the login cookie is gone"
        );

        b.step("my information");
        b.click("a[href='/me']");
        b.wait_for(
            "document.querySelectorAll('section.item').length > 5",
            "the items",
        );
        let body = b.text("main");
        assert!(body.contains("わたしの情報"));
        assert!(body.contains(&me.name), "the registered name is shown");
        assert!(body.contains("提供元"));
        // Nothing wider than the phone.
        assert_fits(&b);

        b.step("history");
        b.click("a[href='/history']");
        b.find("#records");
        b.wait_for("document.querySelectorAll('li.record').length > 0", "records");
        let marks = b.script("return Array.from(document.querySelectorAll('.mark')).map(e => e.className);");
        assert!(!marks.as_array().unwrap().is_empty());
        assert!(!b.exists(".mark.failed"), "no record failed verification");
        assert_fits(&b);

        b.step("mailbox and the draft return");
        b.click("a[href='/mailbox']");
        b.find("#no-documents");
        assert_fits(&b);
        b.click("#draft-link");
        b.find("#draft");
        assert!(
            b.text("#draft").contains("基礎控除"),
            "the draft shows its figures"
        );
        assert_fits(&b);
        b.goto(&format!("{url}/history"));
        b.find("#records");

        b.step("english");
        b.click("#lang-switch");
        b.wait_for("document.documentElement.lang === 'en'", "the English page");
        assert!(
            b.url().ends_with("/history"),
            "the switch comes back to the same page: {}",
            b.url()
        );
        assert!(b.text("h1").contains("Exchange history"));
        b.click("#lang-switch");
        b.wait_for("document.documentElement.lang === 'ja'", "the Japanese page");

        // (The host is a closed port on loopback: before the fix Chromium
        // went there, ERR_CONNECTION_REFUSED.)
        b.step("a language switch with a return path that leaves the site");
        b.goto(&format!("{url}/lang?to=ja&back=/%09/127.0.0.1:1/"));
        b.wait_for("document.readyState === 'complete'", "the page after the switch");
        let here = b.url();
        assert!(
            here.starts_with(&url),
            "Chromium must stay on the portal, not go to {here}"
        );

        b.step("logout");
        b.click("#logout");
        b.wait_for(
            "document.querySelector('#login-link') !== null",
            "the landing page",
        );
        assert!(!b.cookies().iter().any(|c| c["name"] == "__Host-renkei-session"));
        b.goto(&format!("{url}/me"));
        b.wait_for("location.pathname === '/login'", "a redirect to the login");
    })
    .await
    .unwrap();
}

fn code_of(page: &client::Page) -> String {
    page.id_text("login-code").unwrap()
}

/// The number a login page shows, to enter on the card app.
fn match_of(page: &client::Page) -> String {
    page.id_text("login-match").unwrap()
}

fn rejected(r: Result<impl std::fmt::Debug, renkei_portal_web::cardapp::CardAppError>) -> String {
    match r {
        Err(renkei_portal_web::cardapp::CardAppError::Refused { code, message }) => {
            eprintln!("refused: {code}: {message}");
            code
        }
        other => format!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_with_bad_certificates_replays_and_fixation_are_refused() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let app = CardApp::new(&h.url(), None).unwrap();
    let cert = card
        .certificate(renkei_card::CertPurpose::Authentication)
        .unwrap();

    // A signature made with OpenSSL from the card's key file is accepted.
    let mut c = Client::new(&h.url());
    let page = c.get("/login").await;
    let (code, shown) = (code_of(&page), match_of(&page));
    let challenge = app.challenge(&code).await.unwrap();
    let tbs = app.to_sign(&challenge, Some(&shown)).unwrap();
    let tmp = h.dir.path().join("openssl");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("tbs"), &tbs).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha384", "-sign"])
        .arg(card.key_path(renkei_card::CertPurpose::Authentication))
        .args(["-passin", "pass:1234", "-out"])
        .arg(tmp.join("sig"))
        .arg(tmp.join("tbs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sig = std::fs::read(tmp.join("sig")).unwrap();
    app.submit(&code, Some(&shown), &cert, &sig).await.unwrap();
    // Replaying the same signature: the challenge is spent.
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), &cert, &sig).await),
        "challenge_used"
    );
    // The signature of one challenge does not approve another.
    let mut other = Client::new(&h.url());
    let other_code = code_of(&other.get("/login").await);
    assert_eq!(
        rejected(app.submit(&other_code, Some(&shown), &cert, &sig).await),
        "bad_signature"
    );
    // Another browser cannot take the approved login (it is bound to the
    // cookie of the browser that asked) ...
    let stolen = other.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(stolen.status, 400);
    assert!(!other.cookies.contains_key("__Host-renkei-session"));
    // ... the one that asked can, once.
    let planted = "A".repeat(43);
    c.cookies.insert("__Host-renkei-session".into(), planted.clone());
    let done = c.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Session fixation: the session id is fresh, never one the browser had.
    let session = c.cookies.get("__Host-renkei-session").unwrap().clone();
    assert_ne!(session, planted);
    assert!(
        done.set_cookies
            .iter()
            .any(|s| s.starts_with("__Host-renkei-session=")
                && s.contains("Secure")
                && s.contains("HttpOnly")
                && s.contains("SameSite=Strict"))
    );
    assert_eq!(c.get("/me").await.status, 200);
    // A planted id is no session at all.
    let mut attacker = Client::new(&h.url());
    attacker.cookies.insert("__Host-renkei-session".into(), planted);
    let r = attacker.get("/me").await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    assert_eq!(
        c.post("/login/complete", &[("code", &code)]).await.status,
        303,
        "a used code only redirects"
    );

    // A certificate from another CA, even with the JPKI names.
    let foreign_ca = renkei_card::CardCa::create(
        CardProfile::EcdsaP384Sha384,
        renkei_card::CertPurpose::Authentication,
        &renkei_card::CaOperator {
            name: "Japan Agency for Local Authority Information Systems".into(),
            name_ja: "地方公共団体情報システム機構".into(),
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let key = renkei_card::CardKey::generate(CardProfile::EcdsaP384Sha384).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let issue_with = |ca: &renkei_card::CardCa, not_before, not_after| {
        ca.issue(&renkei_card::CardCertRequest {
            spki_der: &key.spki_der(),
            serial: renkei_card::CardSerial::random(),
            not_before,
            not_after,
            facts: None,
            crl_url: None,
        })
        .unwrap()
    };
    let sign_for = |code: &str, shown: &str| {
        let app = app.clone();
        let (code, shown) = (code.to_owned(), shown.to_owned());
        async move {
            let c = app.challenge(&code).await.unwrap();
            app.to_sign(&c, Some(&shown)).unwrap()
        }
    };
    let page = Client::new(&h.url()).get("/login").await;
    let (code, shown) = (code_of(&page), match_of(&page));
    let foreign = issue_with(
        &foreign_ca,
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    );
    let sig = key.sign(&sign_for(&code, &shown).await).unwrap();
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), &foreign, &sig).await),
        "unknown_issuer"
    );
    // An expired certificate of the registry's own CA.
    let authorities =
        renkei_card::CardAuthorities::load(&h.net.registry_settings.cards.as_ref().unwrap().ca_dir).unwrap();
    let own_ca = authorities.get(
        CardProfile::EcdsaP384Sha384,
        renkei_card::CertPurpose::Authentication,
    );
    let expired = issue_with(
        own_ca,
        now - time::Duration::days(10),
        now - time::Duration::days(1),
    );
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), &expired, &sig).await),
        "certificate_expired"
    );
    // Our CA but never issued by the registry: verified, then unknown to it.
    let unissued = issue_with(
        own_ca,
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    );
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), &unissued, &sig).await),
        "unknown_card"
    );
    // A revoked card (reported lost).
    let lost_card = h.card(&me, "lost", CardProfile::Rsa2048Sha256).await;
    let lookup: Vec<renkei_api::card::CardWire> = h
        .net
        .registry_admin
        .post(
            "/admin/v1/cards/lookup",
            &renkei_api::card::CardLookupRequest {
                my_number: me.my_number.clone(),
            },
        )
        .await
        .unwrap();
    let _: renkei_api::card::CardWire = h
        .net
        .registry_admin
        .post(
            &format!("/admin/v1/cards/{}/lost", lookup[0].card_id),
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    let page = Client::new(&h.url()).get("/login").await;
    let (code, shown) = (code_of(&page), match_of(&page));
    assert_eq!(
        rejected(app.approve(&code, Some(&shown), &lost_card, &pin()).await),
        "certificate_revoked"
    );
    // The first card was superseded by the reissue: refused too.
    assert_eq!(
        rejected(app.approve(&code, Some(&shown), &card, &pin()).await),
        "certificate_revoked"
    );
    // The challenge survives refusals: a good card can still approve it.
    assert_eq!(app.challenge(&code).await.unwrap().purpose, "login");
    // Garbage.
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), b"not a certificate", b"x").await),
        "certificate_malformed"
    );
    assert_eq!(rejected(app.challenge("ABCD-EFGH").await), "unknown_challenge");
    assert!(matches!(
        app.challenge("not a code").await,
        Err(renkei_portal_web::cardapp::CardAppError::Malformed(_))
    ));
    // A card app for another portal refuses to sign this one's challenge.
    let phish = CardApp::new("http://localhost:1", None).unwrap();
    let c = app.challenge(&code).await.unwrap();
    assert!(matches!(
        phish.to_sign(&c, Some(&shown)),
        Err(renkei_portal_web::cardapp::CardAppError::OriginMismatch { .. })
    ));
}

/// Issue 11, item 7 (reproduced: the attacker's browser was signed in as
/// the victim). QR-login phishing: the attacker opens the login page in
/// their own browser and relays its code to a victim (a look-alike page, a
/// message); the victim approves it on their own card app. The card app
/// now shows where and when the login was asked, and asks for the number
/// shown on that screen, which the card signs; the victim, who cannot see
/// the attacker's screen, enters another, and the portal refuses: no
/// session, and the code is finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phished_approval_does_not_sign_the_attackers_browser_in() {
    let h = harness().await;
    let victim = h.account_holder();
    let card = h.card(&victim, "victim", CardProfile::EcdsaP384Sha384).await;
    let attacker_ip: std::net::IpAddr = [127, 0, 0, 66].into();
    let mut attacker = Client::from_address(&h.url(), Some(attacker_ip));
    let page = attacker.get("/login").await;
    let (code, on_attackers_screen) = (code_of(&page), match_of(&page));
    let app = CardApp::new(&h.url(), None).unwrap();

    // The card app shows the requesting browser's address and time.
    let c = app.challenge(&code).await.unwrap();
    assert_eq!(c.browser_address, "127.0.0.66");
    assert!((UnixMillis::now().0 - c.requested_at).abs() < 60_000);
    assert!(c.match_required);
    let text = String::from_utf8(app.to_sign(&c, Some("00")).unwrap()).unwrap();
    assert!(text.contains("\nbrowser: 127.0.0.66\n"), "{text}");
    assert!(
        text.contains(&format!("\nrequested: {}\n", c.requested_at)),
        "{text}"
    );
    assert!(text.ends_with("\nmatch: 00\n"), "{text}");
    // Without the number it does not sign at all.
    assert!(matches!(
        app.approve(&code, None, &card, &pin()).await,
        Err(renkei_portal_web::cardapp::CardAppError::MatchRequired)
    ));

    // The victim enters what they see — any number but the one on the
    // attacker's screen — and approves with PIN: refused.
    let n: u8 = on_attackers_screen.parse().unwrap();
    let wrong = format!("{:02}", (n + 1) % 100);
    assert_eq!(
        rejected(app.approve(&code, Some(&wrong), &card, &pin()).await),
        "match_mismatch"
    );
    // The attacker's browser gets no session, and is told the login ended.
    let done = attacker.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(done.body.contains("一致しませんでした"), "{}", done.body);
    assert!(!attacker.cookies.contains_key("__Host-renkei-session"));
    assert_ne!(attacker.get("/me").await.status, 200);
    let status = attacker.get(&format!("/login/status?code={code}")).await;
    assert!(
        status.body.contains("unknown") || status.body.contains("refused"),
        "{}",
        status.body
    );
    // The code is finished: the right number later changes nothing.
    assert_eq!(
        rejected(
            app.approve(&code, Some(&on_attackers_screen), &card, &pin())
                .await
        ),
        "challenge_refused"
    );
    let again = attacker.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(
        (again.status, again.location.as_deref()),
        (303, Some("/login")),
        "its login cookie is gone: start again"
    );
    assert!(!attacker.cookies.contains_key("__Host-renkei-session"));

    // A signature over one number is not accepted for another (and spends
    // nothing): the signed text is what is checked, not the claim.
    let mut me = Client::from_address(&h.url(), Some([127, 0, 0, 7].into()));
    let page = me.get("/login").await;
    let (code, shown) = (code_of(&page), match_of(&page));
    let c = app.challenge(&code).await.unwrap();
    let other = format!("{:02}", (shown.parse::<u8>().unwrap() + 1) % 100);
    let cert = card
        .certificate(renkei_card::CertPurpose::Authentication)
        .unwrap();
    let sig_over_other = card
        .sign(
            renkei_card::CertPurpose::Authentication,
            &pin(),
            &app.to_sign(&c, Some(&other)).unwrap(),
        )
        .unwrap();
    assert_eq!(
        rejected(app.submit(&code, Some(&shown), &cert, &sig_over_other).await),
        "bad_signature"
    );
    assert_eq!(
        rejected(app.submit(&code, None, &cert, &sig_over_other).await),
        "match_required"
    );
    // The person's own login, with the number on their own screen: in.
    app.approve(&code, Some(&shown), &card, &pin()).await.unwrap();
    let done = me.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/")),
        "{}",
        done.body
    );
    assert_eq!(me.get("/me").await.status, 200);
    h.net.shutdown().await;
}

/// Return paths an attacker may try: each, as it appears in a URL, leads
/// off the site in some browser unless refused (issue 11, item 10).
const OFF_SITE_VECTORS: &[&str] = &[
    "/%09/evil.example",
    "/%09%09/evil.example",
    "%09//evil.example",
    "/%0D%0A/evil.example",
    "/%0a/evil.example",
    "/%0d/evil.example",
    "/%00/evil.example",
    "/%20/evil.example",
    "%20//evil.example",
    "/%E3%80%80/evil.example",
    "//evil.example",
    "///evil.example",
    "/%2F/evil.example",
    "/%2fevil.example",
    "%2F%2Fevil.example",
    "/%252F/evil.example",
    "/%5Cevil.example",
    "/%5C/evil.example",
    "%5C%5Cevil.example",
    "/.//evil.example",
    "/me/..//evil.example",
    "https://evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/me%09",
    "/me/",
    "/me?x=1",
    "/me%23x",
    "/unknown",
];

/// Log in with a `__Host-renkei-next` cookie holding `next` (as the
/// portal would have set it, base64url); where the login sends the browser.
async fn login_with_next(h: &Harness, card: &SoftwareCard, next: &str) -> (u16, Option<String>) {
    let mut c = Client::new(&h.url());
    let page = c.get("/login").await;
    let (code, shown) = (code_of(&page), match_of(&page));
    CardApp::new(&h.url(), None)
        .unwrap()
        .approve(&code, Some(&shown), card, &pin())
        .await
        .unwrap();
    c.cookies
        .insert("__Host-renkei-next".into(), renkei_jose::b64(next.as_bytes()));
    let done = c.post("/login/complete", &[("code", &code)]).await;
    (done.status, done.location)
}

/// Every page a signed-in person can open, in Japanese and in English:
/// each answers, says which language it is in, and asks for no text that
/// does not exist (a missing text used to show its key silently).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_in_both_languages_shows_only_known_texts() {
    let h = harness().await;
    let who = h.account_holder();
    let card = h.card(&who, "pages", CardProfile::EcdsaP384Sha384).await;
    let mut c = h.login(&card).await;
    let pages = [
        "/",
        "/me",
        "/history",
        "/notices",
        "/account",
        "/proxies",
        "/consents",
    ];
    for lang in ["ja", "en"] {
        c.lang = Some(lang);
        for page in pages {
            let p = c.get(page).await;
            assert_eq!(p.status, 200, "{lang} {page}: {}", p.body);
            assert!(
                p.body.contains(&format!("<html lang=\"{lang}\"")),
                "{lang} {page} does not say it is in {lang}"
            );
            // An English page shows no Japanese text of the interface (the
            // person's data, names and institutions, stay as registered;
            // the switch names Japanese in Japanese).
            if lang == "en" {
                for (key, ja, en) in renkei_portal_web::i18n::TEXTS {
                    assert!(
                        *key == "lang_name"
                            || ja.chars().count() < 3
                            || !p.body.contains(ja)
                            || en.contains(ja),
                        "{page} in English shows the Japanese text of {key:?}: {ja}"
                    );
                }
            }
        }
    }
    // The person's own name shows on My Information in both languages.
    assert!(c.get("/me").await.body.contains(&who.name), "the name is shown");
    assert_eq!(
        renkei_portal_web::i18n::missing_texts(),
        0,
        "a page asked for a text that does not exist (see the error log)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn return_parameters_lead_only_to_the_portals_own_pages() {
    let h = harness().await;
    let mut c = Client::new(&h.url());
    // The language switch: known pages come back, anything else goes home.
    for good in [
        "/",
        "/me",
        "/history",
        "/notices",
        "/account",
        "/proxies",
        "/consents",
        "/login",
    ] {
        let r = c.get(&format!("/lang?to=en&back={good}")).await;
        assert_eq!((r.status, r.location.as_deref()), (303, Some(good)), "{good}");
    }
    let r = c.get("/lang?to=en").await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/")));
    for v in OFF_SITE_VECTORS {
        let r = c.get(&format!("/lang?to=ja&back={v}")).await;
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some("/")),
            "back={v} must lead home, not elsewhere"
        );
    }
    // The login's return path (set by /authorize, read at /login/complete).
    let me = h.account_holder();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let good = "/authorize?client_id=rc_AAAAAAAAAAAAAAAAAAAAAA&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc_DEF-123";
    assert_eq!(
        login_with_next(&h, &card, good).await,
        (303, Some(good.to_owned()))
    );
    for bad in [
        "/authorize?client_id=x\r\nSet-Cookie: a=b",
        "/authorize?\r\n//evil.example",
        "/authorize?client_id=rc_AAAAAAAAAAAAAAAAAAAAAA\t//evil.example",
        "//evil.example/authorize?client_id=x",
        "/authorize/..//evil.example?",
        "/authorize?client_id=rc_AAAAAAAAAAAAAAAAAAAAAA&request_uri=https://evil.example",
        "/authorize?client_id=x&request_uri=y&next=//evil.example",
        "https://evil.example/authorize?",
        "/%09/evil.example",
    ] {
        assert_eq!(
            login_with_next(&h, &card, bad).await,
            (303, Some("/".to_owned())),
            "next={bad:?} must lead home"
        );
    }
    h.net.shutdown().await;
}

/// The portal's card-CRL refresher: a card reported lost makes the
/// registry publish new CRLs for the card's profile, and a portal polling
/// every second holds them within seconds (the login refusal itself is
/// tested above; this is the path that keeps the portal's copy current).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portal_refreshes_its_card_crls_from_the_registry() {
    let h = harness().await;
    let me = h.account_holder();
    let _card = h.card(&me, "crl", CardProfile::EcdsaP384Sha384).await;
    let (portal, _db) = small_portal(&h, "crl", |s| s.crl_poll_secs = 1).await;
    let held = |state: &serde_json::Value| -> std::collections::BTreeMap<String, u64> {
        serde_json::from_value(state["card_crls"].clone()).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let before = loop {
        let crls = held(&portal_state(&portal, &h).await);
        if crls.len() == 4 {
            break crls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the portal holds {crls:?}, not every card CRL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    registry_card_action(&h, &me, "lost").await;
    let profile = format!("{}/", CardProfile::EcdsaP384Sha384.as_str());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        let crls = held(&portal_state(&portal, &h).await);
        if crls
            .iter()
            .any(|(k, n)| k.starts_with(&profile) && *n > before[k])
        {
            break crls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the portal still holds {crls:?} 10 s after a card was reported lost (before: {before:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Only the lost card's profile changed.
    for (k, n) in &after {
        if !k.starts_with(&profile) {
            assert_eq!(*n, before[k], "{k}");
        }
    }
    portal.shutdown(std::time::Duration::from_secs(1)).await;
    h.net.shutdown().await;
}

/// A second portal on the harness's network with small limits of its own
/// (its own store, so what it keeps can be counted); its web and admin URLs.
async fn small_portal(
    h: &Harness,
    name: &str,
    change: impl FnOnce(&mut renkei_portal_web::PortalSettings),
) -> (renkei_portal_web::RunningPortal, PathBuf) {
    let mut settings = h.net.portal_settings.clone();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin_listen = "127.0.0.1:0".parse().unwrap();
    settings.public_url = None;
    change(&mut settings);
    let db = h.dir.path().join(format!("{name}.sqlite"));
    let store = renkei_store_sqlite::SqlitePortalStore::open(&db, Durability::Normal)
        .await
        .unwrap();
    let portal = renkei_portal_web::start_portal(&settings, store).await.unwrap();
    (portal, db)
}

async fn portal_state(portal: &renkei_portal_web::RunningPortal, h: &Harness) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{}/admin/v1/state", portal.admin.addr()))
        .bearer_auth(&h.net.portal_admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn count_rows(db: &std::path::Path, table: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let n: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n.0
}

/// Log in at `portal` from the loopback address `from`; the client.
async fn login_from(portal: &str, from: [u8; 4], card: &SoftwareCard) -> Client {
    let mut c = Client::from_address(portal, Some(std::net::IpAddr::from(from)));
    let page = c.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (code, shown) = (code_of(&page), match_of(&page));
    CardApp::new(portal, None)
        .unwrap()
        .approve(&code, Some(&shown), card, &pin())
        .await
        .unwrap();
    let done = c.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/")),
        "{}",
        done.body
    );
    c
}

/// Issue 11, item 14: a session that lapses without a logout (idle, or
/// past its absolute limit) takes its cached person key with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lapsed_sessions_person_key_is_swept() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let (portal, _) = small_portal(&h, "keys", |s| {
        s.session_idle_secs = 4;
        s.sweep_secs = 1;
    })
    .await;
    let mut c = login_from(&portal.url, [127, 0, 0, 1], &card).await;
    let history = c.get("/history").await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(
        portal_state(&portal, &h).await["person_keys"],
        1,
        "the key is cached"
    );
    // Still used (every 1.5 s, the idle limit is 4 s): kept.
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(c.get("/").await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        portal_state(&portal, &h).await["person_keys"],
        1,
        "a live session keeps it"
    );
    // Left alone past the idle limit (no logout): gone with the next sweep.
    tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
    assert_eq!(
        portal_state(&portal, &h).await["person_keys"],
        0,
        "the lapsed session's key is gone"
    );
    let r = c.get("/history").await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login?expired=1")));
    portal.shutdown(std::time::Duration::from_secs(1)).await;
    h.net.shutdown().await;
}

/// Issue 11, item 14: anonymous `GET /login` stores a challenge; a flood
/// is refused with 429 per address and in total, the store never holds
/// more than the bound, and other people still log in; expired challenges
/// are swept and free their places.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anonymous_login_floods_are_refused_and_bounded() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let (portal, db) = small_portal(&h, "flood", |s| {
        s.login_challenges_per_address = 5;
        s.login_challenges_total = 12;
        s.challenge_secs = 10;
        s.sweep_secs = 1;
    })
    .await;
    let url = portal.url.clone();
    let flood = |from: [u8; 4], n: usize| {
        let url = url.clone();
        async move {
            let mut statuses = Vec::new();
            let mut c = Client::from_address(&url, Some(std::net::IpAddr::from(from)));
            for _ in 0..n {
                let page = c.get("/login").await;
                if page.status == 429 {
                    assert!(
                        page.body.contains("ログイン"),
                        "a page that says why: {}",
                        page.body
                    );
                }
                statuses.push(page.status);
            }
            statuses
        }
    };
    // One address: five, then refused.
    let statuses = flood([127, 0, 0, 1], 20).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    assert_eq!(count_rows(&db, "challenges").await, 5, "the store did not grow");
    // Someone else logs in meanwhile.
    login_from(&url, [127, 0, 0, 2], &card).await;
    // Many addresses: the total holds (12 in all, 6 already).
    let mut granted = 0;
    for i in 3..13u8 {
        let s = flood([127, 0, 0, i], 5).await;
        assert!(s.iter().all(|s| *s == 200 || *s == 429), "{s:?}");
        granted += s.iter().filter(|s| **s == 200).count();
    }
    assert_eq!(granted, 6, "up to the total");
    assert!(count_rows(&db, "challenges").await <= 12);
    let refused = Client::from_address(&url, Some(std::net::IpAddr::from([127, 0, 0, 20])))
        .get("/login")
        .await;
    assert_eq!(refused.status, 429);
    // Challenges expire (10 s) and are swept (every second): logins again.
    tokio::time::sleep(std::time::Duration::from_millis(11_500)).await;
    assert_eq!(
        count_rows(&db, "challenges").await,
        0,
        "expired challenges are swept"
    );
    login_from(&url, [127, 0, 0, 20], &card).await;
    login_from(&url, [127, 0, 0, 1], &card).await;
    portal.shutdown(std::time::Duration::from_secs(1)).await;
    h.net.shutdown().await;
}

async fn send_notice(h: &Harness, key: &str, local_id: &str, title: &str) -> String {
    let sent: renkei_api::notices::NoticeSent = h
        .net
        .node(key)
        .local
        .post(
            "/local/v1/notices",
            &renkei_api::notices::SendNoticeRequest {
                local_id: local_id.to_owned(),
                notice: renkei_api::notices::NoticeText {
                    title_ja: title.to_owned(),
                    body_ja: "児童手当の現況届の提出は不要です。".to_owned(),
                    title_en: Some(format!("{title} (en)")),
                    body_en: Some("No annual report is needed.".to_owned()),
                },
            },
        )
        .await
        .unwrap();
    sent.notice_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_csrf_idle_timeout_and_other_peoples_ids() {
    let h = harness().await;
    let me = h.account_holder();
    let (setagaya_id, _) = h.country.cast.account_holder.clone();
    let other = h
        .country
        .people
        .iter()
        .find(|p| {
            p.age >= 20
                && p.my_number != me.my_number
                && p.ids
                    .get("setagaya")
                    .is_some_and(|id| *id != h.country.cast.stale)
        })
        .unwrap()
        .clone();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    let other_card = h.card(&other, "other", CardProfile::Rsa2048Sha256).await;

    // Setagaya sends a notice by its own code; it reaches the portal.
    let notice = send_notice(&h, "setagaya", &setagaya_id, "児童手当のお知らせ").await;
    let other_notice = send_notice(&h, "setagaya", &other.ids["setagaya"], "別の方へのお知らせ").await;
    let mut c = h.login(&card).await;
    let home = c.get("/").await;
    assert!(
        home.id_text("unread-count").unwrap().contains('1'),
        "{}",
        home.body
    );
    let inbox = c.get("/notices").await;
    assert!(inbox.body.contains("児童手当のお知らせ"));
    assert!(inbox.body.contains("世田谷区"), "the sender is named");
    assert!(
        !inbox.body.contains("別の方へのお知らせ"),
        "only one's own notices"
    );
    c.lang = Some("en");
    assert!(c.get("/notices").await.body.contains("児童手当のお知らせ (en)"));
    c.lang = None;
    let csrf = inbox.input_value("csrf").unwrap();

    // CSRF: no token, a wrong token, or another site's Origin: refused, nothing changes.
    let r = c.post(&format!("/notices/{notice}/read"), &[]).await;
    assert_eq!(r.status, 403);
    let r = c
        .post(&format!("/notices/{notice}/read"), &[("csrf", &"B".repeat(43))])
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .post_with(
            &format!("/notices/{notice}/read"),
            &[("csrf", &csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        c.get("/notices").await.body.contains("class=\"badge\""),
        "still unread"
    );
    // Another person's notice by its id: not found, not marked.
    let r = c
        .post(&format!("/notices/{other_notice}/read"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 404);
    let r = c.post("/notices/..%2F..%2Fx/read", &[("csrf", &csrf)]).await;
    assert!(r.status == 400 || r.status == 404, "{}", r.status);
    // With the token: read.
    let r = c
        .post(&format!("/notices/{notice}/read"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert!(!c.get("/notices").await.body.contains("class=\"badge\""));
    let mut o = h.login(&other_card).await;
    assert!(
        o.get("/notices").await.body.contains("class=\"badge\""),
        "the other's stays unread"
    );

    // Another person's proxy or staged confirmation by id: not found / gone.
    let o_csrf = o.get("/proxies").await.input_value("csrf").unwrap();
    let r = o.post("/proxies/1/revoke", &[("csrf", &o_csrf)]).await;
    assert_eq!(r.status, 404);
    let staged = c
        .post(
            "/account",
            &[
                ("csrf", &csrf),
                ("bank_code", "0005"),
                ("branch_code", "123"),
                ("kind", "ordinary"),
                ("number", "1234567"),
                ("holder_kana", &me.kana),
            ],
        )
        .await;
    assert_eq!(staged.status, 303, "{}", staged.body);
    let confirm_path = staged.location.clone().unwrap();
    let r = o.get(&confirm_path).await;
    assert_eq!(r.status, 410, "another session cannot see a staged confirmation");
    // The other person's card cannot confirm my staged action.
    let confirm_page = c.get(&confirm_path).await;
    let confirm_code = confirm_page.id_text("confirm-code").unwrap();
    CardApp::new(&h.url(), None)
        .unwrap()
        .approve(&confirm_code, None, &other_card, &pin())
        .await
        .unwrap();
    let r = c.post(&confirm_path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("別のカード"));
    assert!(
        !c.get("/account").await.body.contains("****"),
        "nothing was registered"
    );

    // Idle timeout: a session untouched for longer than the limit is gone.
    renkei_testnet::store_execute(
        &h.net,
        "portal",
        "UPDATE sessions SET last_seen = last_seen - 3600000",
    )
    .await;
    let r = c.get("/me").await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login?expired=1")));
    let r = c.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("ログイン"), "logged out");
}

/// Stage → approve with the card → commit, as a person at the portal does.
async fn confirm_with(
    h: &Harness,
    c: &mut Client,
    staged: client::Page,
    card: &SoftwareCard,
) -> client::Page {
    assert_eq!(staged.status, 303, "{}", staged.body);
    let path = staged.location.unwrap();
    assert!(path.starts_with("/confirm/"), "{path}");
    let page = c.get(&path).await;
    let code = page.id_text("confirm-code").unwrap();
    let csrf = page.input_value("csrf").unwrap();
    // Not approved yet: the commit waits, nothing happens.
    let early = c.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(early.status, 409, "{}", early.body);
    CardApp::new(&h.url(), None)
        .unwrap()
        .approve(&code, None, card, &pin())
        .await
        .unwrap();
    c.post(&path, &[("csrf", &csrf)]).await
}

async fn admin_post(
    h: &Harness,
    path: &str,
    body: serde_json::Value,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", h.net.portal_admin_url()))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn registry_card_action(h: &Harness, who: &Inhabitant, action: &str) {
    let cards: Vec<renkei_api::card::CardWire> = h
        .net
        .registry_admin
        .post(
            "/admin/v1/cards/lookup",
            &renkei_api::card::CardLookupRequest {
                my_number: who.my_number.clone(),
            },
        )
        .await
        .unwrap();
    let _: renkei_api::card::CardWire = h
        .net
        .registry_admin
        .post(
            &format!("/admin/v1/cards/{}/{action}", cards[0].card_id),
            &serde_json::json!({}),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxies_act_within_scope_and_period_and_hold_when_a_card_changes() {
    let h = harness().await;
    let principal = h.account_holder();
    let rep = h
        .country
        .people
        .iter()
        .find(|p| p.age >= 20 && p.household != principal.household && p.my_number != principal.my_number)
        .unwrap()
        .clone();
    let p_card = h
        .card(&principal, "principal", CardProfile::EcdsaP384Sha384)
        .await;
    let r_card = h.card(&rep, "rep", CardProfile::Rsa2048Sha256).await;
    let mut p = h.login(&p_card).await;
    let mut r = h.login(&r_card).await;

    // The principal appoints: history and notices, from today for a year.
    let page = p.get("/proxies").await;
    let csrf = page.input_value("csrf").unwrap();
    let today = renkei_demo_today();
    let until = today.replace_year(today.year() + 1).unwrap();
    let staged = p
        .post(
            "/proxies/invite",
            &[
                ("csrf", &csrf),
                ("scope", "history"),
                ("scope", "notices"),
                ("valid_from", &today.to_string()),
                ("valid_until", &until.to_string()),
            ],
        )
        .await;
    let done = confirm_with(&h, &mut p, staged, &p_card).await;
    let invited = done.location.unwrap();
    let invitation = invited.split("invited=").nth(1).unwrap().to_owned();
    // The representative accepts with their own card.
    let r_csrf = r.get("/proxies").await.input_value("csrf").unwrap();
    let staged = r
        .post("/proxies/accept", &[("csrf", &r_csrf), ("code", &invitation)])
        .await;
    let done = confirm_with(&h, &mut r, staged, &r_card).await;
    assert_eq!(done.location.as_deref(), Some("/proxies?done=accepted"));
    let listing = r.get("/proxies").await;
    assert!(
        listing.body.contains(&principal.name),
        "the representative sees whom they act for"
    );
    let proxy_id: String = listing
        .body
        .split("id=\"act-")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // An invitation is used once.
    let staged = r
        .post("/proxies/accept", &[("csrf", &r_csrf), ("code", &invitation)])
        .await;
    let again = confirm_with(&h, &mut r, staged, &r_card).await;
    assert_eq!(again.status, 422);

    // Acting: history is in scope, My Information and the account are not.
    let acting = r
        .post("/acting", &[("csrf", &r_csrf), ("proxy", &proxy_id)])
        .await;
    assert_eq!(acting.location.as_deref(), Some("/history"));
    let hist = r.get("/history").await;
    assert_eq!(hist.status, 200, "{}", hist.body);
    assert!(hist.id_text("acting-banner").unwrap().contains(&principal.name));
    assert_eq!(r.get("/me").await.status, 403);
    let acct = r.get("/account").await;
    assert_eq!(acct.status, 403);
    assert!(acct.body.contains("範囲外"));
    assert_eq!(
        r.get("/proxies").await.status,
        403,
        "no proxy management while acting"
    );
    // The principal sees what was done, by whom.
    let acts = p.get("/proxies").await;
    assert!(
        acts.id_text("proxy-acts").unwrap().contains("history"),
        "{}",
        acts.body
    );
    assert!(acts.id_text("proxy-acts").unwrap().contains(&rep.name));
    // Only the principal revokes.
    let r_csrf2 = r.get("/history").await.input_value("csrf").unwrap();
    let stop = r.post("/acting/stop", &[("csrf", &r_csrf2)]).await;
    assert_eq!(stop.status, 303);
    let r_csrf = r.get("/proxies").await.input_value("csrf").unwrap();
    let refused = r
        .post(&format!("/proxies/{proxy_id}/revoke"), &[("csrf", &r_csrf)])
        .await;
    assert_eq!(refused.status, 403);

    // The principal's card is suspended and resumed: the proxy goes on hold.
    registry_card_action(&h, &principal, "suspend").await;
    registry_card_action(&h, &principal, "resume").await;
    let acting = r
        .post("/acting", &[("csrf", &r_csrf), ("proxy", &proxy_id)])
        .await;
    assert_eq!(acting.status, 403, "{}", acting.body);
    assert!(acting.body.contains("保留"));
    let listing = p.get("/proxies").await;
    assert!(listing.body.contains("on_hold"), "{}", listing.body);
    // The representative cannot confirm it; the principal can, with the card.
    let confirm = p.get("/proxies").await;
    let p_csrf = confirm.input_value("csrf").unwrap();
    let staged = p
        .post(&format!("/proxies/{proxy_id}/confirm"), &[("csrf", &p_csrf)])
        .await;
    let done = confirm_with(&h, &mut p, staged, &p_card).await;
    assert_eq!(done.location.as_deref(), Some("/proxies?done=confirmed"));
    let acting = r
        .post("/acting", &[("csrf", &r_csrf), ("proxy", &proxy_id)])
        .await;
    assert_eq!(acting.status, 303, "{}", acting.body);
    // Revoked by the principal: over.
    let revoke = p
        .post(&format!("/proxies/{proxy_id}/revoke"), &[("csrf", &p_csrf)])
        .await;
    assert_eq!(revoke.status, 303);
    assert_eq!(r.get("/history").await.status, 403);

    // A court-appointed guardian, registered by an administrator, valid
    // from tomorrow: not yet usable.
    let guardian_id = r.get("/").await;
    let _ = guardian_id;
    let ids =
        renkei_testnet::store_strings(&h.net, "portal", "SELECT person FROM people ORDER BY last_login")
            .await;
    let (p_id, r_id) = (ids[0].clone(), ids[1].clone());
    let tomorrow = today.next_day().unwrap();
    let body = serde_json::json!({
        "principal": p_id, "principal_name": principal.name, "guardian": r_id, "guardian_name": rep.name,
        "reference": "東京家庭裁判所 令和8年(家)第1234号", "valid_from": tomorrow.to_string(),
        "valid_until": until.to_string()
    });
    let token = h.net.portal_admin_token.clone();
    assert_eq!(
        admin_post(&h, "/admin/v1/guardians", body.clone(), None).await.0,
        401
    );
    assert_eq!(
        admin_post(&h, "/admin/v1/guardians", body.clone(), Some("wrong"))
            .await
            .0,
        401
    );
    let mut bad = body.clone();
    bad["valid_from"] = "2026-13-01".into();
    assert_eq!(
        admin_post(&h, "/admin/v1/guardians", bad, Some(&token)).await.0,
        400
    );
    let mut bad = body.clone();
    bad["guardian"] = bad["principal"].clone();
    assert_eq!(
        admin_post(&h, "/admin/v1/guardians", bad, Some(&token)).await.0,
        400
    );
    let (status, reply) = admin_post(&h, "/admin/v1/guardians", body, Some(&token)).await;
    assert_eq!(status, 200, "{reply}");
    let gid = reply["proxy"].as_u64().unwrap().to_string();
    let r_csrf = r.get("/proxies").await.input_value("csrf").unwrap();
    let early = r.post("/acting", &[("csrf", &r_csrf), ("proxy", &gid)]).await;
    assert_eq!(early.status, 403);
    assert!(early.body.contains("期間外"), "{}", early.body);
    assert!(p.get("/proxies").await.body.contains("令和8年(家)第1234号"));
}

fn renkei_demo_today() -> time::Date {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date()
}

/// Approve a confirmation code with a card from a blocking test thread.
fn approve_blocking(url: &str, code: &str, card: &SoftwareCard) {
    let (url, code, card) = (url.to_owned(), code.to_owned(), card.clone());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                CardApp::new(&url, None)
                    .unwrap()
                    .approve(&code, None, &card, &pin())
                    .await
            })
    })
    .join()
    .unwrap()
    .unwrap();
}

/// WCAG contrast of an element's text against its (first opaque) background.
const CONTRAST_JS: &str = r#"
function lum(c) {
  const v = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function bg(e) {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
}
return Array.from(document.querySelectorAll(arguments_selector)).map(e => {
  const a = lum(getComputedStyle(e).color), b = lum(bg(e));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
});
"#;

fn min_contrast(b: &webdriver::Browser, selector: &str) -> f64 {
    let js = CONTRAST_JS.replace("arguments_selector", &format!("{selector:?}"));
    b.script(&js)
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .fold(f64::INFINITY, f64::min)
}

fn assert_accessible(b: &webdriver::Browser) {
    assert_eq!(
        b.script(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select'))\
             .every(e => e.labels && e.labels.length > 0);"
        ),
        true,
        "every field has a label"
    );
    assert_eq!(b.script("return document.documentElement.lang.length > 0;"), true);
    for sel in ["main p", "main a", "button", "header a", "label"] {
        let c = min_contrast(b, sel);
        assert!(c >= 4.5, "contrast of {sel} is {c:.2}, below 4.5:1");
    }
    assert_fits(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_chromium_the_account_is_registered_only_in_ones_own_name() {
    let h = harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "browser", CardProfile::EcdsaP384Sha384).await;
    let url = h.url();
    let kana = me.kana.clone();
    tokio::task::spawn_blocking(move || {
        let driver = webdriver::Driver::start();
        let mut b = driver.browser("account", 360);
        browser_login(&mut b, &url, &card);

        b.step("keyboard");
        // The first Tab reaches the skip link; it leads to the content.
        b.keys("\u{E004}");
        assert_eq!(b.script("return document.activeElement.className;"), "skip");
        assert_accessible(&b);

        b.step("a family member's account");
        b.click("a[href='/account']");
        b.find("#bank_code");
        assert_accessible(&b);
        let before = b.text("main h2 + *");
        b.type_into("#bank_code", "0005");
        b.type_into("#branch_code", "123");
        b.type_into("#number", "7654321");
        let (family, given) = kana.split_once('　').unwrap_or((kana.as_str(), ""));
        let wrong = format!(
            "{family}　{}",
            if given == "タロウ" {
                "ハナコ"
            } else {
                "タロウ"
            }
        );
        b.type_into("#holder_kana", &wrong);
        b.click("#account-next");
        b.find("#account-error");
        let error = b.text("#account-error");
        assert!(error.contains("一致しません"), "{error}");
        assert!(error.contains(&kana), "the registered reading is named: {error}");
        assert_eq!(
            b.script("return document.querySelector('#holder_kana').getAttribute('aria-invalid');"),
            "true"
        );
        assert_eq!(b.text("main h2 + *"), before, "nothing was registered");

        b.step("bad digits");
        b.clear("#number");
        b.type_into("#number", "12");
        b.click("#account-next");
        b.find("#number-error");
        assert!(b.text("#number-error").contains("7桁"));

        b.step("one's own account, confirmed with the card");
        b.clear("#number");
        b.type_into("#number", "7654321");
        b.clear("#holder_kana");
        // Hiragana and half-width spacing are what a bank form allows too.
        let hiragana: String = kana
            .chars()
            .map(|c| match c {
                'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap(),
                '　' => ' ',
                c => c,
            })
            .collect();
        b.type_into("#holder_kana", &hiragana);
        b.click("#account-next");
        b.find("#confirm-code");
        assert!(b.text("#confirm-action").contains("****4321"));
        assert_accessible(&b);
        let code = b.text("#confirm-code");
        approve_blocking(&url, &code, &card);
        // The page notices the approval and commits by itself.
        b.wait_for(
            "location.pathname === '/account' && document.querySelector('#flash') !== null",
            "the commit",
        );
        assert!(b.text("#flash").contains("登録しました"));
        let current = b.text("#current-account");
        assert!(current.contains("三菱ＵＦＪ銀行"), "{current}");
        assert!(
            current.contains("4321") && !current.contains("7654321"),
            "the number is masked: {current}"
        );

        b.step("english");
        b.click("#lang-switch");
        b.wait_for("document.documentElement.lang === 'en'", "English");
        assert!(b.text("h1").contains("Public-fund receiving account"));
        assert_accessible(&b);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_chromium_a_proxy_is_appointed_and_acts_within_its_scope() {
    let h = harness().await;
    let principal = h.account_holder();
    let rep = h
        .country
        .people
        .iter()
        .find(|p| p.age >= 20 && p.household != principal.household)
        .unwrap()
        .clone();
    let p_card = h.card(&principal, "p", CardProfile::EcdsaP384Sha384).await;
    let r_card = h.card(&rep, "r", CardProfile::Rsa2048Sha256).await;
    let url = h.url();
    let principal_name = principal.name.clone();
    tokio::task::spawn_blocking(move || {
        let driver = webdriver::Driver::start();
        let mut pb = driver.browser("proxy-principal", 360);
        let mut rb = driver.browser("proxy-representative", 360);
        browser_login(&mut pb, &url, &p_card);
        browser_login(&mut rb, &url, &r_card);

        pb.step("invite");
        pb.click("a[href='/proxies']");
        pb.find("#invite-button");
        assert_accessible(&pb);
        // History only: untick the defaults, tick history.
        for s in ["my_information", "notices"] {
            if pb.script(&format!("return document.querySelector('#scope-{s}').checked;")) == true {
                pb.click(&format!("#scope-{s}"));
            }
        }
        pb.click("#scope-history");
        pb.click("#invite-button");
        let code = pb.text("#confirm-code");
        approve_blocking(&url, &code, &p_card);
        pb.wait_for(
            "document.querySelector('#invitation-code') !== null",
            "the invitation code",
        );
        let invitation = pb.text("#invitation-code");

        rb.step("accept");
        rb.click("a[href='/proxies']");
        rb.type_into("#invitation", &invitation.to_lowercase());
        rb.click("#accept-button");
        let code = rb.text("#confirm-code");
        approve_blocking(&url, &code, &r_card);
        rb.wait_for("document.querySelector('#flash') !== null", "the acceptance");
        assert!(rb.text("#their-proxies").contains(&principal_name));

        rb.step("act");
        rb.click("button[id^='act-']");
        rb.wait_for("document.querySelector('#acting-banner') !== null", "acting");
        assert!(rb.text("#acting-banner").contains(&principal_name));
        assert!(rb.url().ends_with("/history"));
        rb.find("#record-count");
        assert_fits(&rb);

        rb.step("out of scope");
        rb.click("a[href='/me']");
        rb.find("#error-message");
        assert!(rb.text("#error-message").contains("範囲外"));

        pb.step("the principal sees the act and revokes");
        pb.goto(&format!("{url}/proxies"));
        assert!(pb.text("#proxy-acts").contains("history"));
        pb.click("button[id^='revoke-proxy-']");
        pb.wait_for("document.querySelector('#flash') !== null", "the revocation");

        rb.step("revoked");
        rb.goto(&format!("{url}/history"));
        rb.find("#error-message");
        rb.goto(&format!("{url}/"));
        assert!(!rb.exists("#acting-banner"), "acting ended with the proxy");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_filters_and_shows_delayed_records_when_due() {
    // Benefit-payment lookups are disclosed 6 s after they happen (time
    // enough to log in and look first, on SQLite or PostgreSQL).
    let catalog = renkei_catalog::SAMPLE_CATALOG.replace(
        "statute = \"公的給付の支給等の迅速かつ確実な実施のための預貯金口座の登録等に関する法律\"",
        "statute = \"公的給付の支給等の迅速かつ確実な実施のための預貯金口座の登録等に関する法律\"\ndisclosure_delay = \"6s\"\ndisclosure_reason = \"調査のため延期 / test delay\"",
    );
    let h = harness_with_catalog(Some(catalog)).await;
    let me = h.account_holder();
    let (setagaya_id, _) = h.country.cast.account_holder.clone();
    let card = h.card(&me, "me", CardProfile::EcdsaP384Sha384).await;
    // Setagaya looks the account up for a benefit payment.
    let _: renkei_api::node::QueryResult = h
        .net
        .node("setagaya")
        .local
        .post(
            "/local/v1/queries",
            &renkei_api::node::QueryRequest {
                local_id: setagaya_id,
                provider: DIGITAL.id().to_string(),
                office_work: "benefit_payment_account".into(),
                item: "public_fund_account".into(),
                fiscal_year: None,
                consent: None,
                person_proof: None,
            },
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut c = h.login(&card).await;
    let _ = c.get("/me").await; // some own-disclosure records
    let all = c.get("/history").await;
    assert_eq!(all.status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the first look came {:?} after the lookup, too late to tell whether it is hidden",
        started.elapsed()
    );
    assert!(
        !all.body
            .contains("公的給付の支給に係る公金受取口座情報の利用に関する事務"),
        "hidden until due"
    );
    let total: usize = all.id_text("record-count").unwrap().parse().unwrap();
    assert!(total >= 21, "{total}");
    // Filters: by office work, by institution, by period.
    let own = c.get("/history?office_work=own_disclosure").await;
    assert_eq!(
        own.id_text("record-count").unwrap().parse::<usize>().unwrap(),
        total
    );
    let registry = c
        .get(&format!(
            "/history?institution={}",
            renkei_demo::institutions::REGISTRY.id()
        ))
        .await;
    assert_eq!(
        registry.id_text("record-count").unwrap(),
        "1",
        "one four-facts lookup"
    );
    let future = c.get("/history?from=2099-01-01").await;
    assert!(future.body.contains("id=\"no-records\""));
    let bad = c.get("/history?from=yesterday").await;
    assert_eq!(bad.status, 200);
    assert!(bad.id_text("message").unwrap().contains("開始日"));
    let past = c.get("/history?from=2000-01-01&to=2099-12-31").await;
    assert_eq!(
        past.id_text("record-count").unwrap().parse::<usize>().unwrap(),
        total
    );
    // After the delay the record appears, with its reason, verified.
    let wait = std::time::Duration::from_millis(6500).saturating_sub(started.elapsed());
    tokio::time::sleep(wait).await;
    let later = c.get("/history?office_work=benefit_payment_account").await;
    assert_eq!(later.id_text("record-count").unwrap(), "1", "{}", later.body);
    assert!(later.body.contains("調査のため延期"));
    assert!(later.body.contains("世田谷区"));
    // Page through: 100 per page.
    let _ = c.get("/me").await;
    let _ = c.get("/me").await;
    let _ = c.get("/me").await;
    let _ = c.get("/me").await;
    let many = c.get("/history").await;
    let n: usize = many.id_text("record-count").unwrap().parse().unwrap();
    assert!(n > 100, "{n}");
    assert_eq!(many.body.matches("class=\"record\"").count(), 100);
    let next = c.get("/history?page=1").await;
    assert_eq!(next.body.matches("class=\"record\"").count(), n - 100);
}
