//! Settling a store's data key when it is opened: a store is encrypted at
//! rest or in clear from its first open on, and is refused with a key it
//! was not created with (or without its key), so clear and sealed rows
//! never mix.

use std::sync::Arc;

use renkei_crypto::{AtRestCipher, DataKey, settle_store_key};
use sqlx::postgres::PgPool;

use crate::db::DbError;

/// The cipher of an encrypted store; `None` for a store in clear.
pub(crate) type Cipher = Option<Arc<AtRestCipher>>;

/// Record, on the first open, whether the store is encrypted (and with
/// which key); on later opens check the key given against it. `has_rows`
/// answers whether the tables that would be sealed hold any row: a store
/// that already has some in clear (made before encryption existed) is a
/// store in clear. Several processes opening at once settle it once (the
/// first insert wins; the others read it).
pub(crate) async fn settle(
    pool: &PgPool,
    component: &'static str,
    key: Option<&DataKey>,
    has_rows: &'static str,
) -> Result<Cipher, DbError> {
    let has: bool = sqlx::query_scalar(has_rows)
        .fetch_one(pool)
        .await
        .map_err(DbError::Connect)?;
    let check = if has {
        None
    } else {
        key.map(|k| AtRestCipher::new(k).key_check().to_vec())
    };
    let inserted =
        sqlx::query("INSERT INTO data_key (id, key_check) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(&check)
            .execute(pool)
            .await
            .map_err(DbError::Connect)?
            .rows_affected();
    if inserted == 1 && check.is_some() {
        tracing::info!(component, "new store: personal data encrypted at rest");
    }
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT key_check FROM data_key WHERE id = 1")
        .fetch_one(pool)
        .await
        .map_err(DbError::Connect)?;
    let problem = |problem| DbError::DataKey { component, problem };
    settle_store_key(stored.as_deref(), key)
        .map(|c| c.map(Arc::new))
        .map_err(problem)
}
