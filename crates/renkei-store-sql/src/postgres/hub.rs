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

use renkei_hub::log::LogHead;
use renkei_ids::{CorporateNumber, MessageId};
use renkei_log::hash::Hash;
use renkei_log::tree::{Frontier, NodeId};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, Row, Transaction};

use super::{DbError, db, migrations};
use crate::group_commit::{Appendable, GroupCommit};
use crate::hub::{HubDialect, HubRow, RECORD_COLUMNS, SqlHub, publish, push_leaves, restore_frontier};
use crate::sql::{Exec, Stmt, Value, digest, get, on, store_err, to_i64, to_u64};

/// The hub's store on PostgreSQL.
pub type PgHubStore = SqlHub<Postgres>;

/// How far behind the other hubs' appends this process's log head may be.
pub const HEAD_REFRESH: Duration = Duration::from_millis(500);

/// Catching up by reading the new leaf hashes is cheaper than restoring the
/// frontier from stored nodes up to this many leaves.
const CATCH_UP_LEAVES: u64 = 4096;

/// The advisory-lock key of the checkpoint publisher's lease.
const PUBLISHER_LOCK: i64 = 7_263_540_153;

/// The connection holding the checkpoint publisher's advisory lock, when
/// this process holds it (the lock ends with the session, so a killed hub
/// hands it on).
pub type Lease = Arc<tokio::sync::Mutex<Option<PgConnection>>>;

impl SqlHub<Postgres> {
    /// Connect, migrate, and check that the log's tables agree.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let pool = db::open(url, "hub", migrations::HUB).await?;
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
        let frontier = restore_frontier::<Postgres>(on::<Postgres>(&mut conn), size)
            .await
            .map_err(|e| inconsistent(e.to_string()))?;
        drop(conn);
        let store = Self::assemble(
            pool.clone(),
            &frontier,
            |on_commit| {
                GroupCommit::start::<Postgres>(pool.clone(), frontier.clone(), on_commit, "hub records")
            },
            Lease::default(),
        );
        tokio::spawn(follow_other_hubs(pool, Arc::downgrade(&store.head)));
        Ok(store)
    }
}

impl Appendable<Postgres> for HubRow {
    /// This process's view of the right edge of the Merkle tree; brought
    /// up to date under the lock before every batch.
    type State = Frontier;

    async fn insert_batch(
        tx: &mut Transaction<'_, Postgres>,
        rows: Vec<&Self>,
        frontier: &mut Frontier,
    ) -> Result<u64, sqlx::Error> {
        let conn: &mut PgConnection = tx;
        let size: i64 = sqlx::query("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let size = size as u64;
        catch_up(conn, frontier, size).await?;
        let nodes = push_leaves(frontier, &rows);
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
        let records: Vec<[Value<'_>; 21]> = rows
            .iter()
            .zip(&seqs)
            .map(|(r, seq)| r.record_values(*seq))
            .collect();
        unnest(
            format!(
                "INSERT INTO records ({RECORD_COLUMNS}) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::TEXT[], $6::TEXT[], \
                 $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[], $11::TEXT[], $12::BYTEA[], $13::BIGINT[], \
                 $14::BIGINT[], $15::TEXT[], $16::BOOLEAN[], $17::BYTEA[], $18::TEXT[], $19::BIGINT[], $20::TEXT[], \
                 $21::BYTEA[])"
            ),
            &records,
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE log_state SET size = $1 WHERE id = 1")
            .bind((size + rows.len() as u64) as i64)
            .execute(&mut *conn)
            .await?;
        Ok(size)
    }
}

/// `sql` (an `INSERT … SELECT * FROM UNNEST($1::…[], …)`) with each column
/// of `rows` bound as one array: one statement whatever the batch's size.
fn unnest<const N: usize>(
    sql: String,
    rows: &[[Value<'_>; N]],
) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    // Only this crate's fixed texts go into the statement.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for c in 0..N {
        let column = rows.iter().map(|r| &r[c]);
        q = match rows.first().map(|r| &r[c]) {
            Some(Value::Int(_)) | None => q.bind(
                column
                    .map(|v| match v {
                        Value::Int(i) => *i,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Some(Value::Text(_)) => q.bind(
                column
                    .map(|v| match v {
                        Value::Text(t) => t.as_deref().map(str::to_owned),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Some(Value::Bytes(_)) => q.bind(
                column
                    .map(|v| match v {
                        Value::Bytes(b) => b.as_deref().map(<[u8]>::to_vec),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Some(Value::Bool(_)) => {
                q.bind(column.map(|v| matches!(v, Value::Bool(true))).collect::<Vec<_>>())
            }
        };
    }
    q
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
    *frontier = restore_frontier::<Postgres>(on::<Postgres>(conn), size)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    Ok(())
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
        let f = restore_frontier::<Postgres>(on::<Postgres>(conn), size).await?;
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

impl HubDialect for Postgres {
    type Extra = Lease;

    /// In `message_claims`, so that a replay sent to another hub is caught.
    async fn claim_message(
        hub: &SqlHub<Postgres>,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> Result<bool, StoreError> {
        let n = Stmt::new(
            "INSERT INTO message_claims (requester, message_id, forget_after) VALUES ($1, $2, $3) \
             ON CONFLICT (requester, message_id) DO NOTHING",
        )
        .arg(requester.to_string())
        .arg(id.to_string())
        .arg(forget_after.0)
        .execute(&hub.pool)
        .await
        .map_err(store_err("claim a message id"))?;
        Ok(n == 1)
    }

    async fn refresh_log_head(hub: &SqlHub<Postgres>) -> Result<LogHead, StoreError> {
        let mut conn = hub
            .pool
            .acquire()
            .await
            .map_err(store_err("refresh the log head"))?;
        follow(&mut conn, &hub.head).await
    }

    /// One checkpoint publisher among the hubs: the holder of an advisory
    /// lock, kept on a connection of its own while this store lives.
    async fn publisher_lease(hub: &SqlHub<Postgres>) -> Result<bool, StoreError> {
        let mut lease = hub.extra.lock().await;
        if let Some(conn) = lease.as_mut() {
            // Still ours while the session that took it is alive.
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(true);
            }
            *lease = None;
        }
        let mut conn = hub
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

    async fn fetch_nodes<'e>(
        on: Exec<'e, Postgres>,
        nodes: &'e [NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(nodes.len());
        if nodes.is_empty() {
            return Ok(out);
        }
        let idx = nodes
            .iter()
            .map(|n| to_i64("node index", n.index))
            .collect::<Result<Vec<_>, _>>()?;
        let q = sqlx::query(
            // One primary-key lookup per wanted node. As a plain join the
            // planner sometimes chose a hash join over a scan of the whole
            // table (518 ms instead of 150 ms for a history page at 20 M
            // records); LIMIT 1 keeps the lateral subquery from being
            // flattened back into that join (the key is unique anyway).
            "SELECT n.level, n.idx, n.hash FROM UNNEST($1::SMALLINT[], $2::BIGINT[]) AS w(level, idx) \
             CROSS JOIN LATERAL (SELECT level, idx, hash FROM log_nodes \
             WHERE level = w.level AND idx = w.idx LIMIT 1) AS n",
        )
        .bind(nodes.iter().map(|n| i16::from(n.level)).collect::<Vec<_>>())
        .bind(idx);
        let rows = match on {
            Exec::Pool(p) => q.fetch_all(p).await,
            Exec::Conn(c) => q.fetch_all(c).await,
        }
        .map_err(store_err("read tree nodes"))?;
        for row in rows {
            let level: i16 = row
                .try_get("level")
                .map_err(|e| crate::sql::corrupt("level", e))?;
            out.insert(
                NodeId::new(level as u8, to_u64("idx", get(&row, "idx")?)?),
                digest(get(&row, "hash")?, "node hash")?,
            );
        }
        Ok(out)
    }
}
