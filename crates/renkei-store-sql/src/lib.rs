//! The one store layer of renkei: every store trait of the role crates
//! (`HubStore`, `NodeStore`, `RegistryStore`, `PortalStore`,
//! `ConsentStore`, `WitnessStore`) implemented once, on SQL, for both
//! dialects.
//!
//! Each store is generic over its [`Dialect`]: `SqlHub<Sqlite>` is the
//! SQLite hub store (`SqliteHubStore`), `SqlHub<Postgres>` the PostgreSQL
//! one (`PgHubStore`). Row decoders and the SQL the dialects share are
//! written once, in the store's module, against [`sql::Sql`] (generic over
//! `sqlx::Database`); what really differs — SQLite's pragmas, files and
//! single writer; PostgreSQL's advisory locks, row locks, `UNNEST`
//! batches and the hub's shared log — is in [`sqlite`] and [`postgres`],
//! behind [`Dialect`] and the per-store dialect traits.
//!
//! [`StoreConfig`] opens a role's store on the backend a binary's
//! configuration chooses; `testkit` (feature `testkit`) is the
//! behavioural suite both backends' test binaries run.
//!
//! Only the store crates know SQL: this one, and `renkei-store-sqlite` and
//! `renkei-store-postgres`, the backends' faces (the names callers use,
//! PostgreSQL's schema helpers, each backend's test binary).

mod at_rest;
mod config;
mod consent;
mod delivery;
pub mod dialect;
mod group_commit;
mod hub;
mod node;
mod portal;
pub mod postgres;
mod registry;
mod registry_card;
mod screening;
pub mod sql;
pub mod sqlite;
#[cfg(feature = "testkit")]
pub mod testkit;
mod witness;

pub use config::{
    Backend, HubBackend, NodeBackend, OpenError, PortalBackend, RegistryBackend, StoreConfig, WitnessBackend,
};
pub use dialect::{Dialect, Keys, ReadConn};
pub use hub::{HubDialect, SqlHub};
pub use node::{Node, NodeDialect, RecordKeeper, SqlNode, SqlRecordKeeper};
pub use portal::{PortalDialect, SqlPortal};
pub use registry::{Registry, RegistryDialect, SqlRegistry};
pub use sqlx::{Postgres, Sqlite};
pub use witness::SqlWitness;
