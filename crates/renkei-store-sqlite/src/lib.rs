//! SQLite, the embedded default store: one file per role, WAL journal,
//! `synchronous = FULL` so that a committed transaction survives a crash of
//! the process *and* of the machine.
//!
//! Durable appends of provision records go through a [`group commit`]
//! writer: concurrent appends share one transaction and one fsync, which is
//! what turns ~300 fsyncs/s into tens of thousands of records/s.
//!
//! Only this crate knows SQL. Each store implements a trait owned by its
//! role crate (`HubStore`, `NodeStore`, `RegistryStore`).
//!
//! [`group commit`]: group_commit

mod claims;
mod db;
mod group_commit;
mod hub;

pub use db::{DataKeyProblem, DbError, Durability};
pub use hub::SqliteHubStore;
pub use renkei_store_sql::sqlite::SqliteNodeStore;
pub use renkei_store_sql::sqlite::SqlitePortalStore;
pub use renkei_store_sql::sqlite::SqliteRegistryStore;
pub use renkei_store_sql::sqlite::SqliteWitnessStore;
