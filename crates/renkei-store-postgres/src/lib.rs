//! The store traits of renkei on PostgreSQL, chosen by a database URL:
//! for deployments that outgrow one file and for several hubs on one
//! database.
//!
//! The stores are written once, for both dialects, in `renkei-store-sql`
//! (`SqlHub<Postgres>` and so on; PostgreSQL's advisory locks, row locks,
//! `UNNEST` batches and the hub's shared log in its `postgres` module);
//! this crate is their PostgreSQL face — the names callers use — with the
//! schema helpers of the demo and the benchmarks (`admin`), and the
//! PostgreSQL test binary, which runs the behavioural suite every backend
//! runs plus what only a shared database has (several hubs, one log).

mod admin;

pub use admin::{BtreeIndex, btree_index, drop_schema, schema_size, schema_url, server_settings};
pub use renkei_store_sql::postgres::{
    DataKeyProblem, DbError, HEAD_REFRESH, PgHubStore, PgNodeStore, PgPortalStore, PgRegistryStore,
    PgWitnessStore,
};
