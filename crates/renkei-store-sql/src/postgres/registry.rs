//! The registry's store on PostgreSQL.

use std::collections::HashSet;

use renkei_ids::{AcquisitionNumber, CorporateNumber};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Postgres;
use sqlx::postgres::PgPool;

use crate::registry::{RegistryDialect, SqlRegistry};
use crate::sql::store_err;

/// The registry's store in a PostgreSQL database, in a schema or database
/// of its own.
pub type PgRegistryStore = SqlRegistry<Postgres>;

impl RegistryDialect for Postgres {
    /// `issue_order` keeps certificates issued in the same millisecond in
    /// the order they were stored.
    const CARD_CERTS: &'static str =
        "SELECT * FROM card_certs WHERE card_id = $1 ORDER BY issued_at, issue_order";
    const WITHOUT_OWN_CODE: &'static str =
        "SELECT link_id FROM residents WHERE own_code IS NULL ORDER BY registered_at, link_id LIMIT $1";
    /// Numbers follow the commit order — the table stays locked against
    /// other writers until the commit (readers go on) — so a reader paging
    /// by number never passes one that commits later; and they stay dense.
    const LOCK_EVENTS: &'static [&'static str] = &["LOCK TABLE events IN EXCLUSIVE MODE"];
    const INSERT_EVENT: &'static str = "INSERT INTO events (seq, link_id, kind, detail, at) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4 FROM events RETURNING seq";

    /// One statement: a number claimed concurrently by another transaction
    /// waits for it and then counts as used.
    async fn claim_acquisition_numbers(
        pool: &PgPool,
        institution: CorporateNumber,
        numbers: &[AcquisitionNumber],
        at: UnixMillis,
    ) -> Result<Vec<bool>, StoreError> {
        let asked: Vec<String> = numbers.iter().map(ToString::to_string).collect();
        let fresh: Vec<String> = sqlx::query_scalar(
            "INSERT INTO acquisitions (institution, number, at) \
             SELECT $1, n, $3 FROM UNNEST($2::text[]) AS n \
             ON CONFLICT DO NOTHING RETURNING number",
        )
        .bind(institution.to_string())
        .bind(&asked)
        .bind(at.0)
        .fetch_all(pool)
        .await
        .map_err(store_err("claim acquisition numbers"))?;
        // A number asked twice is fresh the first time only.
        let mut fresh: HashSet<String> = fresh.into_iter().collect();
        Ok(asked.iter().map(|n| fresh.remove(n)).collect())
    }
}
