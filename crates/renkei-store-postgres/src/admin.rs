//! Schemas around the stores, for the demo and tools such as the
//! benchmarks: a URL that selects a schema of its own (created if needed),
//! how much disk a schema holds, how deep an index is, and dropping a
//! schema (with everything in it) so that its disk is returned. Only the
//! store crates contain SQL, so these live here.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use renkei_store_sql::postgres::DbError;

/// A plain schema identifier, so it can be spliced into DDL.
fn check_schema(schema: &str) -> Result<(), DbError> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if plain {
        Ok(())
    } else {
        Err(DbError::Url(format!(
            "schema name `{schema}`: use 1 to 63 lower-case letters, digits and _, not starting with a digit"
        )))
    }
}

fn check_scheme(base: &str) -> Result<(), DbError> {
    if base.starts_with("postgres://") || base.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(DbError::Url(
            "the scheme must be postgres:// or postgresql://".into(),
        ))
    }
}

async fn connect(base: &str) -> Result<PgConnection, DbError> {
    check_scheme(base)?;
    let options: PgConnectOptions = base
        .parse()
        .map_err(|e: sqlx::Error| DbError::Url(e.to_string()))?;
    PgConnection::connect_with(&options)
        .await
        .map_err(DbError::Connect)
}

/// `base` with `schema` as its search path, creating the schema if needed:
/// several roles (a demo's hub, registry, nodes and portal) can then share
/// one database, each in its own schema, as they would own databases.
pub async fn schema_url(base: &str, schema: &str) -> Result<String, DbError> {
    check_schema(schema)?;
    check_scheme(base)?;
    if base.contains("search_path") {
        return Err(DbError::Url("the URL already chooses a search_path".into()));
    }
    let mut conn = connect(base).await?;
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

/// Drop `schema` and everything in it (`DROP SCHEMA … CASCADE`), returning
/// its disk; nothing happens if it does not exist. `base` is the database's
/// URL without a search path.
pub async fn drop_schema(base: &str, schema: &str) -> Result<(), DbError> {
    check_schema(schema)?;
    let mut conn = connect(base).await?;
    // The name was checked above to be a plain identifier.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut conn)
    .await
    .map_err(DbError::Connect)?;
    let _ = conn.close().await;
    Ok(())
}

/// Bytes on disk of every table in `schema`, with its indexes and TOAST
/// (`pg_total_relation_size` summed); the write-ahead log is not included.
pub async fn schema_size(base: &str, schema: &str) -> Result<u64, DbError> {
    check_schema(schema)?;
    let mut conn = connect(base).await?;
    let bytes: i64 = sqlx::query(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .map_err(DbError::Connect)?
    .try_get(0)
    .map_err(DbError::Connect)?;
    let _ = conn.close().await;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// The size and depth of one B-tree index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtreeIndex {
    /// Bytes on disk (`pg_relation_size`).
    pub bytes: u64,
    /// Levels from the root to the leaves, inclusive (1 = the root is a
    /// leaf); `None` when the `pageinspect` extension cannot be used.
    pub levels: Option<u32>,
}

/// Size and depth of the B-tree index `index` in `schema`. The depth is
/// read from the index's meta page with `pageinspect`'s `bt_metap`; if the
/// extension is not installed yet it is created *inside* `schema` (so
/// [`drop_schema`] removes it again), which needs a role allowed to; if
/// that fails the depth is `None`.
pub async fn btree_index(base: &str, schema: &str, index: &str) -> Result<BtreeIndex, DbError> {
    check_schema(schema)?;
    check_schema(index)?;
    let mut conn = connect(base).await?;
    let qualified = format!("{schema}.{index}");
    let bytes: i64 = sqlx::query("SELECT pg_relation_size($1::regclass)")
        .bind(&qualified)
        .fetch_one(&mut conn)
        .await
        .map_err(DbError::Connect)?
        .try_get(0)
        .map_err(DbError::Connect)?;
    let levels = async {
        // The name was checked above to be a plain identifier.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA {schema}"
        )))
        .execute(&mut conn)
        .await?;
        let ns: String = sqlx::query(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pageinspect'",
        )
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
        let ns = format!("\"{}\"", ns.replace('"', "\"\""));
        // `ns` is quoted as an identifier; the index name is bound.
        let level: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT level::BIGINT FROM {ns}.bt_metap($1)"
        )))
        .bind(&qualified)
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
        Ok::<_, sqlx::Error>(u32::try_from(level + 1).ok())
    }
    .await;
    let levels = match levels {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, index = %qualified, "cannot read the index's depth");
            None
        }
    };
    let _ = conn.close().await;
    Ok(BtreeIndex {
        bytes: u64::try_from(bytes).unwrap_or(0),
        levels,
    })
}

/// The server's version and the current values of `names` (for a report:
/// `shared_buffers`, `synchronous_commit`, …), as the server shows them.
pub async fn server_settings(base: &str, names: &[&str]) -> Result<Vec<(String, String)>, DbError> {
    let mut conn = connect(base).await?;
    let version: String = sqlx::query("SELECT current_setting('server_version')")
        .fetch_one(&mut conn)
        .await
        .map_err(DbError::Connect)?
        .try_get(0)
        .map_err(DbError::Connect)?;
    let mut out = vec![("server_version".to_owned(), version)];
    for name in names {
        let value: Option<String> = sqlx::query("SELECT current_setting($1, true)")
            .bind(*name)
            .fetch_one(&mut conn)
            .await
            .map_err(DbError::Connect)?
            .try_get(0)
            .map_err(DbError::Connect)?;
        out.push(((*name).to_owned(), value.unwrap_or_default()));
    }
    let _ = conn.close().await;
    Ok(out)
}
