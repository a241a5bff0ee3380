// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! One behavioural suite per store trait, run against the embedded SQLite
//! store and against PostgreSQL. The PostgreSQL half runs when
//! `RENKEI_TEST_DATABASE_URL` is set (`.ci/run` sets it to a fresh database
//! on this machine's server); each test works in its own schema.
//!
//! One module per store; each has a generic `…_behaves(&impl Trait)` and
//! runs it on both backends.

mod at_rest;
mod consent;
mod hub;
mod node;
mod portal;
mod registry;
mod witness;

/// A temporary directory only its owner can use (SQLite stores refuse any
/// other).
pub(crate) fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

/// A fresh schema on the test database, as a URL that selects it; `None`
/// when no database is configured.
pub(crate) async fn pg_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("RENKEI_TEST_DATABASE_URL") else {
        eprintln!("{test}: RENKEI_TEST_DATABASE_URL is not set; the PostgreSQL half is not run");
        return None;
    };
    let schema = format!(
        "t_{}_{}",
        test,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let pool = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options[search_path]={schema}"))
}
