//! SQLite, the embedded default store: one file per role, WAL journal,
//! `synchronous = FULL` so that a committed transaction survives a crash of
//! the process *and* of the machine; durable appends of provision records
//! through one group-commit writer (one transaction and one fsync for
//! everything queued).
//!
//! The stores are written once, for both dialects, in `renkei-store-sql`
//! (`SqlHub<Sqlite>` and so on); this crate is their SQLite face — the
//! names callers use — and the SQLite test binary, which runs the
//! behavioural suite every backend runs plus what only a file has (modes,
//! a reopened file).

pub use renkei_store_sql::sqlite::{
    DataKeyProblem, DbError, Durability, SqliteHubStore, SqliteNodeStore, SqlitePortalStore,
    SqliteRegistryStore, SqliteWitnessStore, page_cache_mib, set_page_cache_mib,
};
