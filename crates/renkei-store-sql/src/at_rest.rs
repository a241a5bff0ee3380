//! Settling a store's data key when it is opened: a store is encrypted at
//! rest or in clear from its first open on, and is refused with a key it
//! was not created with (or without its key), so clear and sealed rows
//! never mix.

use std::sync::Arc;

use renkei_crypto::{AtRestCipher, DataKey, settle_store_key};
use sqlx::Pool;

use crate::dialect::{Dialect, OpenFailure};
use crate::sql::{Cols, Stmt};

/// The cipher of an encrypted store; `None` for a store in clear.
pub(crate) type Cipher = Option<Arc<AtRestCipher>>;

/// Record, on the first open, whether the store is encrypted (and with
/// which key); on later opens check the key given against it. `has_rows`
/// answers (column `has`) whether the tables that would be sealed hold any
/// row: a store that already has some in clear (made before encryption
/// existed) is a store in clear. Several processes opening at once settle
/// it once (the first insert wins; the others read it). `store` names the
/// store in the log.
pub(crate) async fn settle<D: Dialect>(
    pool: &Pool<D>,
    store: &str,
    key: Option<&DataKey>,
    has_rows: &'static str,
) -> Result<Cipher, OpenFailure> {
    let mut tx = D::begin_write(pool).await?;
    let found = Stmt::new("SELECT key_check FROM data_key WHERE id = 1")
        .fetch_optional(&mut tx)
        .await?;
    let stored: Option<Vec<u8>> = match found {
        Some(row) => row.opt_bytes("key_check")?,
        None => {
            let has = Stmt::new(has_rows).fetch_one(&mut tx).await?.flag("has")?;
            let check = if has {
                None
            } else {
                key.map(|k| AtRestCipher::new(k).key_check().to_vec())
            };
            let inserted =
                Stmt::new("INSERT INTO data_key (id, key_check) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .arg(check.clone())
                    .execute(&mut tx)
                    .await?;
            if inserted == 1 && check.is_some() {
                tracing::info!(store, "new store: personal data encrypted at rest");
            }
            Stmt::new("SELECT key_check FROM data_key WHERE id = 1")
                .fetch_one(&mut tx)
                .await?
                .opt_bytes("key_check")?
        }
    };
    tx.commit().await?;
    settle_store_key(stored.as_deref(), key)
        .map(|c| c.map(Arc::new))
        .map_err(OpenFailure::Key)
}
