use renkei_protocol::{StoreError, UnixMillis};
use renkei_witness::{Known, WitnessStore};
use sqlx::postgres::PgPool;

use crate::db::{self, DbError, corrupt, get, store_err};

const MIGRATIONS: &[&str] = &[include_str!("../migrations/witness_001.sql")];

/// A witness's store in a PostgreSQL database (its own schema or database).
#[derive(Debug, Clone)]
pub struct PgWitnessStore {
    pool: PgPool,
}

impl PgWitnessStore {
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(url, "witness", MIGRATIONS).await?,
        })
    }
}

impl WitnessStore for PgWitnessStore {
    async fn known(&self, origin: &str) -> Result<Option<Known>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM logs WHERE origin = $1")
            .bind(origin)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read witness state"))?;
        row.map(|r| {
            Ok(Known {
                size: u64::try_from(get::<i64>(&r, "size")?).map_err(|e| corrupt("size", e))?,
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
        let size = i64::try_from(next.size).map_err(|e| corrupt("size", e))?;
        let r = match expected_size {
            None => {
                sqlx::query(
                    "INSERT INTO logs (origin, size, root, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
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
            Some(old) => {
                sqlx::query(
                    "UPDATE logs SET size = $1, root = $2, note = $3, updated_at = $4 \
                     WHERE origin = $5 AND size = $6",
                )
                .bind(size)
                .bind(&next.root[..])
                .bind(&next.note)
                .bind(now)
                .bind(origin)
                .bind(i64::try_from(old).map_err(|e| corrupt("size", e))?)
                .execute(&self.pool)
                .await
            }
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
        sqlx::query("INSERT INTO split_views (origin, earlier_note, later_note, at) VALUES ($1, $2, $3, $4)")
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
