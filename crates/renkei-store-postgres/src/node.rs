//! An institution node's store: enrolments, items, notices and the node's
//! own provision records, which one group-commit writer numbers densely
//! from 0. The registry keeps its own records in a table of the same shape
//! and shares [`NodeRow`], [`next_seq`] and [`list_records`].

use std::collections::{HashMap, HashSet};

use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_crypto::{AtRestCipher, DataKey};
use renkei_ids::{CorporateNumber, InstitutionCode, LocalPersonId, MessageId, QueryId};
use renkei_node::at_rest::{
    NoticeField, open_item_value, open_notice_text, seal_item_value, seal_notice_text,
};
use renkei_node::{
    EnrolledPerson, ItemValue, NodeCounts, NodeRecord, NodeRole, NodeStore, Notice, RecordOutcome,
};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnection, PgPool, PgRow};

use crate::at_rest::{self, Cipher};
use crate::db::{self, DbError, MAX_BINDS, corrupt, get, parse_col, store_err, text_fits, to_u64};
use crate::group_commit::{Appendable, GroupCommit};

const MIGRATIONS: &[&str] = renkei_store_sql::postgres::migrations::NODE;

/// An institution node's store in a PostgreSQL database, in a schema or
/// database of its own (the registry's store has a `records` table too).
/// One process per node: its record writer numbers on from what it found
/// at open. Opened with a data key, it seals item values and notice texts
/// (`renkei_node::at_rest`).
#[derive(Debug, Clone)]
pub struct PgNodeStore {
    pool: PgPool,
    records: GroupCommit<NodeRow>,
    cipher: Cipher,
}

impl PgNodeStore {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Self::open_with_key(url, None).await
    }

    /// Open with the node's data key, if it has one: a new store is then
    /// encrypted at rest; an existing one must have been created with the
    /// same key (or, without a key, in clear).
    pub async fn open_with_key(url: &str, key: Option<&DataKey>) -> Result<Self, DbError> {
        let pool = db::open(url, "node", MIGRATIONS).await?;
        let cipher = at_rest::settle(
            &pool,
            "node",
            key,
            "SELECT EXISTS (SELECT 1 FROM items) OR EXISTS (SELECT 1 FROM notices)",
        )
        .await?;
        let next = next_seq(&pool).await?;
        Ok(Self {
            records: GroupCommit::start(pool.clone(), next, Box::new(|_| {}), "node records"),
            pool,
            cipher,
        })
    }
}

/// A provision record on its way to the record writer.
#[derive(Debug)]
pub(crate) struct NodeRow(NodeRecord);

impl NodeRow {
    /// Refuse, before it reaches the writer, what PostgreSQL cannot store
    /// (the free-text denial code).
    pub(crate) fn new(record: NodeRecord) -> Result<Self, StoreError> {
        text_fits("outcome", record.outcome.as_str())?;
        Ok(Self(record))
    }
}

const RECORD_COLUMNS: usize = 13;

impl Appendable for NodeRow {
    /// The next sequence number.
    type State = u64;

    async fn insert_batch(
        conn: &mut PgConnection,
        rows: Vec<&Self>,
        next: &mut u64,
    ) -> Result<u64, sqlx::Error> {
        let first = *next;
        let after = first
            .checked_add(rows.len() as u64)
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| sqlx::Error::Protocol("record sequence numbers exhausted".into()))?;
        // Every number below `after` fits a BIGINT.
        let mut seq = first as i64;
        for chunk in rows.chunks(MAX_BINDS / RECORD_COLUMNS) {
            let mut q = QueryBuilder::new(
                "INSERT INTO records (seq, query_id, role, counterpart, office_work, item, fiscal_year, \
                 local_id, requested_at, completed_at, outcome, non_disclosure, message_id) ",
            );
            q.push_values(chunk, |mut b, row| {
                let r = &row.0;
                b.push_bind(seq)
                    .push_bind(r.query_id.map(|q| q.to_string()))
                    .push_bind(r.role.as_str())
                    .push_bind(r.counterpart.to_string())
                    .push_bind(r.office_work.as_str().to_owned())
                    .push_bind(r.item.as_str().to_owned())
                    .push_bind(r.fiscal_year.map(|y| i64::from(y.get())))
                    .push_bind(r.local_id.as_ref().map(|l| l.as_str().to_owned()))
                    .push_bind(r.requested_at.0)
                    .push_bind(r.completed_at.0)
                    .push_bind(r.outcome.as_str().to_owned())
                    .push_bind(r.non_disclosure)
                    .push_bind(r.message_id.map(|m| m.to_string()));
                seq += 1;
            });
            q.build().execute(&mut *conn).await?;
        }
        *next = after;
        Ok(first)
    }
}

/// The next sequence number of a `records` table (dense from 0).
pub(crate) async fn next_seq(pool: &PgPool) -> Result<u64, DbError> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM records")
        .fetch_one(pool)
        .await
        .map_err(DbError::Connect)?;
    u64::try_from(next).map_err(|_| DbError::Inconsistent {
        reason: format!("records: next sequence number {next}"),
    })
}

/// The requests this institution answered as a provider since `since`
/// (by completion time): requester, message id, when.
pub(crate) async fn recent_provided(
    pool: &PgPool,
    since: UnixMillis,
) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
    let rows = sqlx::query(
        "SELECT counterpart, message_id, completed_at FROM records \
         WHERE role = 'provider' AND completed_at >= $1 AND message_id IS NOT NULL",
    )
    .bind(since.0)
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

pub(crate) async fn list_records(
    pool: &PgPool,
    after_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
    let after = match after_seq.map(i64::try_from) {
        None => -1,
        Some(Ok(s)) => s,
        // No record is numbered beyond a BIGINT.
        Some(Err(_)) => return Ok(Vec::new()),
    };
    let rows = sqlx::query("SELECT * FROM records WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after)
        .bind(i64::from(limit.clamp(1, 10_000)))
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

fn local_id_col(row: &PgRow) -> Result<LocalPersonId, StoreError> {
    parse_col("local_id", &get::<String>(row, "local_id")?, LocalPersonId::parse)
}

fn item_from(row: &PgRow, cipher: Option<&AtRestCipher>) -> Result<ItemValue, StoreError> {
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

fn record_from(row: &PgRow) -> Result<(u64, NodeRecord), StoreError> {
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
    row: &PgRow,
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

impl NodeStore for PgNodeStore {
    async fn store_notice(&self, local_id: &LocalPersonId, n: Notice) -> Result<(), StoreError> {
        text_fits("notice id", &n.id)?;
        text_fits("sender_name", &n.sender_name)?;
        text_fits("title_ja", &n.title_ja)?;
        text_fits("body_ja", &n.body_ja)?;
        text_fits("title_en", n.title_en.as_deref().unwrap_or_default())?;
        text_fits("body_en", n.body_en.as_deref().unwrap_or_default())?;
        let c = self.cipher.as_deref();
        sqlx::query(
            "INSERT INTO notices (id, local_id, sender, sender_name, title_ja, body_ja, title_en, body_en, sent_at, read_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&n.id)
        .bind(local_id.as_str())
        .bind(n.sender.to_string())
        .bind(&n.sender_name)
        .bind(notice_col(c, &n, local_id, NoticeField::TitleJa, Some(&n.title_ja)))
        .bind(notice_col(c, &n, local_id, NoticeField::BodyJa, Some(&n.body_ja)))
        .bind(notice_col(c, &n, local_id, NoticeField::TitleEn, n.title_en.as_deref()))
        .bind(notice_col(c, &n, local_id, NoticeField::BodyEn, n.body_en.as_deref()))
        .bind(n.sent_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("store notice"))?;
        Ok(())
    }

    async fn notices(&self, local_id: &LocalPersonId) -> Result<Vec<Notice>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM notices WHERE local_id = $1 ORDER BY sent_at DESC, id LIMIT 1000")
                .bind(local_id.as_str())
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
        if text_fits("notice id", id).is_err() {
            // No stored id holds NUL.
            return Ok(false);
        }
        let r =
            sqlx::query("UPDATE notices SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND local_id = $3")
                .bind(at.0)
                .bind(id)
                .bind(local_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(store_err("mark notice read"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn enrol(&self, persons: Vec<EnrolledPerson>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("enrol"))?;
        // Bulk enrolment: one array statement for the whole batch when no
        // person or code appears twice in it (the usual case). A conflict
        // with stored rows that only the order of inserts resolves (a code
        // moving from one person to another) rolls the savepoint back and
        // the batch goes one statement per person, in order, as on SQLite.
        let ids: HashSet<&str> = persons.iter().map(|p| p.local_id.as_str()).collect();
        let codes: Vec<String> = persons.iter().map(|p| p.code.to_string()).collect();
        let distinct =
            ids.len() == persons.len() && codes.iter().collect::<HashSet<_>>().len() == codes.len();
        if distinct && persons.len() > 1 {
            let mut bulk = sqlx::Acquire::begin(&mut *tx).await.map_err(store_err("enrol"))?;
            let done = sqlx::query(
                "INSERT INTO persons (local_id, code, enrolled_at) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[]) \
                 ON CONFLICT (local_id) DO UPDATE SET code = excluded.code, enrolled_at = excluded.enrolled_at",
            )
            .bind(persons.iter().map(|p| p.local_id.as_str()).collect::<Vec<_>>())
            .bind(&codes)
            .bind(persons.iter().map(|p| p.enrolled_at.0).collect::<Vec<_>>())
            .execute(&mut *bulk)
            .await;
            match done {
                Ok(_) => {
                    bulk.commit().await.map_err(store_err("enrol"))?;
                    return tx.commit().await.map_err(store_err("enrol"));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "bulk enrolment conflicted; enrolling one by one");
                    bulk.rollback().await.map_err(store_err("enrol"))?;
                }
            }
        }
        for (p, code) in persons.iter().zip(&codes) {
            sqlx::query(
                "INSERT INTO persons (local_id, code, enrolled_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (local_id) DO UPDATE SET code = excluded.code, enrolled_at = excluded.enrolled_at",
            )
            .bind(p.local_id.as_str())
            .bind(code)
            .bind(p.enrolled_at.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("enrol"))?;
        }
        tx.commit().await.map_err(store_err("enrol"))
    }

    async fn code_of(&self, local_id: &LocalPersonId) -> Result<Option<InstitutionCode>, StoreError> {
        let code: Option<String> = sqlx::query_scalar("SELECT code FROM persons WHERE local_id = $1")
            .bind(local_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find code"))?;
        code.map(|c| parse_col("code", &c, InstitutionCode::parse))
            .transpose()
    }

    async fn persons_page(
        &self,
        after: Option<LocalPersonId>,
        limit: u32,
    ) -> Result<Vec<EnrolledPerson>, StoreError> {
        let rows = sqlx::query("SELECT * FROM persons WHERE local_id > $1 ORDER BY local_id LIMIT $2")
            .bind(after.map_or_else(String::new, |a| a.as_str().to_owned()))
            .bind(i64::from(limit.clamp(1, 10_000)))
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
        let id: Option<String> = sqlx::query_scalar("SELECT local_id FROM persons WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find person"))?;
        id.map(|l| parse_col("local_id", &l, LocalPersonId::parse))
            .transpose()
    }

    async fn enrolled_among(&self, ids: Vec<LocalPersonId>) -> Result<HashSet<LocalPersonId>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        let rows: Vec<String> = sqlx::query_scalar("SELECT local_id FROM persons WHERE local_id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("check enrolment"))?;
        rows.iter()
            .map(|l| parse_col("local_id", l, LocalPersonId::parse))
            .collect()
    }

    async fn import_items(&self, items: Vec<ItemValue>) -> Result<usize, StoreError> {
        // One multi-row upsert may not touch a row twice: of items with the
        // same key the last is kept, which is what SQLite's one statement
        // per item leaves behind.
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
        for chunk in kept.chunks(MAX_BINDS / 5) {
            let mut q =
                QueryBuilder::new("INSERT INTO items (local_id, item, fiscal_year, value, updated_at) ");
            q.push_values(chunk, |mut b, v| {
                b.push_bind(v.local_id.as_str().to_owned())
                    .push_bind(v.item.as_str().to_owned())
                    .push_bind(fy_col(v.fiscal_year))
                    .push_bind(item_col(v, self.cipher.as_deref()))
                    .push_bind(v.updated_at.0);
            });
            q.push(
                " ON CONFLICT (local_id, item, fiscal_year) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
            );
            q.build().execute(&mut *tx).await.map_err(store_err("import"))?;
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
        let row = sqlx::query("SELECT * FROM items WHERE local_id = $1 AND item = $2 AND fiscal_year = $3")
            .bind(local_id.as_str())
            .bind(item.as_str())
            .bind(fy_col(fiscal_year))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read item"))?;
        row.as_ref()
            .map(|r| item_from(r, self.cipher.as_deref()))
            .transpose()
    }

    async fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError> {
        self.records.append(NodeRow::new(record)?).await
    }

    async fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
        list_records(&self.pool, after_seq, limit).await
    }

    async fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
        recent_provided(&self.pool, since).await
    }

    async fn counts(&self) -> Result<NodeCounts, StoreError> {
        let row = sqlx::query(
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
}
