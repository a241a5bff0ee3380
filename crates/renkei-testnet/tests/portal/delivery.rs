//! Private delivery at the portal: senders screened by administrators.

use renkei_jose::{Alg, Jwks, SigningKey};
use serde_json::{Value, json};

use super::consent::{admin, network};

fn life_insurer() -> Value {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jwks: Value = serde_json::from_str(
        &Jwks {
            keys: vec![key.public_jwk().clone()],
        }
        .to_json(),
    )
    .unwrap();
    json!({
        "corporate_number": "4020001095513",
        "name": "あおば生命保険株式会社",
        "name_en": "Aoba Life Insurance",
        "kind": "life_insurer",
        "jwks": jwks,
        "document_types": ["life_insurance_certificate.v1"],
        "contact": "delivery@aoba-life.example"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_are_screened_and_every_change_is_recorded() {
    let (net, _dir) = network().await;
    let token = net.portal_admin_token.clone();
    let t = Some(token.as_str());
    let app = life_insurer();

    assert_eq!(
        admin(&net, "POST", "/admin/v1/senders", Some(app.clone()), None)
            .await
            .0,
        401
    );

    // Bad applications name the field and store nothing.
    for (change, field) in [
        (json!({"corporate_number": "4020001095514"}), "corporate_number"),
        (json!({"kind": "casino"}), "kind"),
        (
            json!({"document_types": ["withholding_slip.v1"]}),
            "document_types",
        ),
        (
            json!({"document_types": ["withholding_report.v1"]}),
            "document_types",
        ),
        (
            json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}}),
            "jwks",
        ),
        (json!({"contact": ""}), "contact"),
        (json!({"my_number": "123456789018"}), "my_number"),
    ] {
        let mut bad = app.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let (status, body) = admin(&net, "POST", "/admin/v1/senders", Some(bad), t).await;
        assert_eq!(status, 400, "{field}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let (status, list) = admin(&net, "GET", "/admin/v1/senders", None, t).await;
    assert_eq!(
        (status, list.as_array().unwrap().len()),
        (200, 0),
        "nothing stored"
    );

    // Applied, approved, suspended with a reason, resumed: each an event.
    let (status, s) = admin(&net, "POST", "/admin/v1/senders", Some(app.clone()), t).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(
        (s["status"].as_str(), s["kind"].as_str()),
        (Some("applied"), Some("life_insurer"))
    );
    let id = s["sender_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rs_"), "{id}");
    let by = |reason: Option<&str>| json!({"by": "screening officer", "reason": reason});
    let path = |action: &str| format!("/admin/v1/senders/{id}/{action}");
    let (status, s) = admin(&net, "POST", &path("approve"), Some(by(None)), t).await;
    assert_eq!((status, s["status"].as_str()), (200, Some("approved")), "{s}");
    let (status, body) = admin(&net, "POST", &path("suspend"), Some(by(None)), t).await;
    assert_eq!(status, 400, "a suspension needs a reason: {body}");
    let (status, s) = admin(
        &net,
        "POST",
        &path("suspend"),
        Some(by(Some("a forged deposit reported"))),
        t,
    )
    .await;
    assert_eq!((status, s["status"].as_str()), (200, Some("suspended")), "{s}");
    let (status, body) = admin(&net, "POST", &path("approve"), Some(by(None)), t).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("sender_state")),
        "{body}"
    );
    let (status, _) = admin(&net, "POST", &path("resume"), Some(by(None)), t).await;
    assert_eq!(status, 200);
    let (status, body) = admin(&net, "POST", &path("explode"), Some(by(None)), t).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin(&net, "GET", "/admin/v1/senders/rs_nope", None, t).await;
    assert_eq!(status, 400, "{body}");

    let (status, shown) = admin(&net, "GET", &format!("/admin/v1/senders/{id}"), None, t).await;
    assert_eq!(status, 200, "{shown}");
    let actions: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["applied", "approve", "suspend", "resume"]);
    assert_eq!(shown["events"][2]["reason"], "a forged deposit reported");
    assert_eq!(shown["events"][1]["actor"]["name"], "screening officer");
    assert_eq!(
        shown["sender"]["document_types"],
        json!(["life_insurance_certificate.v1"])
    );
    net.shutdown().await;
}
