//! Notices travel as pushes with every check of a linkage: signed by the
//! sender, allowed by the permission table, translated, recorded as a log
//! leaf, sealed end to end to the portal's node.

use super::*;

use renkei_api::notices::{NoticeSent, NoticeText, SendNoticeRequest};

fn notice(title: &str) -> NoticeText {
    NoticeText {
        title_ja: title.to_owned(),
        body_ja: "現況届の提出は不要です。".to_owned(),
        title_en: None,
        body_en: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_is_a_recorded_push_the_hub_cannot_read() {
    let h = harness_with(Suite::default(), Durability::Full).await;
    let (setagaya_id, _) = h.country.cast.account_holder.clone();
    let title = "児童手当の現況届についてのお知らせ（秘）";
    let hub_before = h.hub_records().await.len();
    let sent: NoticeSent = h
        .net
        .node(SETAGAYA.key)
        .local
        .post(
            "/local/v1/notices",
            &SendNoticeRequest {
                local_id: setagaya_id.clone(),
                notice: notice(title),
            },
        )
        .await
        .unwrap();

    // The hub recorded it as an exchange like any other, under its row.
    let records = h.hub_records().await;
    assert_eq!(records.len(), hub_before + 1);
    let r = records.last().unwrap();
    assert_eq!(r.query_id, sent.notice_id);
    assert_eq!(
        (r.office_work.as_str(), r.item.as_str(), r.outcome.as_str()),
        ("notice_delivery", "notice", "provided")
    );
    assert_eq!(r.requester, SETAGAYA.id().to_string());
    assert_eq!(r.provider, DIGITAL.id().to_string());
    assert!(
        r.table_row.as_deref().is_some_and(|row| row.contains("R15")),
        "{:?}",
        r.table_row
    );
    // Both ends keep their record, joined by the query id.
    let sender = h.node_records(SETAGAYA.key).await.pop().unwrap();
    assert_eq!(
        (
            sender.query_id.as_deref(),
            sender.role.as_str(),
            sender.outcome.as_str()
        ),
        (Some(sent.notice_id.as_str()), "requester", "provided")
    );
    let portal = h.node_records(DIGITAL.key).await.pop().unwrap();
    assert_eq!(
        (
            portal.query_id.as_deref(),
            portal.role.as_str(),
            portal.outcome.as_str()
        ),
        (Some(sent.notice_id.as_str()), "provider", "provided")
    );

    // The portal's node holds the text; the hub never saw it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hub_bytes = renkei_testnet::StoreDb::open(&h.net, "hub")
        .await
        .contents()
        .await;
    assert!(
        !contains(&hub_bytes, title.as_bytes()),
        "the notice reached the hub's store"
    );
    let portal_bytes = renkei_testnet::StoreDb::node(&h.net, DIGITAL.key)
        .await
        .contents()
        .await;
    // ...sealed at rest there (not in its file in clear), yet there: the
    // node's store, opened with its data key, has the text (so the check
    // above is not vacuous).
    assert!(
        !contains(&portal_bytes, title.as_bytes()),
        "the notice is in clear in the portal node's store"
    );
    let da = h.net.node(DIGITAL.key);
    let key = renkei_pki::provision::read_data_key(da.settings.data_key.as_ref().unwrap()).unwrap();
    let person = renkei_ids::LocalPersonId::parse(&h.country.cast.account_holder.1).unwrap();
    let kept = match &da.database_url {
        Some(url) => {
            let store = renkei_store_postgres::PgNodeStore::open_with_key(url, Some(&key))
                .await
                .unwrap();
            renkei_node::NodeStore::notices(&store, &person).await.unwrap()
        }
        None => {
            let store = renkei_store_sqlite::SqliteNodeStore::open_with_key(
                &da.store_path,
                Durability::Full,
                Some(&key),
            )
            .await
            .unwrap();
            renkei_node::NodeStore::notices(&store, &person).await.unwrap()
        }
    };
    assert!(kept.iter().any(|n| n.title_ja == title), "{kept:?}");
    let log = logs().lock().unwrap().clone();
    assert!(!contains(&log, title.as_bytes()), "the notice was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_outside_the_table_is_refused_and_recorded() {
    let h = harness().await;
    // The portal's own node has no notice recipient configured: refused
    // before anything is sent.
    let digital_person = h.country.cast.account_holder.1.clone();
    let r: Result<NoticeSent, _> = h
        .net
        .node(DIGITAL.key)
        .local
        .post(
            "/local/v1/notices",
            &SendNoticeRequest {
                local_id: digital_person.clone(),
                notice: notice("自分宛て"),
            },
        )
        .await;
    assert_eq!(rejected_code(&r), "no_notice_recipient");

    // Sent anyway, by hand: no row lets the Digital Agency push notices, so
    // the hub refuses it and records the refusal.
    let raw = h.net.impersonate(DIGITAL.key).unwrap();
    let code = h.code(DIGITAL.key, &digital_person).await;
    let portal = raw
        .trust
        .certified_party(&raw.certificate, DIGITAL.id(), Suite::default())
        .unwrap();
    let mut request = LinkageRequest {
        message_id: MessageId::random(),
        requester: DIGITAL.id(),
        provider: DIGITAL.id(),
        office_work: renkei_catalog::OfficeWorkCode::parse("notice_delivery").unwrap(),
        item: renkei_catalog::ItemCode::parse("notice").unwrap(),
        fiscal_year: None,
        subject: code,
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: None,
        payload: None,
    };
    let mut core = request.core();
    core.seal_payload(&raw.sealing, &portal, b"{}").unwrap();
    request.payload = core.payload;
    let request = request.sign(&raw.signing, raw.certificate.clone());
    let before = h.hub_records().await.len();
    let r = raw
        .post_hub::<_, HubReplyWire>(
            &h.net.hub.url(),
            "/v1/linkage",
            &SignedRequestWire::from(&request),
        )
        .await;
    assert_eq!(rejected_code(&r), "not_permitted");
    let records = h.hub_records().await;
    assert_eq!(records.len(), before + 1);
    assert_eq!(records.last().unwrap().outcome, "not_permitted");
    assert_eq!(records.last().unwrap().item, "notice");
}
