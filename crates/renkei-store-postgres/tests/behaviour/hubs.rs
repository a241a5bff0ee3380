//! What only a shared database has: several hub processes on one log,
//! the log's own consistency, and database URLs.

use std::collections::HashSet;

use renkei_hub::HubStore;
use renkei_ids::MessageId;
use renkei_protocol::UnixMillis;
use renkei_store_postgres::{HEAD_REFRESH, PgHubStore, PgWitnessStore};
use renkei_store_sql::testkit::hub::{append_all, independent_root, record};

use crate::{corp, pg_url};

/// Two hub processes on one database: one log, dense numbers, each hub's
/// head follows the other's appends, and a message id claimed at one hub
/// is a replay at the other.
#[tokio::test]
async fn two_hubs_on_one_database_keep_one_log() {
    let Some(url) = pg_url("two_hubs").await else {
        return;
    };
    let a = PgHubStore::open(&url).await.unwrap();
    let b = PgHubStore::open(&url).await.unwrap();
    // Forty waves in which both hubs append at once.
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for wave in 0..40u64 {
        let (x, y) = tokio::join!(
            append_all(&a, wave * 20..wave * 20 + 10),
            append_all(&b, wave * 20 + 10..wave * 20 + 20)
        );
        from_a.extend(x);
        from_b.extend(y);
    }
    let all_seqs: HashSet<u64> = from_a.iter().chain(&from_b).copied().collect();
    assert_eq!(all_seqs.len(), 800, "no number given twice");
    assert_eq!(all_seqs, (0..800).collect(), "no gap");
    // Both wrote throughout: neither hub's numbers form one block.
    for mine in [&from_a, &from_b] {
        let span = mine.iter().max().unwrap() - mine.iter().min().unwrap() + 1;
        assert!(span > mine.len() as u64, "numbers interleave");
    }

    // Each head catches up with the other hub's appends.
    tokio::time::sleep(HEAD_REFRESH * 3).await;
    let root = independent_root(&a, 800).await;
    for s in [&a, &b] {
        let head = s.log_head();
        assert_eq!((head.size, head.root), (800, root));
    }
    // Appends after a gap continue the same tree.
    let next = b.append_record(record(900)).await.unwrap();
    assert_eq!(next, 800);
    let c = PgHubStore::open(&url).await.unwrap();
    assert_eq!(
        c.log_head(),
        b.log_head(),
        "a third hub starting now sees the same log"
    );
    assert_eq!(a.append_record(record(901)).await.unwrap(), 801);
    assert_eq!(independent_root(&c, 802).await, a.log_head().root);

    // One checkpoint publisher at a time; the lease passes on when its
    // holder goes away.
    assert!(a.publisher_lease().await.unwrap());
    assert!(a.publisher_lease().await.unwrap(), "kept");
    assert!(!b.publisher_lease().await.unwrap());
    assert!(!c.publisher_lease().await.unwrap());
    drop(a);
    let mut passed = false;
    for _ in 0..50 {
        if b.publisher_lease().await.unwrap() {
            passed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(passed, "the lease passes to another hub");
    assert!(!c.publisher_lease().await.unwrap());
    let a = PgHubStore::open(&url).await.unwrap();

    // Message ids: one claim across all hubs.
    let (requester, id) = (corp(1), MessageId::random());
    assert!(
        a.claim_message(requester, id, UnixMillis(i64::MAX))
            .await
            .unwrap()
    );
    assert!(
        !b.claim_message(requester, id, UnixMillis(i64::MAX))
            .await
            .unwrap()
    );
    assert!(
        !a.claim_message(requester, id, UnixMillis(i64::MAX))
            .await
            .unwrap()
    );
    assert!(
        b.claim_message(corp(2), id, UnixMillis(i64::MAX)).await.unwrap(),
        "ids are per requester"
    );
}

#[tokio::test]
async fn a_hub_database_that_disagrees_with_itself_is_refused() {
    let Some(url) = pg_url("hub_inconsistent").await else {
        return;
    };
    let s = PgHubStore::open(&url).await.unwrap();
    append_all(&s, 0..20).await;
    drop(s);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE log_state SET size = 10")
        .execute(&pool)
        .await
        .unwrap();
    let err = PgHubStore::open(&url).await.unwrap_err().to_string();
    assert!(err.contains("beyond the log's size 10"), "{err}");
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_error() {
    let e = PgWitnessStore::open("mysql://localhost/x").await.unwrap_err();
    assert!(e.to_string().contains("not a PostgreSQL URL"), "{e}");
    let e = PgWitnessStore::open("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}
