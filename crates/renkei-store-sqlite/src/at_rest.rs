//! Settling a store's data key when it is opened: a store is encrypted at
//! rest or in clear from its first open on, and is refused with a key it
//! was not created with (or without its key), so clear and sealed rows
//! never mix.

use std::path::Path;
use std::sync::Arc;

use renkei_crypto::{AtRestCipher, DataKey, settle_store_key};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::db::DbError;

/// The cipher of an encrypted store; `None` for a store in clear.
pub(crate) type Cipher = Option<Arc<AtRestCipher>>;

/// Record, on the first open, whether the store is encrypted (and with
/// which key); on later opens check the key given against it. `has_rows`
/// is a query answering whether the tables that would be sealed hold any
/// row: a store that already has some in clear (made before encryption
/// existed) is a store in clear.
pub(crate) async fn settle(
    pool: &SqlitePool,
    path: &Path,
    key: Option<&DataKey>,
    has_rows: &'static str,
) -> Result<Cipher, DbError> {
    let shown = path.display().to_string();
    let open_err = |source| DbError::Open {
        path: shown.clone(),
        source,
    };
    let problem = |problem| DbError::DataKey {
        path: shown.clone(),
        problem,
    };
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(open_err)?;
    let stored: Option<Option<Vec<u8>>> = sqlx::query("SELECT key_check FROM data_key WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await
        .and_then(|r| r.map(|r| r.try_get(0)).transpose())
        .map_err(open_err)?;
    let stored = match stored {
        Some(s) => s,
        None => {
            let has: bool = sqlx::query(has_rows)
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(open_err)?;
            let check = if has {
                None
            } else {
                key.map(|k| AtRestCipher::new(k).key_check().to_vec())
            };
            sqlx::query("INSERT INTO data_key (id, key_check) VALUES (1, ?)")
                .bind(&check)
                .execute(&mut *tx)
                .await
                .map_err(open_err)?;
            tx.commit().await.map_err(open_err)?;
            if check.is_some() {
                tracing::info!(store = %shown, "new store: personal data encrypted at rest");
            }
            check
        }
    };
    settle_store_key(stored.as_deref(), key)
        .map(|c| c.map(Arc::new))
        .map_err(problem)
}
