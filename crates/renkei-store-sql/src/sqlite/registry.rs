//! The registry's store on SQLite.

use renkei_ids::{AcquisitionNumber, CorporateNumber};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use crate::registry::{RegistryDialect, SqlRegistry};
use crate::sql::{Stmt, store_err};

/// The registry's store in one SQLite file.
pub type SqliteRegistryStore = SqlRegistry<Sqlite>;

impl RegistryDialect for Sqlite {
    /// `serial` is the rowid: certificates in the order of their serials.
    const CARD_CERTS: &'static str = "SELECT * FROM card_certs WHERE card_id = $1 ORDER BY issued_at, rowid";
    const WITHOUT_OWN_CODE: &'static str = "SELECT link_id FROM residents WHERE own_code IS NULL LIMIT $1";
    /// The single writer numbers events in commit order.
    const LOCK_EVENTS: &'static [&'static str] = &[];
    const INSERT_EVENT: &'static str =
        "INSERT INTO events (link_id, kind, detail, at) VALUES ($1, $2, $3, $4) RETURNING seq";

    async fn claim_acquisition_numbers(
        pool: &SqlitePool,
        institution: CorporateNumber,
        numbers: &[AcquisitionNumber],
        at: UnixMillis,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(store_err("claim acquisition numbers"))?;
        let mut claimed = Vec::with_capacity(numbers.len());
        for n in numbers {
            let fresh = Stmt::new(
                "INSERT INTO acquisitions (institution, number, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .arg(institution.to_string())
            .arg(n.to_string())
            .arg(at.0)
            .execute(&mut tx)
            .await
            .map_err(store_err("claim acquisition numbers"))?;
            claimed.push(fresh == 1);
        }
        tx.commit()
            .await
            .map_err(store_err("claim acquisition numbers"))?;
        Ok(claimed)
    }
}
