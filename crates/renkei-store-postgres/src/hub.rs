//! The hub's store on PostgreSQL, shared by several hub processes.
//!
//! One log, whichever hub appends: every append transaction locks the single
//! `log_state` row, brings the process's Merkle frontier up to the size it
//! finds there (other hubs may have appended since), inserts leaves, stored
//! tree nodes and records numbered from that size, and advances the size.
//! The lock makes the numbering dense with no gap, fork or reuse; a hub that
//! dies mid-transaction leaves nothing (PostgreSQL rolls it back).
//!
//! The in-memory [`LogHead`] follows both this process's commits and, by a
//! background refresh, the other hubs' (at most [`HEAD_REFRESH`] behind).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use renkei_catalog::{ItemCode, KindCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::Digest32;
use renkei_crypto::{SealingAlgorithm, SealingPublicKey, SignatureAlgorithm, VerifyingKey};
use renkei_hub::log::{LogHead, hash_from_stored, is_stored, stored_needed};
use renkei_hub::{
    Endpoint, HubStore, Institution, InstitutionStatus, LogLeaf, Outcome, ProvisionRecord, RecordFilter,
    SecurityEvent, SubjectTag,
};
use renkei_ids::{CorporateNumber, MessageId, QueryId};
use renkei_log::hash::Hash;
use renkei_log::tree::{Frontier, NodeId};
use renkei_protocol::{DenialCode, FiscalYear, StoreError, UnixMillis};
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{QueryBuilder, Row};

use crate::db::{self, DbError, corrupt, get, parse_col, store_err, to_i64};
use crate::group_commit::{Appendable, GroupCommit};

const MIGRATIONS: &[&str] = renkei_store_sql::postgres::migrations::HUB;

/// How far behind the other hubs' appends this process's log head may be.
pub const HEAD_REFRESH: Duration = Duration::from_millis(500);

/// Catching up by reading the new leaf hashes is cheaper than restoring the
/// frontier from stored nodes up to this many leaves.
const CATCH_UP_LEAVES: u64 = 4096;

/// The hub's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgHubStore {
    pool: PgPool,
    records: GroupCommit<HubRow>,
    head: Arc<RwLock<LogHead>>,
    /// The connection holding the checkpoint publisher's advisory lock,
    /// when this process holds it (the lock ends with the session, so a
    /// killed hub hands it on).
    lease: Arc<tokio::sync::Mutex<Option<PgConnection>>>,
}

/// The advisory-lock key of the checkpoint publisher's lease.
const PUBLISHER_LOCK: i64 = 7_263_540_153;

/// A record with its leaf, encoded and hashed by the appending task so
/// that the single writer only writes.
#[derive(Debug)]
struct HubRow {
    record: ProvisionRecord,
    leaf: Vec<u8>,
    hash: Hash,
}

impl HubRow {
    fn new(record: ProvisionRecord) -> Self {
        let leaf = record.leaf_bytes();
        let hash = renkei_log::leaf_hash(&leaf);
        Self { record, leaf, hash }
    }
}

/// Publish `head` unless a larger one is already known (this process's
/// commits and the refresh race; sizes only grow).
fn publish(slot: &RwLock<LogHead>, head: LogHead) {
    let mut h = slot.write().unwrap_or_else(|p| p.into_inner());
    if head.size > h.size {
        *h = head;
    }
}

impl Appendable for HubRow {
    /// This process's view of the right edge of the Merkle tree; brought
    /// up to date under the lock before every batch.
    type State = Frontier;

    async fn insert_batch(
        conn: &mut PgConnection,
        rows: Vec<&Self>,
        frontier: &mut Frontier,
    ) -> Result<u64, sqlx::Error> {
        let size: i64 = sqlx::query("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let size = size as u64;
        catch_up(conn, frontier, size).await?;
        let mut nodes = Vec::new();
        for row in &rows {
            nodes.extend(
                frontier
                    .push(row.hash)
                    .into_iter()
                    .filter(|(n, _)| n.level > 0 && is_stored(*n)),
            );
        }
        let seqs: Vec<i64> = (0..rows.len()).map(|i| (size + i as u64) as i64).collect();
        sqlx::query(
            "INSERT INTO log_leaves (seq, leaf_hash, leaf) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])",
        )
        .bind(&seqs)
        .bind(rows.iter().map(|r| r.hash.to_vec()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.leaf.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
        if !nodes.is_empty() {
            sqlx::query(
                "INSERT INTO log_nodes (level, idx, hash) \
                 SELECT * FROM UNNEST($1::SMALLINT[], $2::BIGINT[], $3::BYTEA[])",
            )
            .bind(nodes.iter().map(|(n, _)| i16::from(n.level)).collect::<Vec<_>>())
            .bind(nodes.iter().map(|(n, _)| n.index as i64).collect::<Vec<_>>())
            .bind(nodes.iter().map(|(_, h)| h.to_vec()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        insert_records(conn, &seqs, &rows).await?;
        sqlx::query("UPDATE log_state SET size = $1 WHERE id = 1")
            .bind((size + rows.len() as u64) as i64)
            .execute(&mut *conn)
            .await?;
        Ok(size)
    }
}

async fn insert_records(conn: &mut PgConnection, seqs: &[i64], rows: &[&HubRow]) -> Result<(), sqlx::Error> {
    let leaf = |f: fn(&LogLeaf) -> Option<String>| rows.iter().map(|r| f(&r.record.leaf)).collect::<Vec<_>>();
    let leaf_i64 =
        |f: fn(&LogLeaf) -> Option<i64>| rows.iter().map(|r| f(&r.record.leaf)).collect::<Vec<_>>();
    let leaf_bytes =
        |f: fn(&LogLeaf) -> Option<Vec<u8>>| rows.iter().map(|r| f(&r.record.leaf)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO records (seq, query_id, message_id, request_digest, requester, provider, \
         office_work, item, fiscal_year, table_version, row_id, subject, requested_at, \
         provided_at, outcome, non_disclosure, commitment, consent, hidden_until, hidden_reason, \
         consent_commitment) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[], \
         $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[], $11::TEXT[], $12::BYTEA[], $13::BIGINT[], \
         $14::BIGINT[], $15::TEXT[], $16::BOOLEAN[], $17::BYTEA[], $18::TEXT[], $19::BIGINT[], $20::TEXT[], \
         $21::BYTEA[])",
    )
    .bind(seqs)
    .bind(leaf(|l| Some(l.query_id.to_string())))
    .bind(leaf(|l| Some(l.message_id.to_string())))
    .bind(leaf_bytes(|l| Some(l.request_digest.to_vec())))
    .bind(leaf(|l| Some(l.requester.to_string())))
    .bind(leaf(|l| Some(l.provider.to_string())))
    .bind(leaf(|l| Some(l.office_work.as_str().to_owned())))
    .bind(leaf(|l| Some(l.item.as_str().to_owned())))
    .bind(leaf_i64(|l| l.fiscal_year.map(|y| i64::from(y.get()))))
    .bind(leaf(|l| l.table_row.as_ref().map(|t| t.table_version.clone())))
    .bind(leaf(|l| {
        l.table_row.as_ref().map(|t| t.row_id.as_str().to_owned())
    }))
    .bind(
        rows.iter()
            .map(|r| r.record.subject.map(|s| s.0.to_vec()))
            .collect::<Vec<_>>(),
    )
    .bind(leaf_i64(|l| Some(l.requested_at.0)))
    .bind(leaf_i64(|l| l.provided_at.map(|t| t.0)))
    .bind(leaf(|l| Some(l.outcome.as_str().to_owned())))
    .bind(
        rows.iter()
            .map(|r| r.record.leaf.non_disclosure)
            .collect::<Vec<_>>(),
    )
    .bind(leaf_bytes(|l| l.commitment.map(|c| c.to_vec())))
    .bind(rows.iter().map(|r| r.record.consent.clone()).collect::<Vec<_>>())
    .bind(leaf_i64(|l| l.hidden_until.map(|t| t.0)))
    .bind(leaf(|l| l.hidden_reason.clone()))
    .bind(leaf_bytes(|l| l.consent_commitment.map(|c| c.to_vec())))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Bring `frontier` to `size` leaves: push the few leaves other hubs
/// appended, or restore it from the stored nodes after a large gap.
async fn catch_up(conn: &mut PgConnection, frontier: &mut Frontier, size: u64) -> Result<(), sqlx::Error> {
    let have = frontier.size();
    if have == size {
        return Ok(());
    }
    if have < size && size - have <= CATCH_UP_LEAVES {
        let rows = sqlx::query("SELECT leaf_hash FROM log_leaves WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(have as i64)
            .bind(size as i64)
            .fetch_all(&mut *conn)
            .await?;
        if rows.len() as u64 == size - have {
            for row in rows {
                let h: Vec<u8> = row.try_get(0)?;
                let h: Hash = h
                    .try_into()
                    .map_err(|_| sqlx::Error::Protocol("a stored leaf hash is not 32 bytes".into()))?;
                frontier.push(h);
            }
            return Ok(());
        }
    }
    *frontier = restore_frontier(conn, size)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    Ok(())
}

impl PgHubStore {
    /// Connect, migrate, and check that the log's tables agree.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let pool = db::open(url, "hub", MIGRATIONS).await?;
        let inconsistent = |reason: String| DbError::Inconsistent { reason };
        let mut conn = pool.acquire().await.map_err(DbError::Connect)?;
        // One statement, one snapshot: other hubs may be appending now.
        let row = sqlx::query(
            "SELECT s.size, (SELECT COUNT(*) FROM records r WHERE r.seq >= s.size) AS orphans \
             FROM log_state s WHERE s.id = 1",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(DbError::Connect)?;
        let (size, orphans): (i64, i64) = (
            row.try_get("size").map_err(DbError::Connect)?,
            row.try_get("orphans").map_err(DbError::Connect)?,
        );
        let size = size as u64;
        if orphans > 0 {
            return Err(inconsistent(format!(
                "{orphans} records lie beyond the log's size {size}"
            )));
        }
        let frontier = restore_frontier(&mut conn, size)
            .await
            .map_err(|e| inconsistent(e.to_string()))?;
        drop(conn);
        let head = Arc::new(RwLock::new(LogHead {
            size: frontier.size(),
            root: frontier.root(),
        }));
        let published = head.clone();
        let on_commit = Box::new(move |f: &Frontier| {
            publish(
                &published,
                LogHead {
                    size: f.size(),
                    root: f.root(),
                },
            );
        });
        tokio::spawn(follow_other_hubs(pool.clone(), Arc::downgrade(&head)));
        Ok(Self {
            records: GroupCommit::start(pool.clone(), frontier, on_commit, "hub records"),
            pool,
            head,
            lease: Arc::default(),
        })
    }
}

async fn log_size(conn: &mut PgConnection) -> Result<u64, StoreError> {
    let size: i64 = sqlx::query("SELECT size FROM log_state WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .map_err(store_err("read the log size"))
        .and_then(|r| get(&r, "size"))?;
    Ok(size as u64)
}

/// Keep the published head up with appends made by other hub processes,
/// and forget expired message claims; stops when the store is dropped.
async fn follow_other_hubs(pool: PgPool, head: std::sync::Weak<RwLock<LogHead>>) {
    let mut tick = tokio::time::interval(HEAD_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        let Some(slot) = head.upgrade() else { return };
        ticks += 1;
        let refreshed = async {
            let mut conn = pool.acquire().await.map_err(store_err("refresh the log head"))?;
            follow(&mut conn, &slot).await?;
            if ticks.is_multiple_of(120) {
                sqlx::query("DELETE FROM message_claims WHERE forget_after < $1")
                    .bind(UnixMillis::now().0)
                    .execute(&mut *conn)
                    .await
                    .map_err(store_err("forget expired message claims"))?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(e) = refreshed {
            tracing::warn!(error = %e, "cannot follow the shared log");
        }
    }
}

/// Bring `slot` up to the log's size in the store (other hubs' appends).
async fn follow(conn: &mut PgConnection, slot: &RwLock<LogHead>) -> Result<LogHead, StoreError> {
    let size = log_size(conn).await?;
    if size > slot.read().unwrap_or_else(|p| p.into_inner()).size {
        let f = restore_frontier(conn, size).await?;
        publish(
            slot,
            LogHead {
                size: f.size(),
                root: f.root(),
            },
        );
    }
    Ok(*slot.read().unwrap_or_else(|p| p.into_inner()))
}

async fn fetch_stored(
    conn: &mut PgConnection,
    nodes: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let mut out = HashMap::with_capacity(nodes.len());
    let (leaves, inner): (Vec<NodeId>, Vec<NodeId>) = nodes.iter().partition(|n| n.level == 0);
    if !leaves.is_empty() {
        let seqs = leaves
            .iter()
            .map(|n| to_i64("leaf index", n.index))
            .collect::<Result<Vec<_>, _>>()?;
        for row in sqlx::query("SELECT seq, leaf_hash FROM log_leaves WHERE seq = ANY($1)")
            .bind(seqs)
            .fetch_all(&mut *conn)
            .await
            .map_err(store_err("read leaf hashes"))?
        {
            let seq: i64 = get(&row, "seq")?;
            let h: Vec<u8> = get(&row, "leaf_hash")?;
            out.insert(
                NodeId::leaf(seq as u64),
                h.try_into().map_err(|_| corrupt("leaf_hash", "not 32 bytes"))?,
            );
        }
    }
    if !inner.is_empty() {
        let idx = inner
            .iter()
            .map(|n| to_i64("node index", n.index))
            .collect::<Result<Vec<_>, _>>()?;
        for row in sqlx::query(
            // One primary-key lookup per wanted node. As a plain join the
            // planner sometimes chose a hash join over a scan of the whole
            // table (518 ms instead of 150 ms for a history page at 20 M
            // records); LIMIT 1 keeps the lateral subquery from being
            // flattened back into that join (the key is unique anyway).
            "SELECT n.level, n.idx, n.hash FROM UNNEST($1::SMALLINT[], $2::BIGINT[]) AS w(level, idx) \
             CROSS JOIN LATERAL (SELECT level, idx, hash FROM log_nodes \
             WHERE level = w.level AND idx = w.idx LIMIT 1) AS n",
        )
        .bind(inner.iter().map(|n| i16::from(n.level)).collect::<Vec<_>>())
        .bind(idx)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_err("read tree nodes"))?
        {
            let level: i16 = get(&row, "level")?;
            let idx: i64 = get(&row, "idx")?;
            let h: Vec<u8> = get(&row, "hash")?;
            out.insert(
                NodeId::new(level as u8, idx as u64),
                h.try_into().map_err(|_| corrupt("node hash", "not 32 bytes"))?,
            );
        }
    }
    Ok(out)
}

/// The frontier of a tree of `size` leaves, from the stored nodes.
async fn restore_frontier(conn: &mut PgConnection, size: u64) -> Result<Frontier, StoreError> {
    let parts = renkei_log::tree::decomposition(size);
    let stored = fetch_stored(conn, &stored_needed(&parts)).await?;
    let hashes = parts
        .iter()
        .map(|n| {
            hash_from_stored(*n, &stored)
                .ok_or_else(|| corrupt("log", format!("a stored node under {n:?} is missing")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_decomposition(size, &hashes)
        .ok_or_else(|| corrupt("log", "frontier does not match the size"))
}

fn institution_from(row: &PgRow) -> Result<Institution, StoreError> {
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
        certificate: get(row, "certificate")?,
    })
}

fn digest(v: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| corrupt(what, "not 32 bytes"))
}

fn record_from(row: &PgRow) -> Result<(u64, ProvisionRecord), StoreError> {
    let seq: i64 = get(row, "seq")?;
    let fy: Option<i64> = get(row, "fiscal_year")?;
    let table_version: Option<String> = get(row, "table_version")?;
    let row_id: Option<String> = get(row, "row_id")?;
    let outcome: String = get(row, "outcome")?;
    let table_row = match (table_version, row_id) {
        (Some(v), Some(r)) => Some(TableRowRef {
            table_version: v,
            row_id: parse_col("row_id", &r, RowId::parse)?,
        }),
        _ => None,
    };
    let text = |col: &str| get::<String>(row, col);
    Ok((
        seq as u64,
        ProvisionRecord {
            leaf: LogLeaf {
                query_id: parse_col("query_id", &text("query_id")?, QueryId::parse)?,
                message_id: parse_col("message_id", &text("message_id")?, MessageId::parse)?,
                request_digest: digest(get(row, "request_digest")?, "request_digest")?,
                requester: parse_col("requester", &text("requester")?, CorporateNumber::parse)?,
                provider: parse_col("provider", &text("provider")?, CorporateNumber::parse)?,
                office_work: parse_col("office_work", &text("office_work")?, OfficeWorkCode::parse)?,
                item: parse_col("item", &text("item")?, ItemCode::parse)?,
                fiscal_year: fy
                    .map(|y| {
                        u16::try_from(y)
                            .map_err(|_| "out of range")
                            .and_then(FiscalYear::new)
                            .map_err(|e| corrupt("fiscal_year", e))
                    })
                    .transpose()?,
                table_row,
                requested_at: UnixMillis(get(row, "requested_at")?),
                provided_at: get::<Option<i64>>(row, "provided_at")?.map(UnixMillis),
                outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
                non_disclosure: get(row, "non_disclosure")?,
                commitment: get::<Option<Vec<u8>>>(row, "commitment")?
                    .map(|c| digest(c, "commitment"))
                    .transpose()?,
                consent_commitment: get::<Option<Vec<u8>>>(row, "consent_commitment")?
                    .map(|c| digest(c, "consent_commitment"))
                    .transpose()?,
                hidden_until: get::<Option<i64>>(row, "hidden_until")?.map(UnixMillis),
                hidden_reason: get(row, "hidden_reason")?,
            },
            consent: get(row, "consent")?,
            subject: get::<Option<Vec<u8>>>(row, "subject")?
                .map(|s| digest(s, "subject").map(SubjectTag))
                .transpose()?,
        },
    ))
}

impl HubStore for PgHubStore {
    async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        // Columns by name, not `*`: a statement a connection prepared before
        // a migration added a column must not change shape under it.
        let rows = sqlx::query(
            "SELECT id, name, kind, endpoint, tls_certificate, signing_alg, signing_key, sealing_alg, \
             sealing_key, status, updated_at, certificate FROM institutions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("list institutions"))?;
        rows.iter().map(institution_from).collect()
    }

    async fn upsert_institution(&self, i: &Institution) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO institutions (id, name, kind, endpoint, tls_certificate, signing_alg, \
             signing_key, sealing_alg, sealing_key, status, updated_at, certificate) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
             endpoint = excluded.endpoint, tls_certificate = excluded.tls_certificate, \
             signing_alg = excluded.signing_alg, signing_key = excluded.signing_key, \
             sealing_alg = excluded.sealing_alg, sealing_key = excluded.sealing_key, \
             status = excluded.status, updated_at = excluded.updated_at, \
             certificate = excluded.certificate",
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
        .bind(&i.certificate)
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
        let r = sqlx::query("UPDATE institutions SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(at.0)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(store_err("set institution status"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn append_record(&self, record: ProvisionRecord) -> Result<u64, StoreError> {
        self.records.append(HubRow::new(record)).await
    }

    async fn records(&self, f: RecordFilter) -> Result<Vec<(u64, ProvisionRecord)>, StoreError> {
        let mut q = QueryBuilder::new("SELECT * FROM records WHERE TRUE");
        if let Some(after) = f.after_seq {
            // Nothing follows a number beyond i64.
            q.push(" AND seq > ")
                .push_bind(i64::try_from(after).unwrap_or(i64::MAX));
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
            sqlx::query("SELECT requester, message_id, requested_at FROM records WHERE requested_at >= $1")
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

    async fn claim_message(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO message_claims (requester, message_id, forget_after) VALUES ($1, $2, $3) \
             ON CONFLICT (requester, message_id) DO NOTHING",
        )
        .bind(requester.to_string())
        .bind(id.to_string())
        .bind(forget_after.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("claim a message id"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn append_security_event(&self, e: SecurityEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_events (at, code, peer, message_id, detail) VALUES ($1, $2, $3, $4, $5)",
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
        let rows = sqlx::query("SELECT * FROM security_events ORDER BY id DESC LIMIT $1")
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

    fn log_head(&self) -> LogHead {
        *self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    async fn refresh_log_head(&self) -> Result<LogHead, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(store_err("refresh the log head"))?;
        follow(&mut conn, &self.head).await
    }

    async fn stored_hashes(&self, nodes: Vec<NodeId>) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err("read tree nodes"))?;
        fetch_stored(&mut conn, &nodes).await
    }

    async fn leaves_at(&self, seqs: Vec<u64>) -> Result<HashMap<u64, Option<Vec<u8>>>, StoreError> {
        let wanted = seqs
            .iter()
            .map(|s| to_i64("leaf index", *s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = HashMap::with_capacity(seqs.len());
        for row in sqlx::query("SELECT seq, leaf FROM log_leaves WHERE seq = ANY($1)")
            .bind(wanted)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read leaves"))?
        {
            out.insert(
                get::<i64>(&row, "seq")? as u64,
                get::<Option<Vec<u8>>>(&row, "leaf")?,
            );
        }
        if let Some(missing) = seqs.iter().find(|s| !out.contains_key(s)) {
            return Err(StoreError::Corrupt(format!("leaf {missing} does not exist")));
        }
        Ok(out)
    }

    async fn leaves(&self, first: u64, count: u64) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let rows = sqlx::query("SELECT seq, leaf FROM log_leaves WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(to_i64("first leaf", first)?)
            .bind(to_i64("last leaf", first.saturating_add(count))?)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read leaves"))?;
        if rows.len() as u64 != count {
            return Err(StoreError::Corrupt(format!(
                "asked for {count} leaves from {first}, {} exist",
                rows.len()
            )));
        }
        rows.iter().map(|r| get::<Option<Vec<u8>>>(r, "leaf")).collect()
    }

    async fn publisher_lease(&self) -> Result<bool, StoreError> {
        let mut lease = self.lease.lock().await;
        if let Some(conn) = lease.as_mut() {
            // Still ours while the session that took it is alive.
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(true);
            }
            *lease = None;
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(store_err("take the publisher lease"))?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(PUBLISHER_LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_err("take the publisher lease"))?;
        if got {
            // Out of the pool: the session (and the lock) lives as long as
            // this store, and closes with it.
            *lease = Some(conn.detach());
        }
        Ok(got)
    }

    async fn save_checkpoint(&self, size: u64, note: String, at: UnixMillis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (size) DO UPDATE SET note = excluded.note",
        )
        .bind(to_i64("checkpoint size", size)?)
        .bind(note)
        .bind(at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("save checkpoint"))?;
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read checkpoint"))?;
        row.map(|r| Ok((get::<i64>(&r, "size")? as u64, get::<String>(&r, "note")?)))
            .transpose()
    }

    async fn checkpoint_at_or_before(&self, at: UnixMillis) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT size, note FROM checkpoints WHERE created_at <= $1 \
             ORDER BY created_at DESC, size DESC LIMIT 1",
        )
        .bind(at.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("read checkpoint"))?;
        row.map(|r| Ok((get::<i64>(&r, "size")? as u64, get::<String>(&r, "note")?)))
            .transpose()
    }

    async fn prune_below(
        &self,
        min_index: u64,
        checkpoint: String,
        at: UnixMillis,
    ) -> Result<u64, StoreError> {
        let size = self.refresh_log_head().await?.size;
        if min_index > size || !min_index.is_multiple_of(renkei_log::tiles::TILE_WIDTH) {
            return Err(StoreError::Conflict(format!(
                "cannot prune below {min_index}: it must be a multiple of {} and at most the log's size {size}",
                renkei_log::tiles::TILE_WIDTH
            )));
        }
        let min = to_i64("minimum index", min_index)?;
        let mut tx = self.pool.begin().await.map_err(store_err("prune"))?;
        // One statement decides, whichever hub prunes: the index only rises.
        let raised = sqlx::query(
            "INSERT INTO log_pruning (id, min_index, checkpoint, pruned_at) VALUES (0, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET min_index = excluded.min_index, \
             checkpoint = excluded.checkpoint, pruned_at = excluded.pruned_at \
             WHERE log_pruning.min_index < excluded.min_index",
        )
        .bind(min)
        .bind(&checkpoint)
        .bind(at.0)
        .execute(&mut *tx)
        .await
        .map_err(store_err("prune"))?
        .rows_affected();
        if raised == 0 {
            return Ok(0);
        }
        let n = sqlx::query("UPDATE log_leaves SET leaf = NULL WHERE leaf IS NOT NULL AND seq < $1")
            .bind(min)
            .execute(&mut *tx)
            .await
            .map_err(store_err("prune"))?
            .rows_affected();
        sqlx::query("DELETE FROM records WHERE seq < $1")
            .bind(min)
            .execute(&mut *tx)
            .await
            .map_err(store_err("prune"))?;
        tx.commit().await.map_err(store_err("prune"))?;
        Ok(n)
    }

    async fn pruned_below(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT min_index, checkpoint FROM log_pruning WHERE id = 0")
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read the minimum index"))?;
        row.map(|r| {
            Ok((
                get::<i64>(&r, "min_index")? as u64,
                get::<String>(&r, "checkpoint")?,
            ))
        })
        .transpose()
    }

    async fn save_person_token(
        &self,
        token_hash: Digest32,
        subject: SubjectTag,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO person_tokens (token_hash, subject, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&token_hash[..])
        .bind(&subject.0[..])
        .bind(at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("save person token"))?;
        Ok(())
    }

    async fn subject_for_token(&self, token_hash: Digest32) -> Result<Option<SubjectTag>, StoreError> {
        let row = sqlx::query("SELECT subject FROM person_tokens WHERE token_hash = $1")
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read person token"))?;
        row.map(|r| digest(get(&r, "subject")?, "subject").map(SubjectTag))
            .transpose()
    }
}
