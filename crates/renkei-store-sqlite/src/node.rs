use std::collections::HashSet;
use std::path::Path;

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
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row};

use crate::at_rest::{self, Cipher};
use crate::db::{self, DbError, Durability, corrupt, get, parse_col, store_err};
use crate::group_commit::{Appendable, GroupCommit};

const MIGRATIONS: &[&str] = renkei_store_sql::sqlite::migrations::NODE;

/// An institution node's store in one SQLite file. Opened with a data
/// key, it seals item values and notice texts (`renkei_node::at_rest`).
#[derive(Debug, Clone)]
pub struct SqliteNodeStore {
    pool: SqlitePool,
    records: GroupCommit<NodeRow>,
    cipher: Cipher,
}

#[derive(Debug)]
pub(crate) struct NodeRow(pub(crate) NodeRecord);

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

impl Appendable for NodeRow {
    type State = ();

    async fn insert_batch(
        conn: &mut SqliteConnection,
        first_seq: u64,
        rows: Vec<&Self>,
        _: &mut (),
    ) -> Result<(), sqlx::Error> {
        // 13 columns: 2000 rows stay under SQLite's bound-value limit.
        for (c, chunk) in rows.chunks(2000).enumerate() {
            let mut q = QueryBuilder::new(
                "INSERT INTO records (seq, query_id, role, counterpart, office_work, item, fiscal_year, \
                 local_id, requested_at, completed_at, outcome, non_disclosure, message_id) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, row)| {
                let r = &row.0;
                b.push_bind((first_seq + (c * 2000 + i) as u64) as i64)
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
            });
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl SqliteNodeStore {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::open_with_key(path, durability, None).await
    }

    /// Open with the node's data key, if it has one: a new store is then
    /// encrypted at rest; an existing one must have been created with the
    /// same key (or, without a key, in clear).
    pub async fn open_with_key(
        path: &Path,
        durability: Durability,
        key: Option<&DataKey>,
    ) -> Result<Self, DbError> {
        let pool = db::open(path, durability, MIGRATIONS).await?;
        let cipher = at_rest::settle(
            &pool,
            path,
            key,
            "SELECT EXISTS (SELECT 1 FROM items) OR EXISTS (SELECT 1 FROM notices)",
        )
        .await?;
        let next = next_seq(&pool, path).await?;
        let writer = db::writer(path, durability).await?;
        Ok(Self {
            pool,
            records: GroupCommit::start(writer, next, (), Box::new(|_| {}), "node records"),
            cipher,
        })
    }
}

/// The next sequence number of a `records` table (dense from 0).
pub(crate) async fn next_seq(pool: &SqlitePool, path: &Path) -> Result<u64, DbError> {
    let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq) + 1, 0) FROM records")
        .fetch_one(pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|source| DbError::Open {
            path: path.display().to_string(),
            source,
        })?;
    Ok(next as u64)
}

/// The requests this institution answered as a provider since `since`
/// (by completion time): requester, message id, when.
pub(crate) async fn recent_provided(
    pool: &SqlitePool,
    since: UnixMillis,
) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
    let rows = sqlx::query(
        "SELECT counterpart, message_id, completed_at FROM records \
         WHERE role = 'provider' AND completed_at >= ? AND message_id IS NOT NULL",
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
    pool: &SqlitePool,
    after_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
    let rows = sqlx::query("SELECT * FROM records WHERE seq > ? ORDER BY seq LIMIT ?")
        .bind(after_seq.map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(pool)
        .await
        .map_err(store_err("list records"))?;
    rows.iter().map(record_from).collect()
}

fn item_from(row: &SqliteRow, cipher: Option<&AtRestCipher>) -> Result<ItemValue, StoreError> {
    let local_id = parse_col("local_id", &get::<String>(row, "local_id")?, LocalPersonId::parse)?;
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

pub(crate) fn record_from(row: &SqliteRow) -> Result<(u64, NodeRecord), StoreError> {
    let role: String = get(row, "role")?;
    Ok((
        get::<i64>(row, "seq")? as u64,
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
    row: &sqlx::sqlite::SqliteRow,
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

impl NodeStore for SqliteNodeStore {
    async fn store_notice(&self, local_id: &LocalPersonId, n: Notice) -> Result<(), StoreError> {
        let c = self.cipher.as_deref();
        sqlx::query(
            "INSERT INTO notices (id, local_id, sender, sender_name, title_ja, body_ja, title_en, body_en, sent_at, read_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (id) DO NOTHING",
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
            sqlx::query("SELECT * FROM notices WHERE local_id = ? ORDER BY sent_at DESC, id LIMIT 1000")
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
        let r =
            sqlx::query("UPDATE notices SET read_at = COALESCE(read_at, ?) WHERE id = ? AND local_id = ?")
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
        for p in &persons {
            sqlx::query(
                "INSERT INTO persons (local_id, code, enrolled_at) VALUES (?, ?, ?) \
                 ON CONFLICT (local_id) DO UPDATE SET code = excluded.code, enrolled_at = excluded.enrolled_at",
            )
            .bind(p.local_id.as_str())
            .bind(p.code.to_string())
            .bind(p.enrolled_at.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("enrol"))?;
        }
        tx.commit().await.map_err(store_err("enrol"))
    }

    async fn code_of(&self, local_id: &LocalPersonId) -> Result<Option<InstitutionCode>, StoreError> {
        let row = sqlx::query("SELECT code FROM persons WHERE local_id = ?")
            .bind(local_id.as_str())
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
        let rows = sqlx::query("SELECT * FROM persons WHERE local_id > ? ORDER BY local_id LIMIT ?")
            .bind(after.map_or_else(String::new, |a| a.as_str().to_owned()))
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list persons"))?;
        rows.iter()
            .map(|r| {
                Ok(EnrolledPerson {
                    local_id: parse_col("local_id", &get::<String>(r, "local_id")?, LocalPersonId::parse)?,
                    code: parse_col("code", &get::<String>(r, "code")?, InstitutionCode::parse)?,
                    enrolled_at: UnixMillis(get(r, "enrolled_at")?),
                })
            })
            .collect()
    }

    async fn person_by_code(&self, code: &InstitutionCode) -> Result<Option<LocalPersonId>, StoreError> {
        let row = sqlx::query("SELECT local_id FROM persons WHERE code = ?")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find person"))?;
        row.map(|r| parse_col("local_id", &get::<String>(&r, "local_id")?, LocalPersonId::parse))
            .transpose()
    }

    async fn enrolled_among(&self, ids: Vec<LocalPersonId>) -> Result<HashSet<LocalPersonId>, StoreError> {
        let mut found = HashSet::new();
        // SQLite limits bound parameters; 500 per query is far below it.
        for chunk in ids.chunks(500) {
            let mut q = QueryBuilder::new("SELECT local_id FROM persons WHERE local_id IN (");
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str().to_owned());
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("check enrolment"))?;
            for r in rows {
                found.insert(parse_col(
                    "local_id",
                    &get::<String>(&r, "local_id")?,
                    LocalPersonId::parse,
                )?);
            }
        }
        Ok(found)
    }

    async fn import_items(&self, items: Vec<ItemValue>) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("import"))?;
        for v in &items {
            let value = item_col(v, self.cipher.as_deref());
            sqlx::query(
                "INSERT INTO items (local_id, item, fiscal_year, value, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (local_id, item, fiscal_year) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
            )
            .bind(v.local_id.as_str())
            .bind(v.item.as_str())
            .bind(fy_col(v.fiscal_year))
            .bind(value)
            .bind(v.updated_at.0)
            .execute(&mut *tx)
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
        let row = sqlx::query("SELECT * FROM items WHERE local_id = ? AND item = ? AND fiscal_year = ?")
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
        self.records.append(NodeRow(record)).await
    }

    async fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError> {
        recent_provided(&self.pool, since).await
    }

    async fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
        list_records(&self.pool, after_seq, limit).await
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
            persons: get::<i64>(&row, "p")? as u64,
            items: get::<i64>(&row, "i")? as u64,
            records: get::<i64>(&row, "r")? as u64,
        })
    }
}
