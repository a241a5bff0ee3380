//! Screened parties — the consent API's clients, delivery's senders — keep
//! their changes the same way: a status that changes only from the one the
//! administrator saw, and an event per change, in one transaction.

use std::fmt::Display;

use renkei_consent::{Actor, Application, ClientStatus, Screened, ScreeningEvent};
use renkei_ids::CorporateNumber;
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::{Pool, Transaction};

use crate::dialect::Dialect;
use crate::sql::{Cols, Stmt, corrupt, get, parse_col, store_err};

/// The statements of one kind of screened party.
pub(crate) struct ScreeningTables {
    /// `UPDATE … SET corporate_number = $1, status = $2, status_reason =
    /// $3, updated_at = $4 WHERE id = $5 AND status = $6`.
    pub(crate) update: &'static str,
    /// `INSERT INTO …_events (<subject>, at, actor, action, from_status,
    /// to_status, reason, previous_corporate_number) VALUES ($1 … $8)`.
    pub(crate) insert_event: &'static str,
    /// `SELECT * FROM …_events WHERE <subject> = $1 ORDER BY seq`.
    pub(crate) events: &'static str,
}

pub(crate) fn status_col(row: &impl Cols, col: &str) -> Result<ClientStatus, StoreError> {
    let s: String = get(row, col)?;
    ClientStatus::parse(&s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn event_from<I: Clone>(id: &I, r: &impl Cols) -> Result<ScreeningEvent<I>, StoreError> {
    let from: Option<String> = get(r, "from_status")?;
    let previous: Option<String> = get(r, "previous_corporate_number")?;
    let actor: String = get(r, "actor")?;
    Ok(ScreeningEvent {
        subject: id.clone(),
        at: UnixMillis(get(r, "at")?),
        actor: serde_json::from_str::<Actor>(&actor).map_err(|e| corrupt("actor", e))?,
        action: get(r, "action")?,
        from: from
            .map(|s| ClientStatus::parse(&s).ok_or_else(|| corrupt("from_status", s)))
            .transpose()?,
        to: status_col(r, "to_status")?,
        reason: get(r, "reason")?,
        previous_corporate_number: previous
            .map(|s| parse_col("previous_corporate_number", &s, CorporateNumber::parse))
            .transpose()?,
    })
}

pub(crate) async fn insert_event<D: Dialect, I: Display>(
    tx: &mut Transaction<'_, D>,
    t: &ScreeningTables,
    e: &ScreeningEvent<I>,
) -> Result<(), StoreError> {
    Stmt::new(t.insert_event)
        .arg(e.subject.to_string())
        .arg(e.at.0)
        .arg(serde_json::to_string(&e.actor).map_err(|x| corrupt("actor", x))?)
        .arg(&e.action)
        .arg(e.from.map(ClientStatus::as_str))
        .arg(e.to.as_str())
        .arg(&e.reason)
        .arg(e.previous_corporate_number.map(|c| c.to_string()))
        .execute(tx)
        .await
        .map_err(store_err("record a screening event"))?;
    Ok(())
}

/// Store `next` and its event, only if the party is still `expected`.
pub(crate) async fn update<D: Dialect, I: Display, A: Application>(
    pool: &Pool<D>,
    t: &ScreeningTables,
    next: &Screened<I, A>,
    expected: ClientStatus,
    event: &ScreeningEvent<I>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(store_err("begin"))?;
    // Of two changes at once, the second waits for the first's row lock
    // and then finds the status changed.
    let done = Stmt::new(t.update)
        .arg(next.app.corporate_number().to_string())
        .arg(next.status.as_str())
        .arg(&next.status_reason)
        .arg(next.updated_at.0)
        .arg(next.id.to_string())
        .arg(expected.as_str())
        .execute(&mut tx)
        .await
        .map_err(store_err("update a screened party"))?;
    if done != 1 {
        return Ok(false);
    }
    insert_event(&mut tx, t, event).await?;
    tx.commit()
        .await
        .map_err(store_err("commit a screening change"))?;
    Ok(true)
}

/// Every change of the party `id`, oldest first.
pub(crate) async fn events<D: Dialect, I: Clone + Display>(
    pool: &Pool<D>,
    t: &ScreeningTables,
    id: &I,
) -> Result<Vec<ScreeningEvent<I>>, StoreError> {
    Stmt::new(t.events)
        .arg(id.to_string())
        .fetch_all(pool)
        .await
        .map_err(store_err("read screening events"))?
        .iter()
        .map(|r| event_from(id, r))
        .collect()
}
