//! The node's and the registry's stores on SQLite.

use std::path::Path;

use renkei_crypto::DataKey;
use renkei_node::EnrolledPerson;
use renkei_protocol::StoreError;
use sqlx::{Sqlite, Transaction};

use super::{DbError, Durability, db};
use crate::node::{NodeDialect, RecordKeeper, SqlNode, SqlRecordKeeper};

/// An institution node's store in one SQLite file.
pub type SqliteNodeStore = SqlNode<Sqlite>;

impl<K: RecordKeeper> SqlRecordKeeper<Sqlite, K> {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::open_with_key(path, durability, None).await
    }

    /// Open with the store's data key, if it has one: a new store is then
    /// encrypted at rest; an existing one must have been created with the
    /// same key (or, without a key, in clear).
    pub async fn open_with_key(
        path: &Path,
        durability: Durability,
        key: Option<&DataKey>,
    ) -> Result<Self, DbError> {
        let pool = db::open(path, durability, K::SQLITE_MIGRATIONS).await?;
        let writer = db::writer(path, durability).await?;
        Self::assemble(pool, writer, &path.display().to_string(), key)
            .await
            .map_err(|f| DbError::of(path, f))
    }
}

impl NodeDialect for Sqlite {
    /// One statement per person, in order: the single writer makes that
    /// cheap enough.
    async fn enrol_bulk(_: &mut Transaction<'_, Sqlite>, _: &[EnrolledPerson]) -> Result<bool, StoreError> {
        Ok(false)
    }
}
