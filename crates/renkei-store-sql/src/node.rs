//! An institution node's store: enrolments, items, notices and the node's
//! own provision records, which one group-commit writer numbers densely
//! from 0. The registry keeps its own records in a table of the same shape
//! and shares [`NodeRow`], [`next_seq`], [`list_records`] and
//! [`recent_provided`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::marker::PhantomData;

use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_crypto::{AtRestCipher, DataKey};
use renkei_ids::{CorporateNumber, InstitutionCode, LocalPersonId, MessageId, QueryId};
use renkei_node::at_rest::{
    DocumentPlace, NoticeField, open_document, open_item_value, open_notice_text, seal_document,
    seal_item_value, seal_notice_text,
};
use renkei_node::{
    AttemptOutcome, DeliveryContent, DeliveryId, DeliveryStatus, Enqueued, EnrolledPerson, FiledReport,
    Filing, FilingCounts, FilingId, FilingInsert, FilingType, IncomingDelivery, ItemValue, NodeCounts,
    NodeRecord, NodeRole, NodeStore, Notice, OutgoingDelivery, RecordOutcome, ReportRoute,
};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};
use sqlx::{Pool, Transaction};

use crate::at_rest::{self, Cipher};
use crate::dialect::{Dialect, Keys, OpenFailure};
use crate::group_commit::{Appendable, GroupCommit};
use crate::sql::{Cols, Exec, Stmt, Value, corrupt, get, parse_col, store_err, to_u64, values_placeholders};

/// What the node's store does differently on each dialect.
pub trait NodeDialect: Dialect {
    /// Enrol `persons` in one statement if the dialect can, inside `tx`;
    /// `false` leaves them to one statement each, in order.
    fn enrol_bulk(
        tx: &mut Transaction<'_, Self>,
        persons: &[EnrolledPerson],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The store of a keeper of provision records, on dialect `D`: an
/// institution node's ([`SqlNode`]) or the registry's ([`SqlRegistry`]),
/// which keep their records in a `records` table of the same shape,
/// numbered densely from 0 by one record writer, and may seal what they
/// hold under a data key.
pub struct SqlRecordKeeper<D: Dialect, K> {
    pub(crate) pool: Pool<D>,
    pub(crate) records: GroupCommit<NodeRow>,
    pub(crate) cipher: Cipher,
    kind: PhantomData<K>,
}

/// Which keeper of records a [`SqlRecordKeeper`] is.
pub trait RecordKeeper: Send + Sync + 'static {
    /// Answers (column `has`) whether the tables a data key would seal
    /// hold any row (see `at_rest::settle`).
    const SEALED_ROWS: &'static str;
    /// The record writer's name in metrics and logs.
    const WRITER: &'static str;
    /// The store's name among the components of a PostgreSQL database.
    const COMPONENT: &'static str;
    /// The store's migrations on each dialect.
    const SQLITE_MIGRATIONS: &'static [&'static str];
    const POSTGRES_MIGRATIONS: &'static [&'static str];
}

/// An institution node.
#[derive(Debug)]
pub enum Node {}

impl RecordKeeper for Node {
    const SEALED_ROWS: &'static str = "SELECT (EXISTS (SELECT 1 FROM items) OR EXISTS (SELECT 1 FROM notices) \
         OR EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM inbox) \
         OR EXISTS (SELECT 1 FROM filed_reports)) AS has";
    const WRITER: &'static str = "node records";
    const COMPONENT: &'static str = "node";
    const SQLITE_MIGRATIONS: &'static [&'static str] = crate::sqlite::migrations::NODE;
    const POSTGRES_MIGRATIONS: &'static [&'static str] = crate::postgres::migrations::NODE;
}

/// An institution node's store on dialect `D` (`SqliteNodeStore`,
/// `PgNodeStore`), in a file or schema of its own (the registry's store has
/// a `records` table too). One process per node: its record writer numbers
/// on from what it found at open. Opened with a data key, it seals item
/// values and notice texts (`renkei_node::at_rest`).
pub type SqlNode<D> = SqlRecordKeeper<D, Node>;

impl<D: Dialect, K> Clone for SqlRecordKeeper<D, K> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            records: self.records.clone(),
            cipher: self.cipher.clone(),
            kind: PhantomData,
        }
    }
}

impl<D: Dialect, K> std::fmt::Debug for SqlRecordKeeper<D, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlRecordKeeper")
            .field("pool", &self.pool)
            .field("encrypted", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

impl<D: Dialect, K: RecordKeeper> SqlRecordKeeper<D, K> {
    /// The store on a migrated `pool`, its data key settled, its record
    /// writer started on `writer`; `store` names it in the log.
    pub(crate) async fn assemble(
        pool: Pool<D>,
        writer: D::Writer,
        store: &str,
        key: Option<&DataKey>,
    ) -> Result<Self, OpenFailure> {
        let cipher = at_rest::settle(&pool, store, key, K::SEALED_ROWS).await?;
        let next = next_seq(&pool).await?;
        Ok(Self {
            records: GroupCommit::start::<D>(writer, next, Box::new(|_| {}), K::WRITER),
            pool,
            cipher,
            kind: PhantomData,
        })
    }
}

/// A provision record on its way to the record writer.
#[derive(Debug)]
pub(crate) struct NodeRow(NodeRecord);

impl NodeRow {
    /// Refuse, before it reaches the writer, what the database cannot
    /// store (the free-text denial code).
    pub(crate) fn new<D: Dialect>(record: NodeRecord) -> Result<Self, StoreError> {
        D::text_fits("outcome", record.outcome.as_str())?;
        Ok(Self(record))
    }

    fn values(&self, seq: i64) -> [Value<'_>; RECORD_COLUMNS] {
        let r = &self.0;
        [
            seq.into(),
            r.query_id.map(|q| q.to_string()).into(),
            r.role.as_str().into(),
            r.counterpart.to_string().into(),
            r.office_work.as_str().into(),
            r.item.as_str().into(),
            r.fiscal_year.map(|y| i64::from(y.get())).into(),
            r.local_id.as_ref().map(LocalPersonId::as_str).into(),
            r.requested_at.0.into(),
            r.completed_at.0.into(),
            r.outcome.as_str().into(),
            r.non_disclosure.into(),
            r.message_id.map(|m| m.to_string()).into(),
        ]
    }
}

const RECORD_COLUMNS: usize = 13;

impl<D: Dialect> Appendable<D> for NodeRow {
    /// The next sequence number.
    type State = u64;

    async fn insert_batch(
        tx: &mut Transaction<'_, D>,
        rows: Vec<&Self>,
        next: &mut u64,
    ) -> Result<u64, sqlx::Error> {
        let first = *next;
        let after = first
            .checked_add(rows.len() as u64)
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| sqlx::Error::Protocol("record sequence numbers exhausted".into()))?;
        // Every number below `after` fits an i64.
        let mut seq = first as i64;
        for chunk in rows.chunks(D::MAX_BINDS / RECORD_COLUMNS) {
            let mut values = Vec::with_capacity(chunk.len() * RECORD_COLUMNS);
            for row in chunk {
                values.extend(row.values(seq));
                seq += 1;
            }
            Stmt::assembled(format!(
                "INSERT INTO records (seq, query_id, role, counterpart, office_work, item, fiscal_year, \
                 local_id, requested_at, completed_at, outcome, non_disclosure, message_id) VALUES {}",
                values_placeholders(chunk.len(), RECORD_COLUMNS)
            ))
            .args(values)
            .execute(&mut *tx)
            .await?;
        }
        *next = after;
        Ok(first)
    }
}

/// The next sequence number of a `records` table (dense from 0).
pub(crate) async fn next_seq<D: Dialect>(pool: &Pool<D>) -> Result<u64, OpenFailure> {
    let next = Stmt::new("SELECT COALESCE(MAX(seq) + 1, 0) AS next FROM records")
        .fetch_one(pool)
        .await?
        .int("next")?;
    u64::try_from(next)
        .map_err(|_| OpenFailure::Inconsistent(format!("records: next sequence number {next}")))
}

/// The requests this institution answered as a provider since `since`
/// (by completion time): requester, message id, when.
pub(crate) async fn recent_provided<D: Dialect>(
    pool: &Pool<D>,
    since: UnixMillis,
) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
    let rows = Stmt::new(
        "SELECT counterpart, message_id, completed_at FROM records \
         WHERE role = 'provider' AND completed_at >= $1 AND message_id IS NOT NULL",
    )
    .arg(since.0)
    .fetch_all(pool)
    .await
    .map_err(store_err("recent provided requests"))?;
    rows.iter()
        .map(|row| {
            Ok((
                parse_col(
                    "counterpart",
                    &get::<String>(row, "counterpart")?,
                    CorporateNumber::parse,
                )?,
                parse_col("message_id", &get::<String>(row, "message_id")?, MessageId::parse)?,
                UnixMillis(get(row, "completed_at")?),
            ))
        })
        .collect()
}

pub(crate) async fn list_records<D: Dialect>(
    pool: &Pool<D>,
    after_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
    let after = match after_seq.map(i64::try_from) {
        None => -1,
        Some(Ok(s)) => s,
        // No record is numbered beyond a BIGINT.
        Some(Err(_)) => return Ok(Vec::new()),
    };
    let rows = Stmt::new("SELECT * FROM records WHERE seq > $1 ORDER BY seq LIMIT $2")
        .arg(after)
        .arg(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(pool)
        .await
        .map_err(store_err("list records"))?;
    rows.iter().map(record_from).collect()
}

fn fy_col(fy: Option<FiscalYear>) -> i64 {
    fy.map_or(0, |y| i64::from(y.get()))
}

fn fy_from(v: i64) -> Result<Option<FiscalYear>, StoreError> {
    if v == 0 {
        return Ok(None);
    }
    u16::try_from(v)
        .map_err(|_| "out of range")
        .and_then(FiscalYear::new)
        .map(Some)
        .map_err(|e| corrupt("fiscal_year", e))
}

fn local_id_col(row: &impl Cols) -> Result<LocalPersonId, StoreError> {
    parse_col("local_id", &get::<String>(row, "local_id")?, LocalPersonId::parse)
}

fn item_from(row: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<ItemValue, StoreError> {
    let local_id = local_id_col(row)?;
    let item = parse_col("item", &get::<String>(row, "item")?, ItemCode::parse)?;
    let fiscal_year = fy_from(get(row, "fiscal_year")?)?;
    let stored: String = get(row, "value")?;
    let parsed = match cipher {
        None => serde_json::from_str(&stored),
        Some(c) => {
            let plain = open_item_value(c, &local_id, &item, fiscal_year, &stored)
                .map_err(|e| corrupt("item value", e))?;
            serde_json::from_slice(&plain)
        }
    };
    let value = match parsed {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(corrupt("item value", "not a JSON object")),
    };
    Ok(ItemValue {
        local_id,
        item,
        fiscal_year,
        value,
        updated_at: UnixMillis(get(row, "updated_at")?),
    })
}

/// The value column of an item: its JSON, sealed in an encrypted store.
fn item_col(v: &ItemValue, cipher: Option<&AtRestCipher>) -> String {
    let json = zeroize::Zeroizing::new(serde_json::Value::Object(v.value.clone()).to_string());
    match cipher {
        None => json.to_string(),
        Some(c) => seal_item_value(c, &v.local_id, &v.item, v.fiscal_year, &json),
    }
}

fn record_from(row: &impl Cols) -> Result<(u64, NodeRecord), StoreError> {
    let role: String = get(row, "role")?;
    Ok((
        to_u64("seq", get(row, "seq")?)?,
        NodeRecord {
            query_id: get::<Option<String>>(row, "query_id")?
                .map(|q| parse_col("query_id", &q, QueryId::parse))
                .transpose()?,
            message_id: get::<Option<String>>(row, "message_id")?
                .map(|m| parse_col("message_id", &m, MessageId::parse))
                .transpose()?,
            role: NodeRole::parse(&role).ok_or_else(|| corrupt("role", &role))?,
            counterpart: parse_col(
                "counterpart",
                &get::<String>(row, "counterpart")?,
                CorporateNumber::parse,
            )?,
            office_work: parse_col(
                "office_work",
                &get::<String>(row, "office_work")?,
                OfficeWorkCode::parse,
            )?,
            item: parse_col("item", &get::<String>(row, "item")?, ItemCode::parse)?,
            fiscal_year: get::<Option<i64>>(row, "fiscal_year")?
                .map(fy_from)
                .transpose()?
                .flatten(),
            local_id: get::<Option<String>>(row, "local_id")?
                .map(|l| parse_col("local_id", &l, LocalPersonId::parse))
                .transpose()?,
            requested_at: UnixMillis(get(row, "requested_at")?),
            completed_at: UnixMillis(get(row, "completed_at")?),
            outcome: RecordOutcome::parse(&get::<String>(row, "outcome")?),
            non_disclosure: get(row, "non_disclosure")?,
        },
    ))
}

fn notice_from(
    row: &impl Cols,
    local_id: &LocalPersonId,
    cipher: Option<&AtRestCipher>,
) -> Result<Notice, StoreError> {
    let id: String = get(row, "id")?;
    let text = |col: &str, field: NoticeField| -> Result<Option<String>, StoreError> {
        let stored: Option<String> = get(row, col)?;
        match (cipher, stored) {
            (Some(c), Some(s)) => open_notice_text(c, &id, local_id, field, &s)
                .map(Some)
                .map_err(|e| corrupt(col, e)),
            (_, stored) => Ok(stored),
        }
    };
    let required = |col: &str, field| text(col, field)?.ok_or_else(|| corrupt(col, "missing"));
    Ok(Notice {
        sender: parse_col("sender", &get::<String>(row, "sender")?, CorporateNumber::parse)?,
        sender_name: get(row, "sender_name")?,
        title_ja: required("title_ja", NoticeField::TitleJa)?,
        body_ja: required("body_ja", NoticeField::BodyJa)?,
        title_en: text("title_en", NoticeField::TitleEn)?,
        body_en: text("body_en", NoticeField::BodyEn)?,
        sent_at: UnixMillis(get(row, "sent_at")?),
        read_at: get::<Option<i64>>(row, "read_at")?.map(UnixMillis),
        id,
    })
}

/// A notice's text column: sealed in an encrypted store.
fn notice_col(
    cipher: Option<&AtRestCipher>,
    n: &Notice,
    local_id: &LocalPersonId,
    field: NoticeField,
    text: Option<&str>,
) -> Option<String> {
    text.map(|t| match cipher {
        None => t.to_owned(),
        Some(c) => seal_notice_text(c, &n.id, local_id, field, t),
    })
}

/// A delivery's document column: its JSON, sealed in an encrypted store.
fn document_col(
    cipher: Option<&AtRestCipher>,
    at: DocumentPlace<'_>,
    document: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let json = zeroize::Zeroizing::new(serde_json::Value::Object(document.clone()).to_string());
    match cipher {
        None => json.to_string(),
        Some(c) => seal_document(c, at, &json),
    }
}

fn document_from(
    row: &impl Cols,
    cipher: Option<&AtRestCipher>,
    at: DocumentPlace<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let stored: String = get(row, "document")?;
    let parsed = match cipher {
        None => serde_json::from_str(&stored),
        Some(c) => {
            let plain = open_document(c, at, &stored).map_err(|e| corrupt("document", e))?;
            serde_json::from_slice(&plain)
        }
    };
    match parsed {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(corrupt("document", "not a JSON object")),
    }
}

fn delivery_id_col(row: &impl Cols) -> Result<DeliveryId, StoreError> {
    parse_col(
        "delivery_id",
        &get::<String>(row, "delivery_id")?,
        DeliveryId::parse,
    )
}

fn filing_from(row: &impl Cols) -> Result<Filing, StoreError> {
    Ok(Filing {
        id: parse_col("filing_id", &get::<String>(row, "filing_id")?, FilingId::parse)?,
        filing_type: {
            let t: String = get(row, "filing_type")?;
            FilingType::parse(&t).ok_or_else(|| corrupt("filing_type", t))?
        },
        payer: parse_col("payer", &get::<String>(row, "payer")?, CorporateNumber::parse)?,
        tax_year: u16::try_from(get::<i64>(row, "tax_year")?).map_err(|e| corrupt("tax_year", e))?,
        digest: get(row, "digest")?,
        reports: u32::try_from(get::<i64>(row, "reports")?).map_err(|e| corrupt("reports", e))?,
        received_at: UnixMillis(get(row, "received_at")?),
    })
}

fn filed_report_from(row: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<FiledReport, StoreError> {
    let filing = parse_col("filing_id", &get::<String>(row, "filing_id")?, FilingId::parse)?;
    let line = u32::try_from(get::<i64>(row, "line")?).map_err(|e| corrupt("line", e))?;
    let stored: String = get(row, "report")?;
    let report = match cipher {
        None => serde_json::from_str(&stored),
        Some(c) => {
            let plain = open_document(c, DocumentPlace::Filing(filing.as_str(), line), &stored)
                .map_err(|e| corrupt("report", e))?;
            serde_json::from_slice(&plain)
        }
    }
    .map_err(|e| corrupt("report", e))?;
    let route = match get::<String>(row, "route")?.as_str() {
        "pending" => ReportRoute::Pending,
        "routed" => ReportRoute::Routed {
            recipient: parse_col(
                "recipient",
                &get::<Option<String>>(row, "recipient")?.unwrap_or_default(),
                CorporateNumber::parse,
            )?,
            delivery_id: parse_col(
                "delivery_id",
                &get::<Option<String>>(row, "delivery_id")?.unwrap_or_default(),
                DeliveryId::parse,
            )?,
        },
        "unroutable" => ReportRoute::Unroutable {
            reason: get::<Option<String>>(row, "reason")?.unwrap_or_default(),
        },
        "kept" => ReportRoute::Kept,
        other => return Err(corrupt("route", other)),
    };
    Ok(FiledReport {
        filing,
        line,
        local_id: parse_col("local_id", &get::<String>(row, "local_id")?, LocalPersonId::parse)?,
        report,
        route,
    })
}

const FILED_REPORT_COLUMNS: usize = 8;

fn outgoing_from(row: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<OutgoingDelivery, StoreError> {
    let delivery_id = delivery_id_col(row)?;
    let status: String = get(row, "status")?;
    let settled_at = || -> Result<UnixMillis, StoreError> {
        get::<Option<i64>>(row, "settled_at")?
            .map(UnixMillis)
            .ok_or_else(|| corrupt("settled_at", "missing"))
    };
    let status = match status.as_str() {
        "pending" => DeliveryStatus::Pending,
        "delivered" => DeliveryStatus::Delivered {
            query_id: parse_col(
                "query_id",
                &get::<Option<String>>(row, "query_id")?.unwrap_or_default(),
                QueryId::parse,
            )?,
            at: settled_at()?,
        },
        "refused" => DeliveryStatus::Refused {
            code: get::<Option<String>>(row, "refusal_code")?.unwrap_or_default(),
            at: settled_at()?,
        },
        other => return Err(corrupt("status", other)),
    };
    Ok(OutgoingDelivery {
        content: DeliveryContent {
            local_id: local_id_col(row)?,
            recipient: parse_col(
                "recipient",
                &get::<String>(row, "recipient")?,
                CorporateNumber::parse,
            )?,
            office_work: parse_col(
                "office_work",
                &get::<String>(row, "office_work")?,
                OfficeWorkCode::parse,
            )?,
            item: parse_col("item", &get::<String>(row, "item")?, ItemCode::parse)?,
            fiscal_year: fy_from(get(row, "fiscal_year")?)?,
            document: document_from(row, cipher, DocumentPlace::Outbox(delivery_id.as_str()))?,
        },
        created_at: UnixMillis(get(row, "created_at")?),
        status,
        attempts: u32::try_from(get::<i64>(row, "attempts")?).map_err(|e| corrupt("attempts", e))?,
        next_attempt_at: UnixMillis(get(row, "next_attempt_at")?),
        last_error: get(row, "last_error")?,
        delivery_id,
    })
}

fn incoming_from(
    row: &impl Cols,
    cipher: Option<&AtRestCipher>,
) -> Result<(u64, IncomingDelivery), StoreError> {
    let sender = parse_col("sender", &get::<String>(row, "sender")?, CorporateNumber::parse)?;
    let delivery_id = delivery_id_col(row)?;
    Ok((
        to_u64("seq", get(row, "seq")?)?,
        IncomingDelivery {
            document: document_from(row, cipher, DocumentPlace::Inbox(&sender, delivery_id.as_str()))?,
            local_id: local_id_col(row)?,
            office_work: parse_col(
                "office_work",
                &get::<String>(row, "office_work")?,
                OfficeWorkCode::parse,
            )?,
            item: parse_col("item", &get::<String>(row, "item")?, ItemCode::parse)?,
            fiscal_year: fy_from(get(row, "fiscal_year")?)?,
            query_id: parse_col("query_id", &get::<String>(row, "query_id")?, QueryId::parse)?,
            received_at: UnixMillis(get(row, "received_at")?),
            sender,
            delivery_id,
        },
    ))
}

impl<D: NodeDialect> NodeStore for SqlNode<D> {
    async fn enqueue_delivery(&self, d: OutgoingDelivery) -> Result<Enqueued, StoreError> {
        let c = &d.content;
        let document = document_col(
            self.cipher.as_deref(),
            DocumentPlace::Outbox(d.delivery_id.as_str()),
            &c.document,
        );
        D::text_fits("document", &document)?;
        let inserted = Stmt::new(
            "INSERT INTO outbox (delivery_id, local_id, recipient, office_work, item, fiscal_year, document, \
             created_at, status, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .arg(d.delivery_id.as_str())
        .arg(c.local_id.as_str())
        .arg(c.recipient.to_string())
        .arg(c.office_work.as_str())
        .arg(c.item.as_str())
        .arg(fy_col(c.fiscal_year))
        .arg(document)
        .arg(d.created_at.0)
        .arg(d.next_attempt_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("enqueue delivery"))?;
        if inserted == 1 {
            return Ok(Enqueued::New(OutgoingDelivery {
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                ..d
            }));
        }
        let existing = self
            .delivery(&d.delivery_id)
            .await?
            .ok_or_else(|| corrupt("outbox", "a delivery both there and not"))?;
        Ok(Enqueued::Existing(existing))
    }

    async fn delivery(&self, id: &DeliveryId) -> Result<Option<OutgoingDelivery>, StoreError> {
        if D::text_fits("delivery id", id.as_str()).is_err() {
            return Ok(None);
        }
        let row = Stmt::new("SELECT * FROM outbox WHERE delivery_id = $1")
            .arg(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read delivery"))?;
        row.as_ref()
            .map(|r| outgoing_from(r, self.cipher.as_deref()))
            .transpose()
    }

    async fn list_deliveries(
        &self,
        status: Option<&'static str>,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<OutgoingDelivery>, StoreError> {
        let rows = Stmt::new(
            "SELECT * FROM outbox WHERE ($1 = '' OR status = $1) AND delivery_id > $2 \
             ORDER BY delivery_id LIMIT $3",
        )
        .arg(status.unwrap_or(""))
        .arg(after.map_or_else(String::new, |a| a.as_str().to_owned()))
        .arg(i64::from(limit.clamp(1, 1_000)))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("list deliveries"))?;
        rows.iter()
            .map(|r| outgoing_from(r, self.cipher.as_deref()))
            .collect()
    }

    async fn due_deliveries(&self, now: UnixMillis, limit: u32) -> Result<Vec<OutgoingDelivery>, StoreError> {
        let rows = Stmt::new(
            "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, delivery_id LIMIT $2",
        )
        .arg(now.0)
        .arg(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("due deliveries"))?;
        rows.iter()
            .map(|r| outgoing_from(r, self.cipher.as_deref()))
            .collect()
    }

    async fn next_delivery_due(&self) -> Result<Option<UnixMillis>, StoreError> {
        let row = Stmt::new("SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(store_err("next delivery due"))?;
        Ok(get::<Option<i64>>(&row, "due")?.map(UnixMillis))
    }

    async fn delivery_attempted(&self, id: &DeliveryId, outcome: AttemptOutcome) -> Result<bool, StoreError> {
        let stmt = match &outcome {
            AttemptOutcome::Delivered { query_id, at } => Stmt::new(
                "UPDATE outbox SET attempts = attempts + 1, status = 'delivered', query_id = $1, \
                 settled_at = $2, last_error = NULL WHERE delivery_id = $3 AND status = 'pending'",
            )
            .arg(query_id.to_string())
            .arg(at.0),
            AttemptOutcome::Failed {
                error,
                next_attempt_at,
            } => {
                D::text_fits("last_error", error)?;
                Stmt::new(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 \
                     WHERE delivery_id = $3 AND status = 'pending'",
                )
                .arg(error.as_str())
                .arg(next_attempt_at.0)
            }
            AttemptOutcome::Refused { code, error, at } => {
                D::text_fits("refusal_code", code)?;
                D::text_fits("last_error", error)?;
                Stmt::new(
                    "UPDATE outbox SET attempts = attempts + 1, status = 'refused', refusal_code = $1, \
                     last_error = $2, settled_at = $3 WHERE delivery_id = $4 AND status = 'pending'",
                )
                .arg(code.as_str())
                .arg(error.as_str())
                .arg(at.0)
            }
        };
        let n = stmt
            .arg(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(store_err("delivery attempted"))?;
        Ok(n == 1)
    }

    async fn delivery_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let row = Stmt::new(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS p, \
             (SELECT COUNT(*) FROM outbox WHERE status = 'delivered') AS d, \
             (SELECT COUNT(*) FROM outbox WHERE status = 'refused') AS r",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_err("count deliveries"))?;
        Ok((
            to_u64("pending", get(&row, "p")?)?,
            to_u64("delivered", get(&row, "d")?)?,
            to_u64("refused", get(&row, "r")?)?,
        ))
    }

    async fn receive_delivery(&self, d: IncomingDelivery) -> Result<(u64, bool), StoreError> {
        let document = document_col(
            self.cipher.as_deref(),
            DocumentPlace::Inbox(&d.sender, d.delivery_id.as_str()),
            &d.document,
        );
        D::text_fits("document", &document)?;
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("receive delivery"))?;
        // The counter's row lock (SQLite: the write lock) serialises the
        // receivers: numbers are handed out in commit order.
        let next = Stmt::assembled(format!(
            "SELECT next FROM inbox_seq WHERE id = 1{}",
            D::FOR_UPDATE
        ))
        .fetch_one(&mut tx)
        .await
        .map_err(store_err("receive delivery"))?;
        let next: i64 = get(&next, "next")?;
        let existing = Stmt::new("SELECT seq FROM inbox WHERE sender = $1 AND delivery_id = $2")
            .arg(d.sender.to_string())
            .arg(d.delivery_id.as_str())
            .fetch_optional(&mut tx)
            .await
            .map_err(store_err("receive delivery"))?;
        if let Some(row) = existing {
            return Ok((to_u64("seq", get(&row, "seq")?)?, false));
        }
        Stmt::new(
            "INSERT INTO inbox (seq, sender, delivery_id, local_id, office_work, item, fiscal_year, document, \
             query_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .arg(next)
        .arg(d.sender.to_string())
        .arg(d.delivery_id.as_str())
        .arg(d.local_id.as_str())
        .arg(d.office_work.as_str())
        .arg(d.item.as_str())
        .arg(fy_col(d.fiscal_year))
        .arg(document)
        .arg(d.query_id.to_string())
        .arg(d.received_at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("receive delivery"))?;
        Stmt::new("UPDATE inbox_seq SET next = next + 1 WHERE id = 1")
            .execute(&mut tx)
            .await
            .map_err(store_err("receive delivery"))?;
        tx.commit().await.map_err(store_err("receive delivery"))?;
        Ok((to_u64("seq", next)?, true))
    }

    async fn inbox(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, IncomingDelivery)>, StoreError> {
        let after = match after.map(i64::try_from) {
            None => 0,
            Some(Ok(s)) => s,
            Some(Err(_)) => return Ok(Vec::new()),
        };
        let rows = Stmt::new("SELECT * FROM inbox WHERE seq > $1 ORDER BY seq LIMIT $2")
            .arg(after)
            .arg(i64::from(limit.clamp(1, 1_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read inbox"))?;
        rows.iter()
            .map(|r| incoming_from(r, self.cipher.as_deref()))
            .collect()
    }

    async fn store_notice(&self, local_id: &LocalPersonId, n: Notice) -> Result<(), StoreError> {
        D::text_fits("notice id", &n.id)?;
        D::text_fits("sender_name", &n.sender_name)?;
        D::text_fits("title_ja", &n.title_ja)?;
        D::text_fits("body_ja", &n.body_ja)?;
        D::text_fits("title_en", n.title_en.as_deref().unwrap_or_default())?;
        D::text_fits("body_en", n.body_en.as_deref().unwrap_or_default())?;
        let c = self.cipher.as_deref();
        Stmt::new(
            "INSERT INTO notices (id, local_id, sender, sender_name, title_ja, body_ja, title_en, body_en, sent_at, read_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) ON CONFLICT (id) DO NOTHING",
        )
        .arg(&n.id)
        .arg(local_id.as_str())
        .arg(n.sender.to_string())
        .arg(&n.sender_name)
        .arg(notice_col(c, &n, local_id, NoticeField::TitleJa, Some(&n.title_ja)))
        .arg(notice_col(c, &n, local_id, NoticeField::BodyJa, Some(&n.body_ja)))
        .arg(notice_col(c, &n, local_id, NoticeField::TitleEn, n.title_en.as_deref()))
        .arg(notice_col(c, &n, local_id, NoticeField::BodyEn, n.body_en.as_deref()))
        .arg(n.sent_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("store notice"))?;
        Ok(())
    }

    async fn notices(&self, local_id: &LocalPersonId) -> Result<Vec<Notice>, StoreError> {
        let rows =
            Stmt::new("SELECT * FROM notices WHERE local_id = $1 ORDER BY sent_at DESC, id LIMIT 1000")
                .arg(local_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("list notices"))?;
        rows.iter()
            .map(|r| notice_from(r, local_id, self.cipher.as_deref()))
            .collect()
    }

    async fn mark_notice_read(
        &self,
        local_id: &LocalPersonId,
        id: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        if D::text_fits("notice id", id).is_err() {
            // No stored id holds NUL.
            return Ok(false);
        }
        let r =
            Stmt::new("UPDATE notices SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND local_id = $3")
                .arg(at.0)
                .arg(id)
                .arg(local_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(store_err("mark notice read"))?;
        Ok(r == 1)
    }

    async fn enrol(&self, persons: Vec<EnrolledPerson>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("enrol"))?;
        if !D::enrol_bulk(&mut tx, &persons).await? {
            for p in &persons {
                Stmt::new(
                    "INSERT INTO persons (local_id, code, enrolled_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (local_id) DO UPDATE SET code = excluded.code, enrolled_at = excluded.enrolled_at",
                )
                .arg(p.local_id.as_str())
                .arg(p.code.to_string())
                .arg(p.enrolled_at.0)
                .execute(&mut tx)
                .await
                .map_err(store_err("enrol"))?;
            }
        }
        tx.commit().await.map_err(store_err("enrol"))
    }

    async fn code_of(&self, local_id: &LocalPersonId) -> Result<Option<InstitutionCode>, StoreError> {
        let row = Stmt::new("SELECT code FROM persons WHERE local_id = $1")
            .arg(local_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find code"))?;
        row.map(|r| parse_col("code", &get::<String>(&r, "code")?, InstitutionCode::parse))
            .transpose()
    }

    async fn persons_page(
        &self,
        after: Option<LocalPersonId>,
        limit: u32,
    ) -> Result<Vec<EnrolledPerson>, StoreError> {
        let rows = Stmt::new("SELECT * FROM persons WHERE local_id > $1 ORDER BY local_id LIMIT $2")
            .arg(after.map_or_else(String::new, |a| a.as_str().to_owned()))
            .arg(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list persons"))?;
        rows.iter()
            .map(|r| {
                Ok(EnrolledPerson {
                    local_id: local_id_col(r)?,
                    code: parse_col("code", &get::<String>(r, "code")?, InstitutionCode::parse)?,
                    enrolled_at: UnixMillis(get(r, "enrolled_at")?),
                })
            })
            .collect()
    }

    async fn person_by_code(&self, code: &InstitutionCode) -> Result<Option<LocalPersonId>, StoreError> {
        let row = Stmt::new("SELECT local_id FROM persons WHERE code = $1")
            .arg(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find person"))?;
        row.as_ref().map(local_id_col).transpose()
    }

    async fn enrolled_among(&self, ids: Vec<LocalPersonId>) -> Result<HashSet<LocalPersonId>, StoreError> {
        let keys = Keys::Text(ids.iter().map(|i| i.as_str().to_owned()).collect());
        let rows = D::fetch_any(
            Exec::Pool(&self.pool),
            "SELECT local_id FROM persons WHERE",
            "local_id",
            keys,
        )
        .await
        .map_err(store_err("check enrolment"))?;
        rows.iter().map(local_id_col).collect()
    }

    async fn import_items(&self, items: Vec<ItemValue>) -> Result<usize, StoreError> {
        // One multi-row upsert may not touch a row twice (on PostgreSQL): of
        // items with the same key the last is kept, which is what one
        // statement per item in order would leave behind.
        let mut last: HashMap<(&str, &str, i64), usize> = HashMap::new();
        for (i, v) in items.iter().enumerate() {
            last.insert((v.local_id.as_str(), v.item.as_str(), fy_col(v.fiscal_year)), i);
        }
        let kept: Vec<&ItemValue> = items
            .iter()
            .enumerate()
            .filter(|(i, v)| {
                last.get(&(v.local_id.as_str(), v.item.as_str(), fy_col(v.fiscal_year))) == Some(i)
            })
            .map(|(_, v)| v)
            .collect();
        let mut tx = self.pool.begin().await.map_err(store_err("import"))?;
        for chunk in kept.chunks(D::MAX_BINDS / 5) {
            let mut values: Vec<Value<'_>> = Vec::with_capacity(chunk.len() * 5);
            for v in chunk {
                values.extend([
                    v.local_id.as_str().into(),
                    v.item.as_str().into(),
                    fy_col(v.fiscal_year).into(),
                    item_col(v, self.cipher.as_deref()).into(),
                    v.updated_at.0.into(),
                ]);
            }
            Stmt::assembled(format!(
                "INSERT INTO items (local_id, item, fiscal_year, value, updated_at) VALUES {} \
                 ON CONFLICT (local_id, item, fiscal_year) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
                values_placeholders(chunk.len(), 5)
            ))
            .args(values)
            .execute(&mut tx)
            .await
            .map_err(store_err("import"))?;
        }
        tx.commit().await.map_err(store_err("import"))?;
        Ok(items.len())
    }

    async fn item(
        &self,
        local_id: &LocalPersonId,
        item: &ItemCode,
        fiscal_year: Option<FiscalYear>,
    ) -> Result<Option<ItemValue>, StoreError> {
        let row = Stmt::new("SELECT * FROM items WHERE local_id = $1 AND item = $2 AND fiscal_year = $3")
            .arg(local_id.as_str())
            .arg(item.as_str())
            .arg(fy_col(fiscal_year))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read item"))?;
        row.as_ref()
            .map(|r| item_from(r, self.cipher.as_deref()))
            .transpose()
    }

    async fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError> {
        self.records.append(NodeRow::new::<D>(record)?).await
    }

    async fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
        list_records::<D>(&self.pool, after_seq, limit).await
    }

    async fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
        recent_provided::<D>(&self.pool, since).await
    }

    async fn counts(&self) -> Result<NodeCounts, StoreError> {
        let row = Stmt::new(
            "SELECT (SELECT COUNT(*) FROM persons) AS p, (SELECT COUNT(*) FROM items) AS i, \
             (SELECT COUNT(*) FROM records) AS r",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_err("count"))?;
        Ok(NodeCounts {
            persons: to_u64("persons", get(&row, "p")?)?,
            items: to_u64("items", get(&row, "i")?)?,
            records: to_u64("records", get(&row, "r")?)?,
        })
    }

    async fn insert_filing(
        &self,
        filing: Filing,
        reports: Vec<FiledReport>,
    ) -> Result<FilingInsert, StoreError> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("keep filing"))?;
        let inserted = Stmt::new(
            "INSERT INTO filings (filing_id, filing_type, payer, tax_year, digest, reports, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (filing_id) DO NOTHING",
        )
        .arg(filing.id.as_str())
        .arg(filing.filing_type.as_str())
        .arg(filing.payer.to_string())
        .arg(i64::from(filing.tax_year))
        .arg(filing.digest.as_str())
        .arg(i64::from(filing.reports))
        .arg(filing.received_at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("keep filing"))?;
        if inserted == 0 {
            let row = Stmt::new("SELECT * FROM filings WHERE filing_id = $1")
                .arg(filing.id.as_str())
                .fetch_one(&mut tx)
                .await
                .map_err(store_err("keep filing"))?;
            return Ok(FilingInsert::Existing(filing_from(&row)?));
        }
        for chunk in reports.chunks(D::MAX_BINDS / FILED_REPORT_COLUMNS) {
            let mut values: Vec<Value<'_>> = Vec::with_capacity(chunk.len() * FILED_REPORT_COLUMNS);
            for r in chunk {
                let json = r.report.to_string();
                let report = match self.cipher.as_deref() {
                    None => json,
                    Some(c) => seal_document(c, DocumentPlace::Filing(r.filing.as_str(), r.line), &json),
                };
                D::text_fits("report", &report)?;
                let (recipient, delivery_id, reason) = r.route.parts();
                values.extend([
                    r.filing.as_str().to_owned().into(),
                    i64::from(r.line).into(),
                    r.local_id.as_str().to_owned().into(),
                    report.into(),
                    r.route.as_str().into(),
                    recipient.into(),
                    delivery_id.into(),
                    reason.into(),
                ]);
            }
            Stmt::assembled(format!(
                "INSERT INTO filed_reports (filing_id, line, local_id, report, route, recipient, delivery_id, reason) \
                 VALUES {}",
                values_placeholders(chunk.len(), FILED_REPORT_COLUMNS)
            ))
            .args(values)
            .execute(&mut tx)
            .await
            .map_err(store_err("keep filed reports"))?;
        }
        tx.commit().await.map_err(store_err("keep filing"))?;
        Ok(FilingInsert::New)
    }

    async fn filing(&self, id: &FilingId) -> Result<Option<(Filing, FilingCounts)>, StoreError> {
        let Some(row) = Stmt::new("SELECT * FROM filings WHERE filing_id = $1")
            .arg(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read filing"))?
        else {
            return Ok(None);
        };
        let filing = filing_from(&row)?;
        let rows =
            Stmt::new("SELECT route, COUNT(*) AS n FROM filed_reports WHERE filing_id = $1 GROUP BY route")
                .arg(id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("count filed reports"))?;
        let mut counts = FilingCounts::default();
        for r in &rows {
            let n = to_u64("count", get::<i64>(r, "n")?)?;
            match get::<String>(r, "route")?.as_str() {
                "pending" => counts.pending = n,
                "routed" => counts.routed = n,
                "unroutable" => counts.unroutable = n,
                "kept" => counts.kept = n,
                other => return Err(corrupt("route", other)),
            }
        }
        Ok(Some((filing, counts)))
    }

    async fn pending_filed_reports(&self, limit: u32) -> Result<Vec<FiledReport>, StoreError> {
        let rows = Stmt::new(
            "SELECT * FROM filed_reports WHERE route = 'pending' ORDER BY filing_id, line LIMIT $1",
        )
        .arg(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("list pending filed reports"))?;
        rows.iter()
            .map(|r| filed_report_from(r, self.cipher.as_deref()))
            .collect()
    }

    async fn route_filed_report(
        &self,
        filing: &FilingId,
        line: u32,
        route: ReportRoute,
    ) -> Result<bool, StoreError> {
        if route == ReportRoute::Pending {
            return Ok(false);
        }
        let (recipient, delivery_id, reason) = route.parts();
        let n = Stmt::new(
            "UPDATE filed_reports SET route = $1, recipient = $2, delivery_id = $3, reason = $4 \
             WHERE filing_id = $5 AND line = $6 AND route = 'pending'",
        )
        .arg(route.as_str())
        .arg(recipient)
        .arg(delivery_id)
        .arg(reason)
        .arg(filing.as_str())
        .arg(i64::from(line))
        .execute(&self.pool)
        .await
        .map_err(store_err("route filed report"))?;
        Ok(n == 1)
    }

    async fn filed_reports(
        &self,
        filing: &FilingId,
        after: u32,
        limit: u32,
    ) -> Result<Vec<FiledReport>, StoreError> {
        let rows = Stmt::new(
            "SELECT * FROM filed_reports WHERE filing_id = $1 AND line > $2 ORDER BY line LIMIT $3",
        )
        .arg(filing.as_str())
        .arg(i64::from(after))
        .arg(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("list filed reports"))?;
        rows.iter()
            .map(|r| filed_report_from(r, self.cipher.as_deref()))
            .collect()
    }
}
