use renkei_jose::{Alg, SigningKey, b64, sha256_b64};
use renkei_protocol::UnixMillis;
use serde_json::{Map, Value, json};

use crate::*;

const ISSUER: &str = "https://portal.example";
const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

fn client() -> ApiClient {
    let c = crate::tests::approved_client();
    assert!(c.is_active());
    c
}

fn par(extra: &[(&str, &str)], without: &[&str]) -> Params {
    let c = client();
    let details = json!([{
        "type": "self_information", "items": ["resident_tax_income"], "tax_year": 2025,
        "purpose": "住宅ローン審査", "data_life": "P90D", "frequency": "one_time"
    }])
    .to_string();
    let challenge = sha256_b64(b"verifier-verifier-verifier-verifier-verifier");
    let mut pairs: Vec<(String, String)> = vec![
        ("client_id".into(), c.id.to_string()),
        ("response_type".into(), "code".into()),
        ("redirect_uri".into(), c.app.redirect_uris[0].clone()),
        ("code_challenge".into(), challenge),
        ("code_challenge_method".into(), "S256".into()),
        ("state".into(), "xyz".into()),
        ("authorization_details".into(), details),
    ];
    pairs.retain(|(k, _)| !without.contains(&k.as_str()));
    for (k, v) in extra {
        pairs.retain(|(x, _)| x != k);
        pairs.push(((*k).into(), (*v).into()));
    }
    Params::parse(&pairs).expect("no repeats")
}

fn check(p: &Params) -> Result<AuthorizationRequest, OAuthError> {
    check_par(p, &client(), &renkei_catalog::sample().0, None)
}

#[test]
fn a_good_pushed_request_passes_and_each_rule_is_enforced() {
    let ok = check(&par(&[], &[])).expect("valid");
    assert_eq!(ok.state.as_deref(), Some("xyz"));
    assert_eq!(ok.details.items.len(), 1);

    let cases: Vec<(Params, &str)> = vec![
        (par(&[], &["code_challenge"]), "PKCE is required"),
        (
            par(&[("code_challenge_method", "plain")], &[]),
            "plain is not allowed",
        ),
        (par(&[], &["code_challenge_method"]), "must be S256"),
        (par(&[("code_challenge", "short")], &[]), "43-character"),
        (
            par(&[("redirect_uri", "https://evil.example/cb")], &[]),
            "not one this client registered",
        ),
        (par(&[], &["redirect_uri"]), "redirect_uri is required"),
        (
            par(&[("response_type", "token")], &[]),
            "response_type must be code",
        ),
        (
            par(&[("request_uri", "urn:x")], &[]),
            "request_uri is not accepted",
        ),
        (par(&[("request", "eyJ")], &[]), "request is not accepted"),
        (
            par(&[("client_id", "rc_AAAAAAAAAAAAAAAAAAAAAA")], &[]),
            "differs from the authenticated",
        ),
        (par(&[("response_mode", "fragment")], &[]), "response_mode"),
        (
            par(&[], &["authorization_details"]),
            "authorization_details is required",
        ),
        (par(&[("authorization_details", "[]")], &[]), "exactly one"),
    ];
    for (p, want) in cases {
        let e = check(&p).expect_err(want);
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
    let repeated = Params::parse(&[("state".into(), "a".into()), ("state".into(), "b".into())]);
    assert!(repeated.expect_err("repeat").to_string().contains("repeated"));

    let with_jkt = check_par(
        &par(&[("dpop_jkt", "abc")], &[]),
        &client(),
        &renkei_catalog::sample().0,
        Some("abd"),
    );
    assert!(
        with_jkt
            .expect_err("mismatch")
            .to_string()
            .contains("dpop_jkt differs")
    );
}

fn assertion(claims: Value) -> Map<String, Value> {
    claims.as_object().expect("object").clone()
}

#[test]
fn client_assertion_rules() {
    let id = client().id.to_string();
    let t = NOW.0 / 1000;
    let good = json!({"iss": id, "sub": id, "aud": ISSUER, "exp": t + 60, "iat": t, "jti": "j1"});
    let ok = check_assertion(&assertion(good.clone()), &id, ISSUER, NOW).expect("valid");
    assert_eq!(ok.jti, "j1");

    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        assertion(g)
    };
    let cases = vec![
        (with("aud", json!("https://portal.example/token")), "aud must be"),
        (
            with("aud", json!([ISSUER, "https://other.example"])),
            "aud must be",
        ),
        (with("iss", json!("rc_other")), "iss and sub"),
        (with("sub", json!("rc_other")), "iss and sub"),
        (with("exp", json!(t - 60)), "expired"),
        (with("exp", json!(t + 3600)), "too far"),
        (with("iat", json!(t + 60)), "iat is in the future"),
        (with("nbf", json!(t + 60)), "not valid yet"),
        (with("jti", json!("")), "jti is required"),
        (with("exp", json!("soon")), "exp is not a number"),
    ];
    for (claims, want) in cases {
        let e = check_assertion(&claims, &id, ISSUER, NOW).expect_err(want);
        assert_eq!(e.code, "invalid_client");
        assert!(e.description.contains(want), "{want}: {e}");
    }
    let mut array_aud = good.clone();
    array_aud["aud"] = json!([ISSUER]);
    check_assertion(&assertion(array_aud), &id, ISSUER, NOW).expect("a one-element array is the issuer");
}

fn dpop(key: &SigningKey, claims: Value, typ: &str) -> String {
    let mut h = Map::new();
    h.insert("typ".into(), typ.into());
    h.insert(
        "jwk".into(),
        serde_json::to_value(key.public_jwk()).expect("jwk json"),
    );
    key.sign(h, &claims).expect("sign")
}

#[test]
fn dpop_proof_rules() {
    let key = SigningKey::generate(Alg::Es256).expect("key");
    let t = NOW.0 / 1000;
    let url = "https://portal.example/token";
    let good = json!({"jti": "p1", "htm": "POST", "htu": url, "iat": t});
    let ok = check_dpop(&dpop(&key, good.clone(), "dpop+jwt"), "POST", url, None, NOW).expect("valid");
    assert_eq!(ok.jkt, key.public_jwk().thumbprint());

    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        dpop(&key, g, "dpop+jwt")
    };
    let cases = vec![
        (with("htm", json!("GET")), "htm must be POST"),
        (with("htu", json!("https://portal.example/par")), "htu must be"),
        (with("iat", json!(t + 60)), "future"),
        (with("iat", json!(t - 120)), "too old"),
        (with("jti", json!("")), "jti is required"),
        (dpop(&key, good.clone(), "JWT"), "typ must be dpop+jwt"),
    ];
    for (proof, want) in cases {
        let e = check_dpop(&proof, "POST", url, None, NOW).expect_err(want);
        assert_eq!(e.code, "invalid_dpop_proof");
        assert!(e.description.contains(want), "{want}: {e}");
    }
    // The query string does not count; a proof with alg none never parses.
    check_dpop(
        &dpop(&key, good.clone(), "dpop+jwt"),
        "POST",
        &format!("{url}?x=1"),
        None,
        NOW,
    )
    .expect("query ignored");
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"dpop+jwt"}"#),
        b64(good.to_string().as_bytes())
    );
    assert!(
        check_dpop(&none, "POST", url, None, NOW)
            .expect_err("none")
            .description
            .contains("\"none\"")
    );
    // A proof whose jwk is another key than the one that signed.
    let other = SigningKey::generate(Alg::Es256).expect("key");
    let mut h = Map::new();
    h.insert("typ".into(), "dpop+jwt".into());
    h.insert(
        "jwk".into(),
        serde_json::to_value(other.public_jwk()).expect("jwk"),
    );
    let swapped = key.sign(h, &good).expect("sign");
    assert!(check_dpop(&swapped, "POST", url, None, NOW).is_err());

    // At a resource: ath must be the token's hash.
    let token = "tok-123";
    let res = "https://portal.example/api/v1/self-information";
    let at = json!({"jti": "p2", "htm": "GET", "htu": res, "iat": t, "ath": sha256_b64(token.as_bytes())});
    check_dpop(&dpop(&key, at.clone(), "dpop+jwt"), "GET", res, Some(token), NOW).expect("bound");
    let e = check_dpop(&dpop(&key, at, "dpop+jwt"), "GET", res, Some("other-token"), NOW).expect_err("ath");
    assert!(e.description.contains("ath is not the hash"));
    let no_ath = json!({"jti": "p3", "htm": "GET", "htu": res, "iat": t});
    assert!(
        check_dpop(&dpop(&key, no_ath, "dpop+jwt"), "GET", res, Some(token), NOW)
            .expect_err("no ath")
            .description
            .contains("ath is required")
    );
}

#[test]
fn pkce() {
    let v = "a".repeat(43);
    check_pkce(&v, &sha256_b64(v.as_bytes())).expect("match");
    assert!(check_pkce(&"b".repeat(43), &sha256_b64(v.as_bytes())).is_err());
    assert!(check_pkce("short", &sha256_b64(b"short")).is_err());
    assert!(check_pkce(&format!("{}!", "a".repeat(42)), "x").is_err());
}

#[test]
fn grant_expiry_and_status() {
    let c = client();
    let one = SelfInformation::parse(
        &json!([{"type": "self_information", "items": ["household"], "purpose": "p",
                 "data_life": "P1D", "frequency": "one_time"}])
        .to_string(),
        &c,
        &renkei_catalog::sample().0,
    )
    .expect("valid");
    assert_eq!(Grant::expiry(&one, NOW), NOW.plus_ms(ONE_TIME_VALIDITY_MS));
    let mut periodic = one.clone();
    periodic.frequency = Frequency::Periodic;
    periodic.duration_days = Some(30);
    assert_eq!(Grant::expiry(&periodic, NOW), NOW.plus_ms(30 * 86_400_000));
    let mut g = Grant {
        id: GrantId::from_random([1; 16]),
        client: c.id.clone(),
        person: renkei_ids::LocalPersonId::parse("P-0001").expect("id"),
        details: one.clone(),
        created_at: NOW,
        expires_at: Grant::expiry(&one, NOW),
        revoked: None,
        preview_digest: "d".into(),
        artefact: "a.b.c".into(),
        person_proof: None,
    };
    assert_eq!(g.status(NOW), "active");
    assert_eq!(g.status(g.expires_at), "expired");
    g.revoked = Some((NOW, RevokedBy::Person));
    assert!(!g.is_active(NOW));
    assert_eq!(g.status(NOW), "revoked");
    assert!(GrantId::parse(g.id.as_str()).is_some());
    assert!(GrantId::parse("gr_short").is_none());
}
