use std::path::Path;

use renkei_protocol::{StoreError, UnixMillis};
use renkei_witness::{Known, WitnessStore};
use sqlx::sqlite::SqlitePool;

use crate::db::{self, DbError, Durability, corrupt, get, store_err};

const MIGRATIONS: &[&str] = &[include_str!("../migrations/witness_001.sql")];

/// A witness's store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteWitnessStore {
    pool: SqlitePool,
}

impl SqliteWitnessStore {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(path, durability, MIGRATIONS).await?,
        })
    }
}

impl WitnessStore for SqliteWitnessStore {
    async fn known(&self, origin: &str) -> Result<Option<Known>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM logs WHERE origin = ?")
            .bind(origin)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read witness state"))?;
        row.map(|r| {
            Ok(Known {
                size: get::<i64>(&r, "size")? as u64,
                root: get::<Vec<u8>>(&r, "root")?
                    .try_into()
                    .map_err(|_| corrupt("root", "not 32 bytes"))?,
                note: get(&r, "note")?,
            })
        })
        .transpose()
    }

    async fn advance(
        &self,
        origin: &str,
        expected_size: Option<u64>,
        next: Known,
    ) -> Result<bool, StoreError> {
        let now = UnixMillis::now().0;
        // A size SQLite cannot hold is refused, never wrapped to a negative.
        let size = i64::try_from(next.size).map_err(|e| corrupt("size", e))?;
        let old = expected_size
            .map(|o| i64::try_from(o).map_err(|e| corrupt("size", e)))
            .transpose()?;
        let r = match old {
            None => {
                sqlx::query(
                    "INSERT INTO logs (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (origin) DO NOTHING",
                )
                .bind(origin)
                .bind(size)
                .bind(&next.root[..])
                .bind(&next.note)
                .bind(now)
                .execute(&self.pool)
                .await
            }
            Some(old) => sqlx::query(
                "UPDATE logs SET size = ?, root = ?, note = ?, updated_at = ? WHERE origin = ? AND size = ?",
            )
            .bind(size)
            .bind(&next.root[..])
            .bind(&next.note)
            .bind(now)
            .bind(origin)
            .bind(old)
            .execute(&self.pool)
            .await,
        }
        .map_err(store_err("advance witness state"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_split_view(
        &self,
        origin: &str,
        earlier_note: String,
        later_note: String,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO split_views (origin, earlier_note, later_note, at) VALUES (?, ?, ?, ?)")
            .bind(origin)
            .bind(earlier_note)
            .bind(later_note)
            .bind(UnixMillis::now().0)
            .execute(&self.pool)
            .await
            .map_err(store_err("record split view"))?;
        Ok(())
    }

    async fn split_views(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT origin, earlier_note, later_note FROM split_views ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list split views"))?;
        rows.iter()
            .map(|r| Ok((get(r, "origin")?, get(r, "earlier_note")?, get(r, "later_note")?)))
            .collect()
    }
}
