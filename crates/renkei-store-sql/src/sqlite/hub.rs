//! The hub's store on SQLite: one writer appends records, leaves and tree
//! nodes (numbered from its frontier), another claims message ids.

use std::collections::HashMap;
use std::path::Path;

use renkei_hub::log::LogHead;
use renkei_ids::{CorporateNumber, MessageId};
use renkei_log::hash::Hash;
use renkei_log::tree::{Frontier, NodeId};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::{Sqlite, Transaction};

use super::claims::ClaimWriter;
use super::{DbError, Durability, db, migrations};
use crate::group_commit::{Appendable, GroupCommit};
use crate::hub::{HubDialect, HubRow, RECORD_COLUMNS, SqlHub, push_leaves, restore_frontier};
use crate::sql::{Cols, Exec, Executes, Stmt, Value, digest, get, store_err, to_u64, values_placeholders};

/// The hub's store in one SQLite file.
pub type SqliteHubStore = SqlHub<Sqlite>;

/// Rows per multi-row INSERT, under SQLite's 32 766 bound values.
const RECORDS_PER_STATEMENT: usize = 400;
const LEAVES_PER_STATEMENT: usize = 5000;
/// Stored nodes per lookup (two values each).
const NODES_PER_STATEMENT: usize = 300;

impl SqlHub<Sqlite> {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        let pool = db::open(path, durability, migrations::HUB).await?;
        let shown = path.display().to_string();
        let open_err = |source| DbError::Open {
            path: shown.clone(),
            source,
        };
        let size = Stmt::new("SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM log_leaves")
            .fetch_one(&pool)
            .await
            .and_then(|r| r.int("size"))
            .map_err(open_err)?;
        let orphans = Stmt::new("SELECT COUNT(*) AS n FROM records WHERE seq >= $1")
            .arg(size)
            .fetch_one(&pool)
            .await
            .and_then(|r| r.int("n"))
            .map_err(open_err)?;
        if orphans > 0 {
            return Err(DbError::Inconsistent {
                path: shown,
                reason: format!(
                    "{orphans} records have no log leaf (a store from before the transparency log?)"
                ),
            });
        }
        let frontier = restore_frontier::<Sqlite>((&pool).exec(), size as u64)
            .await
            .map_err(|e| DbError::Inconsistent {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let writer = db::writer(path, durability).await?;
        // See `claims`: NORMAL on this connection whatever the records use.
        let claims = ClaimWriter::start(db::writer(path, Durability::Normal).await?);
        Ok(Self::assemble(
            pool,
            &frontier,
            |on_commit| GroupCommit::start::<Sqlite>(writer, frontier.clone(), on_commit, "hub records"),
            claims,
        ))
    }
}

impl Appendable<Sqlite> for HubRow {
    /// The right edge of the Merkle tree, whose size is the next sequence
    /// number: leaf hashes and stored nodes are written in the same
    /// transaction as the records.
    type State = Frontier;

    async fn insert_batch(
        tx: &mut Transaction<'_, Sqlite>,
        rows: Vec<&Self>,
        frontier: &mut Frontier,
    ) -> Result<u64, sqlx::Error> {
        let first_seq = frontier.size();
        let nodes = push_leaves(frontier, &rows);
        for (c, chunk) in rows.chunks(LEAVES_PER_STATEMENT).enumerate() {
            let mut values: Vec<Value<'_>> = Vec::with_capacity(chunk.len() * 3);
            for (i, row) in chunk.iter().enumerate() {
                values.extend([
                    ((first_seq + (c * LEAVES_PER_STATEMENT + i) as u64) as i64).into(),
                    row.hash.to_vec().into(),
                    (&row.leaf).into(),
                ]);
            }
            Stmt::assembled(format!(
                "INSERT INTO log_leaves (seq, leaf_hash, leaf) VALUES {}",
                values_placeholders(chunk.len(), 3)
            ))
            .args(values)
            .execute(&mut *tx)
            .await?;
        }
        if !nodes.is_empty() {
            let values = nodes.iter().flat_map(|(n, h)| {
                [
                    Value::from(i64::from(n.level)),
                    (n.index as i64).into(),
                    h.to_vec().into(),
                ]
            });
            Stmt::assembled(format!(
                "INSERT INTO log_nodes (level, idx, hash) VALUES {}",
                values_placeholders(nodes.len(), 3)
            ))
            .args(values)
            .execute(&mut *tx)
            .await?;
        }
        for (c, chunk) in rows.chunks(RECORDS_PER_STATEMENT).enumerate() {
            let values = chunk.iter().enumerate().flat_map(|(i, row)| {
                row.record_values((first_seq + (c * RECORDS_PER_STATEMENT + i) as u64) as i64)
            });
            Stmt::assembled(format!(
                "INSERT INTO records ({RECORD_COLUMNS}) VALUES {}",
                values_placeholders(chunk.len(), 21)
            ))
            .args(values)
            .execute(&mut *tx)
            .await?;
        }
        Ok(first_seq)
    }
}

impl HubDialect for Sqlite {
    /// The message-id claims' own writer.
    type Extra = ClaimWriter;

    async fn claim_message(
        hub: &SqlHub<Sqlite>,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> Result<bool, StoreError> {
        hub.extra.claim(requester, id, forget_after).await
    }

    /// One process writes the file: its head is the log's.
    async fn refresh_log_head(hub: &SqlHub<Sqlite>) -> Result<LogHead, StoreError> {
        Ok(*hub.head.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// One process serves the file, and publishes.
    async fn publisher_lease(_: &SqlHub<Sqlite>) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn fetch_nodes<'e>(
        mut on: Exec<'e, Sqlite>,
        nodes: &'e [NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(nodes.len());
        for chunk in nodes.chunks(NODES_PER_STATEMENT) {
            let pairs = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = Stmt::assembled(format!(
                "SELECT level, idx, hash FROM log_nodes WHERE (level, idx) IN ({pairs})"
            ))
            .args(
                chunk
                    .iter()
                    .flat_map(|n| [Value::from(i64::from(n.level)), (n.index as i64).into()]),
            )
            .fetch_all(on.by_ref())
            .await
            .map_err(store_err("read tree nodes"))?;
            for row in rows {
                let level: i64 = get(&row, "level")?;
                out.insert(
                    NodeId::new(level as u8, to_u64("idx", get(&row, "idx")?)?),
                    digest(get(&row, "hash")?, "node hash")?,
                );
            }
        }
        Ok(out)
    }
}
