//! The node's and the registry's stores on PostgreSQL.

use std::collections::HashSet;

use renkei_crypto::DataKey;
use renkei_node::EnrolledPerson;
use renkei_protocol::StoreError;
use sqlx::{Acquire, Postgres, Transaction};

use super::{DbError, db};
use crate::node::{NodeDialect, RecordKeeper, SqlNode, SqlRecordKeeper};
use crate::sql::store_err;

/// An institution node's store in a PostgreSQL database, in a schema or
/// database of its own.
pub type PgNodeStore = SqlNode<Postgres>;

impl<K: RecordKeeper> SqlRecordKeeper<Postgres, K> {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Self::open_with_key(url, None).await
    }

    /// Open with the store's data key, if it has one: a new store is then
    /// encrypted at rest; an existing one must have been created with the
    /// same key (or, without a key, in clear).
    pub async fn open_with_key(url: &str, key: Option<&DataKey>) -> Result<Self, DbError> {
        let pool = db::open(url, K::COMPONENT, K::POSTGRES_MIGRATIONS).await?;
        Self::assemble(pool.clone(), pool, K::COMPONENT, key)
            .await
            .map_err(|f| DbError::of(K::COMPONENT, f))
    }
}

impl NodeDialect for Postgres {
    /// Bulk enrolment: one array statement for the whole batch when no
    /// person or code appears twice in it (the usual case). A conflict with
    /// stored rows that only the order of inserts resolves (a code moving
    /// from one person to another) rolls the savepoint back and the batch
    /// goes one statement per person, in order.
    async fn enrol_bulk(
        tx: &mut Transaction<'_, Postgres>,
        persons: &[EnrolledPerson],
    ) -> Result<bool, StoreError> {
        let ids: HashSet<&str> = persons.iter().map(|p| p.local_id.as_str()).collect();
        let codes: Vec<String> = persons.iter().map(|p| p.code.to_string()).collect();
        let distinct =
            ids.len() == persons.len() && codes.iter().collect::<HashSet<_>>().len() == codes.len();
        if !distinct || persons.len() <= 1 {
            return Ok(false);
        }
        let mut bulk = tx.begin().await.map_err(store_err("enrol"))?;
        let done = sqlx::query(
            "INSERT INTO persons (local_id, code, enrolled_at) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[]) \
             ON CONFLICT (local_id) DO UPDATE SET code = excluded.code, enrolled_at = excluded.enrolled_at",
        )
        .bind(persons.iter().map(|p| p.local_id.as_str()).collect::<Vec<_>>())
        .bind(&codes)
        .bind(persons.iter().map(|p| p.enrolled_at.0).collect::<Vec<_>>())
        .execute(&mut *bulk)
        .await;
        match done {
            Ok(_) => {
                bulk.commit().await.map_err(store_err("enrol"))?;
                Ok(true)
            }
            Err(e) => {
                tracing::debug!(error = %e, "bulk enrolment conflicted; enrolling one by one");
                bulk.rollback().await.map_err(store_err("enrol"))?;
                Ok(false)
            }
        }
    }
}
