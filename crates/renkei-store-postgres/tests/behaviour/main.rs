// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The PostgreSQL store: the behavioural suite every backend runs
//! (`renkei_store_sql::testkit`), each check in a schema of its own of the
//! database `RENKEI_TEST_DATABASE_URL` names (`.ci/run` sets it to a fresh
//! database on this machine's server; without it nothing here runs), and
//! what only a shared database has (`hubs`).

mod hubs;

use renkei_crypto::{DataKey, DataKeyProblem};
use renkei_ids::CorporateNumber;
use renkei_node::{NodeStore, Notice, RecordOutcome};
use renkei_protocol::{StoreError, UnixMillis};
use renkei_store_postgres::{
    DbError, PgHubStore, PgNodeStore, PgPortalStore, PgRegistryStore, PgWitnessStore,
};
use renkei_store_sql::testkit::Backend;
use renkei_store_sql::testkit::node::{lid, node_record, notice};
use sqlx::Connection;

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

/// A fresh schema on the test database, as a URL that selects it; `None`
/// when no database is configured.
pub(crate) async fn pg_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("RENKEI_TEST_DATABASE_URL") else {
        // The README's test command always sets it; CI must never skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: RENKEI_TEST_DATABASE_URL is not set under CI=true"
        );
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

/// A schema of its own on the test database.
struct Postgres {
    url: String,
}

impl Backend for Postgres {
    type Hub = PgHubStore;
    type Node = PgNodeStore;
    type Registry = PgRegistryStore;
    type Portal = PgPortalStore;
    type Witness = PgWitnessStore;
    type Error = DbError;

    /// Rows lock: racing writers wait for each other, and none fails for
    /// the database's sake.
    const STRICT_RACES: bool = true;

    async fn place(test: &str) -> Option<Self> {
        Some(Self {
            url: pg_url(test).await?,
        })
    }

    async fn hub(&self) -> Result<PgHubStore, DbError> {
        PgHubStore::open(&self.url).await
    }

    async fn node(&self, key: Option<&DataKey>) -> Result<PgNodeStore, DbError> {
        PgNodeStore::open_with_key(&self.url, key).await
    }

    async fn registry(&self, key: Option<&DataKey>) -> Result<PgRegistryStore, DbError> {
        PgRegistryStore::open_with_key(&self.url, key).await
    }

    async fn portal(&self) -> Result<PgPortalStore, DbError> {
        PgPortalStore::open(&self.url).await
    }

    async fn witness(&self) -> Result<PgWitnessStore, DbError> {
        PgWitnessStore::open(&self.url).await
    }

    fn key_problem(e: &DbError) -> Option<DataKeyProblem> {
        match e {
            DbError::DataKey { problem, .. } => Some(*problem),
            _ => None,
        }
    }

    async fn execute(&self, sql: &str) {
        let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    /// Every row of every table of the schema, as PostgreSQL prints it.
    async fn bytes(&self) -> Vec<u8> {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!tables.is_empty());
        let mut out = Vec::new();
        for t in tables {
            // Names from the catalogue of our own schema.
            let rows: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM \"{t}\" t")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for r in rows {
                out.extend(r.into_bytes());
                out.push(b'\n');
            }
        }
        out
    }

    async fn node_refusals(s: &PgNodeStore) {
        postgres_refuses_what_it_cannot_hold(s).await;
    }
}

renkei_store_sql::behavioural_suite!(Postgres);

/// Text PostgreSQL cannot hold (NUL) is refused and nothing is stored.
/// (The SQLite store stores it.)
async fn postgres_refuses_what_it_cannot_hold(s: &PgNodeStore) {
    let a = lid("A-1");
    let before = s.notices(&a).await.unwrap();
    for bad in [
        notice("nul\0id", 5, "x"),
        notice("ok-id", 5, "ti\0tle"),
        Notice {
            body_en: Some("b\0".into()),
            ..notice("ok-id", 6, "x")
        },
    ] {
        let r = s.store_notice(&a, bad).await;
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    }
    assert_eq!(s.notices(&a).await.unwrap(), before, "nothing stored");
    assert!(!s.mark_notice_read(&a, "n1\0", UnixMillis(1)).await.unwrap());

    let mut bad = node_record(3);
    bad.outcome = RecordOutcome::Denied("no\0pe".into());
    let r = s.append_record(bad).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert!(
        s.records(Some(101), 10).await.unwrap().is_empty(),
        "nothing stored"
    );
}

/// A server, database, role or connection that would acknowledge a commit
/// before it is on disk is refused at open, naming the setting; nothing
/// is created in it.
#[tokio::test]
async fn a_database_that_could_lose_acknowledged_commits_is_refused() {
    let Some(url) = pg_url("durability").await else {
        return;
    };
    let lax = format!("{url}&options[synchronous_commit]=off");
    let e = PgHubStore::open(&lax).await.unwrap_err();
    assert!(
        matches!(&e, DbError::NotDurable { setting: "synchronous_commit", found, .. } if found == "off"),
        "{e}"
    );
    assert!(e.to_string().contains("set synchronous_commit = on"), "{e}");
    // Refused before any migration: the schema is still empty.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    // `local` still flushes locally, and the default opens.
    PgHubStore::open(&format!("{url}&options[synchronous_commit]=local"))
        .await
        .unwrap();
    PgHubStore::open(&url).await.unwrap();
}
