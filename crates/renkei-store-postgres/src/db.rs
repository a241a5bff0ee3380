//! Connecting and migrating: each store is a *component* with numbered
//! plain-SQL migrations, recorded in `renkei_schema`, applied in one
//! transaction each under an advisory lock so that several processes (hubs)
//! starting at once migrate exactly once.

use std::time::Duration;

pub use renkei_crypto::DataKeyProblem;
use renkei_protocol::StoreError;
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
    migrate(&pool, component, migrations).await?;
    Ok(pool)
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

/// Map a database error for role logic; details go to the log once.
pub(crate) fn store_err(context: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(format!("{context}: already exists"));
        }
        tracing::error!(error = %e, context, "store operation failed");
        StoreError::Unavailable(format!("{context} failed"))
    }
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    tracing::error!(%detail, what, "stored value cannot be read back");
    StoreError::Corrupt(format!("{what}: {detail}"))
}

pub(crate) fn get<'r, T>(row: &'r sqlx::postgres::PgRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(|e| corrupt(col, e))
}

/// Parse a stored text column with the domain's parser; a failure is a
/// corrupt store.
pub(crate) fn parse_col<T, E: std::fmt::Display>(
    what: &str,
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(s).map_err(|e| corrupt(what, e))
}

/// PostgreSQL binds at most this many parameters in one statement:
/// multi-row statements go in chunks of `MAX_BINDS / columns` rows.
pub(crate) const MAX_BINDS: usize = 65_535;

/// A caller's number as a BIGINT: one beyond `i64` is refused, not wrapped.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| corrupt(what, e))
}

/// A stored BIGINT that must not be negative.
pub(crate) fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|e| corrupt(what, e))
}

/// PostgreSQL text cannot hold NUL: a caller's text with one is refused
/// before anything is written (SQLite would store it).
pub(crate) fn text_fits(what: &str, s: &str) -> Result<(), StoreError> {
    if s.contains('\0') {
        return Err(corrupt(what, "contains NUL, which PostgreSQL text cannot hold"));
    }
    Ok(())
}

/// `base` with `schema` as its search path, creating the schema if needed:
/// several roles (a demo's hub, registry, nodes and portal) can then share
/// one database, each in its own schema, as they would own databases.
pub async fn schema_url(base: &str, schema: &str) -> Result<String, DbError> {
    if schema.is_empty()
        || schema.len() > 63
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || schema.as_bytes()[0].is_ascii_digit()
    {
        return Err(DbError::Url(format!(
            "schema name `{schema}`: use 1 to 63 lower-case letters, digits and _, not starting with a digit"
        )));
    }
    if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
        return Err(DbError::Url(
            "the scheme must be postgres:// or postgresql://".into(),
        ));
    }
    if base.contains("search_path") {
        return Err(DbError::Url("the URL already chooses a search_path".into()));
    }
    let options: PgConnectOptions = base
        .parse()
        .map_err(|e: sqlx::Error| DbError::Url(e.to_string()))?;
    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(DbError::Connect)?;
    // The name was checked above to be a plain identifier.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut conn)
    .await
    .map_err(DbError::Connect)?;
    let _ = conn.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options[search_path]={schema}"))
}
