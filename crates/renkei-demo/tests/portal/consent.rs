//! The self-information API: clients, screening and their recorded life.

use renkei_demo::network::{Network, NetworkOptions};
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_store_sqlite::Durability;
use serde_json::{Value, json};

async fn network() -> (Network, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.durability = Durability::Normal;
    (Network::start(o).await.unwrap(), dir)
}

async fn admin(
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
