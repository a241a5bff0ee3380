use std::path::Path;

use renkei_catalog::{ItemCode, KindCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{SealingAlgorithm, SealingPublicKey, SignatureAlgorithm, VerifyingKey};
use renkei_hub::{
    Endpoint, HubStore, Institution, InstitutionStatus, Outcome, ProvisionRecord, RecordFilter,
    SecurityEvent, SubjectTag,
};
use renkei_ids::{CorporateNumber, MessageId, QueryId};
use renkei_protocol::{DenialCode, FiscalYear, StoreError, UnixMillis};
use sqlx::QueryBuilder;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};

use crate::db::{self, DbError, Durability, corrupt, get, parse_col, store_err};
use crate::group_commit::{Appendable, GroupCommit};

const MIGRATIONS: &[&str] = &[include_str!("../migrations/hub_001.sql")];

/// The hub's store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteHubStore {
    pool: SqlitePool,
    records: GroupCommit<HubRow>,
}

#[derive(Debug)]
struct HubRow(ProvisionRecord);

impl Appendable for HubRow {
    async fn insert(&self, conn: &mut SqliteConnection, seq: u64) -> Result<(), sqlx::Error> {
        let r = &self.0;
        sqlx::query(
            "INSERT INTO records (seq, query_id, message_id, request_digest, requester, provider, \
             office_work, item, fiscal_year, table_version, row_id, subject, requested_at, \
             provided_at, outcome, non_disclosure) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq as i64)
        .bind(r.query_id.to_string())
        .bind(r.message_id.to_string())
        .bind(&r.request_digest[..])
        .bind(r.requester.to_string())
        .bind(r.provider.to_string())
        .bind(r.office_work.as_str())
        .bind(r.item.as_str())
        .bind(r.fiscal_year.map(|y| i64::from(y.get())))
        .bind(r.table_row.as_ref().map(|t| t.table_version.clone()))
        .bind(r.table_row.as_ref().map(|t| t.row_id.as_str().to_owned()))
        .bind(r.subject.map(|s| s.0.to_vec()))
        .bind(r.requested_at.0)
        .bind(r.provided_at.map(|t| t.0))
        .bind(r.outcome.as_str())
        .bind(r.non_disclosure)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    }
}

impl SqliteHubStore {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let pool = db::open(path, durability, MIGRATIONS).await?;
        let next = crate::node::next_seq(&pool, path).await?;
        let writer = db::writer(path, durability).await?;
        Ok(Self {
            pool,
            records: GroupCommit::start(writer, next, "hub records"),
        })
    }
}

fn institution_from(row: &SqliteRow) -> Result<Institution, StoreError> {
    let id: String = get(row, "id")?;
    let signing_alg: String = get(row, "signing_alg")?;
    let sealing_alg: String = get(row, "sealing_alg")?;
    let cert: Vec<u8> = get(row, "tls_certificate")?;
    let status: String = get(row, "status")?;
    Ok(Institution {
        id: parse_col("institution id", &id, CorporateNumber::parse)?,
        name: get(row, "name")?,
        kind: parse_col("kind", &get::<String>(row, "kind")?, KindCode::parse)?,
        endpoint: parse_col("endpoint", &get::<String>(row, "endpoint")?, Endpoint::parse)?,
        tls_certificate: cert
            .try_into()
            .map_err(|_| corrupt("tls_certificate", "not 32 bytes"))?,
        signing_key: VerifyingKey::from_bytes(
            parse_col("signing_alg", &signing_alg, SignatureAlgorithm::parse)?,
            &get::<Vec<u8>>(row, "signing_key")?,
        )
        .map_err(|e| corrupt("signing_key", e))?,
        sealing_key: SealingPublicKey::from_bytes(
            parse_col("sealing_alg", &sealing_alg, SealingAlgorithm::parse)?,
            &get::<Vec<u8>>(row, "sealing_key")?,
        )
        .map_err(|e| corrupt("sealing_key", e))?,
        status: InstitutionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        updated_at: UnixMillis(get(row, "updated_at")?),
    })
}

fn record_from(row: &SqliteRow) -> Result<(u64, ProvisionRecord), StoreError> {
    let seq: i64 = get(row, "seq")?;
    let digest: Vec<u8> = get(row, "request_digest")?;
    let fy: Option<i64> = get(row, "fiscal_year")?;
    let table_version: Option<String> = get(row, "table_version")?;
    let row_id: Option<String> = get(row, "row_id")?;
    let subject: Option<Vec<u8>> = get(row, "subject")?;
    let outcome: String = get(row, "outcome")?;
    let table_row = match (table_version, row_id) {
        (Some(v), Some(r)) => Some(TableRowRef {
            table_version: v,
            row_id: parse_col("row_id", &r, RowId::parse)?,
        }),
        _ => None,
    };
    Ok((
        seq as u64,
        ProvisionRecord {
            query_id: parse_col("query_id", &get::<String>(row, "query_id")?, QueryId::parse)?,
            message_id: parse_col("message_id", &get::<String>(row, "message_id")?, MessageId::parse)?,
            request_digest: digest
                .try_into()
                .map_err(|_| corrupt("request_digest", "not 32 bytes"))?,
            requester: parse_col(
                "requester",
                &get::<String>(row, "requester")?,
                CorporateNumber::parse,
            )?,
            provider: parse_col(
                "provider",
                &get::<String>(row, "provider")?,
                CorporateNumber::parse,
            )?,
            office_work: parse_col(
                "office_work",
                &get::<String>(row, "office_work")?,
                OfficeWorkCode::parse,
            )?,
            item: parse_col("item", &get::<String>(row, "item")?, ItemCode::parse)?,
            fiscal_year: fy
                .map(|y| {
                    u16::try_from(y)
                        .map_err(|_| "out of range")
                        .and_then(FiscalYear::new)
                        .map_err(|e| corrupt("fiscal_year", e))
                })
                .transpose()?,
            table_row,
            subject: subject
                .map(|s| {
                    s.try_into()
                        .map(SubjectTag)
                        .map_err(|_| corrupt("subject", "not 32 bytes"))
                })
                .transpose()?,
            requested_at: UnixMillis(get(row, "requested_at")?),
            provided_at: get::<Option<i64>>(row, "provided_at")?.map(UnixMillis),
            outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
            non_disclosure: get(row, "non_disclosure")?,
        },
    ))
}

impl HubStore for SqliteHubStore {
    async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        let rows = sqlx::query("SELECT * FROM institutions ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list institutions"))?;
        rows.iter().map(institution_from).collect()
    }

    async fn upsert_institution(&self, i: &Institution) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO institutions (id, name, kind, endpoint, tls_certificate, signing_alg, \
             signing_key, sealing_alg, sealing_key, status, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
             endpoint = excluded.endpoint, tls_certificate = excluded.tls_certificate, \
             signing_alg = excluded.signing_alg, signing_key = excluded.signing_key, \
             sealing_alg = excluded.sealing_alg, sealing_key = excluded.sealing_key, \
             status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(i.id.to_string())
        .bind(&i.name)
        .bind(i.kind.as_str())
        .bind(i.endpoint.as_str())
        .bind(&i.tls_certificate[..])
        .bind(i.signing_key.algorithm().name())
        .bind(i.signing_key.to_bytes())
        .bind(i.sealing_key.algorithm().name())
        .bind(i.sealing_key.to_bytes())
        .bind(i.status.as_str())
        .bind(i.updated_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("register institution"))?;
        Ok(())
    }

    async fn set_institution_status(
        &self,
        id: CorporateNumber,
        status: InstitutionStatus,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE institutions SET status = ?, updated_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(at.0)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(store_err("set institution status"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn append_record(&self, record: ProvisionRecord) -> Result<u64, StoreError> {
        self.records.append(HubRow(record)).await
    }

    async fn records(&self, f: RecordFilter) -> Result<Vec<(u64, ProvisionRecord)>, StoreError> {
        let mut q = QueryBuilder::new("SELECT * FROM records WHERE 1 = 1");
        if let Some(after) = f.after_seq {
            q.push(" AND seq > ").push_bind(after as i64);
        }
        if let Some(r) = f.requester {
            q.push(" AND requester = ").push_bind(r.to_string());
        }
        if let Some(p) = f.provider {
            q.push(" AND provider = ").push_bind(p.to_string());
        }
        if let Some(s) = f.subject {
            q.push(" AND subject = ").push_bind(s.0.to_vec());
        }
        q.push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(f.limit.clamp(1, 10_000)));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list records"))?;
        rows.iter().map(record_from).collect()
    }

    async fn recent_message_ids(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
        let rows =
            sqlx::query("SELECT requester, message_id, requested_at FROM records WHERE requested_at >= ?")
                .bind(since.0)
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("recent message ids"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_col(
                        "requester",
                        &get::<String>(r, "requester")?,
                        CorporateNumber::parse,
                    )?,
                    parse_col("message_id", &get::<String>(r, "message_id")?, MessageId::parse)?,
                    UnixMillis(get(r, "requested_at")?),
                ))
            })
            .collect()
    }

    async fn append_security_event(&self, e: SecurityEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_events (at, code, peer, message_id, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(e.at.0)
        .bind(e.code.as_str())
        .bind(e.peer.map(|p| p.to_string()))
        .bind(e.message_id.map(|m| m.to_string()))
        .bind(&e.detail)
        .execute(&self.pool)
        .await
        .map_err(store_err("record security event"))?;
        Ok(())
    }

    async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM security_events ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list security events"))?;
        rows.iter()
            .map(|r| {
                let code: String = get(r, "code")?;
                Ok(SecurityEvent {
                    at: UnixMillis(get(r, "at")?),
                    code: DenialCode::parse(&code).ok_or_else(|| corrupt("code", &code))?,
                    peer: get::<Option<String>>(r, "peer")?
                        .map(|p| parse_col("peer", &p, CorporateNumber::parse))
                        .transpose()?,
                    message_id: get::<Option<String>>(r, "message_id")?
                        .map(|m| parse_col("message_id", &m, MessageId::parse))
                        .transpose()?,
                    detail: get(r, "detail")?,
                })
            })
            .collect()
    }
}
