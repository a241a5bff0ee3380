//! SQLite, the embedded default: one file per role, WAL journal,
//! `synchronous = FULL` so that a committed transaction survives a crash of
//! the process *and* of the machine; one writer, so that what PostgreSQL
//! needs locks for is plain sequencing here.

mod claims;
mod db;
mod hub;
pub(crate) mod migrations;
mod node;
mod portal;
mod registry;

use renkei_protocol::StoreError;
use sqlx::sqlite::SqlitePool;
use sqlx::{Connection, Sqlite, Transaction};

pub use claims::ClaimWriter;
pub use db::{DataKeyProblem, DbError, Durability, page_cache_mib, set_page_cache_mib};
pub use hub::SqliteHubStore;
pub use node::SqliteNodeStore;
pub use portal::SqlitePortalStore;
pub use registry::SqliteRegistryStore;

use crate::dialect::{Dialect, Keys, ReadConn};
use crate::sql::{Exec, Stmt, Value};
use db::SqliteWriter;

/// Keys per `IN (…)` list: far below SQLite's bound-value limit.
const KEYS_PER_STATEMENT: usize = 500;

impl Dialect for Sqlite {
    const FOR_UPDATE: &'static str = "";
    /// SQLite binds at most 32 766 values in one statement.
    const MAX_BINDS: usize = 32_766;

    type Writer = SqliteWriter;

    async fn begin_batch(w: &mut SqliteWriter) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        w.conn.begin().await
    }

    async fn settle_writer(w: &mut SqliteWriter) -> Result<(), sqlx::Error> {
        w.reopen().await
    }

    fn text_fits(_: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn begin_read(pool: &SqlitePool) -> Result<ReadConn<Sqlite>, sqlx::Error> {
        Ok(ReadConn::Pooled(pool.acquire().await?))
    }

    async fn fetch_any<'e>(
        mut on: Exec<'e, Sqlite>,
        select: &'static str,
        column: &'static str,
        keys: Keys,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
        let keys: Vec<Value<'static>> = match keys {
            Keys::Int(k) => k.into_iter().map(Value::from).collect(),
            Keys::Text(k) => k.into_iter().map(Value::from).collect(),
        };
        let mut out = Vec::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = Stmt::assembled(format!("{select} {column} IN ({list})"))
                .args(chunk.iter().cloned())
                .fetch_all(on.by_ref())
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }
}

/// A witness's store in one SQLite file.
pub type SqliteWitnessStore = crate::SqlWitness<Sqlite>;

impl crate::SqlWitness<Sqlite> {
    pub async fn open(path: &std::path::Path, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(path, durability, migrations::WITNESS).await?,
        })
    }
}
