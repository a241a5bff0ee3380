//! The witness store.

use crate::pg_url;
use renkei_protocol::StoreError;
use renkei_store_postgres::PgWitnessStore;
use renkei_store_sqlite::{Durability, SqliteWitnessStore};
use renkei_witness::{Known, WitnessStore};

fn known(size: u64, byte: u8) -> Known {
    Known {
        size,
        root: [byte; 32],
        note: format!("renkei.example/log\n{size}\nroot-{byte}\n"),
    }
}

/// What every witness store must do.
async fn witness_store_behaves(s: &impl WitnessStore) {
    let origin = "renkei.example/provision-records";
    assert_eq!(s.known(origin).await.unwrap(), None);
    // The first state is created once: a second creation loses.
    assert!(s.advance(origin, None, known(5, 1)).await.unwrap());
    assert!(!s.advance(origin, None, known(6, 2)).await.unwrap());
    assert_eq!(s.known(origin).await.unwrap(), Some(known(5, 1)));
    // Advancing needs the size the caller saw (compare and swap).
    assert!(!s.advance(origin, Some(4), known(9, 3)).await.unwrap());
    assert!(s.advance(origin, Some(5), known(9, 3)).await.unwrap());
    assert_eq!(s.known(origin).await.unwrap(), Some(known(9, 3)));
    // Logs are independent.
    assert_eq!(s.known("other.example/log").await.unwrap(), None);
    // Sizes beyond i64 are refused, not wrapped.
    let huge = s.advance(origin, Some(9), known(u64::MAX, 4)).await;
    assert!(matches!(huge, Err(StoreError::Corrupt(_))), "{huge:?}");
    assert_eq!(
        s.known(origin).await.unwrap(),
        Some(known(9, 3)),
        "nothing changed"
    );
    // Split views are kept in order, with both notes.
    s.record_split_view(origin, "earlier".into(), "later".into())
        .await
        .unwrap();
    s.record_split_view(origin, "a".into(), "b".into()).await.unwrap();
    assert_eq!(
        s.split_views().await.unwrap(),
        vec![
            (origin.to_owned(), "earlier".to_owned(), "later".to_owned()),
            (origin.to_owned(), "a".to_owned(), "b".to_owned()),
        ]
    );
}

#[tokio::test]
async fn witness_store_on_sqlite() {
    let dir = crate::private_dir();
    let s = SqliteWitnessStore::open(&dir.path().join("w.sqlite"), Durability::Normal)
        .await
        .unwrap();
    witness_store_behaves(&s).await;
}

#[tokio::test]
async fn witness_store_on_postgres() {
    let Some(url) = pg_url("witness").await else {
        return;
    };
    let s = PgWitnessStore::open(&url).await.unwrap();
    witness_store_behaves(&s).await;
    // Opening again migrates nothing and keeps the state.
    let again = PgWitnessStore::open(&url).await.unwrap();
    assert_eq!(
        again
            .known("renkei.example/provision-records")
            .await
            .unwrap()
            .map(|k| k.size),
        Some(9)
    );
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
