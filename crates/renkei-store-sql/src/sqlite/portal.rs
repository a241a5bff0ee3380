//! The portal's store on SQLite.

use std::path::Path;

use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::{DbError, Durability, db, migrations};
use crate::portal::{PortalDialect, SqlPortal};
use crate::sql::{Stmt, store_err};

/// The portal's store (portal and consent API) in one SQLite file.
pub type SqlitePortalStore = SqlPortal<Sqlite>;

impl SqlPortal<Sqlite> {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(path, durability, migrations::PORTAL).await?,
        })
    }
}

impl PortalDialect for Sqlite {
    const DELETE_SESSION: &'static [&'static str] = &[
        "DELETE FROM sessions WHERE id = $1",
        "DELETE FROM pending WHERE session = $1",
    ];

    async fn remember_once(
        pool: &SqlitePool,
        scope: &str,
        value: &str,
        until: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(store_err("begin"))?;
        Stmt::new("DELETE FROM seen_once WHERE until < $1")
            .arg(now.0)
            .execute(&mut tx)
            .await
            .map_err(store_err("forget old one-time values"))?;
        let fresh = Stmt::new("INSERT OR IGNORE INTO seen_once (scope, value, until) VALUES ($1, $2, $3)")
            .arg(scope)
            .arg(value)
            .arg(until.0)
            .execute(&mut tx)
            .await
            .map_err(store_err("remember one-time value"))?
            == 1;
        tx.commit().await.map_err(store_err("commit one-time value"))?;
        Ok(fresh)
    }
}
