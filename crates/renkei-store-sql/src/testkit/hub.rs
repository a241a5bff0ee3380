//! The hub store: records, the transparency log, institutions, tokens.

use std::collections::HashSet;
use std::future::Future;

use renkei_catalog::{ItemCode, KindCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{SealingKeyPair, SigningKey, Suite};
use renkei_hub::log::{hash_from_stored, stored_needed};
use renkei_hub::{
    Endpoint, HubStore, Institution, InstitutionStatus, Outcome, ProvisionRecord, RecordFilter,
    SecurityEvent, SubjectTag,
};
use renkei_ids::{MessageId, QueryId};
use renkei_log::tree::NodeId;
use renkei_protocol::{DenialCode, FiscalYear, StoreError, UnixMillis};

use super::{Backend, corp, place};

/// A record of the suite, about person `[7; 32]` if `i` is not a multiple of 3.
pub fn record(i: u64) -> ProvisionRecord {
    ProvisionRecord {
        leaf: renkei_hub::LogLeaf {
            query_id: QueryId::random(),
            message_id: MessageId::random(),
            request_digest: [i as u8; 32],
            requester: corp(1 + i % 2),
            provider: corp(3),
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

fn all() -> RecordFilter {
    RecordFilter {
        limit: 10_000,
        ..Default::default()
    }
}

/// Append `range` concurrently; the sequence numbers they got.
pub async fn append_all<S: HubStore + Clone>(s: &S, range: std::ops::Range<u64>) -> Vec<u64> {
    let tasks: Vec<_> = range
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.append_record(record(i)).await.unwrap() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The root computed independently from every leaf the store holds.
pub async fn independent_root(s: &impl HubStore, size: u64) -> renkei_log::hash::Hash {
    let mut f = renkei_log::Frontier::new();
    for l in s.leaves(0, size).await.unwrap() {
        let leaf = l.unwrap();
        renkei_hub::LogLeaf::decode(&leaf).unwrap();
        f.push(renkei_log::leaf_hash(&leaf));
    }
    f.root()
}

/// What every hub store must do; `open` opens the same store again (a
/// restart).
async fn hub_store_behaves<S, F, Fut>(open: F)
where
    S: HubStore + Clone,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = open().await;
    assert_eq!(store.log_head().size, 0);
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);

    // Concurrent appends share commits but every one gets its own number,
    // densely from 0.
    let seqs: HashSet<u64> = append_all(&store, 0..700).await.into_iter().collect();
    assert_eq!(seqs, (0..700).collect());
    let head = store.log_head();
    assert_eq!(head.size, 700);
    assert_eq!(independent_root(&store, 700).await, head.root);

    // Records round-trip field by field.
    let records = store.records(all()).await.unwrap();
    assert_eq!(records.len(), 700);
    assert!(records.windows(2).all(|w| w[0].0 < w[1].0), "ordered by seq");
    for i in [0u64, 1, 3, 4, 7, 10, 35] {
        let (seq, got) = records
            .iter()
            .find(|(_, r)| {
                r.leaf.request_digest == [i as u8; 32] && r.leaf.requested_at.0 == 1_000 + i as i64
            })
            .unwrap();
        let mut expected = record(i);
        expected.leaf.query_id = got.leaf.query_id;
        expected.leaf.message_id = got.leaf.message_id;
        assert_eq!(got, &expected);
        // The leaf is the record's leaf.
        let leaf = store.leaves_at(vec![*seq]).await.unwrap()[seq].clone().unwrap();
        assert_eq!(leaf, got.leaf_bytes());
    }

    // Filters: subject, requester, provider, after, limit.
    let subject = store
        .records(RecordFilter {
            subject: Some(SubjectTag([7; 32])),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(
        subject.len(),
        (0..700u64).filter(|i| !i.is_multiple_of(3)).count()
    );
    assert!(
        subject
            .iter()
            .all(|(_, r)| r.subject == Some(SubjectTag([7; 32])))
    );
    let by_requester = store
        .records(RecordFilter {
            requester: Some(corp(2)),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(by_requester.len(), 350);
    assert!(by_requester.iter().all(|(_, r)| r.leaf.requester == corp(2)));
    let none = store
        .records(RecordFilter {
            provider: Some(corp(1)),
            ..all()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let page = store
        .records(RecordFilter {
            after_seq: Some(100),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![101, 102, 103, 104, 105]
    );
    // Nothing follows the largest number (it must not wrap to -1 and
    // return everything).
    let beyond = store
        .records(RecordFilter {
            after_seq: Some(u64::MAX),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(beyond.len(), 0);

    // Replay seeding: requested_at 1150..=1699.
    assert_eq!(
        store.recent_message_ids(UnixMillis(1_150)).await.unwrap().len(),
        550
    );

    // Proofs from stored nodes verify against the head.
    for index in [0u64, 1, 255, 256, 511, 699] {
        let nodes = renkei_log::inclusion_nodes(index, 700);
        let stored = store.stored_hashes(stored_needed(&nodes)).await.unwrap();
        let mut get = |n: NodeId| hash_from_stored(n, &stored).unwrap();
        let proof = renkei_log::prove_inclusion(index, 700, &mut get).unwrap();
        let leaf = store.leaves_at(vec![index]).await.unwrap()[&index]
            .clone()
            .unwrap();
        renkei_log::verify_inclusion(index, 700, &renkei_log::leaf_hash(&leaf), &proof, &head.root).unwrap();
    }
    // Asking for leaves that do not exist is an error, not a short answer.
    assert!(matches!(
        store.leaves_at(vec![5, 700]).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(store.leaves(690, 20).await, Err(StoreError::Corrupt(_))));

    // Restart: the frontier is rebuilt and the log continues consistently.
    drop(store);
    let store = open().await;
    assert_eq!(store.log_head(), head);
    assert_eq!(store.append_record(record(1)).await.unwrap(), 700);
    let new = store.log_head();
    let nodes = renkei_log::consistency_nodes(700, 701);
    let stored = store.stored_hashes(stored_needed(&nodes)).await.unwrap();
    let mut get = |n: NodeId| hash_from_stored(n, &stored).unwrap();
    let proof = renkei_log::prove_consistency(700, 701, &mut get).unwrap();
    renkei_log::verify_consistency(700, 701, &head.root, &new.root, &proof).unwrap();

    // Pruning by index deletes leaf data and record rows below the minimum
    // index, never hashes; whole bundles only, never beyond the log, and
    // the index never goes down.
    assert_eq!(store.pruned_below().await.unwrap(), None);
    for bad in [100, 768] {
        assert!(
            matches!(
                store.prune_below(bad, "cp".into(), UnixMillis(5)).await,
                Err(StoreError::Conflict(_))
            ),
            "{bad}"
        );
    }
    let pruned = store
        .prune_below(256, "cp 256".into(), UnixMillis(5))
        .await
        .unwrap();
    assert_eq!(pruned, 256);
    let after = store.leaves(0, 701).await.unwrap();
    assert!(after[..256].iter().all(Option::is_none));
    assert!(after[256..].iter().all(Option::is_some));
    assert_eq!(store.records(all()).await.unwrap().len(), 701 - 256);
    assert_eq!(
        store.prune_below(0, "cp 0".into(), UnixMillis(6)).await.unwrap(),
        0
    );
    assert_eq!(
        store.pruned_below().await.unwrap(),
        Some((256, "cp 256".into())),
        "a lower index changes nothing"
    );
    assert_eq!(store.log_head(), new);
    drop(store);
    let store = open().await;
    assert_eq!(store.log_head(), new, "hashes survive pruning and a restart");
    assert_eq!(store.pruned_below().await.unwrap().unwrap().0, 256);
    assert_eq!(
        store.append_record(record(2)).await.unwrap(),
        701,
        "no index is reused"
    );

    // Checkpoints: the latest size wins; a size's note can be replaced.
    for (size, note, at) in [
        (700, "note 700", 1),
        (701, "note 701", 2),
        (701, "note 701 cosigned", 3),
    ] {
        store
            .save_checkpoint(size, note.into(), UnixMillis(at))
            .await
            .unwrap();
    }
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some((701, "note 701 cosigned".into()))
    );
    // By time: the newest saved at or before it.
    assert_eq!(store.checkpoint_at_or_before(UnixMillis(0)).await.unwrap(), None);
    assert_eq!(
        store.checkpoint_at_or_before(UnixMillis(1)).await.unwrap(),
        Some((700, "note 700".into()))
    );
    assert_eq!(
        store.checkpoint_at_or_before(UnixMillis(2)).await.unwrap(),
        Some((701, "note 701 cosigned".into()))
    );
    let huge = store.save_checkpoint(u64::MAX, "x".into(), UnixMillis(4)).await;
    assert!(matches!(huge, Err(StoreError::Corrupt(_))), "{huge:?}");
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().0, 701);

    // Person tokens: the first subject for a token stays.
    store
        .save_person_token([1; 32], SubjectTag([2; 32]), UnixMillis(1))
        .await
        .unwrap();
    store
        .save_person_token([1; 32], SubjectTag([9; 32]), UnixMillis(2))
        .await
        .unwrap();
    assert_eq!(
        store.subject_for_token([1; 32]).await.unwrap(),
        Some(SubjectTag([2; 32]))
    );
    assert_eq!(store.subject_for_token([3; 32]).await.unwrap(), None);

    // Security events: newest first, limited.
    for (i, code) in [
        DenialCode::BadSignature,
        DenialCode::Replayed,
        DenialCode::NotPermitted,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .append_security_event(SecurityEvent {
                at: UnixMillis(i as i64),
                code,
                peer: (i != 1).then(|| corp(1)),
                message_id: (i == 2).then(MessageId::random),
                detail: format!("event {i}"),
            })
            .await
            .unwrap();
    }
    let events = store.security_events(2).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        vec!["event 2", "event 1"]
    );
    assert_eq!(events[1].peer, None);
    assert!(events[0].message_id.is_some());

    // Institutions: every suite's keys round-trip; status changes.
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
            certificate: vec![0x30, 0x82, 1, 2, 3],
        };
        store.upsert_institution(&inst).await.unwrap();
        assert!(store.institutions().await.unwrap().contains(&inst));
        let renamed = Institution {
            name: "世田谷区役所".into(),
            ..inst.clone()
        };
        store.upsert_institution(&renamed).await.unwrap();
        assert!(store.institutions().await.unwrap().contains(&renamed));
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
    let institutions = store.institutions().await.unwrap();
    assert_eq!(institutions.len(), 2);
    assert!(
        institutions
            .iter()
            .all(|i| i.status == InstitutionStatus::Suspended && i.updated_at == UnixMillis(6))
    );

    // Message ids: claimed once per requester, by one of racing callers,
    // and still claimed after a restart (until their time is past).
    let id = MessageId::random();
    let racing: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.claim_message(corp(1), id, UnixMillis(i64::MAX)).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in racing {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one racing claim wins");
    assert!(
        store
            .claim_message(corp(2), id, UnixMillis(i64::MAX))
            .await
            .unwrap(),
        "ids are per requester"
    );
    drop(store);
    let store = open().await;
    assert!(
        !store
            .claim_message(corp(1), id, UnixMillis(i64::MAX))
            .await
            .unwrap(),
        "a replay after a restart"
    );
}

/// The hub suite, with restarts.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("hub").await else {
        return;
    };
    hub_store_behaves(|| async { place.hub().await.unwrap() }).await;
}

/// The records of the first checks: one requester, one provider.
fn simple_record(i: u64) -> ProvisionRecord {
    let mut r = record(i);
    r.leaf.requester = corp(1);
    r.leaf.provider = corp(2);
    r
}

pub async fn records_are_dense_durable_and_round_trip<B: Backend>() {
    let Some(place) = B::durable_place("hub_records").await else {
        return;
    };
    let store = place.hub().await.unwrap();

    // Concurrent appends share commits but every one gets its own number.
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, s.append_record(simple_record(i)).await.unwrap())
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
        let mut expected = simple_record(i);
        let got = by_digest(i as u8);
        expected.leaf.query_id = got.leaf.query_id;
        expected.leaf.message_id = got.leaf.message_id;
        assert_eq!(got, expected);
    }
    // Reopening continues the numbering.
    drop(store);
    let store = place.hub().await.unwrap();
    assert_eq!(store.append_record(simple_record(1)).await.unwrap(), 200);
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

pub async fn institutions_round_trip_and_status_changes<B: Backend>() {
    let Some(place) = place::<B>("hub_institutions").await else {
        return;
    };
    let store = place.hub().await.unwrap();
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

pub async fn the_log_grows_with_the_records_and_survives_a_reopen<B: Backend>() {
    let Some(place) = place::<B>("hub_log").await else {
        return;
    };
    let store = place.hub().await.unwrap();
    assert_eq!(store.log_head().size, 0);
    let mut tasks = Vec::new();
    for i in 0..700u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append_record(simple_record(i)).await.unwrap()
        }));
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
    let store = place.hub().await.unwrap();
    assert_eq!(store.log_head(), head);
    assert_eq!(store.append_record(simple_record(1)).await.unwrap(), 700);
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
    let store = place.hub().await.unwrap();
    assert_eq!(store.log_head(), new, "hashes survive pruning and reopening");
    assert_eq!(
        store.append_record(simple_record(2)).await.unwrap(),
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
