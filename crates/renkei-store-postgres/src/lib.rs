//! The store traits of renkei on PostgreSQL, chosen by a database URL.
//!
//! The embedded SQLite store (`renkei-store-sqlite`) is the default; this
//! crate implements the same traits with the same behaviour — the shared
//! behavioural tests run against both — for deployments that outgrow one
//! file and for several hubs on one database. Only this
//! crate and the SQLite one contain SQL.

mod admin;
mod db;
mod group_commit;
mod hub;

pub use admin::{BtreeIndex, btree_index, drop_schema, schema_size, schema_url, server_settings};
pub use db::{DataKeyProblem, DbError};
pub use hub::{HEAD_REFRESH, PgHubStore};
pub use renkei_store_sql::postgres::PgNodeStore;
pub use renkei_store_sql::postgres::PgPortalStore;
pub use renkei_store_sql::postgres::PgRegistryStore;
pub use renkei_store_sql::postgres::PgWitnessStore;
