//! The witness store.

use renkei_protocol::StoreError;
use renkei_witness::{Known, WitnessStore};

use super::{Backend, place};

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

/// The witness suite; opening the store again migrates nothing and keeps
/// the state.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("witness").await else {
        return;
    };
    let s = place.witness().await.unwrap();
    witness_store_behaves(&s).await;
    let again = place.witness().await.unwrap();
    assert_eq!(
        again
            .known("renkei.example/provision-records")
            .await
            .unwrap()
            .map(|k| k.size),
        Some(9)
    );
}
