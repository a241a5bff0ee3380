use serde_json::{Map, Value, json};

use crate::*;

fn header(typ: &str) -> Map<String, Value> {
    let mut h = Map::new();
    h.insert("typ".into(), typ.into());
    h
}

#[test]
fn rfc7638_thumbprint_example() {
    // RFC 7638 §3.1.
    let jwk = Jwk::parse(
        r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
    )
    .expect("the RFC's key parses");
    assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn each_allowed_algorithm_signs_and_verifies_and_detects_tampering() {
    for alg in Alg::ALL {
        let key = SigningKey::generate(alg).expect("key");
        let token = key
            .sign(header("JWT"), &json!({"iss": "client-1", "n": 1}))
            .expect("sign");
        let v = verify(&token, key.public_jwk()).expect("verifies");
        assert_eq!(v.header.alg, alg);
        assert_eq!(v.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(v.claims["iss"], "client-1");

        // One claim changed, signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(br#"{"iss":"client-1","n":2}"#),
            parts[2]
        );
        assert_eq!(
            verify(&forged, key.public_jwk()),
            Err(JoseError::BadSignature),
            "{alg:?}"
        );

        // Another key of the same algorithm.
        let other = SigningKey::generate(alg).expect("key");
        assert_eq!(verify(&token, other.public_jwk()), Err(JoseError::BadSignature));

        // The PKCS#8 round trip keeps the key and its kid.
        let again = SigningKey::from_pkcs8(alg, key.pkcs8()).expect("reload");
        assert_eq!(again.kid(), key.kid());
        verify(
            &again.sign(Map::new(), &json!({})).expect("sign"),
            key.public_jwk(),
        )
        .expect("same key");
    }
}

#[test]
fn disallowed_algorithms_are_refused_by_name() {
    let key = SigningKey::generate(Alg::Es256).expect("key");
    let token = key.sign(Map::new(), &json!({"a": 1})).expect("sign");
    let payload = token.split('.').nth(1).expect("payload");
    for alg in ["none", "HS256", "RS256", "ES384", "ES256K", ""] {
        let h = b64(json!({"alg": alg}).to_string().as_bytes());
        let t = format!("{h}.{payload}.");
        assert_eq!(
            decode_unverified(&t).map(|_| ()),
            Err(JoseError::AlgorithmNotAllowed(alg.to_owned())),
            "{alg}"
        );
    }
    let no_alg = format!("{}.{payload}.", b64(b"{}"));
    assert!(matches!(decode_unverified(&no_alg), Err(JoseError::Malformed(_))));
    let crit = format!(
        "{}.{payload}.AA",
        b64(json!({"alg": "ES256", "crit": ["b64"], "b64": false})
            .to_string()
            .as_bytes())
    );
    assert!(matches!(decode_unverified(&crit), Err(JoseError::Malformed(_))));
    for bad in ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.!!.AA"] {
        assert!(
            matches!(decode_unverified(bad), Err(JoseError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn a_key_of_another_type_or_alg_member_cannot_verify() {
    let es = SigningKey::generate(Alg::Es256).expect("key");
    let ed = SigningKey::generate(Alg::EdDsa).expect("key");
    let token = es.sign(Map::new(), &json!({})).expect("sign");
    assert!(matches!(
        verify(&token, ed.public_jwk()),
        Err(JoseError::KeyMismatch { .. })
    ));
    let mut wrong_alg = es.public_jwk().clone();
    wrong_alg.alg = Some("ES384".into());
    assert!(matches!(
        verify(&token, &wrong_alg),
        Err(JoseError::KeyMismatch { .. })
    ));
}

#[test]
fn jwks_parsing_refuses_private_keys_small_rsa_and_other_curves() {
    let k = SigningKey::generate(Alg::Es256).expect("key");
    let jwks = Jwks {
        keys: vec![k.public_jwk().clone()],
    };
    let parsed = Jwks::parse(&jwks.to_json()).expect("round trip");
    assert_eq!(parsed, jwks);
    assert_eq!(
        parsed
            .signing_key(None, Alg::Es256)
            .expect("found")
            .kid
            .as_deref(),
        Some(k.kid())
    );
    assert!(matches!(
        parsed.signing_key(Some("other"), Alg::Es256),
        Err(JoseError::NoMatchingKey { .. })
    ));
    assert!(matches!(
        parsed.signing_key(None, Alg::Ps256),
        Err(JoseError::NoMatchingKey { .. })
    ));

    let mut with_d: Value = serde_json::from_str(&jwks.to_json()).expect("json");
    with_d["keys"][0]["d"] = "AAAA".into();
    let e = Jwks::parse(&with_d.to_string()).expect_err("private member");
    assert!(e.to_string().contains("private key members (d)"), "{e}");

    let small_rsa = json!({"keys": [{"kty": "RSA", "n": b64(&[0xc5; 128]), "e": "AQAB"}]});
    let e = Jwks::parse(&small_rsa.to_string()).expect_err("1024-bit");
    assert!(e.to_string().contains("1024 bits"), "{e}");

    let p384 = json!({"keys": [{"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[1; 48])}]});
    assert!(
        Jwks::parse(&p384.to_string())
            .expect_err("P-384")
            .to_string()
            .contains("P-384")
    );
    assert!(Jwks::parse(r#"{"keys": []}"#).is_err());
    assert!(Jwks::parse(r#"{"kty": "EC"}"#).is_err());
}

#[test]
fn jwe_round_trip_and_tampering() {
    let recipient = DecryptionKey::generate().expect("key");
    let secret = "課税所得 4,210,000 円".as_bytes();
    let jwe = encrypt(secret, recipient.public_jwk(), Some("JWT")).expect("encrypt");
    assert_eq!(jwe.split('.').count(), 5);
    assert!(!jwe.contains("4,210,000"));
    assert_eq!(recipient.decrypt(&jwe).expect("decrypt"), secret);

    // Reloaded from its DER, the key still opens it.
    let reloaded = DecryptionKey::from_der(&recipient.to_der().expect("der")).expect("reload");
    assert_eq!(reloaded.public_jwk(), recipient.public_jwk());
    assert_eq!(reloaded.decrypt(&jwe).expect("decrypt"), secret);

    let other = DecryptionKey::generate().expect("key");
    assert_eq!(
        other.decrypt(&jwe),
        Err(JoseError::Decrypt("authentication failed"))
    );

    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    let mut ct = unb64("ct", &parts[3]).expect("b64");
    ct[0] ^= 1;
    parts[3] = b64(&ct);
    assert_eq!(
        recipient.decrypt(&parts.join(".")),
        Err(JoseError::Decrypt("authentication failed"))
    );
    // The header is authenticated too.
    let mut h: Value =
        serde_json::from_slice(&unb64("h", jwe.split('.').next().expect("h")).expect("b64")).expect("json");
    h["cty"] = "text/plain".into();
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    parts[0] = b64(h.to_string().as_bytes());
    assert!(recipient.decrypt(&parts.join(".")).is_err());

    let signing_only = SigningKey::generate(Alg::EdDsa).expect("key");
    assert!(matches!(
        encrypt(b"x", signing_only.public_jwk(), None),
        Err(JoseError::UnsupportedKey(_))
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_tokens_never_panic(s in "[A-Za-z0-9_.-]{0,200}") {
        let _ = decode_unverified(&s);
    }
}
