//! Group commit on PostgreSQL: one writer task per store turns many
//! concurrent appends into one transaction (one WAL flush).
//!
//! Unlike the SQLite writer, sequence numbers are chosen *inside* the
//! transaction by the row type: on PostgreSQL several processes (hubs) may
//! append to the same table, so only the database knows the next number.
//! A row type may carry writer state (the hub's Merkle frontier, a node's
//! next number): each attempt works on a copy that is adopted only when the
//! commit succeeds, so the state never runs ahead of what is durable.

use std::future::Future;

use renkei_protocol::StoreError;
use sqlx::Acquire;
use sqlx::postgres::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

pub(crate) const MAX_BATCH: usize = 1024;

/// Rows that can be appended with consecutive sequence numbers.
pub(crate) trait Appendable: Send + Sync + Sized + 'static {
    /// State the writer keeps between batches.
    type State: Clone + Send + Sync + 'static;

    /// Insert `rows` inside the open transaction; returns the sequence
    /// number of the first (the rest follow densely).
    fn insert_batch<'c>(
        conn: &'c mut PgConnection,
        rows: Vec<&'c Self>,
        state: &'c mut Self::State,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;
}

type Reply = oneshot::Sender<Result<u64, StoreError>>;
type OnCommit<S> = Box<dyn Fn(&S) + Send + Sync>;

#[derive(Debug)]
pub(crate) struct GroupCommit<T> {
    tx: mpsc::Sender<(T, Reply)>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T: Appendable> GroupCommit<T> {
    /// Start the writer on `pool`; `on_commit` sees the state after every
    /// durable commit.
    pub(crate) fn start(
        pool: PgPool,
        state: T::State,
        on_commit: OnCommit<T::State>,
        what: &'static str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer(pool, rx, state, on_commit, what));
        Self { tx }
    }

    /// Append one row; returns its sequence number once it is durable.
    pub(crate) async fn append(&self, row: T) -> Result<u64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((row, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the record writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the record writer has stopped".into()))?
    }
}

async fn commit_batch<T: Appendable>(
    pool: &PgPool,
    batch: &[(T, Reply)],
    state: &mut T::State,
) -> Result<u64, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let first = T::insert_batch(
        tx.acquire().await?,
        batch.iter().map(|(row, _)| row).collect(),
        state,
    )
    .await?;
    tx.commit().await?;
    Ok(first)
}

async fn writer<T: Appendable>(
    pool: PgPool,
    mut rx: mpsc::Receiver<(T, Reply)>,
    mut state: T::State,
    on_commit: OnCommit<T::State>,
    what: &'static str,
) {
    let mut batch: Vec<(T, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        metrics::histogram!("renkei_group_commit_batch_size", "store" => what).record(batch.len() as f64);
        let mut attempt = state.clone();
        match commit_batch(&pool, &batch, &mut attempt).await {
            Ok(first_seq) => {
                state = attempt;
                on_commit(&state);
                for (i, (_, reply)) in batch.drain(..).enumerate() {
                    let _ = reply.send(Ok(first_seq + i as u64));
                }
            }
            Err(e) => {
                // One bad row must not sink its neighbours: retry singly.
                tracing::warn!(error = %e, what, size = batch.len(), "batch commit failed; retrying rows one by one");
                for (row, reply) in batch.drain(..) {
                    let single = [(row, reply)];
                    let mut attempt = state.clone();
                    let result = commit_batch(&pool, &single, &mut attempt).await;
                    let [(_, reply)] = single;
                    match result {
                        Ok(seq) => {
                            state = attempt;
                            on_commit(&state);
                            let _ = reply.send(Ok(seq));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, what, "record append failed");
                            let _ = reply.send(Err(StoreError::Unavailable(format!("{what} append failed"))));
                        }
                    }
                }
            }
        }
    }
}
