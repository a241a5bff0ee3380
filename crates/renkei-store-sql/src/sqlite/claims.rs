//! Message-id claims of the hub, batched like the records: one writer task
//! on its own connection turns concurrent claims into one transaction.
//!
//! A claim must be answered before the request goes on (it is the replay
//! check), so it cannot ride in the records' transaction, which happens
//! after the provider answered. The claims' connection commits with
//! `synchronous = NORMAL`: a claim survives a crash of the process (the
//! WAL is written before the answer) but the last ones may be lost on power
//! loss — where the records, written with `FULL`, still re-arm the replay
//! guard for every request that was answered.

use std::time::{Duration, Instant};

use renkei_ids::{CorporateNumber, MessageId};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 1024;
/// How often expired claims are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

struct Claim {
    requester: String,
    message_id: String,
    forget_after: i64,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The hub's message-id claim writer (the SQLite hub store keeps one).
#[derive(Debug, Clone)]
pub struct ClaimWriter {
    tx: mpsc::Sender<Claim>,
}

impl ClaimWriter {
    pub(crate) fn start(conn: super::db::SqliteWriter) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer(conn, rx));
        Self { tx }
    }

    /// `true` if the id is new for this requester (now claimed), `false` if
    /// it was claimed before and has not expired.
    pub(crate) async fn claim(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> Result<bool, StoreError> {
        let stopped = || StoreError::Unavailable("the message-claim writer has stopped".into());
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Claim {
                requester: requester.to_string(),
                message_id: id.to_string(),
                forget_after: forget_after.0,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn insert_batch(conn: &mut SqliteConnection, batch: &[Claim]) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut fresh = Vec::with_capacity(batch.len());
    for c in batch {
        let r = sqlx::query(
            "INSERT INTO message_claims (requester, message_id, forget_after) VALUES (?, ?, ?) \
             ON CONFLICT (requester, message_id) DO NOTHING",
        )
        .bind(&c.requester)
        .bind(&c.message_id)
        .bind(c.forget_after)
        .execute(&mut *tx)
        .await?;
        fresh.push(r.rows_affected() == 1);
    }
    tx.commit().await?;
    Ok(fresh)
}

async fn writer(mut conn: super::db::SqliteWriter, mut rx: mpsc::Receiver<Claim>) {
    let mut batch: Vec<Claim> = Vec::with_capacity(MAX_BATCH);
    let mut swept = Instant::now();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let result = insert_batch(&mut conn.conn, &batch).await;
        if result.is_err()
            && let Err(e) = conn.reopen().await
        {
            tracing::error!(error = %e, "cannot end the failed transaction on the claims' connection");
        }
        match result {
            Ok(fresh) => {
                for (c, new) in batch.drain(..).zip(fresh) {
                    let _ = c.reply.send(Ok(new));
                }
            }
            Err(e) => {
                // Fail closed: the caller refuses the request (retryable).
                tracing::error!(error = %e, size = batch.len(), "cannot store message-id claims");
                for c in batch.drain(..) {
                    let _ = c.reply.send(Err(StoreError::Unavailable(
                        "cannot store the message-id claim".into(),
                    )));
                }
            }
        }
        if swept.elapsed() >= SWEEP_EVERY {
            swept = Instant::now();
            if let Err(e) = sqlx::query("DELETE FROM message_claims WHERE forget_after < ?")
                .bind(UnixMillis::now().0)
                .execute(&mut conn.conn)
                .await
            {
                tracing::warn!(error = %e, "cannot forget expired message claims");
            }
        }
    }
}
