//! The deposit format against a third-party JOSE implementation: jose
//! (panva/jose, Node) signs deposits with ES256 and Ed25519 keys that
//! check_deposit accepts from the JWKS a sender would register, and
//! verifies a deposit renkei signed (`examples/interop/deposit.mjs`).

use std::io::Write as _;
use std::path::Path;

use renkei_consent::{Actor, ClientAction};
use renkei_delivery::{
    DEPOSIT_TYP, DepositRefusal, DocumentTypes, HandleKey, Sender, SenderForm, SenderId, SenderRequest,
    check_deposit,
};
use renkei_jose::{Alg, SigningKey};
use renkei_protocol::UnixMillis;
use serde_json::{Map, Value, json};

#[test]
fn deposits_signed_by_jose_are_accepted_and_jose_verifies_ours() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    assert!(
        examples.join("node_modules/jose").is_dir(),
        "run `npm ci` in examples first (scripts/test does)"
    );
    let types = DocumentTypes::builtin().unwrap();
    let now = UnixMillis(1_767_000_000_000);
    let doc: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("schemas/examples/life_insurance_certificate.v1.valid.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let sender_id = SenderId::from_random([4; 16]);
    let handle = HandleKey::from_bytes([6; 32]).handle(&sender_id, "person-1");
    let claims = json!({
        "kind": "deposit",
        "document_id": "JOSE-1",
        "type": "life_insurance_certificate.v1",
        "handle": handle.as_str(),
        "issued_at": now.0 / 1000,
        "document": doc,
    });
    let ours = SigningKey::generate(Alg::Es256).unwrap();
    let mut header = Map::new();
    header.insert("typ".into(), DEPOSIT_TYP.into());
    let our_jws = ours.sign(header, &claims).unwrap();
    let mut our_jwk: Value = serde_json::to_value(ours.public_jwk()).unwrap();
    our_jwk["alg"] = "ES256".into();

    let mut node = std::process::Command::new("node")
        .arg(examples.join("interop/deposit.mjs"))
        .current_dir(&examples)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (scripts/test installs it)");
    let input = json!({"sign": [claims.clone()], "verify": {"jws": our_jws, "jwk": our_jwk}});
    node.stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = node.wait_with_output().unwrap();
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{reply}");
    // jose read our deposit as we wrote it.
    assert_eq!(reply["verified"], claims);

    // A sender registering jose's keys; its deposits pass every check.
    let form = SenderForm {
        corporate_number: "4020001095513".into(),
        name: "あおば生命保険株式会社".into(),
        name_en: None,
        kind: "life_insurer".into(),
        jwks: reply["jwks"].clone(),
        document_types: vec!["life_insurance_certificate.v1".into()],
        contact: "it@aoba-life.example".into(),
    };
    let applied = Sender::new(sender_id, form.validate(&types).unwrap(), now);
    let (sender, _) = renkei_consent::apply(&applied, &ClientAction::Approve, Actor::Monitor, now).unwrap();
    let signed = reply["signed"].as_array().unwrap();
    assert_eq!(signed.len(), 2);
    let mut kids = Vec::new();
    for jws in signed {
        match check_deposit(jws.as_str().unwrap(), &sender, &types, now).unwrap() {
            SenderRequest::Deposit(d) => {
                assert_eq!(d.document_id, "JOSE-1");
                assert_eq!(d.handle, handle);
                kids.push(d.kid.unwrap());
            }
            other => panic!("a deposit read as {}", other.kind()),
        }
    }
    assert_eq!(kids, ["jose-es256", "jose-ed25519"]);
    // One changed character of jose's signature is refused.
    let jws = signed[0].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        &jws[..jws.len() - 2],
        if jws.ends_with("AA") { "BA" } else { "AA" }
    );
    assert!(matches!(
        check_deposit(&flipped, &sender, &types, now),
        Err(DepositRefusal::BadSignature { .. } | DepositRefusal::Malformed(_))
    ));
}
