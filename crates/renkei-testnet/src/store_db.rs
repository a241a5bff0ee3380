//! A role's store opened directly, on whichever backend the test network
//! runs: what tests use to move a store's clock, break it as a full disk
//! would, flip a byte in it, or scan everything it holds.
//!
//! The same test then proves the same thing on SQLite and on PostgreSQL
//! (`RENKEI_TESTNET_DATABASE_URL`), instead of reading SQLite files only.

use std::path::PathBuf;

use renkei_demo::network::Network;
use sqlx::Row;

/// `$body` with `$pool` bound to the store's pool, whichever backend.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            StoreDb::Sqlite { pool: $pool, .. } => $body,
            StoreDb::Postgres($pool) => $body,
        }
    };
}

/// One role's store.
#[derive(Debug)]
pub enum StoreDb {
    /// The SQLite file and the directory that holds it (and its WAL).
    Sqlite { pool: sqlx::SqlitePool, dir: PathBuf },
    /// The role's schema (the URL's search path).
    Postgres(sqlx::PgPool),
}

impl StoreDb {
    /// `role` is `hub`, `registry`, `portal` or `witness`.
    pub async fn open(net: &Network, role: &str) -> Self {
        match net.role_database(role).await.unwrap() {
            Some(url) => Self::postgres(&url).await,
            None => {
                let dir = net.options.data_dir.join(role);
                Self::sqlite(dir.join(format!("{role}.sqlite"))).await
            }
        }
    }

    /// The store of the node `key` (a demo institution's key).
    pub async fn node(net: &Network, key: &str) -> Self {
        let node = net.node(key);
        match &node.database_url {
            Some(url) => Self::postgres(url).await,
            None => Self::sqlite(node.store_path.clone()).await,
        }
    }

    async fn postgres(url: &str) -> Self {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .unwrap();
        Self::Postgres(pool)
    }

    async fn sqlite(path: PathBuf) -> Self {
        let pool = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        let dir = path.parent().unwrap().to_path_buf();
        Self::Sqlite { pool, dir }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Run `sql` (no parameters, the same text in both dialects); the rows
    /// changed.
    pub async fn execute(&self, sql: &'static str) -> u64 {
        on_pool!(self, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected())
    }

    /// The first column of every row `sql` selects, as text.
    pub async fn strings(&self, sql: &'static str) -> Vec<String> {
        on_pool!(self, |pool| sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await
            .unwrap())
    }

    /// Run `sql`, which may hold several statements.
    async fn run(&self, sql: String) {
        on_pool!(self, |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        });
    }

    /// From now on every insert into `table` fails, as on a full disk.
    pub async fn refuse_inserts(&self, table: &str) {
        self.run(if self.is_postgres() {
            format!(
                "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$; \
                 CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"
            )
        } else {
            format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
            )
        })
        .await;
    }

    /// Undo [`Self::refuse_inserts`].
    pub async fn accept_inserts(&self, table: &str) {
        self.run(if self.is_postgres() {
            format!("DROP TRIGGER refuse_{table} ON {table}")
        } else {
            format!("DROP TRIGGER refuse_{table}")
        })
        .await;
    }

    /// Flip the lowest bit of byte `byte` of the blob `column` in the one
    /// row of `table` that `key` (an SQL condition) selects.
    pub async fn flip(&self, table: &str, column: &str, key: &str, byte: usize) {
        let select = format!("SELECT {column} FROM {table} WHERE {key}");
        // `$1` reads as the first parameter in both dialects.
        let update = format!("UPDATE {table} SET {column} = $1 WHERE {key}");
        on_pool!(self, |pool| {
            let mut v: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(select))
                .fetch_one(pool)
                .await
                .unwrap();
            v[byte] ^= 0x01;
            let n = sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(v)
                .execute(pool)
                .await
                .unwrap();
            assert_eq!(n.rows_affected(), 1);
        })
    }

    /// Every byte the store holds where a reader of the storage would see
    /// it: on SQLite the files in the store's directory (database, WAL);
    /// on PostgreSQL every value of every table in the role's schema, a
    /// `bytea` as its bytes and anything else as its text.
    pub async fn contents(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Sqlite { dir, .. } => {
                for f in crate::files_under(dir) {
                    out.extend(std::fs::read(f).unwrap());
                }
            }
            Self::Postgres(pool) => {
                let columns = sqlx::query(
                    "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
                     FROM information_schema.columns c \
                     JOIN information_schema.tables t \
                       ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                assert!(!columns.is_empty(), "the role's schema has no tables");
                for row in columns {
                    let (table, column, kind): (String, String, String) =
                        (row.get(0), row.get(1), row.get(2));
                    if kind == "bytea" {
                        let sql = format!("SELECT \"{column}\" FROM \"{table}\"");
                        let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                            .fetch_all(pool)
                            .await
                            .unwrap();
                        for v in values.into_iter().flatten() {
                            out.extend(v);
                            out.push(0);
                        }
                    } else {
                        let sql = format!("SELECT \"{column}\"::text FROM \"{table}\"");
                        let values: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                            .fetch_all(pool)
                            .await
                            .unwrap();
                        for v in values.into_iter().flatten() {
                            out.extend(v.into_bytes());
                            out.push(0);
                        }
                    }
                }
            }
        }
        out
    }
}
