//! Statements, bound values and rows, generic over the database.
//!
//! The stores are written once against [`Sql`], which every
//! `sqlx::Database` with the usual types has (SQLite and PostgreSQL here):
//! a [`Stmt`] is SQL text with `$1`, `$2`, … placeholders (both dialects
//! read them; SQLite through sqlx's `$NNN` support) and its [`Value`]s; a
//! row is read through [`Cols`] by column name. The trait bounds that
//! generic sqlx code needs are stated once, on the blanket implementations
//! below, instead of on every function.

use std::borrow::Cow;
use std::future::Future;

use renkei_protocol::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Transaction, Type};

/// A value bound to one placeholder. The variants are the column types
/// the stores use; `None` is NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    Bytes(Option<Cow<'a, [u8]>>),
    Bool(bool),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v.map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(v: Option<String>) -> Self {
        Value::Text(v.map(Cow::Owned))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Bytes(Some(Cow::Borrowed(v)))
    }
}

impl From<Vec<u8>> for Value<'_> {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(Some(Cow::Owned(v)))
    }
}

impl From<Option<Vec<u8>>> for Value<'_> {
    fn from(v: Option<Vec<u8>>) -> Self {
        Value::Bytes(v.map(Cow::Owned))
    }
}

/// SQL text and the values of its placeholders, in order.
#[derive(Debug, Clone)]
pub struct Stmt<'a> {
    sql: Cow<'static, str>,
    args: Vec<Value<'a>>,
}

impl<'a> Stmt<'a> {
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql: Cow::Borrowed(sql),
            args: Vec::new(),
        }
    }

    /// A statement assembled at run time. Only fixed texts of this crate
    /// and placeholders go into it, never a value.
    pub fn assembled(sql: String) -> Self {
        Self {
            sql: Cow::Owned(sql),
            args: Vec::new(),
        }
    }

    /// Bind the next placeholder.
    #[must_use]
    pub fn arg(mut self, v: impl Into<Value<'a>>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Bind the next placeholders, in order.
    #[must_use]
    pub fn args(mut self, vs: impl IntoIterator<Item = Value<'a>>) -> Self {
        self.args.extend(vs);
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Run it; how many rows it changed.
    pub async fn execute<'e, DB: Sql, E: Executes<'e, DB>>(self, on: E) -> Result<u64, sqlx::Error> {
        DB::execute(on.exec(), DB::query(self)).await
    }

    pub async fn fetch_all<'e, DB: Sql, E: Executes<'e, DB>>(
        self,
        on: E,
    ) -> Result<Vec<DB::Row>, sqlx::Error> {
        DB::fetch_all(on.exec(), DB::query(self)).await
    }

    pub async fn fetch_optional<'e, DB: Sql, E: Executes<'e, DB>>(
        self,
        on: E,
    ) -> Result<Option<DB::Row>, sqlx::Error> {
        DB::fetch_optional(on.exec(), DB::query(self)).await
    }

    pub async fn fetch_one<'e, DB: Sql, E: Executes<'e, DB>>(self, on: E) -> Result<DB::Row, sqlx::Error> {
        DB::fetch_one(on.exec(), DB::query(self)).await
    }
}

/// `($1, $2, …), (…)`: the placeholders of a multi-row `VALUES` for `rows`
/// rows of `columns` values each.
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    let mut n = 0;
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            n += 1;
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&n.to_string());
        }
        out.push(')');
    }
    out
}

/// Where a statement runs: the pool, or one connection (a transaction's).
#[derive(Debug)]
pub enum Exec<'e, DB: Database> {
    Pool(&'e Pool<DB>),
    Conn(&'e mut DB::Connection),
}

impl<DB: Database> Exec<'_, DB> {
    /// The same pool or connection again, for one more statement.
    pub fn by_ref(&mut self) -> Exec<'_, DB> {
        match self {
            Exec::Pool(p) => Exec::Pool(p),
            Exec::Conn(c) => Exec::Conn(&mut **c),
        }
    }
}

/// What a statement can run on.
pub trait Executes<'e, DB: Database>: Send {
    fn exec(self) -> Exec<'e, DB>;
}

impl<'e, DB: Database> Executes<'e, DB> for Exec<'e, DB> {
    fn exec(self) -> Exec<'e, DB> {
        self
    }
}

impl<'e, DB: Database> Executes<'e, DB> for &'e Pool<DB> {
    fn exec(self) -> Exec<'e, DB> {
        Exec::Pool(self)
    }
}

impl<'e, DB: Database> Executes<'e, DB> for &'e mut Transaction<'_, DB> {
    fn exec(self) -> Exec<'e, DB> {
        Exec::Conn(&mut **self)
    }
}

impl<'e, DB: Database> Executes<'e, DB> for &'e mut PoolConnection<DB> {
    fn exec(self) -> Exec<'e, DB> {
        Exec::Conn(&mut **self)
    }
}

/// A connection as an executor (the database named, since a connection
/// type does not name it).
pub fn on<DB: Database>(conn: &mut DB::Connection) -> Exec<'_, DB> {
    Exec::Conn(conn)
}

/// A database the stores can use: its rows read by [`Cols`], statements
/// bound from [`Value`]s and run on a pool or a connection.
pub trait Sql: Database<Row: Cols> {
    /// The statement with every value bound.
    fn query(stmt: Stmt<'_>) -> Query<'static, Self, Self::Arguments>;

    fn execute<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e;

    fn fetch_all<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e;

    fn fetch_optional<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'e;

    fn fetch_one<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send + 'e;
}

impl<DB> Sql for DB
where
    DB: Database<Row: Cols>,
    DB::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    fn query(stmt: Stmt<'_>) -> Query<'static, Self, Self::Arguments> {
        let mut q = match stmt.sql {
            Cow::Borrowed(s) => sqlx::query(s),
            // Assembled from this crate's fixed texts and placeholders.
            Cow::Owned(s) => sqlx::query(sqlx::AssertSqlSafe(s)),
        };
        for v in &stmt.args {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(t) => q.bind(t.as_deref()),
                Value::Bytes(b) => q.bind(b.as_deref()),
                Value::Bool(b) => q.bind(*b),
            };
        }
        q
    }

    async fn execute<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> Result<u64, sqlx::Error> {
        let done = match on {
            Exec::Pool(p) => q.execute(p).await?,
            Exec::Conn(c) => q.execute(c).await?,
        };
        Ok(done.rows_affected())
    }

    async fn fetch_all<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> Result<Vec<Self::Row>, sqlx::Error> {
        match on {
            Exec::Pool(p) => q.fetch_all(p).await,
            Exec::Conn(c) => q.fetch_all(c).await,
        }
    }

    async fn fetch_optional<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> Result<Option<Self::Row>, sqlx::Error> {
        match on {
            Exec::Pool(p) => q.fetch_optional(p).await,
            Exec::Conn(c) => q.fetch_optional(c).await,
        }
    }

    async fn fetch_one<'e>(
        on: Exec<'e, Self>,
        q: Query<'static, Self, Self::Arguments>,
    ) -> Result<Self::Row, sqlx::Error> {
        match on {
            Exec::Pool(p) => q.fetch_one(p).await,
            Exec::Conn(c) => q.fetch_one(c).await,
        }
    }
}

/// The rows a statement changed (each driver's result has it).
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A row's columns by name, in the column types the stores use.
pub trait Cols {
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error>;
    /// Whether the row has this column at all.
    fn has(&self, col: &str) -> bool;
}

impl<R> Cols for R
where
    R: Row,
    for<'s> &'s str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        self.try_get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(col)
    }
    fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.try_get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(col)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(col)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        self.try_get(col)
    }
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error> {
        self.try_get(col)
    }
    fn has(&self, col: &str) -> bool {
        self.try_column(col).is_ok()
    }
}

/// A column type [`get`] reads.
pub trait Col: Sized {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error>;
}

impl Col for String {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.text(col)
    }
}

impl Col for Option<String> {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.opt_text(col)
    }
}

impl Col for i64 {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.int(col)
    }
}

impl Col for Option<i64> {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.opt_int(col)
    }
}

impl Col for Vec<u8> {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.bytes(col)
    }
}

impl Col for Option<Vec<u8>> {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.opt_bytes(col)
    }
}

impl Col for bool {
    fn read(row: &(impl Cols + ?Sized), col: &str) -> Result<Self, sqlx::Error> {
        row.flag(col)
    }
}

/// A column; one that cannot be read is a corrupt store.
pub fn get<T: Col>(row: &(impl Cols + ?Sized), col: &str) -> Result<T, StoreError> {
    T::read(row, col).map_err(|e| corrupt(col, e))
}

/// Map a database error for role logic; the details go to the log here,
/// once, because the role logic only needs the category.
pub fn store_err(context: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(format!("{context}: already exists"));
        }
        tracing::error!(error = %e, context, "store operation failed");
        StoreError::Unavailable(format!("{context} failed"))
    }
}

pub fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    tracing::error!(%detail, what, "stored value cannot be read back");
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// Parse a stored text column with the domain's parser; a failure is a
/// corrupt store.
pub fn parse_col<T, E: std::fmt::Display>(
    what: &str,
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(s).map_err(|e| corrupt(what, e))
}

/// A caller's number as a 64-bit column: one beyond `i64` is refused, not
/// wrapped.
pub fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| corrupt(what, e))
}

/// A stored 64-bit number that must not be negative.
pub fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|e| corrupt(what, e))
}

/// A 32-byte digest column.
pub fn digest(v: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| corrupt(what, "not 32 bytes"))
}
