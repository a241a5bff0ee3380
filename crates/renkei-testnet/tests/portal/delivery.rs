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

fn example(id: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../renkei-delivery/schemas/examples/{id}.valid.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut h = serde_json::Map::new();
    h.insert("typ".into(), renkei_delivery::DEPOSIT_TYP.into());
    key.sign(h, claims).unwrap()
}

fn now_s() -> i64 {
    renkei_protocol::UnixMillis::now().0 / 1000
}

fn deposit_claims(id: &str, handle: &str, document: &Value, replaces: Option<&str>) -> Value {
    let mut c = json!({
        "kind": "deposit",
        "document_id": id,
        "type": "life_insurance_certificate.v1",
        "handle": handle,
        "issued_at": now_s(),
        "document": document,
    });
    if let Some(r) = replaces {
        c["replaces"] = r.into();
    }
    c
}

/// POST to the senders' API; the status and the JSON answer.
async fn send(base: &str, path: &str, content_type: &str, body: String) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linked_person_receives_signed_deposits_in_the_mailbox_and_every_bad_one_is_refused() {
    let h = super::harness().await;
    let base = h.url();
    let token = h.net.portal_admin_token.clone();
    // An approved life insurer, with the key it signs with.
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let mut app = life_insurer();
    app["jwks"] = serde_json::from_str(
        &Jwks {
            keys: vec![key.public_jwk().clone()],
        }
        .to_json(),
    )
    .unwrap();
    let (status, s) = super::admin_post(&h, "/admin/v1/senders", app, Some(&token)).await;
    assert_eq!(status, 201, "{s}");
    let sender = s["sender_id"].as_str().unwrap().to_owned();
    let by = json!({"by": "screening officer"});
    let approve = format!("/admin/v1/senders/{sender}/approve");
    assert_eq!(super::admin_post(&h, &approve, by, Some(&token)).await.0, 200);
    let deposits = format!("/delivery/v1/senders/{sender}/deposits");
    let feed_path = format!("/delivery/v1/senders/{sender}/feed");
    let feed = |since: i64| {
        let claims = json!({"kind": "feed", "issued_at": now_s(), "since": since});
        send(&base, &feed_path, "application/jose", sign(&key, &claims))
    };

    // The person links the insurer from the mailbox, confirmed with the card.
    let me = h.account_holder();
    let card = h.card(&me, "me", renkei_card::CardProfile::EcdsaP384Sha384).await;
    let mut c = h.login(&card).await;
    let page = c.get("/mailbox").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"no-documents\""), "{}", page.body);
    assert!(page.body.contains(&sender), "the link form offers the sender");
    let csrf = page.input_value("csrf").unwrap();
    for (who, reference) in [(sender.as_str(), "EMP 42"), ("rs_nope", "EMP-42")] {
        let bad = c
            .post(
                "/mailbox/link",
                &[("csrf", &csrf), ("sender", who), ("reference", reference)],
            )
            .await;
        assert_eq!(bad.status, 400, "{who} {reference}: {}", bad.body);
    }
    let staged = c
        .post(
            "/mailbox/link",
            &[("csrf", &csrf), ("sender", &sender), ("reference", "EMP-0042")],
        )
        .await;
    let done = super::confirm_with(&h, &mut c, staged, &card).await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/mailbox?done=linked")),
        "{}",
        done.body
    );

    // The insurer learns the person's handle from its feed, by the reference.
    let (status, f) = feed(0).await;
    assert_eq!(status, 200, "{f}");
    let links = f["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{f}");
    assert_eq!(links[0]["reference"], "EMP-0042");
    let handle = links[0]["handle"].as_str().unwrap().to_owned();
    assert!(handle.starts_with("dh_"), "{handle}");
    assert!(!handle.contains(&me.my_number), "never a My Number");

    // A deposit; the same again is a replay; other content under the id a conflict.
    let doc = example("life_insurance_certificate.v1");
    let first = sign(&key, &deposit_claims("LI-1", &handle, &doc, None));
    let (status, a) = send(&base, &deposits, "application/jose", first.clone()).await;
    assert_eq!(
        (status, a["status"].as_str(), a["version"].as_u64()),
        (201, Some("stored"), Some(1)),
        "{a}"
    );
    let (status, a) = send(&base, &deposits, "application/jose", first.clone()).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("replayed")), "{a}");
    let mut other = doc.clone();
    other["annual_premium"] = 50_000.into();
    let (status, e) = send(
        &base,
        &deposits,
        "application/jose",
        sign(&key, &deposit_claims("LI-1", &handle, &other, None)),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );

    // Every bad deposit is refused, naming what is wrong; nothing is stored.
    let forger = SigningKey::generate(Alg::Es256).unwrap();
    let mut bad_doc = doc.clone();
    bad_doc["annual_premium"] = "a lot".into();
    let stranger = renkei_delivery::HandleKey::from_bytes([1; 32])
        .handle(&renkei_delivery::SenderId::parse(&sender).unwrap(), "someone");
    let huge = json!({"kind": "deposit", "pad": "x".repeat(300_000)});
    let cases: Vec<(&str, String, &str, u16, &str, &str)> = vec![
        (
            "forged",
            sign(&forger, &deposit_claims("LI-F", &handle, &doc, None)),
            "application/jose",
            401,
            "bad_signature",
            "",
        ),
        (
            "schema",
            sign(&key, &deposit_claims("LI-S", &handle, &bad_doc, None)),
            "application/jose",
            422,
            "schema_violation",
            "annual_premium",
        ),
        (
            "unlinked",
            sign(&key, &deposit_claims("LI-U", stranger.as_str(), &doc, None)),
            "application/jose",
            403,
            "not_linked",
            "handle",
        ),
        (
            "oversized",
            sign(&key, &huge),
            "application/jose",
            413,
            "payload_too_large",
            "",
        ),
        (
            "not a jws",
            "hello".into(),
            "application/jose",
            400,
            "malformed",
            "",
        ),
        (
            "media type",
            first.clone(),
            "application/json",
            415,
            "unsupported_media_type",
            "application/jose",
        ),
        (
            "replaces nothing",
            sign(&key, &deposit_claims("LI-R", &handle, &doc, Some("LI-none"))),
            "application/jose",
            422,
            "bad_replaces",
            "LI-none",
        ),
    ];
    for (what, body, ct, want, code, names) in cases {
        let (status, e) = send(&base, &deposits, ct, body).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (want, Some(code)),
            "{what}: {e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().contains(names),
            "{what}: {e}"
        );
    }
    let (status, e) = send(
        &base,
        "/delivery/v1/senders/rs_nope/deposits",
        "application/jose",
        first.clone(),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let unknown = format!(
        "/delivery/v1/senders/{}/deposits",
        renkei_delivery::SenderId::from_random([3; 16])
    );
    let (status, e) = send(&base, &unknown, "application/jose", first.clone()).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("no_sender")),
        "{e}"
    );

    // A correction is a new version; a batch is answered line by line.
    let mut fixed = doc.clone();
    fixed["annual_premium"] = 120_000.into();
    let (status, a) = send(
        &base,
        &deposits,
        "application/jose",
        sign(&key, &deposit_claims("LI-2", &handle, &fixed, Some("LI-1"))),
    )
    .await;
    assert_eq!((status, a["version"].as_u64()), (201, Some(2)), "{a}");
    let mut care = doc.clone();
    care["category"] = "care_medical".into();
    let batch = [
        sign(&key, &deposit_claims("LI-3", &handle, &care, None)),
        sign(&key, &deposit_claims("LI-4", &handle, &bad_doc, None)),
        first.clone(),
    ]
    .join("\n");
    let (status, atomic) = send(
        &base,
        &format!("{deposits}?atomic=true"),
        "application/jsonl",
        batch.clone(),
    )
    .await;
    assert_eq!(
        (status, atomic["refused"].as_u64(), atomic["stored"].as_u64()),
        (422, Some(1), Some(0)),
        "{atomic}"
    );
    assert_eq!(atomic["results"][0]["status"], "not_stored", "{atomic}");
    let (status, report) = send(&base, &deposits, "application/jsonl", batch).await;
    assert_eq!(status, 200, "{report}");
    let statuses: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["stored", "refused", "replayed"], "{report}");
    assert_eq!(report["results"][1]["line"], 2);
    assert!(
        report["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("annual_premium"),
        "{report}"
    );

    // The mailbox: the corrected certificate (two versions) and the new one.
    let page = c.get("/mailbox?year=2025").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches("class=\"notice-item unread\"").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("/mailbox/documents/{sender}/LI-2")));
    assert!(
        !page.body.contains(&format!("/mailbox/documents/{sender}/LI-1\"")),
        "the replaced version is in the history only"
    );
    assert_eq!(c.get("/mailbox?year=abc").await.status, 400);
    assert_eq!(c.get("/mailbox?type=casino").await.status, 400);
    let opened = c.get(&format!("/mailbox/documents/{sender}/LI-2")).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert!(
        opened
            .id_text("signature")
            .unwrap()
            .contains(key.public_jwk().kid.as_deref().unwrap_or("")),
        "{}",
        opened.body
    );
    assert!(opened.body.contains("id=\"versions\""), "{}", opened.body);
    assert_eq!(
        c.get(&format!("/mailbox/documents/{sender}/LI-none"))
            .await
            .status,
        404
    );
    assert_eq!(c.get("/mailbox/documents/rs_x/LI-2").await.status, 404);

    // The insurer gets the receipt of the first opening.
    let (_, f) = feed(0).await;
    let receipts = f["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{f}");
    assert_eq!(
        (
            receipts[0]["document_id"].as_str(),
            receipts[0]["version"].as_u64()
        ),
        (Some("LI-2"), Some(2))
    );
    let stale = json!({"kind": "feed", "issued_at": now_s() - 600});
    let (status, e) = send(&base, &feed_path, "application/jose", sign(&key, &stale)).await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = send(&base, &feed_path, "application/jose", first.clone()).await;
    assert_eq!(status, 400, "a deposit is not a feed request: {e}");

    // Download, the draft (life insurance from the current versions), the export.
    let dl = c.get(&format!("/mailbox/documents/{sender}/LI-2/download")).await;
    assert_eq!(dl.status, 200);
    let dl: Value = serde_json::from_str(&dl.body).unwrap();
    assert_eq!(
        (dl["version"].as_u64(), dl["document"]["annual_premium"].as_u64()),
        (Some(2), Some(120_000))
    );
    renkei_jose::decode_unverified(dl["jws"].as_str().unwrap())
        .unwrap()
        .verify_with(key.public_jwk())
        .expect("the download carries the sender's signed deposit");
    let draft = c.get("/mailbox/draft.json?year=2025").await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    let draft: Value = serde_json::from_str(&draft.body).unwrap();
    let by_category = &draft["draft"]["deductions"]["life_insurance_by_category"];
    // New contracts: 120,000 general and 96,000 care-medical, 40,000 each at most.
    assert_eq!(
        (
            by_category["general"].as_u64(),
            by_category["care_medical"].as_u64()
        ),
        (Some(40_000), Some(40_000)),
        "{draft}"
    );
    let page = c.get("/mailbox/draft?year=2025").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("LI-2") && page.body.contains("LI-3") && !page.body.contains("LI-1 "),
        "{}",
        page.body
    );
    let zip = reqwest_bytes(&mut c, "/mailbox/export").await;
    let listing = python_zip_listing(&zip);
    assert!(
        listing.contains("mailbox.json") && listing.contains("mailbox.csv"),
        "{listing}"
    );
    assert!(listing.contains("rows 4"), "header and three versions: {listing}");

    // A void; unlinking stops deposits (refused and counted); delete empties the mailbox.
    let void =
        json!({"kind": "void", "document_id": "LI-3", "issued_at": now_s(), "reason": "issued in error"});
    let (status, a) = send(&base, &deposits, "application/jose", sign(&key, &void)).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("voided")), "{a}");
    let (status, a) = send(&base, &deposits, "application/jose", sign(&key, &void)).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("replayed")), "{a}");
    let page = c.get("/mailbox").await;
    let csrf = page.input_value("csrf").unwrap();
    let r = c
        .post(&format!("/mailbox/senders/{sender}/unlink"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/mailbox?done=unlinked")),
        "{}",
        r.body
    );
    let (status, e) = send(
        &base,
        &deposits,
        "application/jose",
        sign(&key, &deposit_claims("LI-5", &handle, &doc, None)),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (403, Some("not_linked")),
        "{e}"
    );
    let (_, f) = feed(0).await;
    assert!(f["links"][0]["unlinked_at"].is_i64(), "{f}");
    let r = c
        .post(
            &format!("/mailbox/documents/{sender}/LI-2/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = c.get("/mailbox").await;
    assert!(
        !page.body.contains("/LI-2\"") && page.body.contains("/LI-3\""),
        "{}",
        page.body
    );
    let (status, a) = send(&base, &deposits, "application/jose", first).await;
    assert_eq!(
        (status, a["status"].as_str()),
        (200, Some("replayed")),
        "a deleted document stays known: {a}"
    );
    h.net.shutdown().await;
}

async fn reqwest_bytes(c: &mut renkei_testnet::portal_client::Client, path: &str) -> Vec<u8> {
    let (status, bytes) = c.get_bytes(path).await;
    assert_eq!(status, 200, "{path}");
    bytes
}

/// Read the archive with Python's zipfile: the file names and the CSV's rows.
fn python_zip_listing(zip: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailbox.zip");
    std::fs::write(&path, zip).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import csv, io, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             rows = list(csv.reader(io.StringIO(z.read('mailbox.csv').decode())))\n\
             print(' '.join(z.namelist()), 'rows', len(rows))",
        )
        .arg(&path)
        .output()
        .expect("python3 reads the archive");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
