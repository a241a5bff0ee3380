//! Group commit: one writer task turns many concurrent appends into one
//! transaction and one fsync.
//!
//! Callers send a row and wait for its sequence number. The writer takes
//! whatever has queued up (up to [`MAX_BATCH`]), inserts it in one
//! transaction, commits, and only then answers every caller. Latency under
//! light load is one commit; under heavy load the batch grows and the fsync
//! cost per row falls. Sequence numbers are assigned here, densely, so no
//! number is ever skipped or reused (a failed batch assigns nothing).
//!
//! A row type may carry writer state (the hub's Merkle frontier): each
//! attempt works on a copy that is adopted only when the commit succeeds, so
//! the state never runs ahead of what is durable.

use std::future::Future;

use renkei_protocol::StoreError;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

pub(crate) const MAX_BATCH: usize = 1024;

/// Rows that can be appended with consecutive sequence numbers.
pub(crate) trait Appendable: Send + Sync + Sized + 'static {
    /// State the writer keeps between batches.
    type State: Clone + Send + Sync + 'static;

    /// Insert `rows`, numbered from `first_seq`, inside the open transaction.
    fn insert_batch<'c>(
        conn: &'c mut SqliteConnection,
        first_seq: u64,
        rows: Vec<&'c Self>,
        state: &'c mut Self::State,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;
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
    /// Start the writer on its own connection; `next_seq` is the first
    /// sequence number to assign; `on_commit` sees the state after every
    /// durable commit.
    pub(crate) fn start(
        conn: SqliteConnection,
        next_seq: u64,
        state: T::State,
        on_commit: OnCommit<T::State>,
        what: &'static str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer(conn, rx, next_seq, state, on_commit, what));
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
    conn: &mut SqliteConnection,
    batch: &[(T, Reply)],
    first_seq: u64,
    state: &mut T::State,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    T::insert_batch(
        &mut tx,
        first_seq,
        batch.iter().map(|(row, _)| row).collect(),
        state,
    )
    .await?;
    tx.commit().await
}

async fn writer<T: Appendable>(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<(T, Reply)>,
    mut next_seq: u64,
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
        match commit_batch(&mut conn, &batch, next_seq, &mut attempt).await {
            Ok(()) => {
                state = attempt;
                on_commit(&state);
                let n = batch.len() as u64;
                for (i, (_, reply)) in batch.drain(..).enumerate() {
                    let _ = reply.send(Ok(next_seq + i as u64));
                }
                next_seq += n;
            }
            Err(e) => {
                // One bad row must not sink its neighbours: retry singly.
                tracing::warn!(error = %e, what, size = batch.len(), "batch commit failed; retrying rows one by one");
                for (row, reply) in batch.drain(..) {
                    let single = [(row, reply)];
                    let mut attempt = state.clone();
                    let result = commit_batch(&mut conn, &single, next_seq, &mut attempt).await;
                    let [(_, reply)] = single;
                    match result {
                        Ok(()) => {
                            state = attempt;
                            on_commit(&state);
                            let _ = reply.send(Ok(next_seq));
                            next_seq += 1;
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
