//! Where SQLite and PostgreSQL really differ. Everything else in this
//! crate is written once; each store calls these for the rest.
//!
//! SQLite has one writer per file: a transaction that reads and then
//! writes takes the write lock first (`BEGIN IMMEDIATE`) and nothing else
//! can interleave. PostgreSQL serves several processes at once: such a
//! transaction locks the rows it reads (`FOR UPDATE`) in a fixed order, and
//! what must be single is one conditional statement. PostgreSQL also binds
//! arrays, so a batch or a lookup of many keys is one statement there.

use std::future::Future;
use std::ops::{Deref, DerefMut};

use renkei_protocol::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool, Transaction};

use crate::sql::{Exec, Executes, Sql};

/// A database dialect the stores run on (`sqlx::Sqlite`, `sqlx::Postgres`).
pub trait Dialect: Sql + Send + Sync + 'static {
    /// Appended to a `SELECT` whose rows must stay locked to the commit:
    /// PostgreSQL's row lock; nothing on SQLite, whose single writer
    /// serialises writing transactions.
    const FOR_UPDATE: &'static str;

    /// Bound values one statement may carry: multi-row statements go in
    /// chunks of `MAX_BINDS / columns` rows.
    const MAX_BINDS: usize;

    /// The connection a group-commit writer owns (SQLite: a connection of
    /// its own; PostgreSQL: the pool).
    type Writer: Send + 'static;

    /// Begin a group-commit batch.
    fn begin_batch(
        w: &mut Self::Writer,
    ) -> impl Future<Output = Result<Transaction<'_, Self>, sqlx::Error>> + Send;

    /// After a failed batch: leave the writer with no transaction open
    /// (SQLite: see `sqlite::db::settle`; PostgreSQL's pool needs nothing).
    fn settle_writer(w: &mut Self::Writer) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Refuse a caller's text the database cannot hold, before anything is
    /// written (PostgreSQL text holds no NUL; SQLite's does).
    fn text_fits(what: &str, s: &str) -> Result<(), StoreError>;

    /// A transaction that reads and then writes what it read: SQLite takes
    /// the write lock at once; PostgreSQL begins as usual and locks the
    /// rows it reads (`FOR_UPDATE`).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// Where several reads belong together (a card and its certificates):
    /// SQLite reads on one connection; PostgreSQL in a read-only
    /// transaction on one snapshot.
    fn begin_read(pool: &Pool<Self>) -> impl Future<Output = Result<ReadConn<Self>, sqlx::Error>> + Send;

    /// The rows of `select` (which ends in `WHERE`) whose `column` is one of
    /// `keys`: SQLite in chunks of `IN (…)`, PostgreSQL with one array
    /// (`= ANY($1)`).
    fn fetch_any<'e>(
        on: Exec<'e, Self>,
        select: &'static str,
        column: &'static str,
        keys: Keys,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e;
}

/// Keys to look up with [`Dialect::fetch_any`].
#[derive(Debug, Clone)]
pub enum Keys {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl Keys {
    pub fn is_empty(&self) -> bool {
        match self {
            Keys::Int(k) => k.is_empty(),
            Keys::Text(k) => k.is_empty(),
        }
    }
}

/// A connection for reads that belong together (see
/// [`Dialect::begin_read`]).
#[derive(Debug)]
pub enum ReadConn<DB: Database> {
    Pooled(PoolConnection<DB>),
    Snapshot(Transaction<'static, DB>),
}

impl<DB: Database> ReadConn<DB> {
    /// Done reading (a snapshot's transaction ends).
    pub async fn finish(self) -> Result<(), sqlx::Error> {
        match self {
            ReadConn::Pooled(_) => Ok(()),
            ReadConn::Snapshot(tx) => tx.commit().await,
        }
    }
}

impl<DB: Database> Deref for ReadConn<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Snapshot(t) => t,
        }
    }
}

impl<DB: Database> DerefMut for ReadConn<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            ReadConn::Pooled(c) => c,
            ReadConn::Snapshot(t) => t,
        }
    }
}

impl<'e, DB: Database> Executes<'e, DB> for &'e mut ReadConn<DB> {
    fn exec(self) -> Exec<'e, DB> {
        Exec::Conn(&mut **self)
    }
}

/// Why a store could not be opened, before its dialect says which store
/// (a file, a schema) in its own `DbError`.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    Db(sqlx::Error),
    /// The store's contents disagree with each other.
    Inconsistent(String),
    /// The data key given does not fit the store.
    Key(renkei_crypto::DataKeyProblem),
}

impl From<sqlx::Error> for OpenFailure {
    fn from(e: sqlx::Error) -> Self {
        OpenFailure::Db(e)
    }
}
