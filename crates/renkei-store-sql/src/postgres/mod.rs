//! PostgreSQL, the scale backend: several processes share a database, so
//! a transaction locks the rows it reads in a fixed order, what must
//! happen once is one conditional statement, and batches bind arrays
//! (`UNNEST`) to stay one statement under the 65 535-parameter limit.

mod db;
mod hub;
pub(crate) mod migrations;
mod node;
mod portal;
mod registry;

use renkei_protocol::StoreError;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Transaction};

pub use db::{DataKeyProblem, DbError};
pub use hub::{HEAD_REFRESH, Lease, PgHubStore};
pub use node::PgNodeStore;
pub use portal::PgPortalStore;
pub use registry::PgRegistryStore;

use crate::dialect::{Dialect, Keys, ReadConn};
use crate::sql::{Exec, corrupt};

impl Dialect for Postgres {
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// PostgreSQL binds at most 65 535 values in one statement.
    const MAX_BINDS: usize = 65_535;

    type Writer = PgPool;

    async fn begin_batch(w: &mut PgPool) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        w.begin().await
    }

    async fn settle_writer(_: &mut PgPool) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn text_fits(what: &str, s: &str) -> Result<(), StoreError> {
        if s.contains('\0') {
            return Err(corrupt(what, "contains NUL, which PostgreSQL text cannot hold"));
        }
        Ok(())
    }

    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    async fn begin_read(pool: &PgPool) -> Result<ReadConn<Postgres>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(ReadConn::Snapshot(tx))
    }

    async fn fetch_any<'e>(
        on: Exec<'e, Postgres>,
        select: &'static str,
        column: &'static str,
        keys: Keys,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Only this crate's fixed texts go into the statement.
        let q = sqlx::query(sqlx::AssertSqlSafe(format!("{select} {column} = ANY($1)")));
        let q = match keys {
            Keys::Int(k) => q.bind(k),
            Keys::Text(k) => q.bind(k),
        };
        match on {
            Exec::Pool(p) => q.fetch_all(p).await,
            Exec::Conn(c) => q.fetch_all(c).await,
        }
    }
}

/// A witness's store in a PostgreSQL database (its own schema or database).
pub type PgWitnessStore = crate::SqlWitness<Postgres>;

impl crate::SqlWitness<Postgres> {
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(url, "witness", migrations::WITNESS).await?,
        })
    }
}
