//! SQLite connections: one file per store, WAL journal, `synchronous =
//! FULL` by default, plain-SQL migrations counted in `user_version`, and
//! files only their owner can use.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use renkei_crypto::DataKeyProblem;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit (`synchronous = FULL`): survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints only (`synchronous = NORMAL`): survives a crash
    /// of the process but may lose the last commits on power loss. For
    /// throwaway demo networks and benchmarks that say so.
    Normal,
}

/// The page cache each connection may fill, KiB: 32 MiB unless
/// [`set_page_cache_mib`] says otherwise.
static PAGE_CACHE_KIB: AtomicU32 = AtomicU32::new(32 * 1024);

/// The page cache each SQLite connection this process opens from now on
/// may fill (`cache_size`), in MiB. A store holds up to six connections
/// (four pooled, its writers: one at a node, two at the hub), so this
/// bounds a store's cache at six times as much; the cache fills as the
/// store is read and is not given back while the connection lives.
pub fn set_page_cache_mib(mib: u32) {
    PAGE_CACHE_KIB.store(mib.saturating_mul(1024), Ordering::Relaxed);
}

/// The page cache per connection now in force, MiB.
pub fn page_cache_mib() -> u32 {
    PAGE_CACHE_KIB.load(Ordering::Relaxed) / 1024
}

/// Opening or migrating a store failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate {path} to schema version {version}: {source}")]
    Migrate {
        path: String,
        version: i64,
        source: sqlx::Error,
    },
    #[error("{path} is inconsistent: {reason}")]
    Inconsistent { path: String, reason: String },
    #[error("{path} has schema version {found}, newer than this renkei knows ({known}); upgrade renkei")]
    TooNew { path: String, found: i64, known: i64 },
    /// A store file or its directory is open to group or others.
    #[error(
        "{path} has mode {mode:04o}: group or others can {access} it, and a store is for its owner alone; \
         renkei will not use it. Run `chmod {fix} {path}` (and consider who may have read it)"
    )]
    Permissions {
        path: String,
        mode: u32,
        access: &'static str,
        fix: &'static str,
    },
    #[error("cannot check or create {path}: {source}")]
    File { path: String, source: std::io::Error },
    /// The store's data key does not fit the store (see `DataKeyProblem`).
    #[error("{path}: {problem}")]
    DataKey { path: String, problem: DataKeyProblem },
    /// SQLite did not take the journal mode or sync level asked for (a
    /// file system without shared memory, say, silently keeps another
    /// journal mode).
    #[error(
        "{path} runs with {pragma} = {found}, not {wanted}: commits would not be as durable as configured; \
         keep the store on a local file system"
    )]
    NotDurable {
        path: String,
        pragma: &'static str,
        found: String,
        wanted: String,
    },
}

fn options(path: &Path, durability: Durability) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // Statement journals of multi-row inserts stay in memory.
        .pragma("temp_store", "memory")
        // Index pages of busy tables stay in memory instead of being
        // re-read from the OS cache (negative: KiB).
        .pragma(
            "cache_size",
            format!("-{}", PAGE_CACHE_KIB.load(Ordering::Relaxed)),
        )
        // Checkpoint the WAL in larger, rarer steps (pages).
        .pragma("wal_autocheckpoint", "8192")
}

impl DbError {
    /// `f` happened opening the store at `path`.
    pub(crate) fn of(path: &Path, f: crate::dialect::OpenFailure) -> Self {
        use crate::dialect::OpenFailure;
        let path = path.display().to_string();
        match f {
            OpenFailure::Db(source) => DbError::Open { path, source },
            OpenFailure::Inconsistent(reason) => DbError::Inconsistent { path, reason },
            OpenFailure::Key(problem) => DbError::DataKey { path, problem },
        }
    }
}

/// Group or others may do nothing with a store file (0600)...
const FILE_OPEN: u32 = 0o077;
/// ...nor list or change its directory (0700; 0711 is allowed: search
/// permission alone reveals no name and no content).
const DIR_OPEN: u32 = 0o066;

fn access(mode: u32) -> &'static str {
    match (mode & 0o044 != 0, mode & 0o022 != 0) {
        (true, true) => "read and write",
        (true, false) => "read",
        (false, true) => "write",
        (false, false) => "execute",
    }
}

/// Refuse a store whose directory, file, WAL, shared memory or journal is
/// open to group or others; create a missing store file 0600 before SQLite
/// opens it. SQLite creates the WAL, shared-memory and journal files with
/// the mode of the database file, so they are 0600 too.
fn secure_files(path: &Path) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file_err = |p: &Path| {
        let shown = p.display().to_string();
        move |source| DbError::File { path: shown, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mode = std::fs::metadata(&dir)
        .map_err(file_err(&dir))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & DIR_OPEN != 0 {
        return Err(DbError::Permissions {
            path: dir.display().to_string(),
            mode,
            access: access(mode & DIR_OPEN),
            fix: "700",
        });
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(file_err(path)(e)),
    }
    let name = path.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = name.clone();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        let mode = match std::fs::metadata(&p) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(file_err(&p)(e)),
        };
        if mode & FILE_OPEN != 0 {
            return Err(DbError::Permissions {
                path: p.display().to_string(),
                mode,
                access: access(mode & FILE_OPEN),
                fix: "600",
            });
        }
    }
    Ok(())
}

/// Open (creating if needed) and bring the schema up to date.
pub(crate) async fn open(
    path: &Path,
    durability: Durability,
    migrations: &[&str],
) -> Result<SqlitePool, DbError> {
    secure_files(path)?;
    let shown = path.display().to_string();
    let open_err = |source| DbError::Open {
        path: shown.clone(),
        source,
    };
    // Migrate on a connection of its own, closed before the pool opens
    // any: a pooled connection that had read the schema before a migration
    // changed a table would prepare `SELECT *` against the old columns,
    // and sqlx then reads a row of the new table with the old column count
    // (it panics on its worker thread).
    let mut conn = SqliteConnection::connect_with(&options(path, durability))
        .await
        .map_err(open_err)?;
    require_durability(&mut conn, &shown, durability).await?;
    migrate(&mut conn, &shown, migrations).await?;
    conn.close().await.map_err(open_err)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection whose transaction failed in a way sqlx lost track
        // of (see `settle`) is closed instead of lent out again.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options(path, durability))
        .await
        .map_err(open_err)?;
    // The pool's connections come from the same options: check one.
    let mut pooled = pool.acquire().await.map_err(open_err)?;
    require_durability(&mut pooled, &shown, durability).await?;
    drop(pooled);
    Ok(pool)
}

/// A dedicated connection for a single writer (the group committer, the
/// hub's claims), which it can open again.
#[derive(Debug)]
pub struct SqliteWriter {
    pub(crate) conn: SqliteConnection,
    path: std::path::PathBuf,
    durability: Durability,
}

impl SqliteWriter {
    /// After a failed transaction, a fresh connection in place of this one.
    ///
    /// When the disk fills, SQLite may roll a transaction back on its own
    /// (`SQLITE_FULL`); sqlx's own ROLLBACK then fails and sqlx goes on
    /// counting a transaction as open, so its next `begin` is a SAVEPOINT
    /// that opens a transaction its `commit` never ends: every later write
    /// would stay uncommitted and hold the write lock. A new connection
    /// has no such past (closing the old one ends whatever it held).
    pub(crate) async fn reopen(&mut self) -> Result<(), sqlx::Error> {
        let fresh = writer(&self.path, self.durability)
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let old = std::mem::replace(&mut self.conn, fresh.conn);
        let _ = old.close().await;
        Ok(())
    }
}

pub(crate) async fn writer(path: &Path, durability: Durability) -> Result<SqliteWriter, DbError> {
    let mut conn = SqliteConnection::connect_with(&options(path, durability))
        .await
        .map_err(|source| DbError::Open {
            path: path.display().to_string(),
            source,
        })?;
    require_durability(&mut conn, &path.display().to_string(), durability).await?;
    Ok(SqliteWriter {
        conn,
        path: path.to_path_buf(),
        durability,
    })
}

/// Read back what SQLite took: the WAL journal and the sync level of
/// `durability` (`FULL` = 2, `NORMAL` = 1), or refuse the connection.
async fn require_durability(
    conn: &mut SqliteConnection,
    path: &str,
    durability: Durability,
) -> Result<(), DbError> {
    let open_err = |source| DbError::Open {
        path: path.to_owned(),
        source,
    };
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(open_err)?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(DbError::NotDurable {
            path: path.to_owned(),
            pragma: "journal_mode",
            found: journal,
            wanted: "wal".into(),
        });
    }
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(open_err)?;
    let (wanted, name) = match durability {
        Durability::Full => (2, "2 (FULL)"),
        Durability::Normal => (1, "1 (NORMAL)"),
    };
    if sync != wanted {
        return Err(DbError::NotDurable {
            path: path.to_owned(),
            pragma: "synchronous",
            found: sync.to_string(),
            wanted: name.into(),
        });
    }
    Ok(())
}

/// Migrations are plain SQL files applied in order; `user_version` holds
/// how many have been applied. Each runs in its own transaction.
async fn migrate(conn: &mut SqliteConnection, path: &str, migrations: &[&str]) -> Result<(), DbError> {
    let err = |version, source| DbError::Migrate {
        path: path.to_owned(),
        version,
        source,
    };
    let current: i64 = sqlx::query("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| err(0, e))?;
    let known = migrations.len() as i64;
    if current > known {
        return Err(DbError::TooNew {
            path: path.to_owned(),
            found: current,
            known,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let mut tx = conn.begin().await.map_err(|e| err(version, e))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| err(version, e))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {version}")))
            .execute(&mut *tx)
            .await
            .map_err(|e| err(version, e))?;
        tx.commit().await.map_err(|e| err(version, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_path() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .unwrap();
        let path = dir.path().join("store.sqlite");
        (dir, path)
    }

    #[tokio::test]
    async fn the_page_cache_setting_reaches_every_new_connection() {
        let (_dir, path) = store_path();
        async fn cache_size(conn: &mut SqliteConnection) -> i64 {
            sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(conn)
                .await
                .unwrap()
        }
        let pool = open(&path, Durability::Normal, &[]).await.unwrap();
        assert_eq!(cache_size(&mut pool.acquire().await.unwrap()).await, -32 * 1024);
        assert_eq!(page_cache_mib(), 32);
        set_page_cache_mib(2);
        let mut w = writer(&path, Durability::Normal).await.unwrap();
        let small = open(&path, Durability::Normal, &[]).await.unwrap();
        set_page_cache_mib(32);
        assert_eq!(cache_size(&mut w.conn).await, -2048);
        assert_eq!(cache_size(&mut small.acquire().await.unwrap()).await, -2048);
    }

    #[tokio::test]
    async fn a_store_runs_with_the_durability_it_was_opened_with_or_not_at_all() {
        let (_dir, path) = store_path();
        for durability in [Durability::Full, Durability::Normal] {
            let pool = open(&path, durability, &[]).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            require_durability(&mut conn, "store", durability).await.unwrap();
            let mut w = writer(&path, durability).await.unwrap();
            require_durability(&mut w.conn, "store", durability)
                .await
                .unwrap();
            w.reopen().await.unwrap();
            require_durability(&mut w.conn, "store", durability)
                .await
                .unwrap();
        }

        // A connection that syncs less than asked is refused, naming it.
        let lax = options(&path, Durability::Full).synchronous(SqliteSynchronous::Off);
        let mut conn = SqliteConnection::connect_with(&lax).await.unwrap();
        let e = require_durability(&mut conn, "store", Durability::Full)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DbError::NotDurable { pragma: "synchronous", found, .. } if found == "0"),
            "{e}"
        );
        let e = require_durability(&mut conn, "store", Durability::Normal)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("synchronous = 0, not 1 (NORMAL)"), "{e}");

        // So is one without the write-ahead log.
        let (_dir2, other) = store_path();
        let no_wal = options(&other, Durability::Full).journal_mode(SqliteJournalMode::Delete);
        let mut conn = SqliteConnection::connect_with(&no_wal).await.unwrap();
        let e = require_durability(&mut conn, "store", Durability::Full)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DbError::NotDurable { pragma: "journal_mode", found, .. } if found == "delete"),
            "{e}"
        );
    }
}
