// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The citizen portal against the whole network: card login, every page,
//! the security properties (fixation, CSRF, bad certificates, replay,
//! reading another person's data, proxies out of scope or period), and the
//! same flows in a real headless Chromium.

#[path = "portal/client.rs"]
mod client;

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
        issue_card(&self.net.registry_admin, &who.my_number, &dir, profile, &pin(), &password())
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
        CardApp::new(&self.url(), None).unwrap().approve(&code, card, &pin()).await.unwrap();
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
    assert!(info.body.contains(&me.name), "My Information shows the registered name");
    let history = c.get("/history").await;
    assert_eq!(history.status, 200, "{}", history.body);
    eprintln!("{}", history.id_text("record-count").unwrap());
    std::fs::write("/tmp/portal-me.html", &info.body).unwrap();
    std::fs::write("/tmp/portal-history.html", &history.body).unwrap();
}
