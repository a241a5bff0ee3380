// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The whole network, started in-process on port 0, driven through its real
//! APIs: every flow and every kind of bad input of the network-core issue.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use renkei_api::hub::{InstitutionWire, RecordWire, RotateReply, SecurityEventWire};
use renkei_api::net::{HubReplyWire, SignedRequestWire};
use renkei_api::node::{
    EnrolPerson, EnrolRequest, EnrolResult, ImportResult, NodeRecordWire, PersonWire, QueryRequest,
    QueryResult,
};
use renkei_crypto::{SigningKey, Suite};
use renkei_demo::country::Country;
use renkei_demo::institutions::{DIGITAL, InstitutionSpec, PENSION, REGISTRY, SETAGAYA, VEHICLE, YOKOHAMA};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_demo::scenarios;
use renkei_ids::{CodeAlgorithm, InstitutionCode, MessageId};
use renkei_protocol::{LinkageRequest, SignedRequest, UnixMillis};
use renkei_store_sqlite::Durability;
use renkei_testnet::{
    StoreDb, TestNet, capture_logs as logs, contains, contains_any_number, files_under, rejected_code,
};
use renkei_transport::ApiFailure;

#[path = "network/cards.rs"]
mod cards;
#[path = "network/deliveries.rs"]
mod deliveries;
#[path = "network/filings.rs"]
mod filings;
#[path = "network/hub_blind.rs"]
mod hub_blind;
#[path = "network/infra.rs"]
mod infra;
#[path = "network/notices.rs"]
mod notices;
#[path = "network/person_proofs.rs"]
mod person_proofs;
#[path = "network/public_mail.rs"]
mod public_mail;

// ------------------------------------------------------------------ harness

/// Opens the hub's store, on the backend the network runs, as `$store`
/// for `$body`.
macro_rules! with_hub_store {
    ($h:expr, |$store:ident| $body:expr) => {
        match $h.net.role_database("hub").await.unwrap() {
            Some(url) => {
                let $store = renkei_store_postgres::PgHubStore::open(&url).await.unwrap();
                $body
            }
            None => {
                let $store = renkei_store_sqlite::SqliteHubStore::open(
                    &$h.net.options.data_dir.join("hub/hub.sqlite"),
                    Durability::Normal,
                )
                .await
                .unwrap();
                $body
            }
        }
    };
}

struct Harness {
    net: Network,
    country: Country,
    _dir: tempfile::TempDir,
}

async fn harness_with(suite: Suite, durability: Durability) -> Harness {
    harness_tuned(suite, durability, |_| {}).await
}

async fn harness_tuned(
    suite: Suite,
    durability: Durability,
    tune: impl FnOnce(&mut NetworkOptions),
) -> Harness {
    logs();
    let t = TestNet::start(|o| {
        o.suite = suite;
        o.durability = durability;
        o.provider_timeout_ms = 1500;
        tune(o);
    })
    .await
    .unwrap();
    Harness {
        net: t.net,
        country: t.country,
        _dir: t.dir,
    }
}

async fn harness() -> Harness {
    harness_with(Suite::default(), Durability::Normal).await
}

impl Harness {
    async fn hub_records(&self) -> Vec<RecordWire> {
        self.net
            .hub_admin
            .get("/admin/v1/records?limit=10000")
            .await
            .unwrap()
    }

    async fn security_events(&self) -> Vec<SecurityEventWire> {
        self.net
            .hub_admin
            .get("/admin/v1/security-events?limit=1000")
            .await
            .unwrap()
    }

    async fn node_records(&self, key: &str) -> Vec<NodeRecordWire> {
        self.net
            .node(key)
            .local
            .get("/local/v1/records?limit=10000")
            .await
            .unwrap()
    }

    async fn code(&self, key: &str, local_id: &str) -> InstitutionCode {
        let p: PersonWire = self
            .net
            .node(key)
            .local
            .get(&format!("/local/v1/persons/{local_id}"))
            .await
            .unwrap();
        InstitutionCode::parse(&p.code).unwrap()
    }

    /// A correctly signed request from `key`'s node for the vehicle office's
    /// lawful question to the registry (or whatever the caller changes).
    fn vehicle_request(
        &self,
        signer: &SigningKey,
        subject: InstitutionCode,
        issued_at: UnixMillis,
    ) -> SignedRequest {
        LinkageRequest {
            message_id: MessageId::random(),
            requester: VEHICLE.id(),
            provider: REGISTRY.id(),
            office_work: renkei_catalog::OfficeWorkCode::parse("vehicle_registration").unwrap(),
            item: renkei_catalog::ItemCode::parse("four_facts").unwrap(),
            fiscal_year: None,
            subject,
            issued_at,
            consent: None,
            person_proof: None,
            payload: None,
        }
        .sign(signer, self.net.impersonate(VEHICLE.key).unwrap().certificate)
    }

    /// A push made by hand, as a node that skips its own checks would: a
    /// request from `from` to `to` whose payload `sealed` is sealed to
    /// `to`'s certified key and signed with `from`'s, sent to the hub.
    #[allow(clippy::too_many_arguments)]
    async fn raw_push(
        &self,
        from: &InstitutionSpec,
        to: &InstitutionSpec,
        office_work: &str,
        item: &str,
        fiscal_year: Option<u16>,
        subject: InstitutionCode,
        sealed: &[u8],
    ) -> Result<HubReplyWire, ApiFailure> {
        let raw = self.net.impersonate(from.key).unwrap();
        let receiver = raw
            .trust
            .certified_party(
                &self.net.impersonate(to.key).unwrap().certificate,
                to.id(),
                Suite::default(),
            )
            .unwrap();
        let mut request = LinkageRequest {
            message_id: MessageId::random(),
            requester: from.id(),
            provider: to.id(),
            office_work: renkei_catalog::OfficeWorkCode::parse(office_work).unwrap(),
            item: renkei_catalog::ItemCode::parse(item).unwrap(),
            fiscal_year: fiscal_year.map(|y| renkei_protocol::FiscalYear::new(y).unwrap()),
            subject,
            issued_at: UnixMillis::now(),
            consent: None,
            person_proof: None,
            payload: None,
        };
        let mut core = request.core();
        core.seal_payload(&raw.sealing, &receiver, sealed).unwrap();
        request.payload = core.payload;
        let request = request.sign(&raw.signing, raw.certificate.clone());
        raw.post_hub(
            &self.net.hub.url(),
            "/v1/linkage",
            &SignedRequestWire::from(&request),
        )
        .await
    }

    /// What `key`'s node holds in its inbox (the first 1,000).
    async fn inbox(&self, key: &str) -> Vec<renkei_api::deliveries::InboxEntryWire> {
        self.net
            .node(key)
            .local
            .get("/local/v1/inbox?limit=1000")
            .await
            .unwrap()
    }

    /// A card for `who` in `DATA/<dir>`, and the portal logged in with it.
    async fn card_holder(
        &self,
        who: &renkei_demo::country::Inhabitant,
        dir: &str,
    ) -> renkei_testnet::portal_client::Client {
        let pin = renkei_card::CardSecret::auth_pin(renkei_demo::cards::DEMO_PIN).unwrap();
        let (card, _) = renkei_demo::cards::issue_card(
            &self.net.registry_admin,
            &who.my_number,
            &self.net.options.data_dir.join(dir),
            renkei_card::CardProfile::EcdsaP384Sha384,
            &pin,
            &renkei_card::CardSecret::signing_password(renkei_demo::cards::DEMO_PASSWORD).unwrap(),
        )
        .await
        .unwrap();
        renkei_testnet::portal_login(&self.net.portal.url, &card, &pin).await
    }

    async fn send_as_vehicle(&self, request: &SignedRequest) -> Result<HubReplyWire, ApiFailure> {
        let raw = self.net.impersonate(VEHICLE.key).unwrap();
        raw.post_hub(
            &self.net.hub.url(),
            "/v1/linkage",
            &SignedRequestWire::from(request),
        )
        .await
    }
}

fn query(
    local_id: &str,
    provider: &renkei_demo::institutions::InstitutionSpec,
    work: &str,
    item: &str,
    fy: Option<u16>,
) -> QueryRequest {
    QueryRequest {
        local_id: local_id.into(),
        provider: provider.id().to_string(),
        office_work: work.into(),
        item: item.into(),
        fiscal_year: fy,
        consent: None,
        person_proof: None,
    }
}

// ------------------------------------------------------------------ flows

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_behaves_in_both_suites() {
    for suite in Suite::ALL {
        let h = harness_with(suite, Durability::Full).await;
        let results = scenarios::run(&h.net, &h.country).await.unwrap();
        for r in &results {
            assert!(
                r.passed,
                "{suite}: {} — expected {}, observed {}",
                r.name, r.expected, r.observed
            );
        }
        assert!(results.len() >= 14);
        h.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requester_provider_and_hub_records_join_on_the_query_id() {
    let h = harness().await;
    let (pension_id, _) = &h.country.cast.contributor;
    let r: QueryResult = h
        .net
        .node(PENSION.key)
        .local
        .post(
            "/local/v1/queries",
            &query(
                pension_id,
                &SETAGAYA,
                "pension_premium_exemption",
                "resident_tax_income",
                Some(2025),
            ),
        )
        .await
        .unwrap();
    let hub = h.hub_records().await;
    let at_hub = hub.iter().find(|x| x.query_id == r.query_id).expect("hub record");
    assert_eq!(at_hub.outcome, "provided");
    assert_eq!(at_hub.table_row.as_deref(), Some("2026.1#R0201"));
    assert!(at_hub.subject.is_some());
    let req = h.node_records(PENSION.key).await;
    let at_req = req
        .iter()
        .find(|x| x.query_id.as_deref() == Some(&r.query_id))
        .expect("requester record");
    assert_eq!(
        (at_req.role.as_str(), at_req.outcome.as_str()),
        ("requester", "provided")
    );
    let prov = h.node_records(SETAGAYA.key).await;
    let at_prov = prov
        .iter()
        .find(|x| x.query_id.as_deref() == Some(&r.query_id))
        .expect("provider record");
    assert_eq!(
        (at_prov.role.as_str(), at_prov.counterpart.as_str()),
        ("provider", PENSION.id().to_string().as_str())
    );
    assert_eq!(at_req.seq, r.node_record_seq);
    assert_eq!(at_hub.seq, r.hub_record_seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_queries_get_their_own_answers() {
    let h = harness().await;
    // Setagaya's income file, keyed by the person's index (S-0000042 ↔ P-0000042).
    let file = std::fs::read_to_string(
        h.net
            .options
            .data_dir
            .join("import/setagaya-resident_tax_income.jsonl"),
    )
    .unwrap();
    let mut income: HashMap<String, i64> = HashMap::new();
    for line in file.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["local_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("S-")
            .to_owned();
        income.insert(id, v["value"]["taxable_income"].as_i64().unwrap());
    }
    let pension = h.net.node(PENSION.key).local.clone();
    let mut candidates: Vec<String> = Vec::new();
    for idx in income.keys() {
        let id = format!("P-{idx}");
        if pension
            .get::<PersonWire>(&format!("/local/v1/persons/{id}"))
            .await
            .is_ok()
        {
            candidates.push(idx.clone());
        }
    }
    assert!(candidates.len() >= 20, "only {} candidates", candidates.len());
    let mut tasks = Vec::new();
    for i in 0..100 {
        let idx = candidates[i % candidates.len()].clone();
        let c = pension.clone();
        tasks.push(tokio::spawn(async move {
            let q = query(
                &format!("P-{idx}"),
                &SETAGAYA,
                "pension_premium_exemption",
                "resident_tax_income",
                Some(2025),
            );
            let r: QueryResult = c.post("/local/v1/queries", &q).await.unwrap();
            (idx, r)
        }));
    }
    let mut query_ids = std::collections::HashSet::new();
    for t in tasks {
        let (idx, r) = t.await.unwrap();
        assert_eq!(r.status, "found");
        assert_eq!(
            r.value.unwrap()["taxable_income"].as_i64().unwrap(),
            income[&idx],
            "cross-talk for {idx}"
        );
        assert!(query_ids.insert(r.query_id));
    }
    assert_eq!(query_ids.len(), 100);
    // 100 dense, distinct hub records.
    let seqs: std::collections::HashSet<u64> = h.hub_records().await.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 100);
    assert_eq!(seqs, (0..100).collect());
}

// --------------------------------------------------------------- bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_altered_and_foreign_codes_are_refused_and_recorded() {
    let h = harness().await;
    let raw = h.net.impersonate(VEHICLE.key).unwrap();
    let own = h.code(VEHICLE.key, &h.country.cast.driver).await;
    // A byte flipped in the sealed part.
    let mut sealed = own.sealed().to_vec();
    sealed[5] ^= 0x40;
    let altered = InstitutionCode::new(CodeAlgorithm::Aes256Siv, own.key_version(), sealed).unwrap();
    // Another institution's code for a real person.
    let foreign = h.code(SETAGAYA.key, &h.country.cast.account_holder.0).await;
    // A made-up code and an unknown key version.
    let forged = InstitutionCode::new(CodeAlgorithm::Aes256Siv, own.key_version(), vec![7; 32]).unwrap();
    let unknown_version = InstitutionCode::new(CodeAlgorithm::Aes256Siv, 99, own.sealed().to_vec()).unwrap();
    let before = h.hub_records().await.len();
    for (code, expected) in [
        (altered, "code_invalid"),
        (foreign, "code_invalid"),
        (forged, "code_invalid"),
        (unknown_version, "code_key_unknown"),
    ] {
        let r = h
            .send_as_vehicle(&h.vehicle_request(&raw.signing, code, UnixMillis::now()))
            .await;
        assert_eq!(rejected_code(&r), expected);
    }
    let records = h.hub_records().await;
    assert_eq!(records.len(), before + 4, "each refusal is recorded");
    assert!(
        records
            .iter()
            .rev()
            .take(4)
            .all(|r| r.outcome.starts_with("code_") && r.subject.is_none())
    );
    // The registry answered nothing.
    assert!(
        h.net
            .registry_admin
            .get::<serde_json::Value>("/health")
            .await
            .is_ok()
    );
    // The lawful request still works.
    let ok = h
        .send_as_vehicle(&h.vehicle_request(&raw.signing, own, UnixMillis::now()))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signature_replay_and_timestamps_are_refused_without_records() {
    let h = harness().await;
    let raw = h.net.impersonate(VEHICLE.key).unwrap();
    let code = h.code(VEHICLE.key, &h.country.cast.driver).await;
    let before = h.hub_records().await.len();

    // Signed by a key the hub does not have for this institution.
    let stranger = SigningKey::generate(Suite::default().signature());
    let r = h
        .send_as_vehicle(&h.vehicle_request(&stranger, code.clone(), UnixMillis::now()))
        .await;
    assert_eq!(rejected_code(&r), "bad_signature");
    // A field changed after signing.
    let mut altered = h.vehicle_request(&raw.signing, code.clone(), UnixMillis::now());
    altered.request.item = renkei_catalog::ItemCode::parse("household").unwrap();
    assert_eq!(rejected_code(&h.send_as_vehicle(&altered).await), "bad_signature");
    // Stale and future.
    let stale = h.vehicle_request(
        &raw.signing,
        code.clone(),
        UnixMillis::now().plus_ms(-10 * 60 * 1000),
    );
    assert_eq!(rejected_code(&h.send_as_vehicle(&stale).await), "stale_timestamp");
    let future = h.vehicle_request(
        &raw.signing,
        code.clone(),
        UnixMillis::now().plus_ms(10 * 60 * 1000),
    );
    assert_eq!(
        rejected_code(&h.send_as_vehicle(&future).await),
        "future_timestamp"
    );
    // The same message twice.
    let once = h.vehicle_request(&raw.signing, code.clone(), UnixMillis::now());
    assert!(h.send_as_vehicle(&once).await.is_ok());
    assert_eq!(rejected_code(&h.send_as_vehicle(&once).await), "replayed");

    let records = h.hub_records().await;
    assert_eq!(
        records.len(),
        before + 1,
        "only the one accepted exchange is a provision record"
    );
    let events = h.security_events().await;
    let codes: Vec<&str> = events.iter().map(|e| e.code.as_str()).collect();
    for c in ["bad_signature", "stale_timestamp", "future_timestamp", "replayed"] {
        assert!(codes.contains(&c), "security event {c} missing: {codes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let h = harness().await;
    let raw = h.net.impersonate(VEHICLE.key).unwrap();
    let url = format!("{}/v1/linkage", h.net.hub.url());
    let r = raw
        .client
        .post_raw::<serde_json::Value>(&url, b"{not json".to_vec())
        .await;
    assert_eq!(rejected_code(&r), "malformed");
    let r = raw
        .client
        .post_raw::<serde_json::Value>(&url, br#"{"request":{}}"#.to_vec())
        .await;
    match &r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            assert_eq!(code, "malformed");
            assert!(message.contains("missing field"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A well-formed body with a bad identifier names the field.
    let code = h.code(VEHICLE.key, &h.country.cast.driver).await;
    let mut wire = SignedRequestWire::from(&h.vehicle_request(&raw.signing, code, UnixMillis::now()));
    wire.request.provider = "1234567890123".into();
    let r = h
        .net
        .impersonate(VEHICLE.key)
        .unwrap()
        .post_hub::<_, serde_json::Value>(&h.net.hub.url(), "/v1/linkage", &wire)
        .await;
    match &r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            assert_eq!(code, "malformed");
            assert!(message.contains("request.provider"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let big = vec![b' '; 200 * 1024];
    let r = raw.client.post_raw::<serde_json::Value>(&url, big).await;
    assert_eq!(rejected_code(&r), "payload_too_large");
    // A struct written as an array of its fields is refused, at any depth
    // (serde alone accepts it; the API tester found `[[]]` accepted as a
    // code refresh).
    let refresh = format!("{}/v1/codes/refresh", h.net.hub.url());
    for (url, body) in [(&refresh, &b"[[]]"[..]), (&url, &br#"[{"request":[]}]"#[..])] {
        match raw.client.post_raw::<serde_json::Value>(url, body.to_vec()).await {
            Err(ApiFailure::Rejected {
                status,
                code,
                message,
                ..
            }) => {
                assert_eq!((status, code.as_str()), (400, "malformed"), "{url}");
                assert!(
                    message.contains("invalid type: sequence, expected struct"),
                    "{message}"
                );
            }
            other => panic!("{url} accepted an array body: {other:?}"),
        }
    }
    let r: Result<serde_json::Value, _> = h
        .net
        .node(SETAGAYA.key)
        .local
        .post("/local/v1/queries", &serde_json::json!([[]]))
        .await;
    match &r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            assert_eq!(code, "malformed");
            assert!(message.contains("expected struct"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Local API too.
    let r: Result<QueryResult, _> = h
        .net
        .node(SETAGAYA.key)
        .local
        .post("/local/v1/queries", &serde_json::json!({"local_id": 5}))
        .await;
    assert_eq!(rejected_code(&r), "malformed");
    // A malformed query string (a word for a number, an unknown or
    // repeated parameter) gets the same JSON error, not the framework's
    // plain text (found by the API tester).
    let local = &h.net.node(SETAGAYA.key).local;
    for r in [
        h.net
            .hub_admin
            .get::<serde_json::Value>("/admin/v1/records?after=null")
            .await,
        h.net
            .hub_admin
            .get::<serde_json::Value>("/admin/v1/security-events?limit=5&x=1")
            .await,
        h.net
            .registry_admin
            .get::<serde_json::Value>("/admin/v1/events?limit=-1")
            .await,
        local
            .get::<serde_json::Value>("/local/v1/records?after=1&after=2")
            .await,
        local
            .post::<_, serde_json::Value>("/local/v1/imports?format=csv&format=csv", &serde_json::json!({}))
            .await,
    ] {
        match &r {
            Err(ApiFailure::Rejected {
                status: 400,
                code,
                message,
                ..
            }) => {
                assert_eq!(code, "malformed", "{message}");
                assert!(message.contains("query string"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    let log = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(h.net.ca_dir.join(renkei_pki::CA_CERT_FILE)).unwrap(),
        )
        .unwrap()])
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/v1/proof/consistency?old=0", h.net.hub.log_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 400);
    let body: serde_json::Value = log.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed", "{body}");
    assert!(h.hub_records().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoked_certificates_and_unknown_nodes_cannot_connect() {
    let h = harness_tuned(Suite::default(), Durability::Normal, |o| o.crl_poll_secs = 1).await;
    let driver = h.country.cast.driver.clone();
    let q = query(&driver, &REGISTRY, "vehicle_registration", "four_facts", None);
    let ok: QueryResult = h
        .net
        .node(VEHICLE.key)
        .local
        .post("/local/v1/queries", &q)
        .await
        .unwrap();
    assert_eq!(ok.status, "found");

    // Revoke the vehicle office's TLS certificate at the CA: only the CRL
    // file changes, and the roles learn of it the way they do in service,
    // by polling that file (nothing is pushed into their memory).
    let mut ca = renkei_pki::NetworkCa::load(&h.net.ca_dir).unwrap();
    ca.revoke(
        &h.net.node(VEHICLE.key).files.serial,
        renkei_pki::RevocationReason::KeyCompromise,
    )
    .unwrap();
    // Each role polls on its own clock: the provider may refuse the
    // revoked requester (`provider_error`) before the hub refuses it at the
    // handshake; wait for the hub.
    let at_the_hub = ["tls_refused", "certificate_revoked", "hub_unavailable"];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        let r: Result<QueryResult, _> = h.net.node(VEHICLE.key).local.post("/local/v1/queries", &q).await;
        let code = rejected_code(&r);
        if at_the_hub.contains(&code.as_str()) || std::time::Instant::now() > deadline {
            break code;
        }
        assert!(
            r.is_ok() || code == "provider_error",
            "before the hub reads the CRL a query is served or refused by the provider: {code}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        at_the_hub.contains(&code.as_str()),
        "a revoked node must not get through: {code}"
    );
    // (Queries made before the roles read the new CRL were served and
    // recorded; from here on nothing is.)
    let before = h.hub_records().await.len();
    // Directly with the revoked certificate, on a fresh connection.
    let raw = h.net.impersonate(VEHICLE.key).unwrap();
    let req = h.vehicle_request(
        &raw.signing,
        h.code(VEHICLE.key, &driver).await,
        UnixMillis::now(),
    );
    let r = raw
        .post_hub::<_, HubReplyWire>(&h.net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&req))
        .await;
    // In TLS 1.3 the server judges the client certificate after the client
    // has finished its side, so the client sees either the alert or a
    // closed connection: either way, no HTTP exchange happens.
    assert!(
        matches!(
            &r,
            Err(ApiFailure::Tls(_) | ApiFailure::Protocol(_) | ApiFailure::Connect(_))
        ),
        "{r:?}"
    );
    assert_eq!(
        h.hub_records().await.len(),
        before,
        "nothing recorded for a refused connection"
    );

    // A node with a valid certificate that the hub does not know.
    let ca = renkei_pki::NetworkCa::load(&h.net.ca_dir).unwrap();
    let stranger_dir = h.net.options.data_dir.join("stranger");
    let stranger_id = renkei_ids::CorporateNumber::from_base_number(555_555_555_555).unwrap();
    let files = renkei_pki::provision::provision_role(
        &ca,
        &stranger_dir,
        renkei_pki::Role::Node,
        Some(stranger_id),
        "stranger",
        Suite::default(),
    )
    .unwrap();
    let stranger =
        renkei_demo::network::RawNode::load(&h.net.ca_dir, &files, stranger_id, Suite::default()).unwrap();
    let mut req = h.vehicle_request(
        &stranger.signing,
        h.code(SETAGAYA.key, &h.country.cast.account_holder.0).await,
        UnixMillis::now(),
    );
    req.request.requester = stranger_id;
    let req = req.request.sign(&stranger.signing, stranger.certificate.clone());
    let r = stranger
        .post_hub::<_, HubReplyWire>(&h.net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&req))
        .await;
    assert_eq!(rejected_code(&r), "unknown_requester");
    // ... nor impersonate a registered one with its own certificate.
    let mut req2 = req.request.clone();
    req2.requester = VEHICLE.id();
    let r = stranger
        .post_hub::<_, HubReplyWire>(
            &h.net.hub.url(),
            "/v1/linkage",
            &SignedRequestWire::from(&req2.sign(&stranger.signing, stranger.certificate.clone())),
        )
        .await;
    assert_eq!(rejected_code(&r), "certificate_mismatch");

    // A certificate from another CA is refused in the handshake.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign_ca = renkei_pki::NetworkCa::create(
        &foreign_dir.path().join("ca"),
        "foreign",
        renkei_pki::KeyAlgorithm::Ed25519,
    )
    .unwrap();
    let foreign_files = renkei_pki::provision::provision_role(
        &foreign_ca,
        &foreign_dir.path().join("n"),
        renkei_pki::Role::Node,
        Some(VEHICLE.id()),
        "foreign",
        Suite::default(),
    )
    .unwrap();
    let foreign =
        renkei_demo::network::RawNode::load(&h.net.ca_dir, &foreign_files, VEHICLE.id(), Suite::default())
            .unwrap();
    let r = foreign
        .post_hub::<_, HubReplyWire>(&h.net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&req))
        .await;
    assert!(
        matches!(
            &r,
            Err(ApiFailure::Tls(_) | ApiFailure::Protocol(_) | ApiFailure::Connect(_))
        ),
        "{r:?}"
    );
    assert_eq!(h.hub_records().await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_down_gives_a_retryable_error_and_a_complete_record() {
    let mut h = harness().await;
    let (setagaya_id, _) = h.country.cast.account_holder.clone();
    let q = query(
        &setagaya_id,
        &DIGITAL,
        "benefit_payment_account",
        "public_fund_account",
        None,
    );
    h.net.kill_node(DIGITAL.key);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r: Result<QueryResult, _> = h.net.node(SETAGAYA.key).local.post("/local/v1/queries", &q).await;
    match &r {
        Err(ApiFailure::Rejected {
            code,
            retryable,
            query_id,
            ..
        }) => {
            assert_eq!(code, "provider_unavailable");
            assert!(retryable);
            assert!(query_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    let rec = h.hub_records().await;
    assert_eq!(rec.last().unwrap().outcome, "provider_unavailable");
    assert!(rec.last().unwrap().provided_at.is_none());
    // Back up: the same question succeeds (new message id).
    h.net.restart_node(DIGITAL.key).await.unwrap();
    let ok: QueryResult = h
        .net
        .node(SETAGAYA.key)
        .local
        .post("/local/v1/queries", &q)
        .await
        .unwrap();
    assert_eq!(ok.status, "found");
}

/// A provider that misbehaves in a chosen way, to test the hub's checks.
mod rogue {
    use super::*;
    use axum::Json;
    use axum::routing::post;
    use renkei_api::net::{SignedAnswerWire, SignedForwardWire};
    use renkei_node::{NodeIdentity, answer_forward};
    use renkei_protocol::{AnswerPayload, CertifiedParty, SignedForward};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Mode {
        Slow,
        TamperAfterSigning,
        ResignedGarbage,
        SealToSelf,
    }

    pub(crate) async fn start(h: &Harness, mode: Mode) -> renkei_ids::CorporateNumber {
        let id = renkei_ids::CorporateNumber::from_base_number(777_000_000_000 + mode as u64).unwrap();
        let ca = renkei_pki::NetworkCa::load(&h.net.ca_dir).unwrap();
        let dir = h.net.options.data_dir.join(format!("rogue-{mode:?}"));
        let files = renkei_pki::provision::provision_role(
            &ca,
            &dir,
            renkei_pki::Role::Node,
            Some(id),
            "rogue",
            Suite::default(),
        )
        .unwrap();
        let raw = renkei_demo::network::RawNode::load(&h.net.ca_dir, &files, id, Suite::default()).unwrap();
        let identity = Arc::new(NodeIdentity {
            institution: id,
            name: "rogue".into(),
            kind: renkei_catalog::KindCode::parse("municipality").unwrap(),
            signing: raw.signing,
            sealing: raw.sealing,
            certificate: raw.certificate,
        });
        let app = axum::Router::new().route(
            "/v1/provide",
            post(move |Json(w): Json<SignedForwardWire>| {
                let identity = identity.clone();
                async move {
                    let fwd = SignedForward::try_from(&w).unwrap();
                    if mode == Mode::Slow {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    // The requester as its certificate says (this rogue does
                    // not bother to verify it).
                    let cert = renkei_pki::PeerCertificate::parse(&fwd.query.request.certificate).unwrap();
                    let mut requester: CertifiedParty =
                        renkei_transport::certified::party_of(&cert, Suite::default()).unwrap();
                    if mode == Mode::SealToSelf {
                        requester.sealing = identity.sealing.public_key();
                    }
                    let payload = AnswerPayload::Found {
                        value: serde_json::json!({"x": 1}),
                        updated_at_ms: 0,
                    };
                    let mut answer =
                        answer_forward(&identity, &fwd, &requester, &payload, UnixMillis::now()).unwrap();
                    match mode {
                        Mode::TamperAfterSigning => answer.answer.envelope.ciphertext[0] ^= 1,
                        Mode::ResignedGarbage => {
                            let mut a = answer.answer.clone();
                            a.envelope.ciphertext[0] ^= 1;
                            answer = a.sign(&identity.signing, identity.certificate.clone());
                        }
                        _ => {}
                    }
                    Json(SignedAnswerWire::from(&answer))
                }
            }),
        );
        let cfg = raw.trust.server_config(renkei_pki::ClientAuth::Required).unwrap();
        let server = renkei_transport::serve_tls("127.0.0.1:0".parse().unwrap(), app, cfg)
            .await
            .unwrap();
        // Registered by its certificate alone: the hub reads the keys from it.
        let wire = InstitutionWire {
            id: String::new(),
            name: format!("rogue {mode:?}"),
            kind: "municipality".into(),
            endpoint: server.url(),
            certificate: std::fs::read_to_string(&files.cert).unwrap(),
            signing_key: None,
            sealing_key: None,
            status: None,
        };
        let _: InstitutionWire = h
            .net
            .hub_admin
            .put(&format!("/admin/v1/institutions/{id}"), &wire)
            .await
            .unwrap();
        std::mem::forget(server);
        id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn misbehaving_providers_are_caught_and_recorded() {
    let h = harness().await;
    let mover = h.country.cast.mover.0.clone();
    for (mode, expected, recorded) in [
        (rogue::Mode::Slow, "provider_timeout", "provider_timeout"),
        (
            rogue::Mode::TamperAfterSigning,
            "provider_error",
            "provider_error",
        ),
        (rogue::Mode::SealToSelf, "provider_error", "provider_error"),
        // Well signed by the provider but unopenable: only the requester
        // can tell; it refuses and records why.
        (rogue::Mode::ResignedGarbage, "reply_invalid", "answer_unsealed"),
    ] {
        let id = rogue::start(&h, mode).await;
        let q = QueryRequest {
            local_id: mover.clone(),
            provider: id.to_string(),
            office_work: "child_allowance".into(),
            item: "resident_tax_income".into(),
            fiscal_year: Some(2025),
            consent: None,
            person_proof: None,
        };
        let r: Result<QueryResult, _> = h.net.node(SETAGAYA.key).local.post("/local/v1/queries", &q).await;
        assert_eq!(rejected_code(&r), expected, "{mode:?}");
        let last = h.node_records(SETAGAYA.key).await.pop().unwrap();
        assert_eq!(
            last.outcome, recorded,
            "the requester keeps its record of {mode:?}"
        );
    }
    let outcomes: Vec<String> = h.hub_records().await.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        ["provider_timeout", "provider_error", "provider_error", "provided"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspension_and_code_key_rotation() {
    let h = harness().await;
    let driver = h.country.cast.driver.clone();
    let q = query(&driver, &REGISTRY, "vehicle_registration", "four_facts", None);
    let vehicle = h.net.node(VEHICLE.key).local.clone();
    let _: InstitutionWire = h
        .net
        .hub_admin
        .post(
            &format!("/admin/v1/institutions/{}/status", VEHICLE.id()),
            &serde_json::json!({"status": "suspended"}),
        )
        .await
        .unwrap();
    assert_eq!(
        rejected_code(&vehicle.post::<_, QueryResult>("/local/v1/queries", &q).await),
        "requester_suspended"
    );
    let _: InstitutionWire = h
        .net
        .hub_admin
        .post(
            &format!("/admin/v1/institutions/{}/status", VEHICLE.id()),
            &serde_json::json!({"status": "active"}),
        )
        .await
        .unwrap();
    assert!(
        vehicle
            .post::<_, QueryResult>("/local/v1/queries", &q)
            .await
            .is_ok()
    );
    let bad: Result<InstitutionWire, _> = h
        .net
        .hub_admin
        .post(
            &format!("/admin/v1/institutions/{}/status", VEHICLE.id()),
            &serde_json::json!({"status": "paused"}),
        )
        .await;
    assert_eq!(rejected_code(&bad), "malformed");

    // Rotation with a grace period: codes under the old key keep working,
    // on both sides: the vehicle office's (requester) and the registry's
    // (provider, which finds the person by the previous code) — including
    // for the queries in flight while the key turns over.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (client, q, stop) = (vehicle.clone(), q.clone(), stop.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r: Result<QueryResult, _> = client.post("/local/v1/queries", &q).await;
                    outcomes.push(r.map(|a| a.status).map_err(|e| format!("{e:?}")));
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r: RotateReply = h
        .net
        .hub_admin
        .post(
            "/admin/v1/code-keys/rotate",
            &serde_json::json!({"grace_seconds": 3600}),
        )
        .await
        .unwrap();
    assert_eq!(r.new_version, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for task in load {
        for outcome in task.await.unwrap() {
            assert_eq!(outcome.as_deref(), Ok("found"), "a query across the rotation");
            answered += 1;
        }
    }
    assert!(answered >= 16, "only {answered} queries ran across the rotation");
    let answer: QueryResult = vehicle.post("/local/v1/queries", &q).await.unwrap();
    assert_eq!(answer.status, "found");
    // Within the grace period each institution refreshes its codes.
    let refreshed: renkei_api::node::RefreshResult = vehicle
        .post("/local/v1/codes/refresh", &serde_json::json!({}))
        .await
        .unwrap();
    assert!(refreshed.refreshed >= 1 && refreshed.failed == 0, "{refreshed:?}");
    let again: renkei_api::node::RefreshResult = vehicle
        .post("/local/v1/codes/refresh", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(again.refreshed, 0);
    let own: renkei_api::registry::FillResult = h
        .net
        .registry_admin
        .post("/admin/v1/own-codes/refresh", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(own.own_codes, 240);
    let p: PersonWire = vehicle.get(&format!("/local/v1/persons/{driver}")).await.unwrap();
    assert!(p.code.starts_with("ic1:aes256siv:2:"), "{}", p.code);
    assert_eq!(
        vehicle
            .post::<_, QueryResult>("/local/v1/queries", &q)
            .await
            .unwrap()
            .status,
        "found"
    );
    // A rotation without grace: codes under version 2 expire at once.
    let r: RotateReply = h
        .net
        .hub_admin
        .post(
            "/admin/v1/code-keys/rotate",
            &serde_json::json!({"grace_seconds": 0}),
        )
        .await
        .unwrap();
    assert_eq!(r.new_version, 3);
    assert_eq!(
        rejected_code(&vehicle.post::<_, QueryResult>("/local/v1/queries", &q).await),
        "code_key_expired"
    );
    let file = std::fs::read_to_string(h.net.options.data_dir.join("hub/code-keys")).unwrap();
    assert!(
        file.lines().any(|l| l.starts_with("3 current")),
        "the rotated keyring is persisted"
    );
    let bad: Result<RotateReply, _> = h
        .net
        .hub_admin
        .post(
            "/admin/v1/code-keys/rotate",
            &serde_json::json!({"grace_seconds": -1}),
        )
        .await;
    assert_eq!(rejected_code(&bad), "malformed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrolment_checks_identity_exactly_and_never_echoes_a_my_number() {
    let h = harness().await;
    let setagaya = h.net.node(SETAGAYA.key).local.clone();
    // A person the registry knows, with facts as registered.
    let n = &h.country.my_numbers[0];
    let person = |my_number: &str, birth: &str, sex: u8| EnrolPerson {
        local_id: "S-TEST-1".into(),
        my_number: my_number.into(),
        name: "存在 しない".into(),
        address: "東京都世田谷区太子堂一丁目1番1号".into(),
        birth_date: birth.into(),
        sex,
    };
    let res: EnrolResult = setagaya
        .post(
            "/local/v1/persons",
            &EnrolRequest {
                persons: vec![person(n, "1901-01-01", 9)],
            },
        )
        .await
        .unwrap();
    assert!(res.enrolled.is_empty());
    let refusal = &res.refused[0];
    assert_eq!(refusal.code, "facts_differ");
    assert!(
        refusal
            .message
            .contains("name, address, date of birth, sex differ"),
        "{}",
        refusal.message
    );
    assert!(!refusal.message.contains(n.as_str()));

    // A My Number with a wrong check digit: refused without being echoed.
    let mut wrong = n.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let res: EnrolResult = setagaya
        .post(
            "/local/v1/persons",
            &EnrolRequest {
                persons: vec![person(&wrong, "1990-01-01", 1)],
            },
        )
        .await
        .unwrap();
    assert_eq!(res.refused[0].code, "invalid_input");
    assert!(
        res.refused[0].message.contains("check digit"),
        "{}",
        res.refused[0].message
    );
    assert!(!res.refused[0].message.contains(&wrong));

    // A valid number nobody has.
    let nobody = renkei_ids::MyNumber::random().expose();
    let res: EnrolResult = setagaya
        .post(
            "/local/v1/persons",
            &EnrolRequest {
                persons: vec![person(&nobody, "1990-01-01", 1)],
            },
        )
        .await
        .unwrap();
    assert!(["unknown_my_number", "facts_differ"].contains(&res.refused[0].code.as_str()));
    assert_eq!(
        rejected_code(&setagaya.get::<PersonWire>("/local/v1/persons/S-TEST-1").await),
        "not_enrolled"
    );
    // A number sent as a JSON number: the parser's message is scrubbed.
    let r: Result<EnrolResult, _> = setagaya
        .post(
            "/local/v1/persons",
            &serde_json::json!({"persons": [{"local_id": "x", "my_number": n.parse::<u64>().unwrap(), "name": "a", "address": "b", "birth_date": "2000-01-01", "sex": 1}]}),
        )
        .await;
    match r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            assert_eq!(code, "malformed");
            assert!(!message.contains(n.as_str()), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_are_all_or_nothing_with_a_report() {
    let h = harness().await;
    let setagaya = h.net.node(SETAGAYA.key).local.clone();
    let health_before: serde_json::Value = setagaya.get("/health").await.unwrap();
    let person = &h.country.cast.account_holder.0;
    let file = format!(
        "{{\"local_id\":\"{person}\",\"item\":\"household\",\"value\":{{\"members\":9}}}}\n\
         {{\"local_id\":\"{person}\",\"item\":\"pension_benefits\",\"fiscal_year\":2025,\"value\":{{\"x\":1}}}}\n\
         {{\"local_id\":\"NOBODY-1\",\"item\":\"household\",\"value\":{{\"members\":1}}}}\n"
    );
    let r: Result<ImportResult, _> = setagaya
        .post_bytes(
            "/local/v1/imports?format=jsonl",
            file.into_bytes(),
            "application/octet-stream",
        )
        .await;
    match &r {
        Err(ApiFailure::Rejected {
            code,
            message,
            status,
            ..
        }) => {
            assert_eq!((code.as_str(), *status), ("import_rejected", 422));
            assert!(message.contains("line 2, field `item`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Well-formed rows about an unenrolled person are refused as a whole too.
    let file = format!("local_id,item,members\n{person},household,9\nNOBODY-1,household,1\n");
    let r: Result<ImportResult, _> = setagaya
        .post_bytes("/local/v1/imports?format=csv", file.into_bytes(), "text/csv")
        .await;
    match &r {
        Err(ApiFailure::Rejected { message, .. }) => {
            assert!(message.contains("line 3, field `local_id`"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let health_after: serde_json::Value = setagaya.get("/health").await.unwrap();
    assert_eq!(health_before["items"], health_after["items"], "nothing imported");
    // A good single-row update goes through the same checks and lands.
    let ok: ImportResult = setagaya
        .put(
            &format!("/local/v1/persons/{person}/items/household"),
            &serde_json::json!({"value": {"members": 9}}),
        )
        .await
        .unwrap();
    assert_eq!(ok.imported, 1);
    let bad: Result<ImportResult, _> = setagaya
        .put(
            &format!("/local/v1/persons/{person}/items/household"),
            &serde_json::json!({"fiscal_year": 2025, "value": {"members": 9}}),
        )
        .await;
    assert_eq!(rejected_code(&bad), "import_rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_surface_has_its_own_credential() {
    let h = harness().await;
    let ca = std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap();
    let setagaya_token = String::from_utf8(
        renkei_pki::read_private(&h.net.node(SETAGAYA.key).files.token)
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let hub_admin_with_node_token = renkei_transport::LocalClient::new(
        &h.net.hub.admin_url(),
        &ca,
        &setagaya_token,
        Duration::from_secs(10),
    )
    .unwrap();
    let r = hub_admin_with_node_token
        .get::<Vec<RecordWire>>("/admin/v1/records")
        .await;
    assert_eq!(rejected_code(&r), "unauthenticated");
    let other_node = renkei_transport::LocalClient::new(
        &h.net.node(YOKOHAMA.key).local_url(),
        &ca,
        &setagaya_token,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        rejected_code(&other_node.get::<Vec<NodeRecordWire>>("/local/v1/records").await),
        "unauthenticated"
    );
    // Health and metrics need no token; metrics are Prometheus text.
    let health: serde_json::Value = other_node.get("/health").await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["institution"], YOKOHAMA.id().to_string());
    let metrics = hub_admin_with_node_token.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("# TYPE renkei_http_requests_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains("renkei_node_enrolled_total"), "{metrics}");
    // The network listener refuses a client without a certificate.
    let plain =
        renkei_transport::LocalClient::new(&h.net.hub.url(), &ca, "x", Duration::from_secs(10)).unwrap();
    let r = plain.get::<serde_json::Value>("/health").await;
    assert!(
        matches!(
            &r,
            Err(ApiFailure::Tls(_) | ApiFailure::Protocol(_) | ApiFailure::Connect(_))
        ),
        "{r:?}"
    );
}

// ----------------------------------------------------------------- privacy

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_my_number_outside_the_registry_and_no_plaintext_at_the_hub() {
    let h = harness_with(Suite::default(), Durability::Full).await;
    let results = scenarios::run(&h.net, &h.country).await.unwrap();
    assert!(results.iter().all(|r| r.passed));
    // A person signs in at the portal with their card and opens every page
    // that shows their data: the portal's store is scanned too.
    let (_, digital_id) = &h.country.cast.account_holder;
    let who = h.country.inhabitant(DIGITAL.key, digital_id).unwrap().clone();
    let mut browser = h.card_holder(&who, "person-card").await;
    for page in ["/me", "/history", "/notices", "/account", "/proxies", "/consents"] {
        assert_eq!(browser.get(page).await.status, 200, "{page}");
    }
    // Private delivery too: four senders linked with the card, their
    // documents deposited, the mailbox and the draft read.
    let card_holder = renkei_demo::demo::DemoCard {
        holder: who.name.clone(),
        about: String::new(),
        dir: h.net.options.data_dir.join("person-card"),
        profile: "ecdsa-p384-sha384".into(),
        pin: renkei_demo::cards::DEMO_PIN.into(),
        password: renkei_demo::cards::DEMO_PASSWORD.into(),
        inhabitant: who.clone(),
    };
    let delivery = renkei_demo::delivery::run(&h.net, &h.net.options.data_dir, &[card_holder])
        .await
        .unwrap();
    assert!(
        delivery.results.iter().all(|r| r.passed),
        "{:?}",
        delivery.results
    );
    // And the statutory filing, whose records carry the employees' My
    // Numbers as far as the tax agency's node: none is kept there, nor at
    // the municipalities that receive the reports.
    let filed = renkei_demo::filing::run(&h.net, &h.country).await.unwrap();
    assert!(filed.passed, "{}", filed.observed);
    for page in [
        "/mailbox",
        "/mailbox/draft?year=2025",
        "/mailbox/draft.json?year=2025",
    ] {
        assert_eq!(browser.get(page).await.status, 200, "{page}");
    }
    // Force everything to disk: the WAL and the main files are both checked.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let dir = h.net.options.data_dir.clone();
    // Everything outside the registry: the role directories (keys,
    // configuration, SQLite files) and the stores on either backend.
    let mut network_side: Vec<(String, Vec<u8>)> = Vec::new();
    for sub in ["hub", "nodes", "portal"] {
        for f in files_under(&dir.join(sub)) {
            network_side.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
    }
    for role in ["hub", "portal"] {
        let db = StoreDb::open(&h.net, role).await;
        // The scan reads the backend the suite was asked to run on.
        assert_eq!(
            db.is_postgres(),
            std::env::var_os(renkei_testnet::TESTNET_DATABASE_ENV).is_some(),
            "{role}"
        );
        let store = db.contents().await;
        network_side.push((format!("the {role}'s store"), store));
    }
    let mut node_stores = Vec::new();
    for key in h.net.nodes.keys() {
        let store = StoreDb::node(&h.net, key).await.contents().await;
        node_stores.extend_from_slice(&store);
        network_side.push((format!("the store of node {key}"), store));
    }
    // The scan reads the stores: the hub's has the institutions it serves.
    let hub_store = &network_side
        .iter()
        .find(|(w, _)| w == "the hub's store")
        .unwrap()
        .1;
    assert!(contains(hub_store, SETAGAYA.id().to_string().as_bytes()));
    let numbers: Vec<&str> = h.country.my_numbers.iter().map(String::as_str).collect();
    assert_eq!(numbers.len(), 240);
    let set: std::collections::HashSet<&[u8]> = numbers.iter().map(|n| n.as_bytes()).collect();
    for (what, bytes) in &network_side {
        assert!(!contains_any_number(bytes, &set), "a My Number is in {what}");
    }
    // The registry's store holds every one, sealed at rest: none in its
    // file or WAL (or tables), nor any resident's name or address (nor at
    // the nodes).
    let reg = StoreDb::open(&h.net, "registry").await.contents().await;
    assert!(
        !contains_any_number(&reg, &set),
        "a My Number is in clear in the registry's store"
    );
    let mut personal = reg.clone();
    personal.extend(node_stores);
    for p in &h.country.people {
        assert!(
            !contains(&personal, p.name.as_bytes()),
            "a resident's name is in clear in a store"
        );
    }
    // The checks are not vacuous: the scan finds a number where there is
    // one, and the registry, opened with its data key, has them all.
    assert!(contains_any_number(format!("x{}y", numbers[0]).as_bytes(), &set));
    let key =
        renkei_pki::provision::read_data_key(h.net.registry_settings.data_key.as_ref().unwrap()).unwrap();
    let asked: Vec<renkei_ids::MyNumber> = numbers
        .iter()
        .map(|n| renkei_ids::MyNumber::parse(n).unwrap())
        .collect();
    let found = match h.net.role_database("registry").await.unwrap() {
        Some(url) => {
            let registry = renkei_store_postgres::PgRegistryStore::open_with_key(&url, Some(&key))
                .await
                .unwrap();
            renkei_registry::RegistryStore::by_my_numbers(&registry, asked)
                .await
                .unwrap()
        }
        None => {
            let registry = renkei_store_sqlite::SqliteRegistryStore::open_with_key(
                &dir.join("registry/registry.sqlite"),
                Durability::Normal,
                Some(&key),
            )
            .await
            .unwrap();
            renkei_registry::RegistryStore::by_my_numbers(&registry, asked)
                .await
                .unwrap()
        }
    };
    assert_eq!(found.len(), 240);
    assert!(found.iter().all(Option::is_some));
    // Nor a resident record code, not even in the registry's own records
    // of the four facts it provided in the scenarios.
    for r in found.iter().flatten() {
        assert!(
            !contains(&reg, r.resident_code.as_string().as_bytes()),
            "a resident record code is in clear in the registry's store"
        );
    }

    // No payload plaintext at the hub: the answers' values never reach its store.
    let mut hub_bytes = hub_store.clone();
    let account = h.net.node(SETAGAYA.key).local.clone();
    let q = query(
        &h.country.cast.account_holder.0,
        &DIGITAL,
        "benefit_payment_account",
        "public_fund_account",
        None,
    );
    let r: QueryResult = account.post("/local/v1/queries", &q).await.unwrap();
    let holder = r.value.unwrap()["holder_kana"].as_str().unwrap().to_owned();
    let drive: QueryResult = h
        .net
        .node(VEHICLE.key)
        .local
        .post(
            "/local/v1/queries",
            &query(
                &h.country.cast.driver,
                &REGISTRY,
                "vehicle_registration",
                "four_facts",
                None,
            ),
        )
        .await
        .unwrap();
    let address = drive.value.unwrap()["address"].as_str().unwrap().to_owned();
    hub_bytes.extend(StoreDb::open(&h.net, "hub").await.contents().await);
    assert!(
        !contains(&hub_bytes, holder.as_bytes()),
        "a name reached the hub's store"
    );
    assert!(
        !contains(&hub_bytes, address.as_bytes()),
        "an address reached the hub's store"
    );

    // And no log line of any role carries a My Number or those values.
    let log = logs().lock().unwrap().clone();
    assert!(!log.is_empty(), "logs were captured");
    assert!(!contains_any_number(&log, &set), "a My Number was logged");
    assert!(!contains(&log, address.as_bytes()), "an address was logged");
    let _ = std::io::stdout().flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_records_changes_as_events_and_validates_admin_input() {
    let h = harness().await;
    let admin = &h.net.registry_admin;
    let events: Vec<renkei_api::registry::EventWire> =
        admin.get("/admin/v1/events?limit=10000").await.unwrap();
    assert_eq!(events.len(), h.country.movers, "one address change per mover");
    assert!(events.iter().all(|e| e.kind == "address_changed"));

    // A death is an event, and the four facts say so from then on.
    let driver = h.country.cast.driver.clone();
    let vehicle = h.net.node(VEHICLE.key).local.clone();
    let before: QueryResult = vehicle
        .post(
            "/local/v1/queries",
            &query(&driver, &REGISTRY, "vehicle_registration", "four_facts", None),
        )
        .await
        .unwrap();
    assert!(before.value.as_ref().unwrap().get("deceased_on").is_none());
    // The driver's My Number, from the test's own copy (ids share the index).
    let index: usize = driver.trim_start_matches("V-").parse().unwrap();
    let my_number = h.country.my_numbers[index].clone();
    let ev: renkei_api::registry::EventRecorded = admin
        .post(
            "/admin/v1/residents/death",
            &serde_json::json!({"my_number": my_number, "date": "2026-11-01"}),
        )
        .await
        .unwrap();
    assert!(ev.event_seq > events.last().map_or(0, |e| e.seq));
    let after: QueryResult = vehicle
        .post(
            "/local/v1/queries",
            &query(&driver, &REGISTRY, "vehicle_registration", "four_facts", None),
        )
        .await
        .unwrap();
    assert_eq!(after.value.unwrap()["deceased_on"], "2026-11-01");
    let again: Result<renkei_api::registry::EventRecorded, _> = admin
        .post(
            "/admin/v1/residents/death",
            &serde_json::json!({"my_number": my_number, "date": "2026-11-02"}),
        )
        .await;
    assert_eq!(rejected_code(&again), "unknown_my_number");

    // Bad input names the resident and field, and registers nobody.
    let health: serde_json::Value = admin.get("/health").await.unwrap();
    let r: Result<renkei_api::registry::RegisterResult, _> = admin
        .post(
            "/admin/v1/residents",
            &serde_json::json!({"residents": [
                {"name": "山田 花子", "kana": "ヤマダ　ハナコ", "address": "東京都世田谷区太子堂一丁目1番1号", "birth_date": "1990-01-01", "sex": 2, "household": 1},
                {"name": "山田 太郎", "kana": "やまだ たろう", "address": "東京都世田谷区太子堂一丁目1番1号", "birth_date": "1990-01-01", "sex": 1, "household": 1}
            ]}),
        )
        .await;
    match &r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            assert_eq!(code, "malformed");
            assert!(message.contains("resident 1, kana"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let after_health: serde_json::Value = admin.get("/health").await.unwrap();
    assert_eq!(health["residents"], after_health["residents"]);
    let r: Result<renkei_api::registry::EventRecorded, _> = admin
        .post(
            "/admin/v1/residents/address",
            &serde_json::json!({"my_number": "123", "address": "x"}),
        )
        .await;
    assert_eq!(rejected_code(&r), "malformed");
}

// ------------------------------------------------------- transparency log

use renkei_hub_service::audit::{AuditError, HttpTiles, StoreTiles, TileSource, verify};
use renkei_log::{Checkpoint, Note, NoteVerifier};

impl Harness {
    fn log_key(&self) -> NoteVerifier {
        NoteVerifier::parse(&self.net.hub.log_verifier).unwrap()
    }

    fn witness_key(&self) -> NoteVerifier {
        NoteVerifier::parse(&self.net.witness.cosignature_key).unwrap()
    }

    fn tiles(&self) -> HttpTiles {
        let ca = std::fs::read(self.net.ca_dir.join("ca.crt")).unwrap();
        HttpTiles::new(&self.net.hub.log_url(), &ca).unwrap()
    }

    /// Wait until a checkpoint of at least `size` leaves is published.
    async fn checkpoint_of(&self, size: u64) -> (Checkpoint, String) {
        let tiles = self.tiles();
        for _ in 0..200 {
            if let Ok(text) = tiles.checkpoint().await {
                let note = Note::parse(&text).unwrap();
                let cp = Checkpoint::parse(&note.text).unwrap();
                if cp.size >= size && note.signatures.len() >= 2 {
                    return (cp, text);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no cosigned checkpoint of size {size} within 10 s");
    }

    async fn queries(&self, n: usize) {
        let pension = self.net.node(PENSION.key).local.clone();
        let id = self.country.cast.contributor.0.clone();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let c = pension.clone();
            let q = query(
                &id,
                &SETAGAYA,
                "pension_premium_exemption",
                "resident_tax_income",
                Some(2025),
            );
            tasks.push(tokio::spawn(async move {
                c.post::<_, QueryResult>("/local/v1/queries", &q).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_is_published_cosigned_and_verifies_from_url_and_store() {
    let h = harness().await;
    let results = scenarios::run(&h.net, &h.country).await.unwrap();
    assert!(results.iter().all(|r| r.passed));
    let n = h.hub_records().await.len() as u64;
    let (cp, first_note) = h.checkpoint_of(n).await;
    assert_eq!(cp.origin, renkei_demo::network::LOG_ORIGIN);

    let report = verify(&h.tiles(), &h.log_key(), &[h.witness_key()], None)
        .await
        .unwrap();
    assert_eq!(report.size, n);
    assert_eq!(report.entries_checked, n);
    assert_eq!(report.cosigned_by.len(), 1);

    // More exchanges; the new checkpoint extends the old one.
    h.queries(5).await;
    let (cp2, _) = h.checkpoint_of(n + 5).await;
    let report = verify(&h.tiles(), &h.log_key(), &[], Some(&first_note))
        .await
        .unwrap();
    assert_eq!(report.consistent_with, Some(cp.size));
    assert_eq!(report.size, cp2.size);

    // The same checks straight from the hub's store.
    let report = with_hub_store!(h, |store| verify(
        &StoreTiles(&store),
        &h.log_key(),
        &[h.witness_key()],
        None
    )
    .await
    .unwrap());
    assert_eq!(report.size, cp2.size);

    // Another log's key is refused, and so is a key for another origin.
    let other = renkei_log::NoteSigner::generate(renkei_demo::network::LOG_ORIGIN)
        .unwrap()
        .verifier();
    assert!(matches!(
        verify(&h.tiles(), &other, &[], None).await,
        Err(AuditError::Checkpoint(_))
    ));
    // Tiles beyond the checkpoint, and malformed paths, are not found.
    let ca = std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    for path in [
        "tile/0/999",
        "tile/0/000.p/0",
        "tile/9/000",
        "tile/entries/x001/000",
        "nonsense",
    ] {
        let r = client
            .get(format!("{}/{path}", h.net.hub.log_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }

    // Entry bundles come gzip-compressed to a client that takes it
    // (tlog-tiles), and the system's gzip reads them back to the same
    // bytes; a client that does not gets them as they are.
    let bundle = if report.size >= 256 {
        "tile/entries/000".to_owned()
    } else {
        format!("tile/entries/000.p/{}", report.size)
    };
    let fetch = |encoding: &'static str| {
        client
            .get(format!("{}/{bundle}", h.net.hub.log_url()))
            .header("accept-encoding", encoding)
            .send()
    };
    let plain = fetch("identity").await.unwrap();
    assert_eq!(plain.status().as_u16(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    let plain = plain.bytes().await.unwrap();
    let zipped = fetch("gzip, identity").await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped = zipped.bytes().await.unwrap();
    assert_ne!(zipped, plain);
    let mut gunzip = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    gunzip.stdin.take().unwrap().write_all(&zipped).unwrap();
    let out = gunzip.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, plain.to_vec(), "gzip -dc gives the bundle back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_flipped_byte_is_found_and_named_and_pruning_keeps_the_hashes() {
    let h = harness().await;
    h.queries(270).await; // more than one full tile: level-1 hashes exist
    let n = h.hub_records().await.len() as u64;
    assert!(n >= 257);
    h.checkpoint_of(n).await;
    with_hub_store!(h, |store| flipped_bytes_and_pruning(&h, n, &store).await);
}

/// The rest of the test above, on the hub's store of either backend.
async fn flipped_bytes_and_pruning<S: renkei_hub::HubStore>(h: &Harness, n: u64, store: &S) {
    let db = StoreDb::open(&h.net, "hub").await;
    let key = h.log_key();
    verify(&StoreTiles(store), &key, &[], None).await.unwrap();

    // An entry.
    db.flip("log_leaves", "leaf", "seq = 3", 40).await;
    assert_eq!(
        verify(&StoreTiles(store), &key, &[], None).await.unwrap_err(),
        AuditError::EntryHash { index: 3 }
    );
    assert_eq!(
        verify(&h.tiles(), &key, &[], None).await.unwrap_err(),
        AuditError::EntryHash { index: 3 }
    );
    db.flip("log_leaves", "leaf", "seq = 3", 40).await;
    // A leaf hash.
    db.flip("log_leaves", "leaf_hash", "seq = 5", 0).await;
    assert_eq!(
        verify(&StoreTiles(store), &key, &[], None).await.unwrap_err(),
        AuditError::EntryHash { index: 5 }
    );
    db.flip("log_leaves", "leaf_hash", "seq = 5", 0).await;
    // A stored node of level 8 (what tile 1/000 holds).
    db.flip("log_nodes", "hash", "level = 8 AND idx = 0", 31).await;
    match verify(&StoreTiles(store), &key, &[], None).await.unwrap_err() {
        AuditError::TileHash {
            level: 1,
            tile: 0,
            position: 0,
            first: 0,
            last: 255,
        } => {}
        other => panic!("{other}"),
    }
    db.flip("log_nodes", "hash", "level = 8 AND idx = 0", 31).await;
    verify(&StoreTiles(store), &key, &[], None).await.unwrap();

    // Retention, with an injected clock seven years ahead: every whole
    // entry bundle below the checkpoint saved seven years earlier loses its
    // data (pruning by index), every hash stays, and the log still
    // verifies — with the witness dating the checkpoint that proves the
    // pruned entries' age.
    let later = UnixMillis::now().plus_ms(7 * 366 * 86_400_000);
    let r = renkei_hub_service::prune_for_retention(store, later, renkei_api::log::SEVEN_YEARS_DAYS)
        .await
        .unwrap()
        .unwrap();
    let min = n / 256 * 256;
    assert_eq!((r.min_index, r.pruned), (min, min));
    let audit = renkei_hub_service::audit::AuditOptions {
        witnesses: &[h.witness_key()],
        older: None,
        retention_days: renkei_api::log::SEVEN_YEARS_DAYS,
        now: later,
    };
    let report = renkei_hub_service::audit::verify_with(&StoreTiles(store), &key, &audit)
        .await
        .unwrap();
    assert_eq!((report.entries_checked, report.entries_pruned), (n - min, min));
    let report = renkei_hub_service::audit::verify_with(&h.tiles(), &key, &audit)
        .await
        .unwrap();
    assert_eq!(report.entries_pruned, min);
    // Audited today, the same pruning is premature.
    assert!(matches!(
        verify(&h.tiles(), &key, &[h.witness_key()], None).await,
        Err(AuditError::PrematurePruning { .. })
    ));
    let r = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap(),
        )
        .unwrap()])
        .build()
        .unwrap()
        .get(format!("{}/tile/entries/000", h.net.hub.log_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 410);
    // The bundle at the minimum index is served whole.
    let r = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap(),
        )
        .unwrap()])
        .build()
        .unwrap()
        .get(format!(
            "{}/{}",
            h.net.hub.log_url(),
            renkei_log::tiles::entries_path(1, n - 256)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The operator API refuses to prune anything younger than 7 years.
    let r: Result<serde_json::Value, _> = h
        .net
        .hub_admin
        .post(
            "/admin/v1/log/prune",
            &serde_json::json!({"before": UnixMillis::now().0}),
        )
        .await;
    assert_eq!(rejected_code(&r), "malformed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_sees_their_records_with_proofs_and_delayed_ones_when_due() {
    // A test catalog: benefit-payment lookups are disclosed after 3 s.
    let catalog = renkei_catalog::SAMPLE_CATALOG.replace(
        "statute = \"公的給付の支給等の迅速かつ確実な実施のための預貯金口座の登録等に関する法律\"",
        "statute = \"公的給付の支給等の迅速かつ確実な実施のための預貯金口座の登録等に関する法律\"\ndisclosure_delay = \"3s\"\ndisclosure_reason = \"test delay\"",
    );
    assert_ne!(catalog, renkei_catalog::SAMPLE_CATALOG);
    let h = harness_tuned(Suite::default(), Durability::Normal, |o| {
        o.catalog = Some(catalog)
    })
    .await;
    let (setagaya_id, digital_id) = h.country.cast.account_holder.clone();
    let hidden: QueryResult = h
        .net
        .node(SETAGAYA.key)
        .local
        .post(
            "/local/v1/queries",
            &query(
                &setagaya_id,
                &DIGITAL,
                "benefit_payment_account",
                "public_fund_account",
                None,
            ),
        )
        .await
        .unwrap();
    // The person logs in with their card: the portal's node holds the
    // hub's proof of it, without which it reads none of their data.
    let card_dir = tempfile::tempdir().unwrap();
    let proof = renkei_demo::cards::login_proof(&h.net, &h.country, &digital_id, card_dir.path())
        .await
        .unwrap();
    let mut own = query(&digital_id, &SETAGAYA, "own_disclosure", "household", None);
    own.person_proof = Some(proof.clone());
    let visible: QueryResult = h
        .net
        .node(DIGITAL.key)
        .local
        .post("/local/v1/queries", &own)
        .await
        .unwrap();
    let someone_else: QueryResult = h
        .net
        .node(PENSION.key)
        .local
        .post(
            "/local/v1/queries",
            &query(
                &h.country.cast.contributor.0,
                &SETAGAYA,
                "pension_premium_exemption",
                "resident_tax_income",
                Some(2025),
            ),
        )
        .await
        .unwrap();
    assert_ne!(someone_else.query_id, visible.query_id);

    // The portal obtains the person's key with that proof; only a
    // digital_agency may, whatever it presents.
    let key: renkei_api::node::PersonKeyResult = h
        .net
        .node(DIGITAL.key)
        .local
        .post(
            &format!("/local/v1/persons/{digital_id}/person-key"),
            &renkei_api::node::PersonKeyAsk {
                person_proof: proof.clone(),
                consent: None,
            },
        )
        .await
        .unwrap();
    let setagaya = h.net.impersonate(SETAGAYA.key).unwrap();
    let refused: Result<renkei_api::log::PersonKeyWire, _> = setagaya
        .post_hub(
            &h.net.hub.url(),
            "/v1/person/key",
            &renkei_api::log::PersonKeyRequest {
                code: h.code(SETAGAYA.key, &setagaya_id).await.to_string(),
                person_proof: proof.clone(),
                consent: None,
            },
        )
        .await;
    assert_eq!(rejected_code(&refused), "not_permitted");
    let person_key: [u8; 32] = renkei_crypto::unb64("k", &key.person_key)
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(key.log_key, h.net.hub.log_verifier);

    let n = h.hub_records().await.len() as u64;
    h.checkpoint_of(n).await;
    let ca = std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let fetch = |token: String| {
        let client = client.clone();
        let url = format!("{}/v1/person/records", h.net.hub.log_url());
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let records: renkei_api::log::PersonRecordsWire =
        fetch(key.access_token.clone()).await.json().await.unwrap();
    let (_, seen) = renkei_api::log::verify_person_records(&records, &h.log_key(), &person_key).unwrap();
    let ids: Vec<String> = seen.iter().map(|r| r.leaf.query_id.to_string()).collect();
    assert!(
        ids.contains(&visible.query_id),
        "the person's own record is shown"
    );
    assert!(
        !ids.contains(&hidden.query_id),
        "the delayed record is not shown yet"
    );
    assert!(!ids.contains(&someone_else.query_id), "nobody else's records");
    assert!(
        seen.iter().all(|r| r.included),
        "each with a verified inclusion proof"
    );

    // A wrong token, or none, is refused.
    assert_eq!(fetch(renkei_crypto::b64(&[7; 32])).await.status().as_u16(), 401);
    // Another person's key cannot claim these records.
    assert!(renkei_api::log::verify_person_records(&records, &h.log_key(), &[9; 32]).is_err());

    // After the delay, the record appears with its reason and opens with
    // the record key released for it.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let records: renkei_api::log::PersonRecordsWire =
        fetch(key.access_token.clone()).await.json().await.unwrap();
    let (_, seen) = renkei_api::log::verify_person_records(&records, &h.log_key(), &person_key).unwrap();
    let late = seen
        .iter()
        .find(|r| r.leaf.query_id.to_string() == hidden.query_id)
        .expect("now disclosed");
    assert_eq!(late.leaf.hidden_reason.as_deref(), Some("test delay"));
    assert!(records.records.iter().any(|r| r.record_key.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_witness_refuses_a_split_view_and_an_inconsistent_tree() {
    let h = harness().await;
    h.queries(3).await;
    let (cp, _) = h.checkpoint_of(3).await;
    let signer = renkei_log::NoteSigner::parse_private(&String::from_utf8_lossy(
        &renkei_pki::read_private(&h.net.options.data_dir.join("hub/log.key")).unwrap(),
    ))
    .unwrap();
    let ca = std::fs::read(h.net.ca_dir.join("ca.crt")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let sign = |size: u64, root: [u8; 32]| {
        let text = Checkpoint {
            origin: cp.origin.clone(),
            size,
            root,
            extensions: vec![],
        }
        .to_text();
        Note {
            signatures: vec![signer.sign(&text)],
            text,
        }
        .to_text()
    };
    // The hub's own key signing a different tree of the size the witness has.
    let witness_size = {
        let r = client
            .post(format!("{}/add-checkpoint", h.net.witness.url()))
            .body(renkei_api::log::add_checkpoint_body(
                0,
                &[],
                &sign(cp.size, cp.root),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 409, "the witness is past size 0");
        r.text().await.unwrap().trim().parse::<u64>().unwrap()
    };
    let forged = sign(witness_size, [0xAB; 32]);
    let r = client
        .post(format!("{}/add-checkpoint", h.net.witness.url()))
        .body(renkei_api::log::add_checkpoint_body(witness_size, &[], &forged))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.text().await.unwrap().contains("split view"));
    let evidence: Vec<renkei_api::witness::SplitViewWire> = client
        .get(format!("{}/split-views", h.net.witness.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(
        evidence[0].later_note, forged,
        "the forged note is kept as evidence"
    );
    // A larger tree that does not extend the witnessed one.
    let r = client
        .post(format!("{}/add-checkpoint", h.net.witness.url()))
        .body(renkei_api::log::add_checkpoint_body(
            witness_size,
            &[[1; 32]],
            &sign(witness_size + 10, [0xCD; 32]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    // A checkpoint not signed by the log.
    let stranger = renkei_log::NoteSigner::generate(&cp.origin).unwrap();
    let text = Checkpoint {
        origin: cp.origin.clone(),
        size: witness_size + 1,
        root: [1; 32],
        extensions: vec![],
    }
    .to_text();
    let bad = Note {
        signatures: vec![stranger.sign(&text)],
        text,
    }
    .to_text();
    let r = client
        .post(format!("{}/add-checkpoint", h.net.witness.url()))
        .body(renkei_api::log::add_checkpoint_body(witness_size, &[], &bad))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The real log keeps being cosigned.
    h.queries(2).await;
    h.checkpoint_of(witness_size + 2).await;
}
