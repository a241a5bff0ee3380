use renkei_catalog::Catalog;
use renkei_ids::CorporateNumber;
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_protocol::UnixMillis;

use crate::*;

fn catalog() -> Catalog {
    renkei_catalog::sample().0
}

fn corp(n: u8) -> CorporateNumber {
    // Any 12 digits with their check digit in front.
    let body = format!("{:012}", 100_000_000_000u64 + u64::from(n));
    (0..10)
        .map(|c| format!("{c}{body}"))
        .find_map(|s| CorporateNumber::parse(&s).ok())
        .expect("one check digit fits")
}

fn form() -> ApplicationForm {
    let key = SigningKey::generate(Alg::Es256).expect("key");
    let jwks = Jwks {
        keys: vec![key.public_jwk().clone()],
    };
    ApplicationForm {
        corporate_number: corp(1).to_string(),
        name: "れんけい銀行".into(),
        name_en: Some("Renkei Bank".into()),
        purpose: "住宅ローンの審査のため、所得を確認します。".into(),
        redirect_uris: vec![
            "https://bank.example/cb".into(),
            "http://127.0.0.1:8080/cb".into(),
        ],
        jwks: Some(serde_json::from_str(&jwks.to_json()).expect("json")),
        jwks_uri: None,
        token_endpoint_auth_method: None,
        tls_client_certificate_sha256: None,
        items: vec!["resident_tax_income".into(), "household".into()],
        max_data_life_days: 365,
        contact: "api@bank.example".into(),
    }
}

pub(crate) fn approved_client() -> ApiClient {
    client(ClientStatus::Approved)
}

fn client(status: ClientStatus) -> ApiClient {
    let app = form().validate(&catalog()).expect("valid");
    let mut c = ApiClient::new(ClientId::from_random([7; 16]), app, UnixMillis(1_000));
    c.status = status;
    c
}

#[test]
fn a_valid_application_is_accepted() {
    let app = form().validate(&catalog()).expect("valid");
    assert_eq!(app.name, "れんけい銀行");
    assert_eq!(app.items.len(), 2);
    assert_eq!(app.auth, ClientAuth::PrivateKeyJwt);
    assert!(matches!(app.keys, ClientKeys::Jwks(_)));
}

#[test]
fn each_bad_field_is_named() {
    let c = catalog();
    type Change = Box<dyn Fn(&mut ApplicationForm)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "corporate_number",
            Box::new(|f| f.corporate_number = "1234567890123".into()),
        ),
        ("name", Box::new(|f| f.name = "  ".into())),
        ("name", Box::new(|f| f.name = "x".repeat(101))),
        ("purpose", Box::new(|f| f.purpose = String::new())),
        ("redirect_uris", Box::new(|f| f.redirect_uris.clear())),
        (
            "redirect_uris",
            Box::new(|f| f.redirect_uris = vec!["http://bank.example/cb".into()]),
        ),
        (
            "redirect_uris",
            Box::new(|f| f.redirect_uris = vec!["https://bank.example/cb#x".into()]),
        ),
        (
            "redirect_uris",
            Box::new(|f| f.redirect_uris = vec!["bank.example/cb".into()]),
        ),
        (
            "redirect_uris",
            Box::new(|f| f.redirect_uris = vec!["javascript://x/".into()]),
        ),
        (
            "redirect_uris",
            Box::new(|f| f.redirect_uris = vec!["https://u@bank.example/".into()]),
        ),
        (
            "jwks",
            Box::new(|f| f.jwks_uri = Some("https://bank.example/jwks".into())),
        ),
        ("jwks", Box::new(|f| f.jwks = None)),
        (
            "jwks",
            Box::new(|f| f.jwks = Some(serde_json::json!({"keys": [{"kty": "oct", "k": "AA"}]}))),
        ),
        (
            "token_endpoint_auth_method",
            Box::new(|f| f.token_endpoint_auth_method = Some("client_secret_basic".into())),
        ),
        (
            "tls_client_certificate_sha256",
            Box::new(|f| f.token_endpoint_auth_method = Some("tls_client_auth".into())),
        ),
        ("items", Box::new(|f| f.items.clear())),
        ("items", Box::new(|f| f.items = vec!["credit_score".into()])),
        ("items", Box::new(|f| f.items = vec!["Bad Item".into()])),
        ("max_data_life_days", Box::new(|f| f.max_data_life_days = 0)),
        (
            "max_data_life_days",
            Box::new(|f| f.max_data_life_days = MAX_DATA_LIFE_DAYS + 1),
        ),
        ("contact", Box::new(|f| f.contact = "\u{7}".into())),
    ];
    for (field, change) in cases {
        let mut f = form();
        change(&mut f);
        let e = f.validate(&c).expect_err(field);
        assert_eq!(e.field, field, "{e}");
    }
}

#[test]
fn screening_and_life_of_a_client() {
    let now = UnixMillis(2_000);
    let admin = || Actor::Administrator("screening-officer".into());
    let applied = client(ClientStatus::Applied);
    let (approved, ev) = apply(&applied, &ClientAction::Approve, admin(), now).expect("approve");
    assert_eq!(approved.status, ClientStatus::Approved);
    assert!(approved.is_active());
    assert_eq!(
        (ev.from, ev.to, ev.action.as_str()),
        (Some(ClientStatus::Applied), ClientStatus::Approved, "approve")
    );

    let (suspended, ev) = apply(
        &approved,
        &ClientAction::Suspend {
            reason: "unusual volume".into(),
        },
        Actor::Monitor,
        now,
    )
    .expect("suspend");
    assert!(!suspended.is_active());
    assert_eq!(ev.reason.as_deref(), Some("unusual volume"));
    assert_eq!(suspended.status_reason.as_deref(), Some("unusual volume"));

    let (resumed, _) = apply(&suspended, &ClientAction::Resume, admin(), now).expect("resume");
    assert!(resumed.is_active());
    assert_eq!(resumed.status_reason, None);

    let successor = corp(2);
    let (moved, ev) = apply(
        &resumed,
        &ClientAction::Transfer {
            to: successor,
            reason: "merger".into(),
        },
        admin(),
        now,
    )
    .expect("transfer");
    assert_eq!(moved.app.corporate_number, successor);
    assert_eq!(moved.id, resumed.id, "the client id survives the merger");
    assert_eq!(ev.previous_corporate_number, Some(resumed.app.corporate_number));
    assert!(moved.is_active());

    let (revoked, _) = apply(
        &moved,
        &ClientAction::Revoke {
            reason: "contract ended".into(),
        },
        admin(),
        now,
    )
    .expect("revoke");
    for action in [
        ClientAction::Approve,
        ClientAction::Resume,
        ClientAction::Suspend { reason: "x".into() },
        ClientAction::Revoke { reason: "x".into() },
        ClientAction::Transfer {
            to: corp(3),
            reason: "x".into(),
        },
    ] {
        assert!(
            matches!(
                apply(&revoked, &action, admin(), now),
                Err(TransitionError::NotFrom { from: "revoked", .. })
            ),
            "{action:?}"
        );
    }
}

#[test]
fn refused_transitions_say_why() {
    let now = UnixMillis(2_000);
    let a = Actor::Administrator("x".into());
    let applied = client(ClientStatus::Applied);
    assert_eq!(
        apply(
            &applied,
            &ClientAction::Reject { reason: " ".into() },
            a.clone(),
            now
        ),
        Err(TransitionError::ReasonRequired("reject"))
    );
    assert!(matches!(
        apply(
            &applied,
            &ClientAction::Suspend { reason: "x".into() },
            a.clone(),
            now
        ),
        Err(TransitionError::NotFrom {
            action: "suspend",
            from: "applied"
        })
    ));
    let (rejected, ev) = apply(
        &applied,
        &ClientAction::Reject {
            reason: "purpose unclear".into(),
        },
        a.clone(),
        now,
    )
    .expect("reject");
    assert_eq!(ev.to, ClientStatus::Rejected);
    assert!(apply(&rejected, &ClientAction::Approve, a.clone(), now).is_err());
    let approved = client(ClientStatus::Approved);
    let own = approved.app.corporate_number;
    assert_eq!(
        apply(
            &approved,
            &ClientAction::Transfer {
                to: own,
                reason: "m".into()
            },
            a,
            now
        ),
        Err(TransitionError::SameCorporation)
    );
}

fn rar(json: serde_json::Value) -> Result<SelfInformation, RarError> {
    SelfInformation::parse(&json.to_string(), &client(ClientStatus::Approved), &catalog())
}

#[test]
fn a_self_information_request_is_checked_against_the_client() {
    let ok = rar(serde_json::json!([{
        "type": "self_information", "items": ["resident_tax_income"], "tax_year": 2025,
        "purpose": "住宅ローン審査", "data_life": "P90D", "frequency": "one_time"
    }]))
    .expect("valid");
    assert_eq!(ok.data_life_days, 90);
    assert_eq!(ok.tax_year, Some(2025));
    let round = SelfInformation::parse(
        &ok.to_json().to_string(),
        &client(ClientStatus::Approved),
        &catalog(),
    )
    .expect("canonical form parses");
    assert_eq!(round, ok);

    let periodic = rar(serde_json::json!([{
        "type": "self_information", "items": ["household"], "purpose": "家族割引",
        "data_life": "P1Y", "frequency": "periodic", "duration": "P6M"
    }]))
    .expect("valid");
    assert_eq!(
        (periodic.data_life_days, periodic.duration_days),
        (365, Some(180))
    );

    let base = serde_json::json!({
        "type": "self_information", "items": ["resident_tax_income"], "tax_year": 2025,
        "purpose": "審査", "data_life": "P90D", "frequency": "one_time"
    });
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("JSON array", serde_json::json!({"type": "self_information"})),
        ("exactly one", serde_json::json!([])),
        ("exactly one", serde_json::json!([base.clone(), base.clone()])),
        (
            "type must be",
            serde_json::json!([{"type": "payment_initiation"}]),
        ),
        ("not approved for", {
            let mut b = base.clone();
            b["items"] = serde_json::json!(["pension_benefits"]);
            serde_json::json!([b])
        }),
        ("not an item", {
            let mut b = base.clone();
            b["items"] = serde_json::json!(["credit_score"]);
            serde_json::json!([b])
        }),
        ("not both", {
            let mut b = base.clone();
            b["period"] = serde_json::json!({"from": 2021, "to": 2025});
            serde_json::json!([b])
        }),
        ("at most 10 years", {
            let mut b = base.clone();
            b.as_object_mut().expect("obj").remove("tax_year");
            b["period"] = serde_json::json!({"from": 2010, "to": 2025});
            serde_json::json!([b])
        }),
        ("from ≤ to", {
            let mut b = base.clone();
            b.as_object_mut().expect("obj").remove("tax_year");
            b["period"] = serde_json::json!({"from": 2025, "to": 2021});
            serde_json::json!([b])
        }),
        ("tax_year (or a period", {
            let mut b = base.clone();
            b.as_object_mut().expect("obj").remove("tax_year");
            serde_json::json!([b])
        }),
        ("exceeds the 365", {
            let mut b = base.clone();
            b["data_life"] = "P2Y".into();
            serde_json::json!([b])
        }),
        ("ISO 8601", {
            let mut b = base.clone();
            b["data_life"] = "90 days".into();
            serde_json::json!([b])
        }),
        ("purpose", {
            let mut b = base.clone();
            b["purpose"] = " ".into();
            serde_json::json!([b])
        }),
        ("needs a duration", {
            let mut b = base.clone();
            b["frequency"] = "periodic".into();
            serde_json::json!([b])
        }),
        ("only for periodic", {
            let mut b = base.clone();
            b["duration"] = "P1M".into();
            serde_json::json!([b])
        }),
        ("unknown field", {
            let mut b = base.clone();
            b["locations"] = serde_json::json!(["x"]);
            serde_json::json!([b])
        }),
    ];
    for (want, json) in cases {
        let e = rar(json.clone()).expect_err(want).to_string();
        assert!(e.contains(want), "{json}: {e}");
    }
}

#[test]
fn durations() {
    assert_eq!(parse_days("P30D"), Some(30));
    assert_eq!(parse_days("P2M"), Some(60));
    assert_eq!(parse_days("P1Y"), Some(365));
    // Multi-byte last characters are refused, not split inside (found by
    // the authorization_details fuzzer: `P9ayп` panicked).
    for bad in [
        "", "P", "PD", "P0D", "30D", "P1W", "P-1D", "P1.5D", "P999999D", "P9ayп", "Pп", "P1日",
    ] {
        assert_eq!(parse_days(bad), None, "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn redirect_uri_checks_never_panic(s in "\\PC{0,80}") {
        let _ = check_redirect_uri(&s);
    }
}
