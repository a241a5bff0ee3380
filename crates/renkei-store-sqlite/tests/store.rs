// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! Behaviour of the SQLite stores through the role crates' traits.

use std::collections::HashSet;

use renkei_catalog::{ItemCode, KindCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{SealingKeyPair, SigningKey, Suite};
use renkei_hub::{
    Endpoint, HubStore, Institution, InstitutionStatus, Outcome, ProvisionRecord, RecordFilter, SubjectTag,
};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CodeAlgorithm, CorporateNumber, FourFacts, InstitutionCode,
    KanaName, LocalPersonId, MessageId, MyNumber, PersonName, QueryId, Sex,
};
use renkei_node::{EnrolledPerson, ItemValue, NodeRecord, NodeRole, NodeStore, RecordOutcome};
use renkei_protocol::{DenialCode, FiscalYear, UnixMillis};
use renkei_registry::{HouseholdId, NewResident, RegistryStore, ResidentEvent};
use renkei_store_sqlite::{Durability, SqliteHubStore, SqliteNodeStore, SqliteRegistryStore};

#[path = "store/files.rs"]
mod files;

/// A temporary directory only its owner can use (stores refuse any other).
fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

fn record(i: u64) -> ProvisionRecord {
    ProvisionRecord {
        leaf: renkei_hub::LogLeaf {
            query_id: QueryId::random(),
            message_id: MessageId::random(),
            request_digest: [i as u8; 32],
            requester: corp(1),
            provider: corp(2),
            office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
            item: ItemCode::parse("resident_tax_income").unwrap(),
            fiscal_year: Some(FiscalYear::new(2025).unwrap()),
            table_row: i.is_multiple_of(2).then(|| TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            }),
            requested_at: UnixMillis(1_000 + i as i64),
            provided_at: i.is_multiple_of(2).then_some(UnixMillis(2_000)),
            commitment: (!i.is_multiple_of(3)).then_some([i as u8; 32]),
            consent_commitment: i.is_multiple_of(4).then_some([i as u8 ^ 0x5a; 32]),
            hidden_until: i.is_multiple_of(7).then_some(UnixMillis(9_000)),
            hidden_reason: i.is_multiple_of(7).then(|| "investigation".to_owned()),
            outcome: if i.is_multiple_of(2) {
                Outcome::Provided
            } else {
                Outcome::Denied(DenialCode::NotPermitted)
            },
            non_disclosure: i.is_multiple_of(5),
        },
        subject: (!i.is_multiple_of(3)).then_some(SubjectTag([7; 32])),
        consent: i.is_multiple_of(4).then(|| format!("grant-{i}")),
    }
}

#[tokio::test]
async fn hub_records_are_dense_durable_and_round_trip() {
    let dir = private_dir();
    let path = dir.path().join("hub.sqlite");
    let store = SqliteHubStore::open(&path, Durability::Full).await.unwrap();

    // Concurrent appends share commits but every one gets its own number.
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, s.append_record(record(i)).await.unwrap())
        }));
    }
    let mut seqs = HashSet::new();
    for t in tasks {
        let (_, seq) = t.await.unwrap();
        assert!(seqs.insert(seq));
    }
    assert_eq!(seqs, (0..200).collect());

    let all = store
        .records(RecordFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 200);
    let by_digest = |d: u8| {
        all.iter()
            .find(|(_, r)| r.leaf.request_digest == [d; 32])
            .unwrap()
            .1
            .clone()
    };
    for i in [0u64, 1, 3, 10] {
        let mut expected = record(i);
        let got = by_digest(i as u8);
        expected.leaf.query_id = got.leaf.query_id;
        expected.leaf.message_id = got.leaf.message_id;
        assert_eq!(got, expected);
    }
    // Reopening continues the numbering.
    drop(store);
    let store = SqliteHubStore::open(&path, Durability::Full).await.unwrap();
    assert_eq!(store.append_record(record(1)).await.unwrap(), 200);
    let subject = store
        .records(RecordFilter {
            subject: Some(SubjectTag([7; 32])),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        subject
            .iter()
            .all(|(_, r)| r.subject == Some(SubjectTag([7; 32])))
    );
    let recent = store.recent_message_ids(UnixMillis(1_150)).await.unwrap();
    // requested_at 1150..=1199; the re-appended record (1001) is older.
    assert_eq!(recent.len(), 50);
}

#[tokio::test]
async fn hub_institutions_round_trip_and_status_changes() {
    let dir = private_dir();
    let store = SqliteHubStore::open(&dir.path().join("hub.sqlite"), Durability::Normal)
        .await
        .unwrap();
    for suite in Suite::ALL {
        let inst = Institution {
            id: corp(if suite == Suite::default() { 10 } else { 11 }),
            name: "世田谷区".into(),
            kind: KindCode::parse("municipality").unwrap(),
            endpoint: Endpoint::parse("https://127.0.0.1:9443").unwrap(),
            tls_certificate: [3; 32],
            signing_key: SigningKey::generate(suite.signature()).verifying_key(),
            sealing_key: SealingKeyPair::generate(suite.sealing()).public_key(),
            status: InstitutionStatus::Active,
            updated_at: UnixMillis(5),
            certificate: vec![0x30, 0x82, 9],
        };
        store.upsert_institution(&inst).await.unwrap();
        let back = store.institutions().await.unwrap();
        assert!(back.contains(&inst));
        assert!(
            store
                .set_institution_status(inst.id, InstitutionStatus::Suspended, UnixMillis(6))
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .set_institution_status(corp(99), InstitutionStatus::Suspended, UnixMillis(6))
            .await
            .unwrap()
    );
    assert!(
        store
            .institutions()
            .await
            .unwrap()
            .iter()
            .all(|i| i.status == InstitutionStatus::Suspended)
    );
}

fn code(n: u8) -> InstitutionCode {
    InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![n; 32]).unwrap()
}

#[tokio::test]
async fn node_enrolment_items_and_records() {
    let dir = private_dir();
    let store = SqliteNodeStore::open(&dir.path().join("node.sqlite"), Durability::Full)
        .await
        .unwrap();
    let a = LocalPersonId::parse("A-1").unwrap();
    let b = LocalPersonId::parse("A-2").unwrap();
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

fn facts(address: &str) -> FourFacts {
    FourFacts {
        name: PersonName::parse("高橋 健一").unwrap(),
        address: Address::parse(address).unwrap(),
        birth_date: BirthDate::parse("1975-10-10").unwrap(),
        sex: Sex::Male,
    }
}

#[tokio::test]
async fn registry_residents_codes_acquisitions_and_events() {
    let dir = private_dir();
    let store = SqliteRegistryStore::open(&dir.path().join("registry.sqlite"), Durability::Full)
        .await
        .unwrap();
    let r = NewResident {
        facts: facts("東京都世田谷区太子堂四丁目1番1号"),
        kana: KanaName::parse("タカハシ　ケンイチ").unwrap(),
        household: HouseholdId(1),
    }
    .register(UnixMillis(1));
    store.register(vec![r.clone()]).await.unwrap();
    // The same My Number again is a conflict, and nothing of the batch is stored.
    let mut dup = r.clone();
    dup.link_id = renkei_ids::LinkId::random();
    let fresh = NewResident {
        facts: facts("x"),
        kana: r.kana.clone(),
        household: HouseholdId(2),
    }
    .register(UnixMillis(1));
    assert!(matches!(
        store.register(vec![fresh.clone(), dup]).await,
        Err(renkei_protocol::StoreError::Conflict(_))
    ));
    assert_eq!(store.counts().await.unwrap().residents, 1);

    let found = store
        .by_my_numbers(vec![r.my_number.clone(), MyNumber::random()])
        .await
        .unwrap();
    assert_eq!(found[0].as_ref(), Some(&r));
    assert!(found[1].is_none());

    store.set_own_codes(vec![(r.link_id, code(9))]).await.unwrap();
    assert_eq!(
        store.by_own_code(&code(9)).await.unwrap().unwrap().link_id,
        r.link_id
    );
    assert!(store.without_own_code(10).await.unwrap().is_empty());

    let acq = AcquisitionNumber::random();
    let inst = corp(1);
    assert_eq!(
        store
            .claim_acquisition_numbers(inst, vec![acq], UnixMillis(2))
            .await
            .unwrap(),
        vec![true]
    );
    assert_eq!(
        store
            .claim_acquisition_numbers(inst, vec![acq], UnixMillis(3))
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store
            .claim_acquisition_numbers(corp(2), vec![acq], UnixMillis(3))
            .await
            .unwrap(),
        vec![true]
    );

    let moved = Address::parse("神奈川県横浜市中区山下町1番地").unwrap();
    let seq = store
        .change_address(r.my_number.clone(), moved.clone(), UnixMillis(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .change_address(MyNumber::random(), moved.clone(), UnixMillis(4))
            .await
            .unwrap(),
        None
    );
    let died = BirthDate::parse("2026-01-02").unwrap();
    store
        .record_death(r.my_number.clone(), died, UnixMillis(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .record_death(r.my_number.clone(), died, UnixMillis(6))
            .await
            .unwrap(),
        None,
        "only once"
    );
    let events = store.events(0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].seq, seq);
    assert_eq!(
        events[0].event,
        ResidentEvent::AddressChanged {
            new_address: moved.clone()
        }
    );
    assert_eq!(events[1].event, ResidentEvent::Died { date: died });
    let now = store
        .by_my_numbers(vec![r.my_number.clone()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(now.facts.address, moved);
}

#[tokio::test]
async fn the_log_grows_with_the_records_and_survives_a_reopen() {
    use renkei_hub::log::{hash_from_stored, stored_needed};
    use renkei_log::tree::NodeId;

    let dir = private_dir();
    let path = dir.path().join("hub.sqlite");
    let store = SqliteHubStore::open(&path, Durability::Normal).await.unwrap();
    assert_eq!(store.log_head().size, 0);
    let mut tasks = Vec::new();
    for i in 0..700u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(
            async move { s.append_record(record(i)).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let head = store.log_head();
    assert_eq!(head.size, 700);

    // The root equals one computed independently from the leaves.
    let leaves = store.leaves(0, 700).await.unwrap();
    let mut f = renkei_log::Frontier::new();
    for l in &leaves {
        let leaf = l.as_ref().unwrap();
        renkei_hub::LogLeaf::decode(leaf).unwrap();
        f.push(renkei_log::leaf_hash(leaf));
    }
    assert_eq!(f.root(), head.root);

    // Proofs from stored nodes verify.
    for index in [0u64, 1, 255, 256, 511, 699] {
        let nodes = renkei_log::inclusion_nodes(index, 700);
        let stored = store.stored_hashes(stored_needed(&nodes)).await.unwrap();
        let mut get = |n: NodeId| hash_from_stored(n, &stored).unwrap();
        let proof = renkei_log::prove_inclusion(index, 700, &mut get).unwrap();
        let leaf = renkei_log::leaf_hash(leaves[index as usize].as_ref().unwrap());
        renkei_log::verify_inclusion(index, 700, &leaf, &proof, &head.root).unwrap();
    }

    // Reopen: the frontier is rebuilt and the log continues consistently.
    drop(store);
    let store = SqliteHubStore::open(&path, Durability::Normal).await.unwrap();
    assert_eq!(store.log_head(), head);
    assert_eq!(store.append_record(record(1)).await.unwrap(), 700);
    let new = store.log_head();
    let nodes = renkei_log::consistency_nodes(700, 701);
    let stored = store.stored_hashes(stored_needed(&nodes)).await.unwrap();
    let mut get = |n: NodeId| hash_from_stored(n, &stored).unwrap();
    let proof = renkei_log::prove_consistency(700, 701, &mut get).unwrap();
    renkei_log::verify_consistency(700, 701, &head.root, &new.root, &proof).unwrap();

    // Pruning by index deletes leaf data and record rows below the minimum
    // index (whole bundles only), never hashes.
    assert!(store.prune_below(100, "cp".into(), UnixMillis(5)).await.is_err());
    let pruned = store.prune_below(256, "cp".into(), UnixMillis(5)).await.unwrap();
    assert_eq!(pruned, 256);
    let after = store.leaves(0, 701).await.unwrap();
    assert!(after[..256].iter().all(Option::is_none));
    assert!(after[256..].iter().all(Option::is_some));
    assert_eq!(store.pruned_below().await.unwrap(), Some((256, "cp".into())));
    assert_eq!(store.log_head(), new);
    drop(store);
    let store = SqliteHubStore::open(&path, Durability::Normal).await.unwrap();
    assert_eq!(store.log_head(), new, "hashes survive pruning and reopening");
    assert_eq!(
        store.append_record(record(2)).await.unwrap(),
        701,
        "no index is reused"
    );

    // Checkpoints and person tokens.
    store
        .save_checkpoint(700, "note 700".into(), UnixMillis(1))
        .await
        .unwrap();
    store
        .save_checkpoint(701, "note 701".into(), UnixMillis(2))
        .await
        .unwrap();
    store
        .save_checkpoint(701, "note 701 cosigned".into(), UnixMillis(3))
        .await
        .unwrap();
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some((701, "note 701 cosigned".into()))
    );
    store
        .save_person_token([1; 32], SubjectTag([2; 32]), UnixMillis(1))
        .await
        .unwrap();
    assert_eq!(
        store.subject_for_token([1; 32]).await.unwrap(),
        Some(SubjectTag([2; 32]))
    );
    assert_eq!(store.subject_for_token([3; 32]).await.unwrap(), None);
}
