use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

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
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row};

use crate::claims::ClaimWriter;
use crate::db::{self, DbError, Durability, corrupt, get, parse_col, store_err};
use crate::group_commit::{Appendable, GroupCommit};

const MIGRATIONS: &[&str] = renkei_store_sql::sqlite::migrations::HUB;

/// The hub's store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteHubStore {
    pool: SqlitePool,
    records: GroupCommit<HubRow>,
    claims: ClaimWriter,
    head: Arc<RwLock<LogHead>>,
}

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

/// Rows per multi-row INSERT: SQLite allows 32766 bound values.
const RECORDS_PER_STATEMENT: usize = 400;
const LEAVES_PER_STATEMENT: usize = 5000;

impl Appendable for HubRow {
    /// The right edge of the Merkle tree: leaf hashes and stored nodes are
    /// written in the same transaction as the records.
    type State = Frontier;

    async fn insert_batch(
        conn: &mut SqliteConnection,
        first_seq: u64,
        rows: Vec<&Self>,
        frontier: &mut Frontier,
    ) -> Result<(), sqlx::Error> {
        if frontier.size() != first_seq {
            return Err(sqlx::Error::Protocol(format!(
                "log frontier is at {} but the batch starts at {first_seq}",
                frontier.size()
            )));
        }
        let mut nodes = Vec::new();
        for row in &rows {
            nodes.extend(
                frontier
                    .push(row.hash)
                    .into_iter()
                    .filter(|(n, _)| n.level > 0 && is_stored(*n)),
            );
        }
        for (c, chunk) in rows.chunks(LEAVES_PER_STATEMENT).enumerate() {
            let mut q = QueryBuilder::new("INSERT INTO log_leaves (seq, leaf_hash, leaf) ");
            q.push_values(chunk.iter().enumerate(), |mut b, (i, row)| {
                b.push_bind((first_seq + (c * LEAVES_PER_STATEMENT + i) as u64) as i64)
                    .push_bind(row.hash.to_vec())
                    .push_bind(row.leaf.clone());
            });
            q.build().execute(&mut *conn).await?;
        }
        if !nodes.is_empty() {
            let mut q = QueryBuilder::new("INSERT INTO log_nodes (level, idx, hash) ");
            q.push_values(nodes.iter(), |mut b, (n, h)| {
                b.push_bind(i64::from(n.level))
                    .push_bind(n.index as i64)
                    .push_bind(h.to_vec());
            });
            q.build().execute(&mut *conn).await?;
        }
        for (c, chunk) in rows.chunks(RECORDS_PER_STATEMENT).enumerate() {
            let mut q = QueryBuilder::new(
                "INSERT INTO records (seq, query_id, message_id, request_digest, requester, provider, \
                 office_work, item, fiscal_year, table_version, row_id, subject, requested_at, \
                 provided_at, outcome, non_disclosure, commitment, consent, hidden_until, hidden_reason, \
                 consent_commitment) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, row)| {
                let r = &row.record.leaf;
                let subject = row.record.subject;
                b.push_bind((first_seq + (c * RECORDS_PER_STATEMENT + i) as u64) as i64)
                    .push_bind(r.query_id.to_string())
                    .push_bind(r.message_id.to_string())
                    .push_bind(r.request_digest.to_vec())
                    .push_bind(r.requester.to_string())
                    .push_bind(r.provider.to_string())
                    .push_bind(r.office_work.as_str().to_owned())
                    .push_bind(r.item.as_str().to_owned())
                    .push_bind(r.fiscal_year.map(|y| i64::from(y.get())))
                    .push_bind(r.table_row.as_ref().map(|t| t.table_version.clone()))
                    .push_bind(r.table_row.as_ref().map(|t| t.row_id.as_str().to_owned()))
                    .push_bind(subject.map(|s| s.0.to_vec()))
                    .push_bind(r.requested_at.0)
                    .push_bind(r.provided_at.map(|t| t.0))
                    .push_bind(r.outcome.as_str())
                    .push_bind(r.non_disclosure)
                    .push_bind(r.commitment.map(|c| c.to_vec()))
                    .push_bind(row.record.consent.clone())
                    .push_bind(r.hidden_until.map(|t| t.0))
                    .push_bind(r.hidden_reason.clone())
                    .push_bind(r.consent_commitment.map(|c| c.to_vec()));
            });
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl SqliteHubStore {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let pool = db::open(path, durability, MIGRATIONS).await?;
        let shown = path.display().to_string();
        let open_err = |source| DbError::Open {
            path: shown.clone(),
            source,
        };
        let size: i64 = sqlx::query("SELECT COALESCE(MAX(seq) + 1, 0) FROM log_leaves")
            .fetch_one(&pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(open_err)?;
        let orphans: i64 = sqlx::query("SELECT COUNT(*) FROM records WHERE seq >= ?")
            .bind(size)
            .fetch_one(&pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(open_err)?;
        if orphans > 0 {
            return Err(DbError::Inconsistent {
                path: shown,
                reason: format!(
                    "{orphans} records have no log leaf (a store from before the transparency log?)"
                ),
            });
        }
        let frontier = restore_frontier(&pool, size as u64)
            .await
            .map_err(|e| DbError::Inconsistent {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let head = Arc::new(RwLock::new(LogHead {
            size: frontier.size(),
            root: frontier.root(),
        }));
        let writer = db::writer(path, durability).await?;
        let published = head.clone();
        let on_commit = Box::new(move |f: &Frontier| {
            *published.write().unwrap_or_else(|p| p.into_inner()) = LogHead {
                size: f.size(),
                root: f.root(),
            };
        });
        // See `claims`: NORMAL on this connection whatever the records use.
        let claims = ClaimWriter::start(db::writer(path, Durability::Normal).await?);
        Ok(Self {
            pool,
            records: GroupCommit::start(writer, size as u64, frontier, on_commit, "hub records"),
            claims,
            head,
        })
    }
}

async fn fetch_stored(pool: &SqlitePool, nodes: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let mut out = HashMap::with_capacity(nodes.len());
    let (leaves, inner): (Vec<NodeId>, Vec<NodeId>) = nodes.iter().partition(|n| n.level == 0);
    for chunk in leaves.chunks(500) {
        let mut q = QueryBuilder::new("SELECT seq, leaf_hash FROM log_leaves WHERE seq IN (");
        let mut sep = q.separated(", ");
        for n in chunk {
            sep.push_bind(n.index as i64);
        }
        q.push(")");
        for row in q
            .build()
            .fetch_all(pool)
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
    for chunk in inner.chunks(300) {
        let mut q = QueryBuilder::new("SELECT level, idx, hash FROM log_nodes WHERE (level, idx) IN (");
        let mut sep = q.separated(", ");
        for n in chunk {
            sep.push("(")
                .push_bind_unseparated(i64::from(n.level))
                .push_unseparated(", ")
                .push_bind_unseparated(n.index as i64)
                .push_unseparated(")");
        }
        q.push(")");
        for row in q
            .build()
            .fetch_all(pool)
            .await
            .map_err(store_err("read tree nodes"))?
        {
            let level: i64 = get(&row, "level")?;
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
async fn restore_frontier(pool: &SqlitePool, size: u64) -> Result<Frontier, StoreError> {
    let parts = renkei_log::tree::decomposition(size);
    let stored = fetch_stored(pool, &stored_needed(&parts)).await?;
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
        certificate: get(row, "certificate")?,
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
            leaf: LogLeaf {
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
                requested_at: UnixMillis(get(row, "requested_at")?),
                provided_at: get::<Option<i64>>(row, "provided_at")?.map(UnixMillis),
                outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
                non_disclosure: get(row, "non_disclosure")?,
                commitment: get::<Option<Vec<u8>>>(row, "commitment")?
                    .map(|c| c.try_into().map_err(|_| corrupt("commitment", "not 32 bytes")))
                    .transpose()?,
                consent_commitment: get::<Option<Vec<u8>>>(row, "consent_commitment")?
                    .map(|c| {
                        c.try_into()
                            .map_err(|_| corrupt("consent_commitment", "not 32 bytes"))
                    })
                    .transpose()?,
                hidden_until: get::<Option<i64>>(row, "hidden_until")?.map(UnixMillis),
                hidden_reason: get(row, "hidden_reason")?,
            },
            consent: get(row, "consent")?,
            subject: subject
                .map(|s| {
                    s.try_into()
                        .map(SubjectTag)
                        .map_err(|_| corrupt("subject", "not 32 bytes"))
                })
                .transpose()?,
        },
    ))
}

impl HubStore for SqliteHubStore {
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        self.records.append(HubRow::new(record)).await
    }

    async fn records(&self, f: RecordFilter) -> Result<Vec<(u64, ProvisionRecord)>, StoreError> {
        let mut q = QueryBuilder::new("SELECT * FROM records WHERE 1 = 1");
        if let Some(after) = f.after_seq {
            // Nothing follows a number beyond i64 (it must not wrap).
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

    async fn claim_message(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.claims.claim(requester, id, forget_after).await
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

    fn log_head(&self) -> LogHead {
        *self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    async fn stored_hashes(&self, nodes: Vec<NodeId>) -> Result<HashMap<NodeId, Hash>, StoreError> {
        fetch_stored(&self.pool, &nodes).await
    }

    async fn leaves_at(&self, seqs: Vec<u64>) -> Result<HashMap<u64, Option<Vec<u8>>>, StoreError> {
        let mut out = HashMap::with_capacity(seqs.len());
        for chunk in seqs.chunks(500) {
            let mut q = QueryBuilder::new("SELECT seq, leaf FROM log_leaves WHERE seq IN (");
            let mut sep = q.separated(", ");
            for s in chunk {
                sep.push_bind(*s as i64);
            }
            q.push(")");
            for row in q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("read leaves"))?
            {
                out.insert(
                    get::<i64>(&row, "seq")? as u64,
                    get::<Option<Vec<u8>>>(&row, "leaf")?,
                );
            }
        }
        if let Some(missing) = seqs.iter().find(|s| !out.contains_key(s)) {
            return Err(StoreError::Corrupt(format!("leaf {missing} does not exist")));
        }
        Ok(out)
    }

    async fn leaves(&self, first: u64, count: u64) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let rows = sqlx::query("SELECT seq, leaf FROM log_leaves WHERE seq >= ? AND seq < ? ORDER BY seq")
            .bind(first as i64)
            .bind(first.saturating_add(count) as i64)
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

    async fn save_checkpoint(&self, size: u64, note: String, at: UnixMillis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (size) DO UPDATE SET note = excluded.note",
        )
        .bind(i64::try_from(size).map_err(|_| corrupt("checkpoint size", "does not fit an INTEGER"))?)
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
            "SELECT size, note FROM checkpoints WHERE created_at <= ? \
             ORDER BY created_at DESC, size DESC LIMIT 1",
        )
        .bind(at.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("read checkpoint"))?;
        row.map(|r| Ok((get::<i64>(&r, "size")? as u64, get(&r, "note")?)))
            .transpose()
    }

    async fn prune_below(
        &self,
        min_index: u64,
        checkpoint: String,
        at: UnixMillis,
    ) -> Result<u64, StoreError> {
        let size = self.log_head().size;
        if min_index > size || !min_index.is_multiple_of(renkei_log::tiles::TILE_WIDTH) {
            return Err(StoreError::Conflict(format!(
                "cannot prune below {min_index}: it must be a multiple of {} and at most the log's size {size}",
                renkei_log::tiles::TILE_WIDTH
            )));
        }
        let min =
            i64::try_from(min_index).map_err(|_| corrupt("minimum index", "does not fit an INTEGER"))?;
        let mut tx = self.pool.begin().await.map_err(store_err("prune"))?;
        let held: Option<i64> = sqlx::query("SELECT min_index FROM log_pruning WHERE id = 0")
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err("prune"))?
            .map(|r| get(&r, "min_index"))
            .transpose()?;
        if held.is_some_and(|h| h >= min) {
            return Ok(0);
        }
        let n = sqlx::query("UPDATE log_leaves SET leaf = NULL WHERE leaf IS NOT NULL AND seq < ?")
            .bind(min)
            .execute(&mut *tx)
            .await
            .map_err(store_err("prune"))?
            .rows_affected();
        sqlx::query("DELETE FROM records WHERE seq < ?")
            .bind(min)
            .execute(&mut *tx)
            .await
            .map_err(store_err("prune"))?;
        sqlx::query(
            "INSERT INTO log_pruning (id, min_index, checkpoint, pruned_at) VALUES (0, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET min_index = excluded.min_index, \
             checkpoint = excluded.checkpoint, pruned_at = excluded.pruned_at",
        )
        .bind(min)
        .bind(&checkpoint)
        .bind(at.0)
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
        row.map(|r| Ok((get::<i64>(&r, "min_index")? as u64, get(&r, "checkpoint")?)))
            .transpose()
    }

    async fn save_person_token(
        &self,
        token_hash: Digest32,
        subject: SubjectTag,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO person_tokens (token_hash, subject, created_at) VALUES (?, ?, ?) \
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
        let row = sqlx::query("SELECT subject FROM person_tokens WHERE token_hash = ?")
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read person token"))?;
        row.map(|r| {
            get::<Vec<u8>>(&r, "subject")?
                .try_into()
                .map(SubjectTag)
                .map_err(|_| corrupt("subject", "not 32 bytes"))
        })
        .transpose()
    }
}
