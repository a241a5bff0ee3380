//! Group commit: one writer task turns many concurrent appends into one
//! transaction (one fsync on SQLite, one WAL flush on PostgreSQL).
//!
//! Callers send a row and wait for its sequence number. The writer takes
//! whatever has queued up (up to [`MAX_BATCH`]), inserts it in one
//! transaction, commits, and only then answers every caller. Latency under
//! light load is one commit; under heavy load the batch grows and the
//! commit cost per row falls. The row type numbers the batch inside the
//! transaction (from its writer state, or — for the hub on PostgreSQL,
//! where several processes append — from the database), densely, so no
//! number is ever skipped or reused (a failed batch assigns nothing).
//!
//! The writer state (the hub's Merkle frontier, a node's next number) is
//! worked on as a copy that is adopted only when the commit succeeds, so it
//! never runs ahead of what is durable.

use std::future::Future;

use renkei_protocol::StoreError;
use sqlx::Transaction;
use tokio::sync::{mpsc, oneshot};

use crate::dialect::Dialect;

pub(crate) const MAX_BATCH: usize = 1024;

/// Rows that can be appended with consecutive sequence numbers on `D`.
pub(crate) trait Appendable<D: Dialect>: Send + Sync + Sized + 'static {
    /// State the writer keeps between batches.
    type State: Clone + Send + Sync + 'static;

    /// Insert `rows` inside the open transaction; returns the sequence
    /// number of the first (the rest follow densely).
    fn insert_batch<'c>(
        tx: &'c mut Transaction<'_, D>,
        rows: Vec<&'c Self>,
        state: &'c mut Self::State,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;
}

type Reply = oneshot::Sender<Result<u64, StoreError>>;
pub(crate) type OnCommit<S> = Box<dyn Fn(&S) + Send + Sync>;

#[derive(Debug)]
pub(crate) struct GroupCommit<T> {
    tx: mpsc::Sender<(T, Reply)>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Start the writer on `writer`; `on_commit` sees the state after every
    /// durable commit.
    pub(crate) fn start<D: Dialect>(
        writer: D::Writer,
        state: <T as Appendable<D>>::State,
        on_commit: OnCommit<<T as Appendable<D>>::State>,
        what: &'static str,
    ) -> Self
    where
        T: Appendable<D>,
    {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(write::<D, T>(writer, rx, state, on_commit, what));
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

async fn commit_batch<D: Dialect, T: Appendable<D>>(
    writer: &mut D::Writer,
    batch: &[(T, Reply)],
    state: &mut T::State,
) -> Result<u64, sqlx::Error> {
    let result = async {
        let mut tx = D::begin_batch(writer).await?;
        let first = T::insert_batch(&mut tx, batch.iter().map(|(row, _)| row).collect(), state).await?;
        tx.commit().await?;
        Ok(first)
    }
    .await;
    if result.is_err()
        && let Err(e) = D::settle_writer(writer).await
    {
        tracing::error!(error = %e, "cannot end the failed transaction on the writer's connection");
    }
    result
}

async fn write<D: Dialect, T: Appendable<D>>(
    mut writer: D::Writer,
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
        match commit_batch::<D, T>(&mut writer, &batch, &mut attempt).await {
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
                    let result = commit_batch::<D, T>(&mut writer, &single, &mut attempt).await;
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
