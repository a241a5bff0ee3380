//! The hub's store: institutions, provision records, security events and
//! the transparency log (leaves, stored tree nodes, checkpoints, pruning),
//! person tokens and message-id claims.
//!
//! A record, its leaf hash and the tree nodes it completes are written in
//! one group-commit transaction, numbered from the writer's Merkle
//! frontier (SQLite: the one writer's; PostgreSQL: brought up to the shared
//! log under its lock first, see `postgres::hub`). The in-memory
//! [`LogHead`] follows every commit.

use std::collections::HashMap;
use std::future::Future;
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
use sqlx::Pool;

use crate::dialect::{Dialect, Keys};
use crate::group_commit::{GroupCommit, OnCommit};
use crate::sql::{Cols, Exec, Stmt, Value, corrupt, digest, get, parse_col, store_err, to_i64, to_u64};

/// What the hub's store does differently on each dialect.
pub trait HubDialect: Dialect {
    /// What the store keeps beside its pool, head and record writer.
    type Extra: Clone + std::fmt::Debug + Send + Sync + 'static;

    /// Claim a message id (see `HubStore::claim_message`).
    fn claim_message(
        hub: &SqlHub<Self>,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The log head, brought up to what other processes appended.
    fn refresh_log_head(hub: &SqlHub<Self>) -> impl Future<Output = Result<LogHead, StoreError>> + Send;

    /// Whether this process is the checkpoint publisher.
    fn publisher_lease(hub: &SqlHub<Self>) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The stored inner tree nodes among `nodes` (level > 0).
    fn fetch_nodes<'e>(
        on: Exec<'e, Self>,
        nodes: &'e [NodeId],
    ) -> impl Future<Output = Result<HashMap<NodeId, Hash>, StoreError>> + Send + 'e;
}

/// The hub's store on dialect `D` (`SqliteHubStore`, `PgHubStore`).
pub struct SqlHub<D: HubDialect> {
    pub(crate) pool: Pool<D>,
    pub(crate) records: GroupCommit<HubRow>,
    pub(crate) head: Arc<RwLock<LogHead>>,
    pub(crate) extra: D::Extra,
}

impl<D: HubDialect> Clone for SqlHub<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            records: self.records.clone(),
            head: self.head.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl<D: HubDialect> std::fmt::Debug for SqlHub<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlHub")
            .field("pool", &self.pool)
            .field("head", &self.head)
            .field("extra", &self.extra)
            .finish_non_exhaustive()
    }
}

/// A record with its leaf, encoded and hashed by the appending task so
/// that the single writer only writes.
#[derive(Debug)]
pub(crate) struct HubRow {
    pub(crate) record: ProvisionRecord,
    pub(crate) leaf: Vec<u8>,
    pub(crate) hash: Hash,
}

impl HubRow {
    fn new(record: ProvisionRecord) -> Self {
        let leaf = record.leaf_bytes();
        let hash = renkei_log::leaf_hash(&leaf);
        Self { record, leaf, hash }
    }

    /// The `records` columns (in [`RECORD_COLUMNS`]' order) of this row.
    pub(crate) fn record_values(&self, seq: i64) -> [Value<'_>; 21] {
        let r = &self.record.leaf;
        [
            seq.into(),
            r.query_id.to_string().into(),
            r.message_id.to_string().into(),
            r.request_digest.to_vec().into(),
            r.requester.to_string().into(),
            r.provider.to_string().into(),
            r.office_work.as_str().into(),
            r.item.as_str().into(),
            r.fiscal_year.map(|y| i64::from(y.get())).into(),
            r.table_row.as_ref().map(|t| t.table_version.as_str()).into(),
            r.table_row.as_ref().map(|t| t.row_id.as_str()).into(),
            self.record.subject.map(|s| s.0.to_vec()).into(),
            r.requested_at.0.into(),
            r.provided_at.map(|t| t.0).into(),
            r.outcome.as_str().into(),
            r.non_disclosure.into(),
            r.commitment.map(|c| c.to_vec()).into(),
            self.record.consent.as_deref().into(),
            r.hidden_until.map(|t| t.0).into(),
            r.hidden_reason.as_deref().into(),
            r.consent_commitment.map(|c| c.to_vec()).into(),
        ]
    }
}

/// The columns of `records`, in [`HubRow::record_values`]' order.
pub(crate) const RECORD_COLUMNS: &str = "seq, query_id, message_id, request_digest, requester, provider, \
     office_work, item, fiscal_year, table_version, row_id, subject, requested_at, provided_at, outcome, \
     non_disclosure, commitment, consent, hidden_until, hidden_reason, consent_commitment";

impl<D: HubDialect> SqlHub<D> {
    /// The store on a migrated pool whose log is `frontier`; `records`
    /// starts the record writer with what the head must follow.
    pub(crate) fn assemble(
        pool: Pool<D>,
        frontier: &Frontier,
        records: impl FnOnce(OnCommit<Frontier>) -> GroupCommit<HubRow>,
        extra: D::Extra,
    ) -> Self {
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
        Self {
            records: records(on_commit),
            pool,
            head,
            extra,
        }
    }
}

/// Push the rows' leaf hashes onto `frontier`; the tree nodes they
/// complete that the store keeps (see `renkei_hub::log`).
pub(crate) fn push_leaves(frontier: &mut Frontier, rows: &[&HubRow]) -> Vec<(NodeId, Hash)> {
    let mut nodes = Vec::new();
    for row in rows {
        nodes.extend(
            frontier
                .push(row.hash)
                .into_iter()
                .filter(|(n, _)| n.level > 0 && is_stored(*n)),
        );
    }
    nodes
}

/// Publish `head` unless a larger one is already known (a process's
/// commits and a refresh from the shared log race; sizes only grow).
pub(crate) fn publish(slot: &RwLock<LogHead>, head: LogHead) {
    let mut h = slot.write().unwrap_or_else(|p| p.into_inner());
    if head.size > h.size {
        *h = head;
    }
}

/// The stored hashes of `nodes`: leaf hashes and stored inner nodes.
pub(crate) async fn fetch_stored<D: HubDialect>(
    mut on: Exec<'_, D>,
    nodes: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let (leaves, inner): (Vec<NodeId>, Vec<NodeId>) = nodes.iter().partition(|n| n.level == 0);
    let seqs = leaves
        .iter()
        .map(|n| to_i64("leaf index", n.index))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = D::fetch_nodes(on.by_ref(), &inner).await?;
    out.reserve(leaves.len());
    for row in D::fetch_any(
        on,
        "SELECT seq, leaf_hash FROM log_leaves WHERE",
        "seq",
        Keys::Int(seqs),
    )
    .await
    .map_err(store_err("read leaf hashes"))?
    {
        out.insert(
            NodeId::leaf(to_u64("seq", get(&row, "seq")?)?),
            digest(get(&row, "leaf_hash")?, "leaf_hash")?,
        );
    }
    Ok(out)
}

/// The frontier of a tree of `size` leaves, from the stored nodes.
pub(crate) async fn restore_frontier<D: HubDialect>(
    on: Exec<'_, D>,
    size: u64,
) -> Result<Frontier, StoreError> {
    let parts = renkei_log::tree::decomposition(size);
    let stored = fetch_stored::<D>(on, &stored_needed(&parts)).await?;
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

fn institution_from(row: &impl Cols) -> Result<Institution, StoreError> {
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

fn record_from(row: &impl Cols) -> Result<(u64, ProvisionRecord), StoreError> {
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

impl<D: HubDialect> HubStore for SqlHub<D> {
    async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        // Columns by name, not `*`: a statement a connection prepared before
        // a migration added a column must not change shape under it.
        let rows = Stmt::new(
            "SELECT id, name, kind, endpoint, tls_certificate, signing_alg, signing_key, sealing_alg, \
             sealing_key, status, updated_at, certificate FROM institutions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("list institutions"))?;
        rows.iter().map(institution_from).collect()
    }

    async fn upsert_institution(&self, i: &Institution) -> Result<(), StoreError> {
        Stmt::new(
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
        .arg(i.id.to_string())
        .arg(&i.name)
        .arg(i.kind.as_str())
        .arg(i.endpoint.as_str())
        .arg(&i.tls_certificate[..])
        .arg(i.signing_key.algorithm().name())
        .arg(i.signing_key.to_bytes())
        .arg(i.sealing_key.algorithm().name())
        .arg(i.sealing_key.to_bytes())
        .arg(i.status.as_str())
        .arg(i.updated_at.0)
        .arg(&i.certificate)
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
        let r = Stmt::new("UPDATE institutions SET status = $1, updated_at = $2 WHERE id = $3")
            .arg(status.as_str())
            .arg(at.0)
            .arg(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(store_err("set institution status"))?;
        Ok(r == 1)
    }

    async fn append_record(&self, record: ProvisionRecord) -> Result<u64, StoreError> {
        self.records.append(HubRow::new(record)).await
    }

    async fn records(&self, f: RecordFilter) -> Result<Vec<(u64, ProvisionRecord)>, StoreError> {
        let mut sql = String::from("SELECT * FROM records WHERE TRUE");
        let mut args: Vec<Value<'_>> = Vec::new();
        let mut and = |sql: &mut String, cond: &str, v: Value<'static>| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ${}", args.len()));
        };
        if let Some(after) = f.after_seq {
            // Nothing follows a number beyond i64 (it must not wrap).
            and(&mut sql, "seq >", i64::try_from(after).unwrap_or(i64::MAX).into());
        }
        if let Some(r) = f.requester {
            and(&mut sql, "requester =", r.to_string().into());
        }
        if let Some(p) = f.provider {
            and(&mut sql, "provider =", p.to_string().into());
        }
        if let Some(s) = f.subject {
            and(&mut sql, "subject =", s.0.to_vec().into());
        }
        args.push(i64::from(f.limit.clamp(1, 10_000)).into());
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", args.len()));
        let rows = Stmt::assembled(sql)
            .args(args)
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
            Stmt::new("SELECT requester, message_id, requested_at FROM records WHERE requested_at >= $1")
                .arg(since.0)
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
        D::claim_message(self, requester, id, forget_after).await
    }

    async fn append_security_event(&self, e: SecurityEvent) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO security_events (at, code, peer, message_id, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .arg(e.at.0)
        .arg(e.code.as_str())
        .arg(e.peer.map(|p| p.to_string()))
        .arg(e.message_id.map(|m| m.to_string()))
        .arg(&e.detail)
        .execute(&self.pool)
        .await
        .map_err(store_err("record security event"))?;
        Ok(())
    }

    async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError> {
        let rows = Stmt::new("SELECT * FROM security_events ORDER BY id DESC LIMIT $1")
            .arg(i64::from(limit.clamp(1, 10_000)))
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
        D::refresh_log_head(self).await
    }

    async fn stored_hashes(&self, nodes: Vec<NodeId>) -> Result<HashMap<NodeId, Hash>, StoreError> {
        fetch_stored::<D>(Exec::Pool(&self.pool), &nodes).await
    }

    async fn leaves_at(&self, seqs: Vec<u64>) -> Result<HashMap<u64, Option<Vec<u8>>>, StoreError> {
        let wanted = seqs
            .iter()
            .map(|s| to_i64("leaf index", *s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = HashMap::with_capacity(seqs.len());
        for row in D::fetch_any(
            Exec::Pool(&self.pool),
            "SELECT seq, leaf FROM log_leaves WHERE",
            "seq",
            Keys::Int(wanted),
        )
        .await
        .map_err(store_err("read leaves"))?
        {
            out.insert(
                to_u64("seq", get(&row, "seq")?)?,
                get::<Option<Vec<u8>>>(&row, "leaf")?,
            );
        }
        if let Some(missing) = seqs.iter().find(|s| !out.contains_key(s)) {
            return Err(StoreError::Corrupt(format!("leaf {missing} does not exist")));
        }
        Ok(out)
    }

    async fn leaves(&self, first: u64, count: u64) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let rows = Stmt::new("SELECT seq, leaf FROM log_leaves WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .arg(to_i64("first leaf", first)?)
            .arg(to_i64("last leaf", first.saturating_add(count))?)
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
        D::publisher_lease(self).await
    }

    async fn save_checkpoint(&self, size: u64, note: String, at: UnixMillis) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (size) DO UPDATE SET note = excluded.note",
        )
        .arg(to_i64("checkpoint size", size)?)
        .arg(note)
        .arg(at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("save checkpoint"))?;
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = Stmt::new("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read checkpoint"))?;
        row.map(|r| Ok((to_u64("size", get(&r, "size")?)?, get::<String>(&r, "note")?)))
            .transpose()
    }

    async fn checkpoint_at_or_before(&self, at: UnixMillis) -> Result<Option<(u64, String)>, StoreError> {
        let row = Stmt::new(
            "SELECT size, note FROM checkpoints WHERE created_at <= $1 \
             ORDER BY created_at DESC, size DESC LIMIT 1",
        )
        .arg(at.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("read checkpoint"))?;
        row.map(|r| Ok((to_u64("size", get(&r, "size")?)?, get::<String>(&r, "note")?)))
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
        let raised = Stmt::new(
            "INSERT INTO log_pruning (id, min_index, checkpoint, pruned_at) VALUES (0, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET min_index = excluded.min_index, \
             checkpoint = excluded.checkpoint, pruned_at = excluded.pruned_at \
             WHERE log_pruning.min_index < excluded.min_index",
        )
        .arg(min)
        .arg(&checkpoint)
        .arg(at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("prune"))?;
        if raised == 0 {
            return Ok(0);
        }
        let n = Stmt::new("UPDATE log_leaves SET leaf = NULL WHERE leaf IS NOT NULL AND seq < $1")
            .arg(min)
            .execute(&mut tx)
            .await
            .map_err(store_err("prune"))?;
        Stmt::new("DELETE FROM records WHERE seq < $1")
            .arg(min)
            .execute(&mut tx)
            .await
            .map_err(store_err("prune"))?;
        tx.commit().await.map_err(store_err("prune"))?;
        Ok(n)
    }

    async fn pruned_below(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = Stmt::new("SELECT min_index, checkpoint FROM log_pruning WHERE id = 0")
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read the minimum index"))?;
        row.map(|r| {
            Ok((
                to_u64("min_index", get(&r, "min_index")?)?,
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
        Stmt::new(
            "INSERT INTO person_tokens (token_hash, subject, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .arg(&token_hash[..])
        .arg(&subject.0[..])
        .arg(at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("save person token"))?;
        Ok(())
    }

    async fn subject_for_token(&self, token_hash: Digest32) -> Result<Option<SubjectTag>, StoreError> {
        let row = Stmt::new("SELECT subject FROM person_tokens WHERE token_hash = $1")
            .arg(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read person token"))?;
        row.map(|r| digest(get(&r, "subject")?, "subject").map(SubjectTag))
            .transpose()
    }
}
