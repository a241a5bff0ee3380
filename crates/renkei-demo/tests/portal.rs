// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The citizen portal against the whole network: card login, every page,
//! the security properties (fixation, CSRF, bad certificates, replay,
//! reading another person's data, proxies out of scope or period), and the
//! same flows in a real headless Chromium.

#[path = "portal/client.rs"]
mod client;
#[path = "portal/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;

use client::Client;
use renkei_card::{CardProfile, CardSecret, SoftwareCard};
use renkei_demo::cards::issue_card;
use renkei_demo::country::{Country, CountryOptions, Inhabitant, populate};
use renkei_demo::institutions::DIGITAL;
use renkei_demo::network::{Network, NetworkOptions};
use renkei_portal_web::cardapp::CardApp;
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

struct Harness {
    net: Network,
    country: Country,
    dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.durability = Durability::Normal;
    o.checkpoint_interval_ms = 100;
    let net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 240,
            seed: 11,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    Harness { net, country, dir }
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
        let mut c = Client::new(&self.url());
        let page = c.get("/login").await;
        assert_eq!(page.status, 200);
        let code = page.id_text("login-code").unwrap();
        CardApp::new(&self.url(), None)
            .unwrap()
            .approve(&code, card, &pin())
            .await
            .unwrap();
        let done = c.post("/login/complete", &[("code", &code)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/"));
        c
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
                    .approve(&code, &card2, &pin())
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
