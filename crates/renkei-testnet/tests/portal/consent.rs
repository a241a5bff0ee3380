//! The self-information API: clients, screening and their recorded life.

use renkei_demo::network::{Network, NetworkOptions};
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_store_sqlite::Durability;
use serde_json::{Value, json};

pub(crate) async fn network() -> (Network, tempfile::TempDir) {
    network_with(renkei_consent::MonitorPolicy::default()).await
}

async fn network_with(policy: renkei_consent::MonitorPolicy) -> (Network, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.durability = Durability::Normal;
    o.consent_monitor = policy;
    (Network::start(o).await.unwrap(), dir)
}

pub(crate) async fn admin(
    net: &Network,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = format!("{}{path}", net.portal_admin_url());
    let mut req = match method {
        "GET" => reqwest::Client::new().get(url),
        _ => reqwest::Client::new().post(url),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

pub(crate) fn bank_application(corporate_number: &str) -> (Value, SigningKey) {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jwks: Value = serde_json::from_str(
        &Jwks {
            keys: vec![key.public_jwk().clone()],
        }
        .to_json(),
    )
    .unwrap();
    (
        json!({
            "corporate_number": corporate_number,
            "name": "れんけい銀行",
            "name_en": "Renkei Bank",
            "purpose": "住宅ローンの審査のため、前年の所得を確認します。",
            "redirect_uris": ["https://bank.example/callback"],
            "jwks": jwks,
            "items": ["resident_tax_income", "household"],
            "max_data_life_days": 365,
            "contact": "api@bank.example"
        }),
        key,
    )
}

// Corporate numbers with valid check digits (check digit first).
const BANK: &str = "3010001088782";
const SUCCESSOR: &str = "7010001008844";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_clients_are_screened_and_every_change_is_recorded() {
    let (net, _dir) = network().await;
    let token = net.portal_admin_token.clone();
    let t = Some(token.as_str());
    let (app, _key) = bank_application(BANK);

    // Without the token nothing happens.
    assert_eq!(
        admin(&net, "POST", "/admin/v1/clients", Some(app.clone()), None)
            .await
            .0,
        401
    );
    assert_eq!(
        admin(
            &net,
            "POST",
            "/admin/v1/clients",
            Some(app.clone()),
            Some("wrong")
        )
        .await
        .0,
        401
    );

    // Bad applications name the field and store nothing.
    for (change, field) in [
        (json!({"corporate_number": "3010001088781"}), "corporate_number"),
        (
            json!({"redirect_uris": ["http://bank.example/cb"]}),
            "redirect_uris",
        ),
        (json!({"items": ["credit_score"]}), "items"),
        (
            json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}}),
            "jwks",
        ),
        (json!({"max_data_life_days": 0}), "max_data_life_days"),
        (
            json!({"token_endpoint_auth_method": "client_secret_post"}),
            "token_endpoint_auth_method",
        ),
        (json!({"unexpected": true}), "unexpected"),
    ] {
        let mut bad = app.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let (status, body) = admin(&net, "POST", "/admin/v1/clients", Some(bad), t).await;
        assert_eq!(status, 400, "{field}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let (status, list) = admin(&net, "GET", "/admin/v1/clients", None, t).await;
    assert_eq!(
        (status, list.as_array().unwrap().len()),
        (200, 0),
        "nothing stored"
    );

    // Applied, then screened.
    let (status, c) = admin(&net, "POST", "/admin/v1/clients", Some(app.clone()), t).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "applied");
    let id = c["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rc_"));

    let act = |action: &'static str, body: Value| {
        let net = &net;
        let id = id.clone();
        async move {
            admin(
                net,
                "POST",
                &format!("/admin/v1/clients/{id}/{action}"),
                Some(body),
                t,
            )
            .await
        }
    };
    // Suspending an application that was never approved is refused.
    let (status, body) = act("suspend", json!({"by": "officer", "reason": "x"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("applied"));
    // A rejection needs a reason; an administrator must be named.
    assert_eq!(act("reject", json!({"by": "officer"})).await.0, 400);
    assert_eq!(act("approve", json!({"by": " "})).await.0, 400);
    assert_eq!(act("promote", json!({"by": "officer"})).await.0, 404);

    let (status, c) = act("approve", json!({"by": "screening officer"})).await;
    assert_eq!((status, c["status"].as_str()), (200, Some("approved")));
    let (_, c) = act(
        "suspend",
        json!({"by": "officer", "reason": "complaint under review"}),
    )
    .await;
    assert_eq!(c["status"], "suspended");
    assert_eq!(c["status_reason"], "complaint under review");
    let (_, c) = act("resume", json!({"by": "officer"})).await;
    assert_eq!(c["status"], "approved");
    assert_eq!(
        act(
            "transfer",
            json!({"by": "officer", "reason": "merger", "to": "123"})
        )
        .await
        .0,
        400
    );
    let (status, c) = act(
        "transfer",
        json!({"by": "officer", "reason": "merger", "to": SUCCESSOR}),
    )
    .await;
    assert_eq!(
        (status, c["corporate_number"].as_str()),
        (200, Some(SUCCESSOR)),
        "{c}"
    );
    assert_eq!(c["client_id"], id.as_str(), "the client keeps its id");
    let (_, c) = act("revoke", json!({"by": "officer", "reason": "contract ended"})).await;
    assert_eq!(c["status"], "revoked");
    assert_eq!(act("resume", json!({"by": "officer"})).await.0, 409);

    let (status, shown) = admin(&net, "GET", &format!("/admin/v1/clients/{id}"), None, t).await;
    assert_eq!(status, 200);
    let events: Vec<(String, String)> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("applied", "applied"),
        ("approve", "approved"),
        ("suspend", "suspended"),
        ("resume", "approved"),
        ("transfer", "approved"),
        ("revoke", "revoked"),
    ];
    assert_eq!(
        events,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(shown["events"][4]["previous_corporate_number"], BANK);
    assert_eq!(
        shown["events"][1]["actor"],
        json!({"kind": "administrator", "name": "screening officer"})
    );

    assert_eq!(
        admin(&net, "GET", "/admin/v1/clients/rc_nope", None, t).await.0,
        400
    );
    assert_eq!(
        admin(
            &net,
            "GET",
            "/admin/v1/clients/rc_AAAAAAAAAAAAAAAAAAAAAA",
            None,
            t
        )
        .await
        .0,
        404
    );
    net.shutdown().await;
}

/// A relying party in Rust: private_key_jwt, DPoP, PKCE — what any FAPI
/// 2.0 client library does.
pub(crate) struct RelyingParty {
    pub(crate) client_id: String,
    pub(crate) key: SigningKey,
    pub(crate) dpop_key: SigningKey,
    pub(crate) meta: Value,
    http: reqwest::Client,
}

fn now_s() -> i64 {
    renkei_protocol::UnixMillis::now().0 / 1000
}

impl RelyingParty {
    pub(crate) async fn new(issuer: &str, client_id: &str, key: SigningKey) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let meta: Value = http
            .get(format!("{issuer}/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            client_id: client_id.to_owned(),
            key,
            dpop_key: SigningKey::generate(Alg::Es256).unwrap(),
            meta,
            http,
        }
    }

    pub(crate) fn endpoint(&self, name: &str) -> String {
        self.meta[name].as_str().unwrap().to_owned()
    }

    pub(crate) fn assertion_with(&self, claims: Value) -> String {
        self.key.sign(serde_json::Map::new(), &claims).unwrap()
    }

    pub(crate) fn assertion(&self) -> String {
        self.assertion_with(json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.meta["issuer"],
            "iat": now_s(), "exp": now_s() + 60, "jti": renkei_jose::random_b64(16).unwrap(),
        }))
    }

    pub(crate) fn dpop_with(&self, key: &SigningKey, claims: Value) -> String {
        let mut h = serde_json::Map::new();
        h.insert("typ".into(), "dpop+jwt".into());
        h.insert("jwk".into(), serde_json::to_value(key.public_jwk()).unwrap());
        key.sign(h, &claims).unwrap()
    }

    pub(crate) fn dpop(&self, method: &str, url: &str, token: Option<&str>) -> String {
        let mut c =
            json!({"jti": renkei_jose::random_b64(12).unwrap(), "htm": method, "htu": url, "iat": now_s()});
        if let Some(t) = token {
            c["ath"] = renkei_jose::sha256_b64(t.as_bytes()).into();
        }
        self.dpop_with(&self.dpop_key, c)
    }

    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        dpop: Option<String>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(super::client::encode_form(form));
        if let Some(d) = dpop {
            req = req.header("DPoP", d);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    /// PAR with the usual parameters, `change` applied (`""` removes).
    pub(crate) async fn par(&self, details: &Value, verifier: &str, change: &[(&str, &str)]) -> (u16, Value) {
        let challenge = renkei_jose::sha256_b64(verifier.as_bytes());
        let assertion = self.assertion();
        let details = details.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("response_type", "code"),
            ("redirect_uri", "https://bank.example/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
            ("authorization_details", &details),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ];
        for (k, v) in change {
            form.retain(|(x, _)| x != k);
            if !v.is_empty() {
                form.push((k, v));
            }
        }
        self.post_form(
            &self.endpoint("pushed_authorization_request_endpoint"),
            &form,
            None,
        )
        .await
    }

    pub(crate) async fn token(&self, code: &str, verifier: &str, dpop: Option<String>) -> (u16, Value) {
        let assertion = self.assertion();
        self.post_form(
            &self.endpoint("token_endpoint"),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://bank.example/callback"),
                ("code_verifier", verifier),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            dpop,
        )
        .await
    }

    pub(crate) async fn resource(
        &self,
        method: &str,
        url: &str,
        token: &str,
        dpop: Option<String>,
    ) -> (u16, String, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, url)
            .header("authorization", format!("DPoP {token}"));
        if let Some(d) = dpop {
            req = req.header("DPoP", d);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ct, resp.text().await.unwrap_or_default())
    }
}

pub(crate) fn income_request() -> Value {
    json!([{
        "type": "self_information", "items": ["resident_tax_income"], "tax_year": 2025,
        "purpose": "住宅ローン審査", "data_life": "P90D", "frequency": "one_time"
    }])
}

/// The person's side: log in with the card via the consent page, agree,
/// confirm with the card; the 303 back to the client.
pub(crate) async fn consent_in_browser(
    h: &super::Harness,
    card: &renkei_card::SoftwareCard,
    client_id: &str,
    request_uri: &str,
    decision: &str,
) -> (super::client::Client, super::client::Page) {
    let mut b = super::client::Client::new(&h.url());
    let path = format!(
        "/authorize?client_id={client_id}&request_uri={}",
        super::client::encode_form(&[("x", request_uri)]).trim_start_matches("x=")
    );
    let first = b.get(&path).await;
    assert_eq!(
        (first.status, first.location.as_deref()),
        (303, Some("/login")),
        "{}",
        first.body
    );
    // The card login brings the browser back to the consent page.
    let login = b.get("/login").await;
    let code = login.id_text("login-code").unwrap();
    let shown = super::match_of(&login);
    renkei_portal_web::cardapp::CardApp::new(&h.url(), None)
        .unwrap()
        .approve(&code, Some(&shown), card, &super::pin())
        .await
        .unwrap();
    let done = b.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(done.status, 303);
    let back = done.location.clone().unwrap();
    assert!(back.starts_with("/authorize?"), "{back}");
    let page = b.get(&back).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let form = [
        ("csrf", page.input_value("csrf").unwrap()),
        ("client_id", page.input_value("client_id").unwrap()),
        ("request_uri", page.input_value("request_uri").unwrap()),
        ("preview_digest", page.input_value("preview_digest").unwrap()),
        ("decision", decision.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let staged = b.post("/authorize/decide", &form).await;
    if decision != "approve" {
        return (b, staged);
    }
    let done = super::confirm_with(h, &mut b, staged, card).await;
    (b, done)
}

fn query_param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn approved_bank(h: &super::Harness) -> RelyingParty {
    approved(&h.net, BANK).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bank_receives_the_income_the_person_consented_to_and_nothing_more() {
    let h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let rp = approved_bank(&h).await;
    assert_eq!(rp.meta["issuer"].as_str(), Some(h.url().as_str()));
    assert_eq!(rp.meta["require_pushed_authorization_requests"], true);
    assert_eq!(rp.meta["code_challenge_methods_supported"], json!(["S256"]));

    let verifier = renkei_jose::random_b64(40).unwrap();
    let (status, par) = rp.par(&income_request(), &verifier, &[]).await;
    assert_eq!(status, 201, "{par}");
    let request_uri = par["request_uri"].as_str().unwrap().to_owned();
    assert!(par["expires_in"].as_i64().unwrap() <= 600);

    let (mut browser, back) = consent_in_browser(&h, &card, &rp.client_id, &request_uri, "approve").await;
    assert_eq!(back.status, 303, "{}", back.body);
    let location = back.location.unwrap();
    assert!(
        location.starts_with("https://bank.example/callback?"),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(&location, "iss").as_deref(), Some(h.url().as_str()));
    let code = query_param(&location, "code").unwrap();

    // The request_uri is spent.
    let again = super::client::Client::new(&h.url())
        .get(&format!(
            "/authorize?client_id={}&{}",
            rp.client_id,
            super::client::encode_form(&[("request_uri", &request_uri)])
        ))
        .await;
    assert_eq!(
        (again.status, again.location),
        (410, None),
        "a used request_uri shows an error, never redirects"
    );

    // Token: DPoP required, PKCE checked, then a DPoP-bound token.
    let token_url = rp.endpoint("token_endpoint");
    let (status, e) = rp.token(&code, &verifier, None).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{e}"
    );
    let (status, tok) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["token_type"], "DPoP");
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let grant_id = tok["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(
        tok["authorization_details"][0]["items"],
        json!(["resident_tax_income"])
    );

    // The consent artefact is signed by the portal.
    let jwks = renkei_jose::Jwks::parse(
        &reqwest::get(rp.endpoint("jwks_uri"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let portal_key = &jwks.keys[0];
    let consent = renkei_jose::verify(tok["consent"].as_str().unwrap(), portal_key).unwrap();
    assert_eq!(consent.header.typ.as_deref(), Some("consent+jwt"));
    assert_eq!(consent.claims["grant_id"], grant_id.as_str());
    assert_eq!(consent.claims["confirmed_with"], "card");

    // The data: signed, the income of 2025 from the municipality.
    let res_url = format!("{}/api/v1/self-information", h.url());
    let (status, ct, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!((status, ct.as_str()), (200, "application/jwt"), "{body}");
    let data = renkei_jose::verify(&body, portal_key).unwrap();
    assert_eq!(data.claims["aud"], rp.client_id.as_str());
    let items = data.claims["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only what was consented to");
    assert_eq!(items[0]["item"], "resident_tax_income");
    assert_eq!(items[0]["tax_year"], 2025);
    assert!(
        items[0]["value"]["taxable_income"].is_number() || items[0]["value"].is_object(),
        "{}",
        items[0]
    );
    assert_ne!(
        data.claims["sub"],
        json!(me.ids[renkei_demo::institutions::DIGITAL.key]),
        "the client sees a pairwise subject"
    );
    assert!(!body.contains(&me.my_number));

    // The hub's provision record of that relay names the consent (and so
    // does its leaf in the transparency log); the preview's did not.
    let records: Vec<renkei_api::hub::RecordWire> = h
        .net
        .hub_admin
        .get("/admin/v1/records?limit=10000")
        .await
        .unwrap();
    let with_consent: Vec<_> = records
        .iter()
        .filter(|r| r.consent.as_deref() == Some(grant_id.as_str()))
        .collect();
    assert_eq!(with_consent.len(), 2, "one relay from each municipality asked");
    assert!(
        with_consent
            .iter()
            .all(|r| r.item == "resident_tax_income" && r.office_work == "own_disclosure")
    );
    // A consent reference that could carry anything else is refused at the node.
    let bad: Result<renkei_api::node::QueryResult, _> = h
        .net
        .node(renkei_demo::institutions::DIGITAL.key)
        .local
        .post(
            "/local/v1/queries",
            &renkei_api::node::QueryRequest {
                local_id: me.ids[renkei_demo::institutions::DIGITAL.key].clone(),
                provider: renkei_demo::institutions::SETAGAYA.id().to_string(),
                office_work: "own_disclosure".into(),
                item: "household".into(),
                fiscal_year: None,
                consent: Some("山田 太郎".into()),
                person_proof: None,
            },
        )
        .await;
    assert!(
        matches!(
            bad,
            Err(renkei_transport::ApiFailure::Rejected { status: 400, .. })
        ),
        "{bad:?}"
    );

    // The person sees what the bank received, and for what.
    let mine = browser.get("/consents").await;
    assert_eq!(mine.status, 200);
    assert!(
        mine.body.contains("れんけい銀行 が次の情報を受け取りました"),
        "{}",
        mine.body
    );
    assert!(mine.body.contains("住宅ローン審査"));
    assert!(
        mine.body.contains(&format!("revoke-{grant_id}")),
        "an active consent can be revoked"
    );

    // One-time: a second fetch is refused.
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // The token is bound: no proof, a proof by another key, Bearer — refused.
    let (status, _, _) = rp.resource("GET", &res_url, &access, None).await;
    assert_eq!(status, 400);
    let other = SigningKey::generate(Alg::Es256).unwrap();
    let foreign = rp.dpop_with(
        &other,
        json!({"jti": "x1", "htm": "GET", "htu": res_url, "iat": now_s(),
        "ath": renkei_jose::sha256_b64(access.as_bytes())}),
    );
    let (status, _, body) = rp.resource("GET", &res_url, &access, Some(foreign)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("another key"), "{body}");

    // Grant management: the client reads and revokes its grant.
    let grant_url = format!("{}/grants/{grant_id}", h.url());
    let (status, _, body) = rp
        .resource(
            "GET",
            &grant_url,
            &access,
            Some(rp.dpop("GET", &grant_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"active\""), "{body}");
    let (status, _, _) = rp
        .resource(
            "DELETE",
            &grant_url,
            &access,
            Some(rp.dpop("DELETE", &grant_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = rp
        .resource(
            "GET",
            &grant_url,
            &access,
            Some(rp.dpop("GET", &grant_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 401, "the revoked grant's token is dead: {body}");

    // Replaying the code fails.
    let (status, e) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    h.net.shutdown().await;
}

/// The hub's records after `after` (own disclosures of the income).
async fn income_relays_after(net: &Network, after: u64) -> Vec<renkei_api::hub::RecordWire> {
    let records: Vec<renkei_api::hub::RecordWire> =
        net.hub_admin.get("/admin/v1/records?limit=100000").await.unwrap();
    records
        .into_iter()
        .filter(|r| r.seq > after && r.item == "resident_tax_income" && r.office_work == "own_disclosure")
        .collect()
}

async fn last_hub_seq(net: &Network) -> u64 {
    let records: Vec<renkei_api::hub::RecordWire> =
        net.hub_admin.get("/admin/v1/records?limit=100000").await.unwrap();
    records.iter().map(|r| r.seq).max().unwrap_or(0)
}

/// Issue 11, item 4 (reproduced: 8 parallel requests were all served, 16
/// linkages). A one-time consent is claimed before anything is gathered:
/// of parallel requests exactly one gets the data, the others a clear
/// refusal, and the hub relays one set of linkages. A delivery that fails
/// is released, so the client can try again; a delivered one never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_time_consent_is_delivered_once_to_parallel_requests() {
    let mut h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let rp = std::sync::Arc::new(approved_bank(&h).await);
    let res_url = format!("{}/api/v1/self-information", h.url());
    let token_url = rp.endpoint("token_endpoint");
    // A one-time consent, and its DPoP-bound token.
    let consent = |rp: std::sync::Arc<RelyingParty>| {
        let h = &h;
        let card = &card;
        let token_url = token_url.clone();
        async move {
            let verifier = renkei_jose::random_b64(40).unwrap();
            let (status, par) = rp.par(&income_request(), &verifier, &[]).await;
            assert_eq!(status, 201, "{par}");
            let request_uri = par["request_uri"].as_str().unwrap().to_owned();
            let (_, back) = consent_in_browser(h, card, &rp.client_id, &request_uri, "approve").await;
            let code = query_param(&back.location.unwrap(), "code").unwrap();
            let (status, tok) = rp
                .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
                .await;
            assert_eq!(status, 200, "{tok}");
            tok["access_token"].as_str().unwrap().to_owned()
        }
    };

    // Eight parallel requests under one one-time consent.
    let access = consent(rp.clone()).await;
    let before = last_hub_seq(&h.net).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (rp, access, url, barrier) = (rp.clone(), access.clone(), res_url.clone(), barrier.clone());
            tokio::spawn(async move {
                let proof = rp.dpop("GET", &url, Some(&access));
                barrier.wait().await;
                rp.resource("GET", &url, &access, Some(proof)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let delivered: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    let statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        delivered.len(),
        1,
        "exactly one request gets the data: {statuses:?}"
    );
    assert_eq!(delivered[0].1, "application/jwt");
    for (status, _, body) in answers.iter().filter(|(s, _, _)| *s != 200) {
        let e: Value = serde_json::from_str(body).unwrap();
        let refusal = (*status, e["error"].as_str().unwrap());
        assert!(
            refusal == (403, "access_denied") || refusal == (409, "delivery_in_progress"),
            "a clear refusal, not {status} {body}"
        );
    }
    let relays = income_relays_after(&h.net, before).await;
    assert_eq!(
        relays.len(),
        2,
        "one set of linkages (one per municipality asked): {relays:?}"
    );
    // And later: still refused, nothing relayed.
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("used already"), "{body}");
    assert_eq!(income_relays_after(&h.net, before).await.len(), 2);

    // A delivery that fails (a municipality is down) is released: the
    // client is told to try again, and can, once.
    let access = consent(rp.clone()).await;
    h.net.kill_node(renkei_demo::institutions::SETAGAYA.key);
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    h.net
        .restart_node(renkei_demo::institutions::SETAGAYA.key)
        .await
        .unwrap();
    let (status, ct, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!((status, ct.as_str()), (200, "application/jwt"), "{body}");
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    h.net.shutdown().await;
}

/// The whole flow driven by `openid-client` (npm), a certified FAPI 2.0
/// client library, unchanged: `examples/interop/fapi-client.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openid_client_completes_the_flow_unchanged() {
    use std::io::{BufRead as _, Write as _};

    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/interop");
    assert!(
        interop.join("../node_modules/openid-client").is_dir(),
        "run `npm ci` in examples first (.ci/run does)"
    );
    let h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::Rsa2048Sha256).await;
    let rp = approved_bank(&h).await;
    let key_file = h.dir.path().join("bank-client.key");
    std::fs::write(&key_file, rp.key.pkcs8()).unwrap();

    let mut node = std::process::Command::new("node")
        .arg(interop.join("fapi-client.mjs"))
        .env("ISSUER", h.url())
        .env("CLIENT_ID", &rp.client_id)
        .env("KEY_FILE", &key_file)
        .env("KID", rp.key.kid())
        .env("REDIRECT_URI", "https://bank.example/callback")
        .env("DETAILS", income_request().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node (Debian's nodejs) must be installed");
    let mut out = std::io::BufReader::new(node.stdout.take().unwrap());
    let mut line = String::new();
    let read = tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap();
    assert!(read > 0, "openid-client printed nothing");
    let first: Value = serde_json::from_str(&line).unwrap();
    let authorize = first["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("openid-client failed: {first}"));
    let url = reqwest::Url::parse(authorize).unwrap();
    assert_eq!(url.path(), "/authorize");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.len(), 2, "PAR leaves only client_id and request_uri: {q:?}");

    let (_, back) = consent_in_browser(&h, &card, &q["client_id"], &q["request_uri"], "approve").await;
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location.unwrap();
    {
        let mut stdin = node.stdin.take().unwrap();
        writeln!(stdin, "{callback}").unwrap();
    }
    line.clear();
    tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap();
    let status = tokio::task::block_in_place(|| node.wait()).unwrap();
    let done: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert!(status.success(), "openid-client failed: {done}");
    let r = &done["result"];
    assert_eq!(
        r["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(),
        Some("dpop")
    );
    assert_eq!(r["status"], 200);
    assert_eq!(r["content_type"], "application/jwt");
    assert_eq!(r["alg"], "ES256");
    assert!(r["grant_id"].as_str().unwrap().starts_with("gr_"));
    assert_eq!(r["items"][0]["item"], "resident_tax_income");
    assert!(!r["items"][0]["value"].is_null(), "{r}");
    h.net.shutdown().await;
}

/// The OpenID conformance suite's categories, over HTTP: each refused with
/// the error a client can act on, and nothing issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fapi_negative_cases_are_refused() {
    let h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let rp = approved_bank(&h).await;
    let par_url = rp.endpoint("pushed_authorization_request_endpoint");
    let token_url = rp.endpoint("token_endpoint");
    let issuer = h.url();
    let verifier = renkei_jose::random_b64(40).unwrap();
    let details = income_request();

    // A body that is not a form: RFC 6749's JSON error like every other
    // refusal, not the framework's plain-text 415 (found by the API tester).
    for url in [&par_url, &token_url] {
        let r = reqwest::Client::new()
            .post(url.as_str())
            .json(&json!({"client_id": rp.client_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{url}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request", "{url}: {e}");
    }

    // PKCE missing or plain; an unregistered redirect_uri; a request object.
    for (change, want) in [
        (vec![("code_challenge", "")], "PKCE is required"),
        (vec![("code_challenge_method", "plain")], "plain is not allowed"),
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "not one this client registered",
        ),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request is not accepted",
        ),
    ] {
        let (status, e) = rp.par(&details, &verifier, &change).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_request")),
            "{want}: {e}"
        );
        assert!(e["error_description"].as_str().unwrap().contains(want), "{e}");
    }
    // Client assertions: wrong aud, expired, iat in the future, RS256, reused jti.
    let t = now_s();
    let id = rp.client_id.clone();
    let claims = |aud: &str, iat: i64, exp: i64, jti: &str| json!({"iss": id, "sub": id, "aud": aud, "iat": iat, "exp": exp, "jti": jti});
    let rs256 = format!(
        "{}.{}.AAAA",
        renkei_jose::b64(br#"{"alg":"RS256"}"#),
        renkei_jose::b64(claims(&issuer, t, t + 60, "r").to_string().as_bytes())
    );
    let reused = rp.assertion_with(claims(&issuer, t, t + 60, "once"));
    let cases = [
        (
            rp.assertion_with(claims(&token_url, t, t + 60, "a1")),
            "aud must be",
        ),
        (
            rp.assertion_with(claims(&issuer, t - 600, t - 300, "a2")),
            "expired",
        ),
        (
            rp.assertion_with(claims(&issuer, t + 300, t + 360, "a3")),
            "iat is in the future",
        ),
        (rs256, "RS256"),
        (reused.clone(), ""),
        (reused, "used before"),
    ];
    let challenge = renkei_jose::sha256_b64(verifier.as_bytes());
    let details_s = details.to_string();
    for (assertion, want) in cases {
        let form = [
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://bank.example/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("authorization_details", &details_s),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ];
        let (status, e) = rp.post_form(&par_url, &form, None).await;
        if want.is_empty() {
            assert_eq!(status, 201, "the first use is fine: {e}");
            continue;
        }
        assert_eq!(
            (status, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{want}: {e}"
        );
        assert!(
            e["error_description"].as_str().unwrap().contains(want),
            "{want}: {e}"
        );
    }

    // No PAR: parameters straight to /authorize get an error page, no redirect.
    let mut b = super::client::Client::new(&h.url());
    let direct = b
        .get(&format!(
            "/authorize?client_id={id}&response_type=code&redirect_uri=https%3A%2F%2Fbank.example%2Fcallback"
        ))
        .await;
    assert_eq!((direct.status, direct.location), (400, None));

    // A request_uri of another client.
    let other_rp = {
        let token = h.net.portal_admin_token.clone();
        let (app, key) = bank_application(SUCCESSOR);
        let (_, c) = admin(&h.net, "POST", "/admin/v1/clients", Some(app), Some(&token)).await;
        let oid = c["client_id"].as_str().unwrap().to_owned();
        admin(
            &h.net,
            "POST",
            &format!("/admin/v1/clients/{oid}/approve"),
            Some(json!({"by": "o"})),
            Some(&token),
        )
        .await;
        RelyingParty::new(&h.url(), &oid, key).await
    };
    let (_, par) = rp.par(&details, &verifier, &[]).await;
    let request_uri = par["request_uri"].as_str().unwrap().to_owned();
    let foreign = b
        .get(&format!(
            "/authorize?client_id={}&{}",
            other_rp.client_id,
            super::client::encode_form(&[("request_uri", &request_uri)])
        ))
        .await;
    assert_eq!((foreign.status, foreign.location), (400, None));

    // A real consent, then DPoP mistakes at the token endpoint (the code
    // survives those: they are refused before it is looked at).
    let (_, back) = consent_in_browser(&h, &card, &rp.client_id, &request_uri, "approve").await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    let k = &rp.dpop_key;
    let dp = |c: Value| rp.dpop_with(k, c);
    let none = format!(
        "{}.{}.",
        renkei_jose::b64(br#"{"alg":"none","typ":"dpop+jwt"}"#),
        renkei_jose::b64(
            json!({"jti": "n", "htm": "POST", "htu": token_url, "iat": t})
                .to_string()
                .as_bytes()
        )
    );
    let replayed_jti = dp(json!({"jti": "same", "htm": "POST", "htu": token_url, "iat": t}));
    for (proof, want) in [
        (
            dp(json!({"jti": "d1", "htm": "GET", "htu": token_url, "iat": t})),
            "htm must be POST",
        ),
        (
            dp(json!({"jti": "d2", "htm": "POST", "htu": par_url, "iat": t})),
            "htu must be",
        ),
        (
            dp(json!({"jti": "d3", "htm": "POST", "htu": token_url, "iat": t - 3600})),
            "too old",
        ),
        (none, "\"none\""),
    ] {
        let (status, e) = rp.token(&code, &verifier, Some(proof)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{want}: {e}"
        );
        assert!(
            e["error_description"].as_str().unwrap().contains(want),
            "{want}: {e}"
        );
    }
    // PAR bound nothing here, so the first good proof's key binds the token.
    let (status, tok) = rp.token(&code, &verifier, Some(replayed_jti.clone())).await;
    assert_eq!(status, 200, "{tok}");
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let res_url = format!("{}/api/v1/self-information", h.url());
    // The token endpoint's proof again, at the resource: refused (it is
    // for another method and address).
    let (status, _, body) = rp.resource("GET", &res_url, &access, Some(replayed_jti)).await;
    assert_eq!(status, 400, "{body}");
    // A proof right in every way for the resource is taken once; the same
    // proof again is refused for its jti alone, end to end.
    let fresh = dp(
        json!({"jti": "resource-once", "htm": "GET", "htu": res_url, "iat": t,
        "ath": renkei_jose::sha256_b64(access.as_bytes())}),
    );
    let (status, _, body) = rp.resource("GET", &res_url, &access, Some(fresh.clone())).await;
    assert_eq!(status, 200, "the first use of a good proof: {body}");
    let (status, _, body) = rp.resource("GET", &res_url, &access, Some(fresh)).await;
    assert!(
        status == 400 && body.contains("jti was used before"),
        "the same proof again: {status} {body}"
    );
    // ath of another token; a Bearer token; another client's key.
    let wrong_ath = dp(json!({"jti": "r1", "htm": "GET", "htu": res_url, "iat": t,
        "ath": renkei_jose::sha256_b64(b"another token")}));
    let (status, _, body) = rp.resource("GET", &res_url, &access, Some(wrong_ath)).await;
    assert!(
        status == 400 && body.contains("ath is not the hash"),
        "{status} {body}"
    );
    let bearer = reqwest::Client::new()
        .get(&res_url)
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 401);
    let stolen = other_rp.dpop("GET", &res_url, Some(&access));
    let (status, _, body) = other_rp.resource("GET", &res_url, &access, Some(stolen)).await;
    assert!(
        status == 401 && body.contains("another key"),
        "a token used by another client: {status} {body}"
    );

    // A suspended client can do nothing, even with a live token.
    let token = h.net.portal_admin_token.clone();
    admin(
        &h.net,
        "POST",
        &format!("/admin/v1/clients/{id}/suspend"),
        Some(json!({"by": "o", "reason": "investigation"})),
        Some(&token),
    )
    .await;
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert!(status == 401 && body.contains("suspended"), "{status} {body}");
    let (status, e) = rp.par(&details, &verifier, &[]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    admin(
        &h.net,
        "POST",
        &format!("/admin/v1/clients/{id}/resume"),
        Some(json!({"by": "o"})),
        Some(&token),
    )
    .await;

    // The person revokes the consent in the portal: the next fetch fails.
    let mut person = h.login(&card).await;
    let page = person.get("/consents").await;
    let gid = tok["grant_id"].as_str().unwrap();
    assert!(page.body.contains(&format!("revoke-{gid}")), "{}", page.body);
    let csrf = page.input_value("csrf").unwrap();
    let forged = person
        .post_with(
            &format!("/consents/{gid}/revoke"),
            &[("csrf", &csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(forged.status, 403, "CSRF");
    let done = person
        .post(&format!("/consents/{gid}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, 303);
    let (status, _, body) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert!(
        status == 401 && body.contains("revoked"),
        "revocation stops fetches at once: {status} {body}"
    );
    let page = person.get("/consents").await;
    assert!(page.body.contains("取り消し済み") && !page.body.contains(&format!("revoke-{gid}")));

    // A code with the wrong verifier is burnt; its grant dies on replay.
    let (_, par) = rp.par(&details, &verifier, &[]).await;
    let (_, back) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "approve",
    )
    .await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    let (status, e) = rp
        .token(&code, &"x".repeat(43), Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (status, e) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");

    // Declining sends access_denied with state and iss.
    let (_, par) = rp.par(&details, &verifier, &[]).await;
    let (_, declined) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "decline",
    )
    .await;
    let loc = declined.location.unwrap();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(issuer.as_str()));
    assert!(query_param(&loc, "code").is_none());
    h.net.shutdown().await;
}

async fn approved(net: &Network, corporate_number: &str) -> RelyingParty {
    let token = net.portal_admin_token.clone();
    let (app, key) = bank_application(corporate_number);
    let (status, c) = admin(net, "POST", "/admin/v1/clients", Some(app), Some(&token)).await;
    assert_eq!(status, 201, "{c}");
    let id = c["client_id"].as_str().unwrap().to_owned();
    let (status, _) = admin(
        net,
        "POST",
        &format!("/admin/v1/clients/{id}/approve"),
        Some(json!({"by": "officer"})),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    RelyingParty::new(&net.portal.url, &id, key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_rate_limited_and_suspended_automatically_on_failures() {
    let policy = renkei_consent::MonitorPolicy {
        rate_per_minute: 6,
        burst: 5,
        window_secs: 600,
        failure_alert: 2,
        failure_suspend: 4,
        volume_factor: 10,
        volume_min: 1000,
    };
    let (net, _dir) = network_with(policy).await;
    let token = net.portal_admin_token.clone();
    let t = Some(token.as_str());
    let verifier = renkei_jose::random_b64(40).unwrap();

    // Over the rate: 429 with Retry-After, counted for administrators.
    let a = approved(&net, BANK).await;
    for i in 0..5 {
        assert_eq!(
            a.par(&income_request(), &verifier, &[]).await.0,
            201,
            "request {i}"
        );
    }
    let challenge = renkei_jose::sha256_b64(verifier.as_bytes());
    let assertion = a.assertion();
    let details = income_request().to_string();
    let resp = reqwest::Client::new()
        .post(a.endpoint("pushed_authorization_request_endpoint"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(super::client::encode_form(&[
            ("client_id", a.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://bank.example/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("authorization_details", &details),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u32 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (_, usage) = admin(
        &net,
        "GET",
        &format!("/admin/v1/clients/{}/usage", a.client_id),
        None,
        t,
    )
    .await;
    assert_eq!(
        (usage["rate_limited"].as_u64(), usage["window_requests"].as_u64()),
        (Some(1), Some(5)),
        "{usage}"
    );

    // Failures: an alert, then an automatic suspension, recorded.
    let b = approved(&net, SUCCESSOR).await;
    for _ in 0..4 {
        let (status, _) = b
            .par(
                &income_request(),
                &verifier,
                &[("code_challenge_method", "plain")],
            )
            .await;
        assert_eq!(status, 400);
    }
    let (_, alerts) = admin(
        &net,
        "GET",
        &format!("/admin/v1/alerts?client={}", b.client_id),
        None,
        t,
    )
    .await;
    let kinds: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["auto_suspension", "failure_burst"], "{alerts}");
    let (_, shown) = admin(
        &net,
        "GET",
        &format!("/admin/v1/clients/{}", b.client_id),
        None,
        t,
    )
    .await;
    assert_eq!(shown["client"]["status"], "suspended");
    assert!(
        shown["client"]["status_reason"]
            .as_str()
            .unwrap()
            .contains("automatically")
    );
    let last = shown["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], json!({"kind": "monitor"}));
    let (status, e) = b.par(&income_request(), &verifier, &[]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    assert!(e["error_description"].as_str().unwrap().contains("suspended"));
    // The other client is untouched; an administrator resumes this one.
    let (_, all) = admin(&net, "GET", "/admin/v1/alerts", None, t).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|x| x["client_id"] == b.client_id.as_str())
    );
    admin(
        &net,
        "POST",
        &format!("/admin/v1/clients/{}/resume", b.client_id),
        Some(json!({"by": "officer"})),
        t,
    )
    .await;
    assert_eq!(b.par(&income_request(), &verifier, &[]).await.0, 201);
    net.shutdown().await;
}

/// Run an example of `examples/` with the browser part done here; its
/// last JSON line.
async fn run_example(
    h: &super::Harness,
    card: &renkei_card::SoftwareCard,
    args: &[&std::ffi::OsStr],
) -> (bool, Value) {
    use std::io::{BufRead as _, Write as _};
    let mut node = std::process::Command::new("node")
        .args(args)
        .env("CALLBACK", "stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node must be installed");
    let mut out = std::io::BufReader::new(node.stdout.take().unwrap());
    let mut line = String::new();
    tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap();
    let first: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    let url = reqwest::Url::parse(first["authorize"].as_str().unwrap_or_else(|| panic!("{first}"))).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let (_, back) = consent_in_browser(h, card, &q["client_id"], &q["request_uri"], "approve").await;
    assert_eq!(back.status, 303, "{}", back.body);
    writeln!(node.stdin.take().unwrap(), "{}", back.location.unwrap()).unwrap();
    let mut last = String::new();
    loop {
        line.clear();
        if tokio::task::block_in_place(|| out.read_line(&mut line)).unwrap() == 0 {
            break;
        }
        if line.trim_start().starts_with('{') {
            last = line.clone();
        }
    }
    let ok = tokio::task::block_in_place(|| node.wait()).unwrap().success();
    (
        ok,
        serde_json::from_str(&last).unwrap_or_else(|_| panic!("not JSON: {last:?}")),
    )
}

/// The example relying parties, registered as `renkei demo` does, run
/// against the network: the bank, the PHR app (five years, encrypted to
/// it), and the disability-card app with its offline gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_relying_parties_work() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    assert!(
        examples.join("node_modules/openid-client").is_dir(),
        "run `npm ci` in examples first (scripts/test does)"
    );
    let h = super::harness().await;
    let clients = renkei_demo::examples::register(&h.net, h.dir.path(), |name| {
        format!("http://127.0.0.1:9/{name}/callback")
    })
    .await
    .unwrap();
    assert_eq!(clients.len(), 3);
    let demo_json = h.dir.path().join("demo.json");
    std::fs::write(
        &demo_json,
        json!({"consent_api": {"issuer": h.url(), "clients": clients}}).to_string(),
    )
    .unwrap();
    let arg = |p: &std::path::Path| p.as_os_str().to_owned();

    // The bank: FY2025 income.
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let (ok, r) = run_example(
        &h,
        &card,
        &[&arg(&examples.join("bank/income-check.mjs")), &arg(&demo_json)],
    )
    .await;
    assert!(ok, "{r}");
    assert!(r["result"]["income"]["taxable_income"].is_number(), "{r}");
    assert!(r["result"]["max_loan_yen"].as_u64().is_some(), "{r}");

    // The PHR app: five years of checkups, delivered as a JWE.
    // Checkups are kept for insured workers from 35.
    let worker = h
        .country
        .people
        .iter()
        .find(|p| {
            p.employed
                && p.age >= 35
                && p.ids.contains_key(renkei_demo::institutions::KENPO.key)
                && p.ids.contains_key(renkei_demo::institutions::DIGITAL.key)
        })
        .expect("an insured worker the portal knows")
        .clone();
    let worker_card = h
        .card(&worker, "worker", renkei_card::CardProfile::Rsa2048Sha256)
        .await;
    let (ok, r) = run_example(
        &h,
        &worker_card,
        &[&arg(&examples.join("phr/checkups.mjs")), &arg(&demo_json)],
    )
    .await;
    assert!(ok, "{r}");
    assert_eq!(r["result"]["encrypted"], true, "{r}");
    assert_eq!(r["result"]["years"], json!([2021, 2022, 2023, 2024, 2025]), "{r}");
    assert!(r["result"]["checkups"][0]["bmi"].is_number());

    // The disability-card app, then the gate offline.
    let holder = h
        .country
        .people
        .iter()
        .find(|p| p.disability && p.ids.contains_key(renkei_demo::institutions::DIGITAL.key))
        .expect("a certificate holder the portal knows")
        .clone();
    let holder_card = h
        .card(&holder, "holder", renkei_card::CardProfile::EcdsaP384Sha384)
        .await;
    let out = h.dir.path().join("wallet");
    let (ok, r) = run_example(
        &h,
        &holder_card,
        &[
            &arg(&examples.join("disability-card/app.mjs")),
            &arg(&demo_json),
            &arg(&out),
        ],
    )
    .await;
    assert!(ok, "{r}");
    assert_eq!(r["result"]["certificate"]["certificate"], "身体障害者手帳", "{r}");
    let gate = |cert: &std::path::Path, jwks: &std::path::Path| {
        let o = std::process::Command::new("node")
            .arg(examples.join("disability-card/gate.mjs"))
            .arg(cert)
            .arg(jwks)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        (o.status.success(), v)
    };
    let (cert, jwks) = (out.join("certificate.jwt"), out.join("portal-jwks.json"));
    let (ok, v) = gate(&cert, &jwks);
    assert!(ok && v["ok"] == true, "{v}");
    assert_eq!(v["grade"], r["result"]["certificate"]["grade"]);
    // A forged certificate (one claim changed) and another portal's keys fail.
    let jwt = std::fs::read_to_string(&cert).unwrap();
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let mut claims: Value = serde_json::from_slice(&renkei_jose::unb64("claims", parts[1]).unwrap()).unwrap();
    claims["items"][0]["value"]["grade"] =
        json!(1 + (claims["items"][0]["value"]["grade"].as_u64().unwrap() % 6));
    let forged = out.join("forged.jwt");
    std::fs::write(
        &forged,
        format!(
            "{}.{}.{}",
            parts[0],
            renkei_jose::b64(claims.to_string().as_bytes()),
            parts[2]
        ),
    )
    .unwrap();
    let (ok, v) = gate(&forged, &jwks);
    assert!(!ok && v["ok"] == false, "{v}");
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let other = out.join("other-jwks.json");
    std::fs::write(
        &other,
        json!({"issuer": h.url(), "keys": [stranger.public_jwk()]}).to_string(),
    )
    .unwrap();
    let (ok, _) = gate(&cert, &other);
    assert!(!ok, "a certificate under another portal's keys is refused");
    h.net.shutdown().await;
}

/// Time limits: a request_uri or a code past its life is refused. The
/// store's clock is moved (the server reads expiry from it), not the test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_request_uris_and_codes_are_refused() {
    let h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let rp = approved_bank(&h).await;
    let verifier = renkei_jose::random_b64(40).unwrap();

    // A request_uri past its 300 s: an error page, no redirect.
    let (_, par) = rp.par(&income_request(), &verifier, &[]).await;
    let request_uri = par["request_uri"].as_str().unwrap().to_owned();
    renkei_testnet::store_execute(&h.net, "portal", "UPDATE oauth_requests SET expires_at = 0").await;
    let page = super::client::Client::new(&h.url())
        .get(&format!(
            "/authorize?client_id={}&{}",
            rp.client_id,
            super::client::encode_form(&[("request_uri", &request_uri)])
        ))
        .await;
    assert_eq!((page.status, page.location), (410, None));

    // A code past its 60 s.
    let (_, par) = rp.par(&income_request(), &verifier, &[]).await;
    let (_, back) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "approve",
    )
    .await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    renkei_testnet::store_execute(&h.net, "portal", "UPDATE oauth_codes SET expires_at = 0").await;
    let token_url = rp.endpoint("token_endpoint");
    let (status, e) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    assert!(
        e["error_description"].as_str().unwrap().contains("expired"),
        "{e}"
    );
    h.net.shutdown().await;
}

/// `tls_client_auth` (RFC 8705): a client registered with its certificate's
/// SHA-256 authenticates at the mutual-TLS aliases with that certificate;
/// another certificate, none, or the plain listener is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_clients_authenticate_with_their_pinned_certificate() {
    let (net, dir) = network().await;
    // The same portal role served with TLS and the mTLS aliases.
    let ca = renkei_pki::NetworkCa::load(&net.ca_dir).unwrap();
    let tls_dir = dir.path().join("tls-portal");
    let (cert, key, _) = renkei_pki::provision::issue_tls(
        &ca,
        &tls_dir,
        renkei_pki::Role::Portal,
        None,
        "renkei portal (TLS)",
        net.options.suite,
    )
    .unwrap();
    let mut settings = net.portal_settings.clone();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin_listen = "127.0.0.1:0".parse().unwrap();
    settings.mtls_listen = Some("127.0.0.1:0".parse().unwrap());
    settings.tls = Some(renkei_transport::TlsFiles {
        ca_cert: net.ca_dir.join(renkei_pki::CA_CERT_FILE),
        crl: net.ca_dir.join(renkei_pki::CA_CRL_FILE),
        cert,
        key,
    });
    let store =
        renkei_store_sqlite::SqlitePortalStore::open(&tls_dir.join("portal.sqlite"), Durability::Normal)
            .await
            .unwrap();
    let portal = renkei_portal_web::start_portal(&settings, store).await.unwrap();
    let mtls = portal.mtls.as_ref().expect("the mTLS listener").addr();
    let ca_pem = std::fs::read(net.ca_dir.join(renkei_pki::CA_CERT_FILE)).unwrap();
    let trust = reqwest::Certificate::from_pem(&ca_pem).unwrap();

    // The metadata advertises the aliases and the method.
    let web = reqwest::Client::builder()
        .tls_certs_only([trust.clone()])
        .no_proxy()
        .build()
        .unwrap();
    let meta: Value = web
        .get(format!("{}/.well-known/oauth-authorization-server", portal.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("tls_client_auth"))
    );
    let par_alias = meta["mtls_endpoint_aliases"]["pushed_authorization_request_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        par_alias.ends_with(&format!(":{}/par", mtls.port())),
        "{par_alias}"
    );

    // A client certificate of the bank's own making, pinned at registration.
    let bank_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let bank_cert = rcgen::CertificateParams::new(vec!["bank.example".to_owned()])
        .unwrap()
        .self_signed(&bank_key)
        .unwrap();
    // The fingerprint as the bank's operator computes it, with OpenSSL.
    let pem_path = dir.path().join("bank-client.pem");
    std::fs::write(&pem_path, bank_cert.pem()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&pem_path)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(fingerprint.len(), 64, "{fingerprint}");
    let (mut app, _) = bank_application(BANK);
    app["token_endpoint_auth_method"] = "tls_client_auth".into();
    app["tls_client_certificate_sha256"] = fingerprint.clone().into();
    let admin_url = format!("https://localhost:{}", portal.admin.addr().port());
    let token = net.portal_admin_token.clone();
    let c: Value = web
        .post(format!("{admin_url}/admin/v1/clients"))
        .bearer_auth(&token)
        .json(&app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = c["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{c}"))
        .to_owned();
    assert_eq!(c["token_endpoint_auth_method"], "tls_client_auth");
    web.post(format!("{admin_url}/admin/v1/clients/{id}/approve"))
        .bearer_auth(&token)
        .json(&json!({"by": "officer"}))
        .send()
        .await
        .unwrap();

    let identity = |cert: &rcgen::Certificate, key: &rcgen::KeyPair| {
        reqwest::Identity::from_pem(format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes()).unwrap()
    };
    let client_with = |id: Option<reqwest::Identity>| {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([trust.clone()])
            .no_proxy();
        if let Some(i) = id {
            b = b.identity(i);
        }
        b.build().unwrap()
    };
    let verifier = renkei_jose::random_b64(40).unwrap();
    let challenge = renkei_jose::sha256_b64(verifier.as_bytes());
    let details = income_request().to_string();
    let form = super::client::encode_form(&[
        ("client_id", &id),
        ("response_type", "code"),
        ("redirect_uri", "https://bank.example/callback"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("authorization_details", &details),
    ]);
    let par = |client: reqwest::Client, url: String| {
        let form = form.clone();
        async move {
            let r = client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or_default())
        }
    };

    // The registered certificate at the alias: accepted.
    let (status, body) = par(
        client_with(Some(identity(&bank_cert, &bank_key))),
        par_alias.clone(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["request_uri"]
            .as_str()
            .unwrap()
            .starts_with("urn:ietf:params:oauth:request_uri:")
    );
    // Another certificate, none, or the plain (server-TLS) endpoint: refused.
    let other_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = rcgen::CertificateParams::new(vec!["bank.example".to_owned()])
        .unwrap()
        .self_signed(&other_key)
        .unwrap();
    let (status, e) = par(client_with(Some(identity(&other, &other_key))), par_alias.clone()).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("not the registered one")
    );
    let (status, e) = par(client_with(None), par_alias.clone()).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    let (status, e) = par(
        client_with(Some(identity(&bank_cert, &bank_key))),
        format!("{}/par", portal.url),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("mtls_endpoint_aliases"),
        "{e}"
    );

    // The plain-HTTP demo portal, without the aliases, refuses such a client.
    let (status, body) = admin(&net, "POST", "/admin/v1/clients", Some(app), Some(&token)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("mtls_listen"));
    portal.shutdown(std::time::Duration::from_secs(1)).await;
    net.shutdown().await;
}

/// A periodic consent: a rotating, DPoP-bound refresh token gives the
/// client its next access tokens while the consent holds; a spent refresh
/// token used again, or another key, is refused — the replay revokes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn periodic_consents_refresh_with_rotating_dpop_bound_tokens() {
    let h = super::harness().await;
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let rp = approved_bank(&h).await;
    assert!(
        rp.meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("refresh_token"))
    );
    let monthly = json!([{
        "type": "self_information", "items": ["household"], "purpose": "家族割引の確認",
        "data_life": "P30D", "frequency": "periodic", "duration": "P6M"
    }]);
    let verifier = renkei_jose::random_b64(40).unwrap();
    let (_, par) = rp.par(&monthly, &verifier, &[]).await;
    let (_, back) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "approve",
    )
    .await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    let token_url = rp.endpoint("token_endpoint");
    let (status, tok) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert_eq!(status, 200, "{tok}");
    let first_refresh = tok["refresh_token"]
        .as_str()
        .expect("a periodic consent has a refresh token")
        .to_owned();

    let rp = &rp;
    let refresh = |token: String, key: Option<&SigningKey>| {
        let assertion = rp.assertion();
        let proof = match key {
            Some(k) => rp.dpop_with(k, json!({"jti": renkei_jose::random_b64(9).unwrap(), "htm": "POST", "htu": token_url, "iat": now_s()})),
            None => rp.dpop("POST", &token_url, None),
        };
        let url = token_url.clone();
        async move {
            rp.post_form(
                &url,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                Some(proof),
            )
            .await
        }
    };
    // Another DPoP key cannot use it, nor burn it: the client still can.
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let (status, e) = refresh(first_refresh.clone(), Some(&stranger)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{e}"
    );
    let (status, t) = refresh(first_refresh, None).await;
    assert_eq!(status, 200, "{t}");

    // A fresh periodic consent, refreshed twice with its own key.
    let (_, par) = rp.par(&monthly, &verifier, &[]).await;
    let (_, back) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "approve",
    )
    .await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    let (_, tok) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    let r1 = tok["refresh_token"].as_str().unwrap().to_owned();
    let (status, t2) = refresh(r1.clone(), None).await;
    assert_eq!(status, 200, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "refresh tokens rotate");
    let access = t2["access_token"].as_str().unwrap().to_owned();
    let res_url = format!("{}/api/v1/self-information", h.url());
    for _ in 0..2 {
        let (status, _, body) = rp
            .resource(
                "GET",
                &res_url,
                &access,
                Some(rp.dpop("GET", &res_url, Some(&access))),
            )
            .await;
        assert_eq!(status, 200, "periodic consents allow repeated fetches: {body}");
    }
    // The spent refresh token again: refused, and the consent is revoked.
    let (status, e) = refresh(r1, None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (status, e) = refresh(r2, None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (status, _, _) = rp
        .resource(
            "GET",
            &res_url,
            &access,
            Some(rp.dpop("GET", &res_url, Some(&access))),
        )
        .await;
    assert_eq!(status, 401, "the revoked consent's access token is dead");
    // One-time consents get no refresh token.
    let (_, par) = rp.par(&income_request(), &verifier, &[]).await;
    let (_, back) = consent_in_browser(
        &h,
        &card,
        &rp.client_id,
        par["request_uri"].as_str().unwrap(),
        "approve",
    )
    .await;
    let code = query_param(back.location.as_deref().unwrap(), "code").unwrap();
    let (_, tok) = rp
        .token(&code, &verifier, Some(rp.dpop("POST", &token_url, None)))
        .await;
    assert!(tok.get("refresh_token").is_none(), "{tok}");
    h.net.shutdown().await;
}

/// A client that registered a `jwks_uri`: its keys are fetched (and cached);
/// a rotated key is picked up; a failing or malformed JWKS refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_a_jwks_uri_are_authenticated_with_the_fetched_keys() {
    use std::sync::{Arc, Mutex};
    let (net, _dir) = network().await;
    let served: Arc<Mutex<(u16, String)>> = Arc::new(Mutex::new((200, String::new())));
    let app = {
        let served = served.clone();
        axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (status, body) = served.lock().unwrap().clone();
                async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let jwks_of = |k: &SigningKey| {
        Jwks {
            keys: vec![k.public_jwk().clone()],
        }
        .to_json()
    };

    let key1 = SigningKey::generate(Alg::Es256).unwrap();
    served.lock().unwrap().1 = jwks_of(&key1);
    let (mut app_json, _) = bank_application(BANK);
    app_json.as_object_mut().unwrap().remove("jwks");
    app_json["jwks_uri"] = jwks_uri.clone().into();
    let token = net.portal_admin_token.clone();
    let (status, c) = admin(&net, "POST", "/admin/v1/clients", Some(app_json), Some(&token)).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["jwks_uri"], jwks_uri.as_str());
    let id = c["client_id"].as_str().unwrap().to_owned();
    admin(
        &net,
        "POST",
        &format!("/admin/v1/clients/{id}/approve"),
        Some(json!({"by": "o"})),
        Some(&token),
    )
    .await;
    let verifier = renkei_jose::random_b64(40).unwrap();

    let rp1 = RelyingParty::new(&net.portal.url, &id, key1).await;
    assert_eq!(rp1.par(&income_request(), &verifier, &[]).await.0, 201);

    // Rotation: the client now publishes key 2 only.
    let key2 = SigningKey::generate(Alg::Es256).unwrap();
    served.lock().unwrap().1 = jwks_of(&key2);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rp2 = RelyingParty::new(&net.portal.url, &id, key2).await;
    let (status, body) = rp2.par(&income_request(), &verifier, &[]).await;
    assert_eq!(status, 201, "the new kid is fetched: {body}");
    // The retired key no longer works once the fresh JWKS is cached.
    let (status, e) = rp1.par(&income_request(), &verifier, &[]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );

    // A JWKS endpoint that fails, or serves a private key, refuses.
    let key3 = SigningKey::generate(Alg::Es256).unwrap();
    *served.lock().unwrap() = (500, String::new());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rp3 = RelyingParty::new(&net.portal.url, &id, key3).await;
    let (status, e) = rp3.par(&income_request(), &verifier, &[]).await;
    assert_eq!(status, 401, "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("jwks_uri: answered 500"),
        "{e}"
    );
    let mut leaked: Value = serde_json::from_str(&jwks_of(&rp3.key)).unwrap();
    leaked["keys"][0]["d"] = "AAAA".into();
    *served.lock().unwrap() = (200, leaked.to_string());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, e) = rp3.par(&income_request(), &verifier, &[]).await;
    assert_eq!(status, 401, "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("private key members"),
        "{e}"
    );
    net.shutdown().await;
}

/// SSRF: a `jwks_uri` may not point the portal at its own networks — cloud
/// metadata, private, link-local or other non-public addresses are refused
/// at registration, naming the field, and nothing is stored. (Loopback is
/// allowed only by the demo's `jwks_uri_allow_loopback`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_uri_on_a_private_address_is_refused() {
    let (net, _dir) = network().await;
    let token = net.portal_admin_token.clone();
    let (_, before) = admin(&net, "GET", "/admin/v1/clients", None, Some(&token)).await;
    for uri in [
        "https://169.254.169.254/latest/meta-data/jwks",
        "https://10.0.0.5/jwks",
        "https://192.168.1.10:8443/jwks",
        "https://[fd00::1]/jwks",
        "https://[::ffff:172.16.0.1]/jwks",
        "https://100.64.0.1/jwks",
    ] {
        let (mut app_json, _) = bank_application(BANK);
        app_json.as_object_mut().unwrap().remove("jwks");
        app_json["jwks_uri"] = uri.into();
        let (status, body) = admin(&net, "POST", "/admin/v1/clients", Some(app_json), Some(&token)).await;
        assert_eq!(status, 400, "{uri}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("jwks_uri") && msg.contains("non-public"),
            "{uri}: {msg}"
        );
    }
    let (_, after) = admin(&net, "GET", "/admin/v1/clients", None, Some(&token)).await;
    assert_eq!(before, after, "nothing was stored");
    net.shutdown().await;
}
