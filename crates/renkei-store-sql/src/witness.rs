//! A witness's store: the last checkpoint cosigned per log, and evidence
//! of split views.

use renkei_protocol::{StoreError, UnixMillis};
use renkei_witness::{Known, WitnessStore};
use sqlx::Pool;

use crate::dialect::Dialect;
use crate::sql::{Stmt, digest, get, store_err, to_i64, to_u64};

/// A witness's store on dialect `D` (`SqliteWitnessStore`,
/// `PgWitnessStore`).
pub struct SqlWitness<D: Dialect> {
    pub(crate) pool: Pool<D>,
}

impl<D: Dialect> Clone for SqlWitness<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlWitness<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlWitness").field("pool", &self.pool).finish()
    }
}

impl<D: Dialect> WitnessStore for SqlWitness<D> {
    async fn known(&self, origin: &str) -> Result<Option<Known>, StoreError> {
        let row = Stmt::new("SELECT size, root, note FROM logs WHERE origin = $1")
            .arg(origin)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read witness state"))?;
        row.map(|r| {
            Ok(Known {
                size: to_u64("size", get(&r, "size")?)?,
                root: digest(get(&r, "root")?, "root")?,
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
        // A size beyond i64 is refused, never wrapped to a negative.
        let size = to_i64("size", next.size)?;
        let stmt = match expected_size {
            None => Stmt::new(
                "INSERT INTO logs (origin, size, root, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (origin) DO NOTHING",
            )
            .arg(origin)
            .arg(size)
            .arg(&next.root[..])
            .arg(&next.note)
            .arg(now),
            Some(old) => Stmt::new(
                "UPDATE logs SET size = $1, root = $2, note = $3, updated_at = $4 WHERE origin = $5 AND size = $6",
            )
            .arg(size)
            .arg(&next.root[..])
            .arg(&next.note)
            .arg(now)
            .arg(origin)
            .arg(to_i64("size", old)?),
        };
        let n = stmt
            .execute(&self.pool)
            .await
            .map_err(store_err("advance witness state"))?;
        Ok(n == 1)
    }

    async fn record_split_view(
        &self,
        origin: &str,
        earlier_note: String,
        later_note: String,
    ) -> Result<(), StoreError> {
        Stmt::new("INSERT INTO split_views (origin, earlier_note, later_note, at) VALUES ($1, $2, $3, $4)")
            .arg(origin)
            .arg(earlier_note)
            .arg(later_note)
            .arg(UnixMillis::now().0)
            .execute(&self.pool)
            .await
            .map_err(store_err("record split view"))?;
        Ok(())
    }

    async fn split_views(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = Stmt::new("SELECT origin, earlier_note, later_note FROM split_views ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list split views"))?;
        rows.iter()
            .map(|r| Ok((get(r, "origin")?, get(r, "earlier_note")?, get(r, "later_note")?)))
            .collect()
    }
}
