//! Public senders: the pension service's node delivers a card holder's
//! national pension premium certificate through the hub to the portal's
//! node (push row R1701), the portal puts it in the mailbox under a sender
//! registered from the network, the first opening goes back as a receipt
//! (R1703); a correction supersedes; every bad envelope is refused where
//! it is sent and, from a node that skips its own check, where it arrives.

use super::*;

use renkei_api::deliveries::{DeliveryRequest, DeliveryWire};
use renkei_demo::public_mail::{certificate_for, envelope};
use serde_json::Value;

const ITEM: &str = "national_pension_premium_certificate";
const TYPE: &str = "national_pension_premium_certificate.v1";

fn request(id: &str, local_id: &str, env: Value) -> DeliveryRequest {
    DeliveryRequest {
        delivery_id: id.into(),
        local_id: local_id.into(),
        recipient: DIGITAL.id().to_string(),
        office_work: "mailbox_delivery".into(),
        item: ITEM.into(),
        fiscal_year: Some(2025),
        document: env,
    }
}

async fn post(h: &Harness, key: &str, d: &DeliveryRequest) -> Result<DeliveryWire, ApiFailure> {
    h.net.node(key).local.post("/local/v1/deliveries", d).await
}

async fn settled(h: &Harness, key: &str, id: &str) -> DeliveryWire {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d: DeliveryWire = h
            .net
            .node(key)
            .local
            .get(&format!("/local/v1/deliveries/{id}"))
            .await
            .unwrap();
        if d.status != "pending" {
            return d;
        }
        assert!(std::time::Instant::now() < deadline, "delivery {id} stuck: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The href of `id` in the mailbox, once it is there (within 30 s).
async fn in_mailbox(browser: &mut renkei_testnet::portal_client::Client, id: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = browser.get("/mailbox").await;
        let needle = format!("/{id}\"");
        if let Some(end) = page.body.find(&needle) {
            let begin = page.body[..end].rfind('"').unwrap() + 1;
            return page.body[begin..end + needle.len() - 1].to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never reached the mailbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn admin(h: &Harness, path: &str, body: &Value) -> (u16, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}{path}", h.net.portal_admin_url());
    let req = if body.is_null() {
        client.get(url)
    } else {
        client.post(url).json(body)
    };
    let resp = req.bearer_auth(&h.net.portal_admin_token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_senders_certificate_reaches_the_mailbox_through_the_hub_and_its_receipt_goes_back() {
    let h = harness().await;
    let (_, pension_id) = h.country.cast.pensioner.clone();
    let who = h.country.inhabitant(PENSION.key, &pension_id).unwrap().clone();
    let mut browser = h.card_holder(&who, "pensioner-card").await;
    let certificate = certificate_for(TYPE, &who).unwrap();

    // Every bad envelope is refused at the sending node, naming what is
    // wrong, and nothing is kept.
    let mut negative = certificate.clone();
    negative["paid"] = (-1).into();
    let mut other_year = request(
        "np-bad-year",
        &pension_id,
        envelope(TYPE, certificate.clone(), None),
    );
    other_year.fiscal_year = Some(2024);
    let mut extra = envelope(TYPE, certificate.clone(), None);
    extra["note"] = "x".into();
    let mut wrong_total = certificate.clone();
    wrong_total["total"] = 1.into();
    for (d, code, names) in [
        (
            request("np-bad-schema", &pension_id, envelope(TYPE, negative, None)),
            "schema_violation",
            "/paid",
        ),
        (
            request("np-bad-total", &pension_id, envelope(TYPE, wrong_total, None)),
            "schema_violation",
            "/total",
        ),
        (
            request(
                "np-bad-type",
                &pension_id,
                envelope("medical_expense_notice.v1", certificate.clone(), None),
            ),
            "malformed",
            "type",
        ),
        (
            request(
                "np-bad-version",
                &pension_id,
                envelope(
                    "national_pension_premium_certificate.v7",
                    certificate.clone(),
                    None,
                ),
            ),
            "unknown_document_type",
            "v7",
        ),
        (other_year, "malformed", "tax_year"),
        (request("np-bad-field", &pension_id, extra), "malformed", "note"),
        (
            request("np-bad-bare", &pension_id, certificate.clone()),
            "malformed",
            "document",
        ),
        (
            request(
                "np-bad-self",
                &pension_id,
                envelope(TYPE, certificate.clone(), Some("np-bad-self")),
            ),
            "bad_replaces",
            "itself",
        ),
    ] {
        let r = post(&h, PENSION.key, &d).await;
        assert_eq!(rejected_code(&r), code, "{}: {r:?}", d.delivery_id);
        let Err(ApiFailure::Rejected { status, message, .. }) = &r else {
            unreachable!()
        };
        assert_eq!(*status, 422, "{}", d.delivery_id);
        assert!(message.contains(names), "{}: {message}", d.delivery_id);
        let kept: Result<DeliveryWire, _> = h
            .net
            .node(PENSION.key)
            .local
            .get(&format!("/local/v1/deliveries/{}", d.delivery_id))
            .await;
        assert_eq!(rejected_code(&kept), "unknown_delivery");
    }

    // The certificate goes through the hub and into the mailbox.
    let sent = post(
        &h,
        PENSION.key,
        &request(
            "np-2025-1",
            &pension_id,
            envelope(TYPE, certificate.clone(), None),
        ),
    )
    .await
    .unwrap();
    assert_eq!(sent.status, "pending");
    let delivered = settled(&h, PENSION.key, "np-2025-1").await;
    assert_eq!(delivered.status, "delivered", "{delivered:?}");
    let record = delivered.query_id.clone().unwrap();
    let href = in_mailbox(&mut browser, "np-2025-1").await;
    let page = browser.get(&href).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ネットワーク経由で受信"), "{}", page.body);
    assert!(page.body.contains(&record), "the page names the hub's record");
    assert!(page.body.contains("日本年金機構"), "the sender is named");
    let hub = h.hub_records().await;
    let push = hub.iter().find(|r| r.query_id == record).unwrap();
    assert_eq!((push.item.as_str(), push.outcome.as_str()), (ITEM, "provided"));
    assert!(
        push.table_row.as_deref().is_some_and(|r| r.ends_with("#R1701")),
        "{push:?}"
    );

    // The first opening goes back to the pension service as a receipt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let receipt = loop {
        if let Some(r) = h
            .inbox(PENSION.key)
            .await
            .into_iter()
            .find(|e| e.item == "mailbox_receipt")
        {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt at the pension service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(receipt.document["document_id"], "np-2025-1");
    assert_eq!(receipt.document["version"], 1);
    assert_eq!(
        receipt.local_id, pension_id,
        "the pension service's own id for the person"
    );
    assert_eq!(receipt.sender, DIGITAL.id().to_string());
    // Opened again: no second receipt.
    assert_eq!(browser.get(&href).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let receipts = h
        .inbox(PENSION.key)
        .await
        .into_iter()
        .filter(|e| e.item == "mailbox_receipt")
        .count();
    assert_eq!(receipts, 1);

    // A correction supersedes the certificate: version 2 in the mailbox.
    let mut fixed = certificate.clone();
    fixed["paid"] = 104_000.into();
    fixed["expected_paid_by_year_end"] = 0.into();
    fixed["total"] = 104_000.into();
    post(
        &h,
        PENSION.key,
        &request(
            "np-2025-1-fix",
            &pension_id,
            envelope(TYPE, fixed, Some("np-2025-1")),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        settled(&h, PENSION.key, "np-2025-1-fix").await.status,
        "delivered"
    );
    let fix_href = in_mailbox(&mut browser, "np-2025-1-fix").await;
    let (status, bytes) = browser.get_bytes(&format!("{fix_href}/download")).await;
    assert_eq!(status, 200);
    let exported: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(exported["version"], 2);
    assert_eq!(exported["replaces"], "np-2025-1");
    assert_eq!(exported["document"]["paid"], 104_000);
    assert_eq!(exported["jws"], "");
    assert!(exported["network_record"].is_string());
    let draft: Value =
        serde_json::from_str(&browser.get("/mailbox/draft.json?year=2025").await.body).unwrap();
    assert!(
        draft.to_string().contains("104000"),
        "the draft reads the corrected premiums: {draft}"
    );

    // The sender was registered from the network: no keys, no screening.
    let (_, senders) = admin(&h, "/admin/v1/senders", &Value::Null).await;
    let pension = senders
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "pension_service")
        .unwrap()
        .clone();
    assert_eq!(pension["corporate_number"], PENSION.id().to_string());
    assert_eq!(pension["status"], "approved");
    assert_eq!(pension["kids"], serde_json::json!([]));
    let path = format!(
        "/admin/v1/senders/{}/suspend",
        pension["sender_id"].as_str().unwrap()
    );
    let (status, body) = admin(&h, &path, &serde_json::json!({"by": "op", "reason": "test"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("public_sender")),
        "{body}"
    );
    // Nor may anyone apply as one through the deposit API's screening.
    let (status, body) = admin(
        &h,
        "/admin/v1/senders",
        &serde_json::json!({
            "corporate_number": PENSION.id().to_string(),
            "name": "日本年金機構",
            "kind": "pension_service",
            "jwks": {"keys": []},
            "document_types": [TYPE],
            "contact": "x@example.jp",
        }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("kind"), "{body}");

    // No push row lets a municipality deliver the certificate: refused for
    // good at the hub, never in a mailbox.
    let (setagaya_id, _) = h.country.cast.pensioner.clone();
    let d = request(
        "np-from-setagaya",
        &setagaya_id,
        envelope(TYPE, certificate.clone(), None),
    );
    post(&h, SETAGAYA.key, &d).await.unwrap();
    let refused = settled(&h, SETAGAYA.key, "np-from-setagaya").await;
    assert_eq!(
        refused.refusal_code.as_deref(),
        Some("not_permitted"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_skips_its_own_check_is_refused_where_the_certificate_arrives() {
    let h = harness().await;
    let (_, pension_id) = h.country.cast.pensioner.clone();
    let code = h.code(PENSION.key, &pension_id).await;
    let who = h.country.inhabitant(PENSION.key, &pension_id).unwrap().clone();
    let mut bad = certificate_for(TYPE, &who).unwrap();
    bad["paid"] = "a lot".into();
    let sealed = serde_json::json!({"delivery_id": "np-raw-1", "document": envelope(TYPE, bad, None)});
    let r = h
        .raw_push(
            &PENSION,
            &DIGITAL,
            "mailbox_delivery",
            ITEM,
            Some(2025),
            code,
            sealed.to_string().as_bytes(),
        )
        .await;
    assert_eq!(rejected_code(&r), "provider_refused");
    let last = h.node_records(DIGITAL.key).await.pop().unwrap();
    assert_eq!(last.outcome, "push_malformed");
    assert!(
        h.inbox(DIGITAL.key)
            .await
            .iter()
            .all(|e| e.delivery_id != "np-raw-1"),
        "nothing kept"
    );
}
