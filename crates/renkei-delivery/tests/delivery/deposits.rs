//! Senders, their screening, and signed deposits: every refusal names what
//! is wrong, and the stored documents decide replays and corrections.

use std::path::Path;

use renkei_consent::{Actor, ClientAction, ClientStatus};
use renkei_delivery::{
    DEPOSIT_TYP, Decision, DepositRefusal, DocumentTypes, HandleKey, Sender, SenderForm, SenderId,
    SenderRequest, StoredVersion, check_deposit, decide,
};
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_protocol::UnixMillis;
use serde_json::{Map, Value, json};

const NOW: UnixMillis = UnixMillis(1_767_000_000_000);

fn example(id: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/examples/{id}.valid.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn jwks(keys: &[&SigningKey]) -> Value {
    let jwks = Jwks {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    };
    serde_json::from_str(&jwks.to_json()).unwrap()
}

fn form(key: &SigningKey) -> SenderForm {
    SenderForm {
        corporate_number: "7010001088960".into(),
        name: "株式会社みらい生命".into(),
        name_en: Some("Mirai Life Insurance".into()),
        kind: "life_insurer".into(),
        jwks: jwks(&[key]),
        document_types: vec!["life_insurance_certificate.v1".into()],
        contact: "delivery@mirai-life.example".into(),
    }
}

fn approved(types: &DocumentTypes, key: &SigningKey) -> Sender {
    let app = form(key).validate(types).unwrap();
    let s = Sender::new(SenderId::from_random([3; 16]), app, NOW);
    renkei_consent::apply(
        &s,
        &ClientAction::Approve,
        Actor::Administrator("admin".into()),
        NOW,
    )
    .unwrap()
    .0
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut h = Map::new();
    h.insert("typ".into(), DEPOSIT_TYP.into());
    key.sign(h, claims).unwrap()
}

fn claims(sender: &Sender, document_id: &str, document: Value) -> Value {
    let handle = HandleKey::from_bytes([9; 32]).handle(&sender.id, "person-1");
    json!({
        "kind": "deposit",
        "document_id": document_id,
        "type": "life_insurance_certificate.v1",
        "handle": handle.as_str(),
        "issued_at": NOW.0 / 1000,
        "document": document,
    })
}

fn refused(types: &DocumentTypes, sender: &Sender, jws: &str) -> DepositRefusal {
    check_deposit(jws, sender, types, NOW).expect_err("refused")
}

#[test]
fn sender_applications_name_the_wrong_field_and_screening_records_every_change() {
    let types = DocumentTypes::builtin().unwrap();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let app = form(&key).validate(&types).unwrap();
    assert_eq!(app.document_types[0].to_string(), "life_insurance_certificate.v1");

    for (change, field, words) in [
        (
            json!({"corporate_number": "7010001088961"}),
            "corporate_number",
            "check digit",
        ),
        (json!({"name": "  "}), "name", "empty"),
        (json!({"kind": "casino"}), "kind", "employer"),
        (json!({"jwks": []}), "jwks", "JWKS"),
        (
            json!({"document_types": []}),
            "document_types",
            "between 1 and 20",
        ),
        (
            json!({"document_types": ["withholding_slip.v1"]}),
            "document_types",
            "does not issue",
        ),
        (
            json!({"document_types": ["withholding_report.v1"]}),
            "document_types",
            "filed, not deposited",
        ),
        (
            json!({"document_types": ["life_insurance_certificate.v9"]}),
            "document_types",
            "not a document type",
        ),
    ] {
        let mut f = serde_json::to_value(form(&key)).unwrap();
        for (k, v) in change.as_object().unwrap() {
            f[k] = v.clone();
        }
        let f: SenderForm = serde_json::from_value(f).unwrap();
        let e = f.validate(&types).expect_err(&format!("{change} accepted"));
        assert_eq!(e.field, field, "{change}: {e}");
        assert!(
            e.to_string().to_lowercase().contains(&words.to_lowercase()),
            "{change}: {e}"
        );
    }
    // A JWKS with a private key is refused, not stripped.
    let mut f = form(&key);
    f.jwks["keys"][0]["d"] = "AAAA".into();
    assert_eq!(f.validate(&types).unwrap_err().field, "jwks");

    let s = Sender::new(SenderId::from_random([1; 16]), app, NOW);
    assert!(!s.is_active());
    let admin = || Actor::Administrator("screening officer".into());
    let (s, e) = renkei_consent::apply(&s, &ClientAction::Approve, admin(), NOW).unwrap();
    assert!(s.is_active());
    assert_eq!(
        (e.from, e.to, e.action.as_str()),
        (Some(ClientStatus::Applied), ClientStatus::Approved, "approve")
    );
    let suspend = ClientAction::Suspend {
        reason: "a forged deposit was reported".into(),
    };
    let (s, e) = renkei_consent::apply(&s, &suspend, admin(), NOW).unwrap();
    assert!(!s.is_active());
    assert_eq!(e.reason.as_deref(), Some("a forged deposit was reported"));
    assert!(renkei_consent::apply(&s, &ClientAction::Approve, admin(), NOW).is_err());
    let blank = ClientAction::Revoke { reason: " ".into() };
    assert!(renkei_consent::apply(&s, &blank, admin(), NOW).is_err());
}

#[test]
fn a_signed_deposit_is_checked_end_to_end_and_each_defect_is_named() {
    let types = DocumentTypes::builtin().unwrap();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let sender = approved(&types, &key);
    let doc = example("life_insurance_certificate.v1");
    let good = claims(&sender, "LI-2025-000123", doc.clone());
    let SenderRequest::Deposit(d) = check_deposit(&sign(&key, &good), &sender, &types, NOW).unwrap() else {
        panic!("not a deposit")
    };
    assert_eq!(d.tax_year, 2025);
    assert_eq!(d.type_id.to_string(), "life_insurance_certificate.v1");
    assert_eq!(d.kid.as_deref(), Some(key.kid()));

    // Signed again later, the same document has the same digest.
    let mut later = good.clone();
    later["issued_at"] = (NOW.0 / 1000 + 60).into();
    let SenderRequest::Deposit(again) =
        check_deposit(&sign(&key, &later), &sender, &types, NOW.plus_ms(120_000)).unwrap()
    else {
        panic!()
    };
    assert_eq!(again.digest, d.digest);

    // Another key (Ed25519 or a second ES256 key) is not the sender's.
    let other = SigningKey::generate(Alg::EdDsa).unwrap();
    assert_eq!(
        refused(&types, &sender, &sign(&other, &good)).code(),
        "bad_signature"
    );
    let other = SigningKey::generate(Alg::Es256).unwrap();
    let mut h = Map::new();
    h.insert("typ".into(), DEPOSIT_TYP.into());
    h.insert("kid".into(), key.kid().into());
    let forged = other.sign(h, &good).unwrap();
    assert!(matches!(
        refused(&types, &sender, &forged),
        DepositRefusal::BadSignature { .. }
    ));
    // A flipped payload byte.
    let jws = sign(&key, &good);
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let tampered = renkei_jose::b64(
        good.to_string()
            .replace("LI-2025-000123", "LI-2025-000124")
            .as_bytes(),
    );
    parts[1] = tampered;
    assert!(matches!(
        refused(&types, &sender, &parts.join(".")),
        DepositRefusal::BadSignature { .. }
    ));

    // The typ, the size, the form.
    let untyped = key.sign(Map::new(), &good).unwrap();
    assert_eq!(refused(&types, &sender, &untyped), DepositRefusal::WrongTyp);
    let huge = "x".repeat(renkei_delivery::MAX_DEPOSIT_BYTES + 1);
    assert_eq!(refused(&types, &sender, &huge).code(), "payload_too_large");
    assert_eq!(refused(&types, &sender, "not.a.jws").code(), "malformed");

    let defect = |change: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        change(&mut c);
        refused(&types, &sender, &sign(&key, &c))
    };
    let e = defect(&|c| c["document"]["annual_premium"] = (-1).into());
    assert_eq!(e.code(), "schema_violation");
    assert!(e.to_string().starts_with("document/annual_premium"), "{e}");
    let e = defect(&|c| c["document"]["certified_as_of"] = "2025-02-30".into());
    assert!(e.to_string().starts_with("document/certified_as_of"), "{e}");
    let e = defect(&|c| {
        c["document"]["category"] = "care_medical".into();
        c["document"]["contract"] = "old".into();
    });
    assert!(e.to_string().starts_with("document/contract"), "{e}");
    let e = defect(&|c| c["type"] = "withholding_slip.v1".into());
    assert_eq!(e.code(), "document_type_not_approved", "{e}");
    let e = defect(&|c| c["type"] = "withholding_report.v1".into());
    assert_eq!(e.code(), "unknown_document_type", "{e}");
    let e = defect(&|c| c["handle"] = "my-number-123456789018".into());
    assert!(e.to_string().starts_with("handle:"), "{e}");
    let e = defect(&|c| c["document_id"] = "has spaces".into());
    assert!(e.to_string().starts_with("document_id:"), "{e}");
    let e = defect(&|c| c["issued_at"] = (NOW.0 / 1000 + 3600).into());
    assert_eq!(e, DepositRefusal::FromTheFuture(NOW.0 / 1000 + 3600));
    let e = defect(&|c| c["extra"] = true.into());
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    let e = defect(&|c| c["replaces"] = c["document_id"].clone());
    assert_eq!(e.code(), "bad_replaces");
    let e = defect(&|c| {
        c.as_object_mut().unwrap().remove("document");
    });
    assert!(e.to_string().contains("missing field `document`"), "{e}");

    // A suspended sender may not deposit, even with a good signature.
    let suspend = ClientAction::Suspend {
        reason: "under review".into(),
    };
    let (suspended, _) = renkei_consent::apply(&sender, &suspend, Actor::Monitor, NOW).unwrap();
    assert_eq!(
        refused(&types, &suspended, &sign(&key, &good)).code(),
        "sender_not_active"
    );
    // Without the sender's key, nobody learns that it is suspended.
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    assert_eq!(
        refused(&types, &suspended, &sign(&stranger, &good)).code(),
        "bad_signature"
    );

    // A void names its document and a reason.
    let void = json!({"kind": "void", "document_id": "LI-2025-000123", "issued_at": NOW.0 / 1000, "reason": "issued to the wrong policyholder"});
    assert!(matches!(
        check_deposit(&sign(&key, &void), &sender, &types, NOW).unwrap(),
        SenderRequest::Void(v) if v.document_id == "LI-2025-000123"
    ));
    let mut blank = void.clone();
    blank["reason"] = "".into();
    assert!(
        refused(&types, &sender, &sign(&key, &blank))
            .to_string()
            .starts_with("reason:")
    );

    // A feed request is signed lately and asks from a time.
    let feed = json!({"kind": "feed", "issued_at": NOW.0 / 1000, "since": 1_700_000_000_000i64});
    assert_eq!(
        check_deposit(&sign(&key, &feed), &sender, &types, NOW).unwrap(),
        SenderRequest::Feed {
            since: UnixMillis(1_700_000_000_000)
        }
    );
    let mut old = feed.clone();
    old["issued_at"] = (NOW.0 / 1000 - 301).into();
    assert!(
        refused(&types, &sender, &sign(&key, &old))
            .to_string()
            .starts_with("issued_at:"),
        "a captured feed request is useless later"
    );
    let mut negative = feed.clone();
    negative["since"] = (-1).into();
    assert!(
        refused(&types, &sender, &sign(&key, &negative))
            .to_string()
            .starts_with("since:")
    );
    let mut extra = feed.clone();
    extra["document_id"] = "X".into();
    assert_eq!(refused(&types, &sender, &sign(&key, &extra)).code(), "malformed");
    assert_eq!(
        refused(&types, &sender, &sign(&stranger, &feed)).code(),
        "bad_signature"
    );
}

#[test]
fn references_are_short_plain_text() {
    for good in ["EMP-0042", "a", "policy.123_x", &"9".repeat(64)] {
        assert!(renkei_delivery::check_reference(good).is_ok(), "{good}");
    }
    for bad in ["", &"9".repeat(65), "a b", "社員1", "x/y", "<script>"] {
        assert!(renkei_delivery::check_reference(bad).is_err(), "{bad}");
    }
}

#[test]
fn replays_conflicts_corrections_and_links_are_decided_from_what_is_stored() {
    let types = DocumentTypes::builtin().unwrap();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let sender = approved(&types, &key);
    let doc = example("life_insurance_certificate.v1");
    let deposit = |id: &str, replaces: Option<&str>, premium: i64| {
        let mut d = doc.clone();
        d["annual_premium"] = premium.into();
        let mut c = claims(&sender, id, d);
        if let Some(r) = replaces {
            c["replaces"] = r.into();
        }
        match check_deposit(&sign(&key, &c), &sender, &types, NOW).unwrap() {
            SenderRequest::Deposit(d) => d,
            other => panic!("{other:?}"),
        }
    };
    let first = deposit("A-1", None, 80_000);
    assert_eq!(
        decide(&first, None, None, true),
        Ok(Decision::Store { version: 1 })
    );
    assert_eq!(decide(&first, None, None, false), Err(DepositRefusal::NotLinked));
    let stored = StoredVersion {
        document_id: "A-1".into(),
        type_id: first.type_id.clone(),
        handle: first.handle.clone(),
        version: 1,
        digest: first.digest,
        superseded: false,
        voided: false,
    };
    // The same again: a replay, even after unlinking; other content: a conflict.
    assert_eq!(
        decide(&first, Some(&stored), None, false),
        Ok(Decision::Replay { version: 1 })
    );
    let changed = deposit("A-1", None, 90_000);
    assert_eq!(
        decide(&changed, Some(&stored), None, true).unwrap_err().code(),
        "conflict"
    );

    // A correction supersedes the latest version only, of the same person and type.
    let fix = deposit("A-2", Some("A-1"), 90_000);
    assert_eq!(
        decide(&fix, None, Some(&stored), true),
        Ok(Decision::Store { version: 2 })
    );
    assert_eq!(decide(&fix, None, None, true).unwrap_err().code(), "bad_replaces");
    let superseded = StoredVersion {
        superseded: true,
        ..stored.clone()
    };
    assert!(
        decide(&fix, None, Some(&superseded), true)
            .unwrap_err()
            .to_string()
            .contains("already replaced")
    );
    let voided = StoredVersion {
        voided: true,
        ..stored.clone()
    };
    assert!(
        decide(&fix, None, Some(&voided), true)
            .unwrap_err()
            .to_string()
            .contains("voided")
    );
    let elsewhere = StoredVersion {
        handle: HandleKey::from_bytes([9; 32]).handle(&sender.id, "person-2"),
        ..stored.clone()
    };
    assert!(
        decide(&fix, None, Some(&elsewhere), true)
            .unwrap_err()
            .to_string()
            .contains("another person")
    );
}
