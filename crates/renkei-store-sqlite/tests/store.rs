// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! The SQLite store: the behavioural suite every backend runs
//! (`renkei_store_sql::testkit`), on files, and what only a file has (its
//! modes, in `store/files.rs`).

use std::path::PathBuf;

use renkei_crypto::{DataKey, DataKeyProblem};
use renkei_ids::{CodeAlgorithm, CorporateNumber, InstitutionCode};
use renkei_store_sql::testkit::Backend;
use renkei_store_sqlite::{
    DbError, Durability, SqliteHubStore, SqliteNodeStore, SqlitePortalStore, SqliteRegistryStore,
    SqliteWitnessStore,
};
use sqlx::Connection;

#[path = "store/files.rs"]
mod files;

/// A temporary directory only its owner can use (stores refuse any other).
fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

fn code(n: u8) -> InstitutionCode {
    InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![n; 32]).unwrap()
}

/// A store file in a fresh private directory.
struct Sqlite {
    _dir: tempfile::TempDir,
    file: PathBuf,
    durability: Durability,
}

impl Sqlite {
    fn new(test: &str, durability: Durability) -> Self {
        let dir = private_dir();
        Self {
            file: dir.path().join(format!("{test}.sqlite")),
            _dir: dir,
            durability,
        }
    }
}

impl Backend for Sqlite {
    type Hub = SqliteHubStore;
    type Node = SqliteNodeStore;
    type Registry = SqliteRegistryStore;
    type Portal = SqlitePortalStore;
    type Witness = SqliteWitnessStore;
    type Error = DbError;

    /// SQLite may refuse a racing writer with "busy".
    const STRICT_RACES: bool = false;

    async fn place(test: &str) -> Option<Self> {
        Some(Self::new(test, Durability::Normal))
    }

    async fn durable_place(test: &str) -> Option<Self> {
        Some(Self::new(test, Durability::Full))
    }

    async fn hub(&self) -> Result<SqliteHubStore, DbError> {
        SqliteHubStore::open(&self.file, self.durability).await
    }

    async fn node(&self, key: Option<&DataKey>) -> Result<SqliteNodeStore, DbError> {
        SqliteNodeStore::open_with_key(&self.file, self.durability, key).await
    }

    async fn registry(&self, key: Option<&DataKey>) -> Result<SqliteRegistryStore, DbError> {
        SqliteRegistryStore::open_with_key(&self.file, self.durability, key).await
    }

    async fn portal(&self) -> Result<SqlitePortalStore, DbError> {
        SqlitePortalStore::open(&self.file, self.durability).await
    }

    async fn witness(&self) -> Result<SqliteWitnessStore, DbError> {
        SqliteWitnessStore::open(&self.file, self.durability).await
    }

    /// Refused naming the file, and what is wrong with the key.
    fn key_problem(e: &DbError) -> Option<DataKeyProblem> {
        let text = e.to_string();
        match e {
            DbError::DataKey { problem, path } => {
                assert!(text.contains(path) && path.ends_with(".sqlite"), "{text}");
                assert!(text.contains("data_key") || text.contains("data key"), "{text}");
                Some(*problem)
            }
            _ => None,
        }
    }

    async fn execute(&self, sql: &str) {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.file.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    /// Every byte SQLite wrote for the store: the file and its WAL.
    async fn bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(&self.file).unwrap();
        let mut wal = self.file.as_os_str().to_owned();
        wal.push("-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        bytes
    }
}

renkei_store_sql::behavioural_suite!(Sqlite);
