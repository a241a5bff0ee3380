//! The portal's store on PostgreSQL. Single use survives many portals on
//! one database: request URIs, codes and refresh tokens are spent by one
//! conditional `UPDATE … RETURNING`, one-time values by one
//! `INSERT … ON CONFLICT`; what belongs together commits together.

use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Postgres;
use sqlx::postgres::PgPool;

use super::{DbError, db, migrations};
use crate::portal::{PortalDialect, SqlPortal};
use crate::sql::{Stmt, store_err};

/// The portal's store (portal and consent API) in a PostgreSQL database.
pub type PgPortalStore = SqlPortal<Postgres>;

impl SqlPortal<Postgres> {
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(url, "portal", migrations::PORTAL).await?,
        })
    }
}

impl PortalDialect for Postgres {
    /// The session and what it staged go together, in one statement.
    const DELETE_SESSION: &'static [&'static str] =
        &["WITH gone AS (DELETE FROM sessions WHERE id = $1) DELETE FROM pending WHERE session = $1"];

    async fn remember_once(
        pool: &PgPool,
        scope: &str,
        value: &str,
        until: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        // Forget what has expired; rows another call holds are left to it
        // (no waiting, no deadlock between concurrent clean-ups).
        Stmt::new(
            "DELETE FROM seen_once WHERE ctid IN \
             (SELECT ctid FROM seen_once WHERE until < $1 FOR UPDATE SKIP LOCKED)",
        )
        .arg(now.0)
        .execute(pool)
        .await
        .map_err(store_err("forget old one-time values"))?;
        // Fresh if new, or if only an expired sighting is left (one the
        // clean-up skipped): one statement, so of two at once one wins.
        let fresh = Stmt::new(
            "INSERT INTO seen_once (scope, value, until) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, value) DO UPDATE SET until = excluded.until WHERE seen_once.until < $4",
        )
        .arg(scope)
        .arg(value)
        .arg(until.0)
        .arg(now.0)
        .execute(pool)
        .await
        .map_err(store_err("remember one-time value"))?
            == 1;
        Ok(fresh)
    }
}
