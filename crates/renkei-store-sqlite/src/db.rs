pub(crate) use renkei_store_sql::sql::{corrupt, parse_col, store_err};
pub use renkei_store_sql::sqlite::db::{DataKeyProblem, DbError, Durability};
pub(crate) use renkei_store_sql::sqlite::db::{open, writer};

pub(crate) fn get<'r, T>(
    row: &'r sqlx::sqlite::SqliteRow,
    col: &str,
) -> Result<T, renkei_protocol::StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    sqlx::Row::try_get(row, col).map_err(|e| corrupt(col, e))
}
