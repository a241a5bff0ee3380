//! Connecting and migrating: each store is a *component* with numbered
//! plain-SQL migrations, recorded in `renkei_schema`, applied in one
//! transaction each under an advisory lock so that several processes (hubs)
//! starting at once migrate exactly once.

use std::time::Duration;

pub use renkei_crypto::DataKeyProblem;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

/// Opening or migrating a database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("not a PostgreSQL URL (postgres://user@host/db): {0}")]
    Url(String),
    #[error("cannot migrate {component} to schema version {version}: {source}")]
    Migrate {
        component: &'static str,
        version: i64,
        source: sqlx::Error,
    },
    #[error("the database's contents disagree: {reason}")]
    Inconsistent { reason: String },
    #[error("{component} has schema version {found}, newer than this renkei knows ({known}); upgrade renkei")]
    TooNew {
        component: &'static str,
        found: i64,
        known: i64,
    },
    /// The store's data key does not fit the store.
    #[error("the {component} store: {problem}")]
    DataKey {
        component: &'static str,
        problem: DataKeyProblem,
    },
    /// The server would acknowledge a commit it could still lose.
    #[error(
        "the database runs with {setting} = {found}: a commit could be acknowledged and then lost in a crash, \
         and renkei records must never be; set {setting} = {wanted} for this database, role or server"
    )]
    NotDurable {
        setting: &'static str,
        found: String,
        wanted: &'static str,
    },
}

impl DbError {
    /// `f` happened opening `component`'s store.
    pub(crate) fn of(component: &'static str, f: crate::dialect::OpenFailure) -> Self {
        use crate::dialect::OpenFailure;
        match f {
            OpenFailure::Db(e) => DbError::Connect(e),
            OpenFailure::Inconsistent(reason) => DbError::Inconsistent { reason },
            OpenFailure::Key(problem) => DbError::DataKey { component, problem },
        }
    }
}

/// A pool on `url`, with `component`'s migrations applied.
pub(crate) async fn open(
    url: &str,
    component: &'static str,
    migrations: &[&'static str],
) -> Result<PgPool, DbError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(DbError::Url(
            "the scheme must be postgres:// or postgresql://".into(),
        ));
    }
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| DbError::Url(e.to_string()))?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(DbError::Connect)?;
    require_durability(&pool).await?;
    migrate(&pool, component, migrations).await?;
    Ok(pool)
}

/// Refuse a server (or a database, role or connection setting) that
/// acknowledges commits before they are on disk: `fsync = off` loses data
/// in an operating-system crash, `synchronous_commit = off` the last
/// commits in any crash. Each is a server setting renkei cannot override,
/// so it is checked, not assumed.
async fn require_durability(pool: &PgPool) -> Result<(), DbError> {
    // `fsync` is on or off; `synchronous_commit` = `local`, `remote_write`
    // or `remote_apply` flushes locally too: only `off` loses commits.
    for setting in ["fsync", "synchronous_commit"] {
        let found: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(setting)
            .fetch_one(pool)
            .await
            .map_err(DbError::Connect)?;
        if found == "off" {
            return Err(DbError::NotDurable {
                setting,
                found,
                wanted: "on",
            });
        }
    }
    Ok(())
}

async fn migrate(pool: &PgPool, component: &'static str, migrations: &[&'static str]) -> Result<(), DbError> {
    let mut conn = pool.acquire().await.map_err(DbError::Connect)?;
    let err = |version| {
        move |source| DbError::Migrate {
            component,
            version,
            source,
        }
    };
    // One migrator at a time across processes (a fixed lock key).
    sqlx::query("SELECT pg_advisory_lock(7263540152)")
        .execute(&mut *conn)
        .await
        .map_err(err(0))?;
    let result = async {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS renkei_schema (component TEXT PRIMARY KEY, version BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .map_err(err(0))?;
        let found: i64 = sqlx::query("SELECT version FROM renkei_schema WHERE component = $1")
            .bind(component)
            .fetch_optional(&mut *conn)
            .await
            .map_err(err(0))?
            .map(|r| r.get::<i64, _>("version"))
            .unwrap_or(0);
        let known = migrations.len() as i64;
        if found > known {
            return Err(DbError::TooNew {
                component,
                found,
                known,
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
            let version = i as i64 + 1;
            let mut tx = conn.begin().await.map_err(err(version))?;
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(err(version))?;
            sqlx::query(
                "INSERT INTO renkei_schema (component, version) VALUES ($1, $2) \
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            )
            .bind(component)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(err(version))?;
            tx.commit().await.map_err(err(version))?;
            tracing::info!(component, version, "database migrated");
        }
        Ok(())
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(7263540152)")
        .execute(&mut *conn)
        .await;
    result
}
