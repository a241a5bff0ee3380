//! The institution node's store.

use std::collections::HashSet;

use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_crypto::DataKey;
use renkei_ids::{CodeAlgorithm, CorporateNumber, InstitutionCode, LocalPersonId, MessageId, QueryId};
use renkei_node::{EnrolledPerson, ItemValue, NodeRecord, NodeRole, NodeStore, Notice, RecordOutcome};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};

use super::{Backend, place};

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

fn code(n: u8) -> InstitutionCode {
    InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![n; 32]).unwrap()
}

pub fn lid(s: &str) -> LocalPersonId {
    LocalPersonId::parse(s).unwrap()
}

fn fy(y: u16) -> Option<FiscalYear> {
    Some(FiscalYear::new(y).unwrap())
}

fn person(id: &str, c: u8, at: i64) -> EnrolledPerson {
    EnrolledPerson {
        local_id: lid(id),
        code: code(c),
        enrolled_at: UnixMillis(at),
    }
}

fn value(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match json {
        serde_json::Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn item_value(id: &str, item: &str, fiscal_year: Option<FiscalYear>, n: i64) -> ItemValue {
    ItemValue {
        local_id: lid(id),
        item: ItemCode::parse(item).unwrap(),
        fiscal_year,
        value: value(serde_json::json!({
            "taxable_income": n,
            "note": "所得 \u{1F600} \"quoted\"",
            "ratio": 0.1,
            "nested": { "list": [1, null, true] },
        })),
        updated_at: UnixMillis(n),
    }
}

pub fn node_record(i: i64) -> NodeRecord {
    let provider = i % 2 == 0;
    NodeRecord {
        query_id: (i % 3 != 0).then(QueryId::random),
        message_id: (i % 4 != 1).then(MessageId::random),
        role: if provider {
            NodeRole::Provider
        } else {
            NodeRole::Requester
        },
        counterpart: corp(3 + i as u64),
        office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
        item: ItemCode::parse("resident_tax_income").unwrap(),
        fiscal_year: (i % 4 != 0).then(|| FiscalYear::new(2020 + i as u16 % 5).unwrap()),
        local_id: provider.then(|| lid(&format!("P-{i}"))),
        requested_at: UnixMillis(1_000 + i),
        completed_at: UnixMillis(2_000 + i),
        outcome: match i % 3 {
            0 => RecordOutcome::Provided,
            1 => RecordOutcome::NoData,
            _ => RecordOutcome::Denied("not_permitted".into()),
        },
        non_disclosure: i % 5 == 0,
    }
}

pub fn notice(id: &str, sent_at: i64, title: &str) -> Notice {
    Notice {
        id: id.into(),
        sender: corp(7),
        sender_name: "世田谷区".into(),
        title_ja: title.into(),
        body_ja: "本文\n二行目".into(),
        title_en: (sent_at % 2 == 0).then(|| "Title".to_owned()),
        body_en: (sent_at % 2 == 0).then(|| "Body".to_owned()),
        sent_at: UnixMillis(sent_at),
        read_at: None,
    }
}

/// What every node store must do: enrolments, items, notices, records.
async fn node_store_behaves<S: NodeStore + Clone>(s: &S) {
    let c = s.counts().await.unwrap();
    assert_eq!((c.persons, c.items, c.records), (0, 0, 0));
    assert!(s.records(None, 10).await.unwrap().is_empty());
    assert!(s.persons_page(None, 10).await.unwrap().is_empty());

    enrolment(s).await;
    paging_persons(s).await;
    items(s).await;
    notices(s).await;
    records(s).await;

    let c = s.counts().await.unwrap();
    // Persons and the six paged ones; 3 items of A-1 and the bulk
    // ones of A-2; 2 + 100 records.
    assert_eq!((c.persons, c.items, c.records), (8, 13_503, 102));
}

async fn enrolment<S: NodeStore>(s: &S) {
    let (a, b) = (lid("A-1"), lid("A-2"));
    s.enrol(vec![person("A-1", 1, 1), person("A-2", 2, 1)])
        .await
        .unwrap();
    assert_eq!(s.code_of(&a).await.unwrap(), Some(code(1)));
    assert_eq!(s.person_by_code(&code(2)).await.unwrap(), Some(b.clone()));
    assert_eq!(s.code_of(&lid("nobody")).await.unwrap(), None);
    assert_eq!(s.person_by_code(&code(99)).await.unwrap(), None);

    // Re-enrolment after a code-key rotation replaces the code.
    s.enrol(vec![person("A-1", 3, 5)]).await.unwrap();
    assert_eq!(s.code_of(&a).await.unwrap(), Some(code(3)));
    assert_eq!(s.person_by_code(&code(1)).await.unwrap(), None);
    assert_eq!(s.person_by_code(&code(3)).await.unwrap(), Some(a.clone()));
    assert_eq!(s.persons_page(None, 1).await.unwrap(), vec![person("A-1", 3, 5)]);

    // A code another person holds is a conflict, and nothing of the batch
    // is stored.
    let taken = s.enrol(vec![person("C-1", 4, 6), person("C-2", 2, 6)]).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(s.code_of(&lid("C-1")).await.unwrap(), None);
    assert_eq!(s.person_by_code(&code(2)).await.unwrap(), Some(b.clone()));
    // One statement per person, in order: a code freed earlier in the
    // batch can be taken later in it, but not the other way round.
    let swapped = s.enrol(vec![person("A-2", 3, 7), person("A-1", 2, 7)]).await;
    assert!(matches!(swapped, Err(StoreError::Conflict(_))), "{swapped:?}");
    assert_eq!(s.code_of(&a).await.unwrap(), Some(code(3)), "unchanged");
    s.enrol(vec![
        person("A-1", 5, 7),
        person("A-2", 3, 7),
        person("A-1", 2, 7),
    ])
    .await
    .unwrap();
    assert_eq!(s.code_of(&a).await.unwrap(), Some(code(2)));
    assert_eq!(s.code_of(&b).await.unwrap(), Some(code(3)));
    assert_eq!(s.person_by_code(&code(5)).await.unwrap(), None);
    s.enrol(Vec::new()).await.unwrap();
    assert_eq!(s.counts().await.unwrap().persons, 2);

    assert_eq!(
        s.enrolled_among(vec![a.clone(), lid("X-1"), a.clone()])
            .await
            .unwrap(),
        HashSet::from([a.clone()])
    );
    assert!(s.enrolled_among(Vec::new()).await.unwrap().is_empty());
    // Many at once (SQLite asks in chunks).
    let many: Vec<LocalPersonId> = (0..1200)
        .map(|i| lid(&format!("M-{i}")))
        .chain([b.clone()])
        .collect();
    assert_eq!(s.enrolled_among(many).await.unwrap(), HashSet::from([b.clone()]));
}

/// Paging is in byte order of the local id, whatever the database's
/// collation would say.
async fn paging_persons<S: NodeStore>(s: &S) {
    let ids = ["_x", "a", "B", "a-b", "Z9", "0"];
    s.enrol(
        ids.iter()
            .enumerate()
            .map(|(i, id)| person(id, 10 + i as u8, 9))
            .collect(),
    )
    .await
    .unwrap();
    let mut expected: Vec<&str> = ids.iter().copied().chain(["A-1", "A-2"]).collect();
    expected.sort_unstable();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.persons_page(after.clone(), 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.local_id.clone());
        seen.extend(page.iter().map(|p| p.local_id.as_str().to_owned()));
    }
    assert_eq!(seen, expected);
    let all = s.persons_page(None, 100).await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0], person("0", 15, 9));
    // A limit of 0 is read as 1.
    assert_eq!(s.persons_page(None, 0).await.unwrap().len(), 1);
    assert!(s.persons_page(Some(lid("zzz")), 10).await.unwrap().is_empty());
}

async fn items<S: NodeStore>(s: &S) {
    let a = lid("A-1");
    let tax = ItemCode::parse("resident_tax_income").unwrap();
    let v = item_value("A-1", "resident_tax_income", fy(2025), 3_000_000);
    assert_eq!(s.import_items(vec![v.clone()]).await.unwrap(), 1);
    assert_eq!(s.item(&a, &tax, fy(2025)).await.unwrap(), Some(v.clone()));
    assert_eq!(s.item(&a, &tax, None).await.unwrap(), None);
    assert_eq!(s.item(&a, &tax, fy(2024)).await.unwrap(), None);
    assert_eq!(s.item(&lid("A-2"), &tax, fy(2025)).await.unwrap(), None);

    // Not periodic is its own key; a later import replaces; of the same key
    // twice in one import the last wins; the count is of the items given.
    let once = item_value("A-1", "resident_tax_income", None, 1);
    let first = item_value("A-1", "resident_tax_income", fy(2025), 10);
    let second = item_value("A-1", "resident_tax_income", fy(2025), 20);
    let other = item_value("A-1", "household_members", fy(2025), 30);
    assert_eq!(
        s.import_items(vec![first, once.clone(), second.clone(), other.clone()])
            .await
            .unwrap(),
        4
    );
    assert_eq!(s.item(&a, &tax, None).await.unwrap(), Some(once));
    assert_eq!(s.item(&a, &tax, fy(2025)).await.unwrap(), Some(second.clone()));
    assert_eq!(s.item(&a, &other.item, fy(2025)).await.unwrap(), Some(other));

    // An import that breaks a constraint changes nothing (all or nothing).
    let ok = item_value("A-1", "resident_tax_income", fy(2024), 40);
    let replace = item_value("A-1", "resident_tax_income", fy(2025), 50);
    let bad = item_value("not-enrolled", "resident_tax_income", fy(2025), 60);
    assert!(s.import_items(vec![ok, replace, bad]).await.is_err());
    assert_eq!(s.item(&a, &tax, fy(2024)).await.unwrap(), None);
    assert_eq!(s.item(&a, &tax, fy(2025)).await.unwrap(), Some(second));
    assert_eq!(s.import_items(Vec::new()).await.unwrap(), 0);

    // A bigger import (PostgreSQL binds in chunks); of each repeated key
    // the last wins here too.
    let big: Vec<ItemValue> = (0..14_000)
        .map(|i| item_value("A-2", &format!("bulk_{}", i % 13_500), fy(2025), i))
        .collect();
    assert_eq!(s.import_items(big).await.unwrap(), 14_000);
    for (key, n) in [
        ("bulk_0", 13_500),
        ("bulk_499", 13_999),
        ("bulk_500", 500),
        ("bulk_13499", 13_499),
    ] {
        let item = ItemCode::parse(key).unwrap();
        assert_eq!(
            s.item(&lid("A-2"), &item, fy(2025)).await.unwrap(),
            Some(item_value("A-2", key, fy(2025), n))
        );
    }
    assert_eq!(s.counts().await.unwrap().items, 13_503);
}

async fn notices<S: NodeStore>(s: &S) {
    let (a, b) = (lid("A-1"), lid("A-2"));
    assert!(s.notices(&a).await.unwrap().is_empty());
    s.store_notice(&a, notice("n1", 11, "一")).await.unwrap();
    s.store_notice(&a, notice("n2", 20, "二")).await.unwrap();
    s.store_notice(&a, notice("n0", 20, "零")).await.unwrap();
    // Idempotent by id: a second delivery changes nothing, even for
    // another person.
    s.store_notice(&a, notice("n1", 99, "changed")).await.unwrap();
    s.store_notice(&b, notice("n1", 12, "other")).await.unwrap();
    assert!(s.notices(&b).await.unwrap().is_empty());
    // Newest first; the same instant in id order.
    assert_eq!(
        s.notices(&a).await.unwrap(),
        vec![
            notice("n0", 20, "零"),
            notice("n2", 20, "二"),
            notice("n1", 11, "一")
        ]
    );
    // A notice for a person not enrolled is refused.
    assert!(s.store_notice(&lid("ghost"), notice("n9", 1, "x")).await.is_err());

    // Read once: the first time stays.
    assert!(s.mark_notice_read(&a, "n1", UnixMillis(100)).await.unwrap());
    assert!(s.mark_notice_read(&a, "n1", UnixMillis(200)).await.unwrap());
    assert!(!s.mark_notice_read(&b, "n1", UnixMillis(300)).await.unwrap());
    assert!(!s.mark_notice_read(&a, "n7", UnixMillis(300)).await.unwrap());
    let list = s.notices(&a).await.unwrap();
    assert_eq!(list[2].read_at, Some(UnixMillis(100)));
    assert_eq!(list[0].read_at, None);

    // At most 1000, the newest.
    for i in 0..1001 {
        s.store_notice(&b, notice(&format!("b{i:04}"), 1000 + i, "多"))
            .await
            .unwrap();
    }
    let list = s.notices(&b).await.unwrap();
    assert_eq!(list.len(), 1000);
    assert_eq!(list[0].id, "b1000");
    assert_eq!(list[999].id, "b0001");
}

async fn records<S: NodeStore + Clone>(s: &S) {
    assert_eq!(s.append_record(node_record(0)).await.unwrap(), 0);
    assert_eq!(s.append_record(node_record(1)).await.unwrap(), 1);
    let all = s.records(None, 10).await.unwrap();
    assert_eq!(
        all,
        vec![
            (0, node_record_like(&all[0].1, 0)),
            (1, node_record_like(&all[1].1, 1))
        ]
    );
    assert_eq!(s.records(Some(0), 10).await.unwrap(), all[1..].to_vec());
    assert!(s.records(Some(1), 10).await.unwrap().is_empty());
    assert!(s.records(Some(5), 10).await.unwrap().is_empty());
    // A cursor beyond BIGINT finds nothing (is not wrapped to everything).
    assert!(s.records(Some(u64::MAX), 10).await.unwrap().is_empty());
    assert!(s.records(Some(i64::MAX as u64 + 1), 10).await.unwrap().is_empty());
    // A limit of 0 is read as 1.
    assert_eq!(s.records(None, 0).await.unwrap(), all[..1].to_vec());

    // Concurrent appends share commits; every one gets its own number,
    // densely.
    let mut tasks = Vec::new();
    for i in 2..102 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            (i, s.append_record(node_record(i)).await.unwrap())
        }));
    }
    let mut seqs = HashSet::new();
    for t in tasks {
        let (_, seq) = t.await.unwrap();
        assert!(seqs.insert(seq));
    }
    assert_eq!(seqs, (2..102).collect());
    let page = s.records(Some(1), 10_000).await.unwrap();
    assert_eq!(page.len(), 100);
    assert!(page.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    for (_, r) in &page {
        // Every variant round-trips (the random query id aside).
        let i = r.requested_at.0 - 1_000;
        assert_eq!(*r, node_record_like(r, i));
    }
    assert_eq!(s.records(Some(50), 10).await.unwrap()[0].0, 51);
    let all = s.records(None, 10_000).await.unwrap();
    let since = UnixMillis(2_090);
    expect_recent_provided(&all, s.recent_provided(since).await.unwrap(), since);
    assert!(s.recent_provided(UnixMillis(i64::MAX)).await.unwrap().is_empty());
}

/// `node_record(i)` with the random query id of `got`.
pub(crate) fn node_record_like(got: &NodeRecord, i: i64) -> NodeRecord {
    let mut r = node_record(i);
    if r.query_id.is_some() {
        r.query_id = got.query_id;
    }
    if r.message_id.is_some() {
        r.message_id = got.message_id;
    }
    r
}

/// What a provider re-arms its once-only check from: the provider records
/// with a message id completed since the time asked, as stored.
pub(crate) fn expect_recent_provided(
    all: &[(u64, NodeRecord)],
    got: Vec<(CorporateNumber, MessageId, UnixMillis)>,
    since: UnixMillis,
) {
    let mut want: Vec<_> = all
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.role == NodeRole::Provider && r.completed_at >= since)
        .filter_map(|r| r.message_id.map(|m| (r.counterpart, m, r.completed_at)))
        .collect();
    let mut got = got;
    want.sort_by_key(|w| w.2);
    got.sort_by_key(|g| g.2);
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

/// A reopened store keeps what it had and numbers on.
async fn reopened_node_store_continues<S: NodeStore>(s: &S) {
    let c = s.counts().await.unwrap();
    assert_eq!((c.persons, c.items, c.records), (8, 13_503, 102));
    assert_eq!(s.append_record(node_record(7)).await.unwrap(), 102);
    assert_eq!(s.code_of(&lid("A-1")).await.unwrap(), Some(code(2)));
}

/// The node suite, with a restart.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("node").await else {
        return;
    };
    let s = place.node(None).await.unwrap();
    node_store_behaves(&s).await;
    B::node_refusals(&s).await;
    drop(s);
    let s = place.node(None).await.unwrap();
    reopened_node_store_continues(&s).await;
}

/// The same suite on a store encrypted at rest: sealing changes no
/// behaviour.
pub async fn encrypted_behaves<B: Backend>() {
    let Some(place) = place::<B>("node_sealed").await else {
        return;
    };
    let key = DataKey::generate();
    let s = place.node(Some(&key)).await.unwrap();
    node_store_behaves(&s).await;
    B::node_refusals(&s).await;
    drop(s);
    let s = place.node(Some(&key)).await.unwrap();
    reopened_node_store_continues(&s).await;
}

pub async fn enrolment_items_and_records<B: Backend>() {
    let Some(place) = B::durable_place("node_enrolment").await else {
        return;
    };
    let store = place.node(None).await.unwrap();
    let a = lid("A-1");
    let b = lid("A-2");
    store
        .enrol(vec![EnrolledPerson {
            local_id: a.clone(),
            code: code(1),
            enrolled_at: UnixMillis(1),
        }])
        .await
        .unwrap();
    assert_eq!(store.code_of(&a).await.unwrap(), Some(code(1)));
    assert_eq!(store.person_by_code(&code(1)).await.unwrap(), Some(a.clone()));
    assert_eq!(store.code_of(&b).await.unwrap(), None);
    assert_eq!(
        store.enrolled_among(vec![a.clone(), b.clone()]).await.unwrap(),
        HashSet::from([a.clone()])
    );

    let item = ItemCode::parse("resident_tax_income").unwrap();
    let fy = Some(FiscalYear::new(2025).unwrap());
    let mut value = serde_json::Map::new();
    value.insert("taxable_income".into(), 3_000_000.into());
    let v = ItemValue {
        local_id: a.clone(),
        item: item.clone(),
        fiscal_year: fy,
        value,
        updated_at: UnixMillis(2),
    };
    assert_eq!(store.import_items(vec![v.clone()]).await.unwrap(), 1);
    assert_eq!(store.item(&a, &item, fy).await.unwrap(), Some(v));
    assert_eq!(store.item(&a, &item, None).await.unwrap(), None);

    // An import that breaks a constraint changes nothing (all or nothing).
    let bad = ItemValue {
        local_id: b.clone(),
        item: item.clone(),
        fiscal_year: fy,
        value: serde_json::Map::new(),
        updated_at: UnixMillis(3),
    };
    let mut ok2 = bad.clone();
    ok2.local_id = a.clone();
    ok2.fiscal_year = Some(FiscalYear::new(2024).unwrap());
    assert!(store.import_items(vec![ok2, bad]).await.is_err());
    assert_eq!(
        store
            .item(&a, &item, Some(FiscalYear::new(2024).unwrap()))
            .await
            .unwrap(),
        None
    );

    let rec = NodeRecord {
        query_id: Some(QueryId::random()),
        message_id: Some(renkei_ids::MessageId::random()),
        role: NodeRole::Provider,
        counterpart: corp(3),
        office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
        item,
        fiscal_year: fy,
        local_id: Some(a),
        requested_at: UnixMillis(4),
        completed_at: UnixMillis(5),
        outcome: RecordOutcome::Provided,
        non_disclosure: false,
    };
    assert_eq!(store.append_record(rec.clone()).await.unwrap(), 0);
    assert_eq!(store.append_record(rec.clone()).await.unwrap(), 1);
    assert_eq!(store.records(None, 10).await.unwrap()[1], (1, rec));
    let c = store.counts().await.unwrap();
    assert_eq!((c.persons, c.items, c.records), (1, 1, 2));
}

fn outgoing(id: &str, who: &str, n: i64) -> renkei_node::OutgoingDelivery {
    renkei_node::OutgoingDelivery {
        delivery_id: renkei_node::DeliveryId::parse(id).unwrap(),
        content: renkei_node::DeliveryContent {
            local_id: lid(who),
            recipient: corp(11),
            office_work: OfficeWorkCode::parse("statutory_filing").unwrap(),
            item: ItemCode::parse("salary_payment_report").unwrap(),
            fiscal_year: fy(2025),
            document: value(serde_json::json!({
                "payer": "株式会社サンプル",
                "salary": 5_400_000 + n,
                "secret": "給与の秘密",
                "nested": { "list": [1, null, true] },
            })),
        },
        created_at: UnixMillis(100 + n),
        status: renkei_node::DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: UnixMillis(100 + n),
        last_error: None,
    }
}

fn incoming(sender: u64, id: &str, who: &str, n: i64) -> renkei_node::IncomingDelivery {
    let o = outgoing(id, who, n);
    renkei_node::IncomingDelivery {
        sender: corp(sender),
        delivery_id: o.delivery_id,
        local_id: o.content.local_id,
        office_work: o.content.office_work,
        item: o.content.item,
        fiscal_year: o.content.fiscal_year,
        document: o.content.document,
        query_id: QueryId::random(),
        received_at: UnixMillis(1_000 + n),
    }
}

/// The outbox keeps a delivery once by id, hands out the due ones, counts
/// attempts and settles each once; the inbox keeps each (sender, delivery
/// id) once, numbered in order.
async fn outbox_and_inbox<S: NodeStore + Clone>(s: &S, strict_races: bool) {
    use renkei_node::{AttemptOutcome, DeliveryId, DeliveryStatus, Enqueued};
    s.enrol(vec![person("D-1", 41, 1), person("D-2", 42, 1)])
        .await
        .unwrap();
    let d1 = outgoing("d-1", "D-1", 1);
    assert_eq!(
        s.enqueue_delivery(d1.clone()).await.unwrap(),
        Enqueued::New(d1.clone())
    );
    // The same id again: what is there is returned, whatever was asked.
    let other = outgoing("d-1", "D-2", 7);
    assert_eq!(
        s.enqueue_delivery(other).await.unwrap(),
        Enqueued::Existing(d1.clone())
    );
    let d2 = outgoing("d-2", "D-2", 2);
    s.enqueue_delivery(d2.clone()).await.unwrap();
    // A delivery for a person not enrolled is refused.
    assert!(s.enqueue_delivery(outgoing("d-x", "ghost", 3)).await.is_err());
    assert_eq!(s.delivery(&d1.delivery_id).await.unwrap(), Some(d1.clone()));
    assert_eq!(
        s.delivery(&DeliveryId::parse("none").unwrap()).await.unwrap(),
        None
    );
    assert_eq!(s.delivery_counts().await.unwrap(), (2, 0, 0));
    assert_eq!(
        s.list_deliveries(Some("pending"), None, 10).await.unwrap(),
        vec![d1.clone(), d2.clone()]
    );

    // Due in order of their time; none before it.
    assert!(s.due_deliveries(UnixMillis(100), 10).await.unwrap().is_empty());
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(UnixMillis(101)));
    let due = s.due_deliveries(UnixMillis(102), 10).await.unwrap();
    assert_eq!(due, vec![d1.clone(), d2.clone()]);
    assert_eq!(
        s.due_deliveries(UnixMillis(102), 1).await.unwrap(),
        vec![d1.clone()]
    );

    // A failed attempt: counted, the error kept, due later.
    assert!(
        s.delivery_attempted(
            &d1.delivery_id,
            AttemptOutcome::Failed {
                error: "the receiver cannot be reached".into(),
                next_attempt_at: UnixMillis(500),
            },
        )
        .await
        .unwrap()
    );
    let now = s.delivery(&d1.delivery_id).await.unwrap().unwrap();
    assert_eq!(
        (
            now.attempts,
            now.next_attempt_at,
            now.last_error.as_deref(),
            &now.status
        ),
        (
            1,
            UnixMillis(500),
            Some("the receiver cannot be reached"),
            &DeliveryStatus::Pending
        )
    );
    assert_eq!(
        s.due_deliveries(UnixMillis(102), 10).await.unwrap(),
        vec![d2.clone()]
    );
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(UnixMillis(102)));

    // Delivered: settled once; a later outcome changes nothing.
    let q = QueryId::random();
    assert!(
        s.delivery_attempted(
            &d1.delivery_id,
            AttemptOutcome::Delivered {
                query_id: q,
                at: UnixMillis(600)
            }
        )
        .await
        .unwrap()
    );
    assert!(
        !s.delivery_attempted(
            &d1.delivery_id,
            AttemptOutcome::Refused {
                code: "not_permitted".into(),
                error: "late".into(),
                at: UnixMillis(700)
            }
        )
        .await
        .unwrap()
    );
    let now = s.delivery(&d1.delivery_id).await.unwrap().unwrap();
    assert_eq!(
        (now.attempts, now.last_error, now.status),
        (
            2,
            None,
            DeliveryStatus::Delivered {
                query_id: q,
                at: UnixMillis(600)
            }
        )
    );
    // Refused: settled, with its code and reason, no longer due.
    s.delivery_attempted(
        &d2.delivery_id,
        AttemptOutcome::Refused {
            code: "not_permitted".into(),
            error: "no push row".into(),
            at: UnixMillis(800),
        },
    )
    .await
    .unwrap();
    let now = s.delivery(&d2.delivery_id).await.unwrap().unwrap();
    assert_eq!(
        (now.attempts, now.last_error.as_deref(), now.status),
        (
            1,
            Some("no push row"),
            DeliveryStatus::Refused {
                code: "not_permitted".into(),
                at: UnixMillis(800)
            }
        )
    );
    assert!(
        s.due_deliveries(UnixMillis(i64::MAX), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Listed in id order, by status, paged.
    let ids = |l: Vec<renkei_node::OutgoingDelivery>| {
        l.into_iter()
            .map(|d| d.delivery_id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.list_deliveries(None, None, 10).await.unwrap()),
        ["d-1", "d-2"]
    );
    assert_eq!(
        ids(s.list_deliveries(Some("refused"), None, 10).await.unwrap()),
        ["d-2"]
    );
    assert!(
        s.list_deliveries(Some("pending"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(s
            .list_deliveries(None, Some(DeliveryId::parse("d-1").unwrap()), 10)
            .await
            .unwrap()),
        ["d-2"]
    );
    assert_eq!(ids(s.list_deliveries(None, None, 1).await.unwrap()), ["d-1"]);
    assert_eq!(s.next_delivery_due().await.unwrap(), None);
    assert_eq!(s.delivery_counts().await.unwrap(), (0, 1, 1));

    // The inbox: once per sender and delivery id, numbered from 1.
    assert!(s.inbox(None, 10).await.unwrap().is_empty());
    let a = incoming(21, "x-1", "D-1", 1);
    assert_eq!(s.receive_delivery(a.clone()).await.unwrap(), (1, true));
    // Again (a retry after a lost answer): kept once, the first stays.
    let again = incoming(21, "x-1", "D-2", 9);
    assert_eq!(s.receive_delivery(again).await.unwrap(), (1, false));
    // The same id from another sender is another delivery.
    let b = incoming(22, "x-1", "D-2", 2);
    assert_eq!(s.receive_delivery(b.clone()).await.unwrap(), (2, true));
    assert!(s.receive_delivery(incoming(21, "x-9", "ghost", 3)).await.is_err());
    assert_eq!(
        s.inbox(None, 10).await.unwrap(),
        vec![(1, a.clone()), (2, b.clone())]
    );
    assert_eq!(s.inbox(Some(1), 10).await.unwrap(), vec![(2, b.clone())]);
    assert_eq!(s.inbox(None, 0).await.unwrap(), vec![(1, a.clone())]);
    assert!(s.inbox(Some(u64::MAX), 10).await.unwrap().is_empty());

    // Concurrent receivers: each kept once, numbered densely.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.receive_delivery(incoming(23, &format!("c-{}", i % 20), "D-1", i))
                .await
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((_, true)) => fresh += 1,
            Ok((_, false)) => {}
            // SQLite may refuse a racing writer as busy; the sender retries.
            Err(e) => assert!(!strict_races && matches!(e, StoreError::Unavailable(_)), "{e:?}"),
        }
    }
    let all = s.inbox(None, 1_000).await.unwrap();
    assert_eq!(all.len(), 2 + fresh);
    assert!(all.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    let ids: HashSet<_> = all
        .iter()
        .map(|(_, d)| (d.sender, d.delivery_id.clone()))
        .collect();
    assert_eq!(ids.len(), all.len());
}

/// The outbox and the inbox, in clear and sealed at rest (where no
/// document is in clear), surviving a reopen.
pub async fn outbox_and_inbox_behave<B: Backend>() {
    for key in [None, Some(DataKey::generate())] {
        let Some(place) = place::<B>(if key.is_some() {
            "node_boxes_sealed"
        } else {
            "node_boxes"
        })
        .await
        else {
            return;
        };
        let s = place.node(key.as_ref()).await.unwrap();
        outbox_and_inbox(&s, B::STRICT_RACES).await;
        drop(s);
        let s = place.node(key.as_ref()).await.unwrap();
        assert_eq!(s.delivery_counts().await.unwrap(), (0, 1, 1));
        assert_eq!(s.inbox(None, 1).await.unwrap()[0].0, 1);
        let secret = "給与の秘密".as_bytes();
        let bytes = place.bytes().await;
        let in_clear = bytes.windows(secret.len()).any(|w| w == secret);
        assert_eq!(
            in_clear,
            key.is_none(),
            "documents in clear only in a store without a key"
        );
    }
}

/// Statutory filings: kept whole or not at all, once per id, their
/// reports routed once each, in clear and sealed at rest (where no report
/// is in clear), surviving a reopen.
pub async fn filings_behave<B: Backend>() {
    use renkei_node::{FiledReport, Filing, FilingCounts, FilingId, FilingInsert, FilingType, ReportRoute};
    for key in [None, Some(DataKey::generate())] {
        let Some(place) = place::<B>(if key.is_some() {
            "node_filings_sealed"
        } else {
            "node_filings"
        })
        .await
        else {
            return;
        };
        let s = place.node(key.as_ref()).await.unwrap();
        s.enrol(vec![person("F-1", 51, 1), person("F-2", 52, 1)])
            .await
            .unwrap();
        let id = FilingId::parse("3010401187424-2025-0001").unwrap();
        let filing = Filing {
            id: id.clone(),
            filing_type: FilingType::WithholdingReports,
            payer: corp(301_040_118_742),
            tax_year: 2025,
            digest: "ab".repeat(32),
            reports: 3,
            received_at: UnixMillis(1_000),
        };
        let report = |line: u32, who: &str| FiledReport {
            filing: id.clone(),
            line,
            local_id: lid(who),
            report: serde_json::json!({"payment_amount": 5_000_000 + line, "remarks": "源泉の秘密"}),
            route: ReportRoute::Pending,
        };
        let reports = vec![report(1, "F-1"), report(2, "F-2"), report(4, "F-1")];
        // A report about someone not enrolled: nothing of the filing is kept.
        let bad = Filing {
            id: FilingId::parse("bad").unwrap(),
            ..filing.clone()
        };
        let mut stray = report(1, "F-9");
        stray.filing = bad.id.clone();
        assert!(s.insert_filing(bad.clone(), vec![stray]).await.is_err());
        assert_eq!(s.filing(&bad.id).await.unwrap(), None);

        assert_eq!(
            s.insert_filing(filing.clone(), reports.clone()).await.unwrap(),
            FilingInsert::New
        );
        // The same id again: what is there is returned, nothing added.
        let again = Filing {
            digest: "cd".repeat(32),
            ..filing.clone()
        };
        assert_eq!(
            s.insert_filing(again, vec![report(9, "F-2")]).await.unwrap(),
            FilingInsert::Existing(filing.clone())
        );
        assert_eq!(
            s.filing(&id).await.unwrap(),
            Some((
                filing.clone(),
                FilingCounts {
                    pending: 3,
                    ..FilingCounts::default()
                }
            ))
        );
        assert_eq!(s.pending_filed_reports(2).await.unwrap(), reports[..2].to_vec());
        let routed = ReportRoute::Routed {
            recipient: corp(100_000_141_003),
            delivery_id: renkei_node::report_delivery_id(&id, 1),
        };
        assert!(s.route_filed_report(&id, 1, routed.clone()).await.unwrap());
        // Once only: a settled report is not routed again.
        assert!(
            !s.route_filed_report(&id, 1, ReportRoute::Unroutable { reason: "x".into() })
                .await
                .unwrap()
        );
        let unroutable = ReportRoute::Unroutable {
            reason: "no residence on 2026-01-01".into(),
        };
        assert!(s.route_filed_report(&id, 4, unroutable.clone()).await.unwrap());
        assert!(
            !s.route_filed_report(&id, 3, routed.clone()).await.unwrap(),
            "no line 3"
        );
        assert_eq!(
            s.pending_filed_reports(10).await.unwrap(),
            vec![reports[1].clone()]
        );
        drop(s);

        let s = place.node(key.as_ref()).await.unwrap();
        let kept = s.filed_reports(&id, 0, 10).await.unwrap();
        assert_eq!(
            kept.iter().map(|r| (r.line, r.route.clone())).collect::<Vec<_>>(),
            vec![(1, routed), (2, ReportRoute::Pending), (4, unroutable)]
        );
        assert_eq!(kept[0].report, reports[0].report);
        assert_eq!(s.filed_reports(&id, 2, 10).await.unwrap().len(), 1);
        assert_eq!(
            s.filing(&id).await.unwrap().unwrap().1,
            FilingCounts {
                pending: 1,
                routed: 1,
                unroutable: 1,
                kept: 0,
            }
        );
        // A monthly filing's reports are kept, never pending.
        let monthly = Filing {
            id: FilingId::parse("3010401187424-2025-m11").unwrap(),
            filing_type: FilingType::MonthlyEarnings,
            reports: 1,
            ..filing.clone()
        };
        let mut kept_report = report(1, "F-2");
        kept_report.filing = monthly.id.clone();
        kept_report.route = ReportRoute::Kept;
        assert_eq!(
            s.insert_filing(monthly.clone(), vec![kept_report.clone()])
                .await
                .unwrap(),
            FilingInsert::New
        );
        assert_eq!(
            s.filed_reports(&monthly.id, 0, 10).await.unwrap(),
            vec![kept_report]
        );
        assert_eq!(s.filing(&monthly.id).await.unwrap().unwrap().0, monthly);
        assert_eq!(s.filing(&monthly.id).await.unwrap().unwrap().1.kept, 1);
        assert!(
            s.pending_filed_reports(10)
                .await
                .unwrap()
                .iter()
                .all(|r| r.filing == id)
        );
        let secret = "源泉の秘密".as_bytes();
        let bytes = place.bytes().await;
        let in_clear = bytes.windows(secret.len()).any(|w| w == secret);
        assert_eq!(
            in_clear,
            key.is_none(),
            "reports in clear only in a store without a key"
        );
    }
}
