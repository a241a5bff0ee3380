pub(crate) use renkei_store_sql::postgres::db::open;
pub use renkei_store_sql::postgres::db::{DataKeyProblem, DbError};
pub(crate) use renkei_store_sql::sql::{corrupt, parse_col, store_err, to_i64};

pub(crate) fn get<'r, T>(row: &'r sqlx::postgres::PgRow, col: &str) -> Result<T, renkei_protocol::StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::Row::try_get(row, col).map_err(|e| corrupt(col, e))
}
