//! Deliveries: an institution's node pushes a document about a person to
//! another institution's node through a durable outbox — allowed only by a
//! push row, sealed end to end, recorded at both nodes and by the hub,
//! kept once by the receiver however often it is sent, and sent later if
//! the receiver is down.

use super::*;

use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
use renkei_demo::institutions::TAX;

fn report(delivery_id: &str, local_id: &str, secret: &str) -> DeliveryRequest {
    DeliveryRequest {
        delivery_id: delivery_id.into(),
        local_id: local_id.into(),
        recipient: SETAGAYA.id().to_string(),
        office_work: "statutory_filing".into(),
        item: "salary_payment_report".into(),
        fiscal_year: Some(2025),
        document: serde_json::json!({
            "form": "給与支払報告書（個人別明細書）",
            "payer": { "name": "株式会社れんけい", "corporate_number": "7000012050002" },
            "payment": { "salary": 5_400_000, "after_deduction": 3_860_000, "withheld": 123_400 },
            "remarks": secret,
        }),
    }
}

async fn post(h: &Harness, key: &str, d: &DeliveryRequest) -> Result<DeliveryWire, ApiFailure> {
    h.net.node(key).local.post("/local/v1/deliveries", d).await
}

async fn status(h: &Harness, key: &str, id: &str) -> DeliveryWire {
    h.net
        .node(key)
        .local
        .get(&format!("/local/v1/deliveries/{id}"))
        .await
        .unwrap()
}

/// The delivery once `done` holds of it (within 30 s).
async fn until(h: &Harness, key: &str, id: &str, done: impl Fn(&DeliveryWire) -> bool) -> DeliveryWire {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = status(h, key, id).await;
        if done(&d) {
            return d;
        }
        assert!(std::time::Instant::now() < deadline, "delivery {id} stuck: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_arrives_once_recorded_at_both_nodes_and_the_hub_cannot_read_it() {
    let h = harness_with(Suite::default(), Durability::Full).await;
    let (tax_id, setagaya_id) = h.country.cast.taxpayer.clone();
    let secret = "摘要：秘密の給与情報-7Q2X";
    let d = report("2025-salary-000001", &tax_id, secret);
    let first = post(&h, TAX.key, &d).await.unwrap();
    assert_eq!(
        (
            first.delivery_id.as_str(),
            first.recipient.as_str(),
            first.attempts
        ),
        ("2025-salary-000001", SETAGAYA.id().to_string().as_str(), 0)
    );
    assert_eq!(first.status, "pending");
    // Posted again: the same delivery, not another.
    let again = post(&h, TAX.key, &d).await.unwrap();
    assert_eq!(again.created_at, first.created_at);
    // The same id with another content is a conflict.
    let mut other = d.clone();
    other.document["payment"]["salary"] = 1.into();
    assert_eq!(
        rejected_code(&post(&h, TAX.key, &other).await),
        "delivery_id_conflict"
    );

    let done = until(&h, TAX.key, &d.delivery_id, |d| d.status != "pending").await;
    assert_eq!(done.status, "delivered", "{done:?}");
    assert_eq!(done.attempts, 1);
    let query_id = done.query_id.clone().unwrap();
    assert!(done.delivered_at.is_some() && done.next_attempt_at.is_none());
    // And posted once more after delivery: answered as it stands.
    let late = post(&h, TAX.key, &d).await.unwrap();
    assert_eq!(late.query_id.as_deref(), Some(query_id.as_str()));

    // The receiver keeps it once, for the person under its own id.
    let kept = h.inbox(SETAGAYA.key).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    let e = &kept[0];
    assert_eq!(
        (
            e.delivery_id.as_str(),
            e.sender.as_str(),
            e.local_id.as_str(),
            e.office_work.as_str(),
            e.item.as_str(),
            e.fiscal_year,
            e.query_id.as_str()
        ),
        (
            d.delivery_id.as_str(),
            TAX.id().to_string().as_str(),
            setagaya_id.as_str(),
            "statutory_filing",
            "salary_payment_report",
            Some(2025),
            query_id.as_str()
        )
    );
    assert_eq!(e.document, d.document);
    let empty: Vec<InboxEntryWire> = h
        .net
        .node(SETAGAYA.key)
        .local
        .get(&format!("/local/v1/inbox?after={}", e.seq))
        .await
        .unwrap();
    assert!(empty.is_empty());

    // The hub recorded one exchange under the push row (a log leaf like a
    // query's); both nodes keep their record of it.
    let records: Vec<RecordWire> = h
        .hub_records()
        .await
        .into_iter()
        .filter(|r| r.item == "salary_payment_report")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (
            r.query_id.as_str(),
            r.requester.as_str(),
            r.provider.as_str(),
            r.outcome.as_str()
        ),
        (
            query_id.as_str(),
            TAX.id().to_string().as_str(),
            SETAGAYA.id().to_string().as_str(),
            "provided"
        )
    );
    assert!(
        r.table_row.as_deref().is_some_and(|row| row.ends_with("#R1601")),
        "{:?}",
        r.table_row
    );
    let mine = |records: Vec<NodeRecordWire>| {
        records
            .into_iter()
            .filter(|r| r.query_id.as_deref() == Some(query_id.as_str()))
            .map(|r| (r.role, r.outcome, r.local_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mine(h.node_records(TAX.key).await),
        vec![("requester".into(), "provided".into(), Some(tax_id.clone()))]
    );
    assert_eq!(
        mine(h.node_records(SETAGAYA.key).await),
        vec![("provider".into(), "provided".into(), Some(setagaya_id.clone()))]
    );

    // The hub never saw the document; the nodes seal it at rest; the logs
    // hold none of it; and no My Number is in any of these stores.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hub = StoreDb::open(&h.net, "hub").await.contents().await;
    assert!(!contains(&hub, secret.as_bytes()), "the document reached the hub");
    assert!(!contains(&hub, "株式会社れんけい".as_bytes()));
    let numbers: std::collections::HashSet<&[u8]> =
        h.country.my_numbers.iter().map(|n| n.as_bytes()).collect();
    assert!(!contains_any_number(&hub, &numbers));
    for key in [TAX.key, SETAGAYA.key] {
        let store = StoreDb::node(&h.net, key).await.contents().await;
        assert!(
            !contains(&store, secret.as_bytes()),
            "the document is in clear at {key}"
        );
        assert!(!contains_any_number(&store, &numbers), "a My Number at {key}");
    }
    let log = logs().lock().unwrap().clone();
    assert!(!contains(&log, secret.as_bytes()), "the document was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_is_down_gets_the_delivery_later_exactly_once() {
    let mut h = harness_tuned(Suite::default(), Durability::Normal, |o| {
        o.deliveries.retry_initial_ms = 200;
        o.deliveries.retry_max_ms = 800;
    })
    .await;
    let (tax_id, setagaya_id) = h.country.cast.taxpayer.clone();
    h.net.kill_node(SETAGAYA.key);
    let d = report("2025-salary-down-1", &tax_id, "down");
    post(&h, TAX.key, &d).await.unwrap();
    // Pending, attempted again and again, the reason visible.
    let waiting = until(&h, TAX.key, &d.delivery_id, |d| d.attempts >= 3).await;
    assert_eq!(waiting.status, "pending", "{waiting:?}");
    assert!(
        waiting
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("provider_")),
        "{waiting:?}"
    );
    assert!(waiting.next_attempt_at.is_some());
    // Counted in the metrics, failed attempts and pending deliveries alike.
    let metrics = h.net.node(TAX.key).local.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("renkei_node_delivery_attempts_total{outcome=\"failed\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("renkei_node_deliveries_pending"), "{metrics}");
    // An operator finds it among the pending ones.
    let pending: Vec<DeliveryWire> = h
        .net
        .node(TAX.key)
        .local
        .get("/local/v1/deliveries?status=pending")
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|d| d.delivery_id.as_str()).collect::<Vec<_>>(),
        [d.delivery_id.as_str()]
    );
    // Every attempt was a request of its own, refused and recorded.
    let refused = h
        .hub_records()
        .await
        .into_iter()
        .filter(|r| r.item == "salary_payment_report")
        .count();
    assert!(refused >= 3, "{refused}");

    h.net.restart_node(SETAGAYA.key).await.unwrap();
    let done = until(&h, TAX.key, &d.delivery_id, |d| d.status != "pending").await;
    assert_eq!(done.status, "delivered", "{done:?}");
    assert!(done.attempts > waiting.attempts);
    let kept = h.inbox(SETAGAYA.key).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].delivery_id.as_str(), kept[0].local_id.as_str()),
        (d.delivery_id.as_str(), setagaya_id.as_str())
    );
    // Nothing more is sent once delivered.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&h, TAX.key, &d.delivery_id).await.attempts, done.attempts);
    assert_eq!(h.inbox(SETAGAYA.key).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_sent_twice_is_kept_once_and_acknowledged_twice() {
    // An answer lost on the way back: the sender tries again with a new
    // request; the receiver keeps the delivery once and says yes again.
    let h = harness().await;
    let (tax_id, _) = h.country.cast.taxpayer.clone();
    let code = h.code(TAX.key, &tax_id).await;
    let report = |sealed: &'static [u8]| {
        h.raw_push(
            &TAX,
            &SETAGAYA,
            "statutory_filing",
            "salary_payment_report",
            Some(2025),
            code.clone(),
            sealed,
        )
    };
    let mut query_ids = Vec::new();
    for _ in 0..2 {
        let reply = report(br#"{"delivery_id":"twice-1","document":{"salary":1}}"#)
            .await
            .unwrap();
        query_ids.push(reply.receipt.receipt.query_id);
    }
    assert_ne!(query_ids[0], query_ids[1]);
    let kept = h.inbox(SETAGAYA.key).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].query_id, query_ids[0], "the first exchange brought it");
    let provided = h
        .node_records(SETAGAYA.key)
        .await
        .into_iter()
        .filter(|r| r.item == "salary_payment_report" && r.outcome == "provided")
        .count();
    assert_eq!(provided, 2, "each exchange recorded");

    // A push whose sealed document is not a delivery is refused and
    // recorded by the receiver, and nothing is kept.
    let r = report(br#"{"delivery_id":"x","document":[1]}"#).await;
    // Final: the hub says so, and a sender's outbox would settle it refused.
    assert_eq!(rejected_code(&r), "provider_refused");
    assert!(matches!(r, Err(ApiFailure::Rejected { retryable: false, .. })));
    assert_eq!(h.inbox(SETAGAYA.key).await.len(), 1);
    let last = h.node_records(SETAGAYA.key).await.pop().unwrap();
    assert_eq!(last.outcome, "push_malformed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_outside_the_table_is_refused_for_good_and_bad_input_stores_nothing() {
    let h = harness_tuned(Suite::default(), Durability::Normal, |o| {
        o.deliveries.retry_initial_ms = 100;
        o.deliveries.retry_max_ms = 200;
    })
    .await;
    let (tax_id, setagaya_id) = h.country.cast.taxpayer.clone();
    let setagaya_person = h.country.cast.mover.0.clone();

    // No push row lets a municipality deliver salary-payment reports.
    let mut d = report("no-row-1", &setagaya_person, "x");
    d.recipient = YOKOHAMA.id().to_string();
    post(&h, SETAGAYA.key, &d).await.unwrap();
    let refused = until(&h, SETAGAYA.key, &d.delivery_id, |d| d.status != "pending").await;
    assert_eq!(
        (
            refused.status.as_str(),
            refused.refusal_code.as_deref(),
            refused.attempts
        ),
        ("refused", Some("not_permitted"), 1),
        "{refused:?}"
    );
    // A query row allows no push: income may only be asked for.
    let mut q = report("query-row-1", &setagaya_person, "x");
    q.recipient = YOKOHAMA.id().to_string();
    q.office_work = "child_allowance".into();
    q.item = "resident_tax_income".into();
    post(&h, SETAGAYA.key, &q).await.unwrap();
    let wrong_way = until(&h, SETAGAYA.key, &q.delivery_id, |d| d.status != "pending").await;
    assert_eq!(wrong_way.refusal_code.as_deref(), Some("not_permitted"));
    assert!(
        wrong_way
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("R0101") && e.contains("not a push")),
        "{wrong_way:?}"
    );
    // Not retried: the refusals stand, once each, at the hub too.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(status(&h, SETAGAYA.key, &d.delivery_id).await.attempts, 1);
    assert_eq!(status(&h, SETAGAYA.key, &q.delivery_id).await.attempts, 1);
    let hub = h.hub_records().await;
    let denied: Vec<_> = hub
        .iter()
        .filter(|r| r.requester == SETAGAYA.id().to_string() && r.provider == YOKOHAMA.id().to_string())
        .map(|r| (r.item.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        denied,
        vec![
            ("salary_payment_report", "not_permitted"),
            ("resident_tax_income", "not_permitted")
        ]
    );
    assert!(h.inbox(YOKOHAMA.key).await.is_empty());
    let listed: Vec<DeliveryWire> = h
        .net
        .node(SETAGAYA.key)
        .local
        .get("/local/v1/deliveries?status=refused")
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let r: Result<Vec<DeliveryWire>, _> = h
        .net
        .node(SETAGAYA.key)
        .local
        .get("/local/v1/deliveries?status=lost")
        .await;
    assert_eq!(rejected_code(&r), "malformed");

    // A query cannot use the push row.
    let r: Result<QueryResult, _> = h
        .net
        .node(TAX.key)
        .local
        .post(
            "/local/v1/queries",
            &query(
                &tax_id,
                &SETAGAYA,
                "statutory_filing",
                "salary_payment_report",
                Some(2025),
            ),
        )
        .await;
    assert_eq!(rejected_code(&r), "not_permitted");
    let last = h.hub_records().await.pop().unwrap();
    assert_eq!(
        (last.item.as_str(), last.outcome.as_str()),
        ("salary_payment_report", "not_permitted")
    );

    // Bad input: a clear 4xx naming what is wrong, and nothing kept.
    let local = &h.net.node(TAX.key).local;
    let ok = report("bad-0", &tax_id, "x");
    let refused = |r: Result<DeliveryWire, ApiFailure>| match r {
        Err(ApiFailure::Rejected {
            status,
            code,
            message,
            ..
        }) => (status, code, message),
        other => panic!("not refused: {other:?}"),
    };
    let mut cases: Vec<(DeliveryRequest, u16, &str, &str)> = Vec::new();
    let mut c = ok.clone();
    c.recipient = renkei_ids::CorporateNumber::from_base_number(123_456_789_012)
        .unwrap()
        .to_string();
    cases.push((c, 422, "unknown_recipient", "recipient"));
    let mut c = ok.clone();
    c.recipient = "1234".into();
    cases.push((c, 400, "malformed", "recipient"));
    let mut c = ok.clone();
    c.local_id = "bad id with spaces".into();
    cases.push((c, 400, "malformed", "local_id"));
    let mut c = ok.clone();
    c.local_id = "T-NOBODY".into();
    cases.push((c, 404, "not_enrolled", "T-NOBODY"));
    let mut c = ok.clone();
    c.delivery_id = "bad id".into();
    cases.push((c, 400, "malformed", "delivery_id"));
    let mut c = ok.clone();
    c.document = serde_json::json!(["not", "an", "object"]);
    cases.push((c, 400, "malformed", "document"));
    let mut c = ok.clone();
    c.document = serde_json::json!({ "remarks": "長".repeat(9_000) });
    cases.push((c, 413, "document_too_large", "document"));
    let mut c = ok.clone();
    c.item = "no_such_item".into();
    cases.push((c, 400, "malformed", "item"));
    let mut c = ok.clone();
    c.fiscal_year = None;
    cases.push((c, 400, "malformed", "fiscal_year"));
    let mut c = ok.clone();
    c.item = "notice".into();
    c.office_work = "notice_delivery".into();
    c.fiscal_year = None;
    cases.push((c, 400, "malformed", "notices"));
    let mut c = ok.clone();
    c.recipient = TAX.id().to_string();
    cases.push((c, 400, "malformed", "itself"));
    for (i, (mut c, want_status, want_code, names)) in cases.into_iter().enumerate() {
        if c.delivery_id == ok.delivery_id {
            c.delivery_id = format!("bad-{}", i + 1);
        }
        let (status, code, message) = refused(local.post("/local/v1/deliveries", &c).await);
        assert_eq!(
            (status, code.as_str()),
            (want_status, want_code),
            "case {i}: {message}"
        );
        assert!(message.contains(names), "case {i}: {message}");
    }
    // Missing fields, and a body that is not JSON of a delivery.
    for (body, names) in [
        (
            serde_json::json!({"delivery_id": "m-1", "local_id": tax_id, "recipient": SETAGAYA.id().to_string(), "office_work": "statutory_filing", "item": "salary_payment_report", "fiscal_year": 2025}),
            "document",
        ),
        (
            serde_json::json!({"delivery_id": "m-2", "local_id": tax_id, "office_work": "statutory_filing", "item": "salary_payment_report", "document": {}}),
            "recipient",
        ),
    ] {
        let r: Result<DeliveryWire, _> = local.post("/local/v1/deliveries", &body).await;
        let (status, _, message) = refused(r);
        assert_eq!(status, 400, "{message}");
        assert!(message.contains(names), "{message}");
    }
    // A body beyond the endpoint's limit.
    let mut huge = ok.clone();
    huge.delivery_id = "huge-1".into();
    huge.document = serde_json::json!({ "remarks": "x".repeat(70_000) });
    assert_eq!(refused(local.post("/local/v1/deliveries", &huge).await).0, 413);
    for id in [
        "bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "bad-6", "bad-7", "m-1", "m-2", "huge-1",
    ] {
        let r: Result<DeliveryWire, _> = local.get(&format!("/local/v1/deliveries/{id}")).await;
        assert_eq!(rejected_code(&r), "unknown_delivery", "{id}");
    }
    // Nothing went out from the tax agency's node.
    assert!(
        h.hub_records()
            .await
            .iter()
            .all(|r| r.requester != TAX.id().to_string()
                || r.item != "salary_payment_report"
                || r.outcome == "not_permitted"),
    );
    let _ = setagaya_id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_of_the_largest_size_is_delivered_in_both_suites() {
    for suite in Suite::ALL {
        let h = harness_with(suite, Durability::Normal).await;
        let (tax_id, _) = h.country.cast.taxpayer.clone();
        let mut d = report(&format!("largest-{suite:?}"), &tax_id, "");
        // Just under the limit as compact JSON.
        let room = renkei_node::MAX_DOCUMENT_BYTES - serde_json::to_vec(&d.document).unwrap().len();
        d.document["remarks"] = "漢".repeat(room / 3).into();
        let size = serde_json::to_vec(&d.document).unwrap().len();
        assert!(size <= renkei_node::MAX_DOCUMENT_BYTES && size + 3 > renkei_node::MAX_DOCUMENT_BYTES);
        post(&h, TAX.key, &d).await.unwrap();
        let done = until(&h, TAX.key, &d.delivery_id, |d| d.status != "pending").await;
        assert_eq!(done.status, "delivered", "{suite:?}: {done:?}");
        let kept = h.inbox(SETAGAYA.key).await;
        assert_eq!(kept[0].document, d.document, "{suite:?}");
        // One byte more is refused before anything is kept.
        let mut over = d.clone();
        over.delivery_id = format!("over-{suite:?}");
        over.document["remarks"] = format!("{}abc", "漢".repeat(room / 3)).into();
        assert_eq!(
            rejected_code(&post(&h, TAX.key, &over).await),
            "document_too_large"
        );
    }
}
