use std::collections::HashMap;
use std::path::Path;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason, RevokedCard};
use renkei_crypto::{AtRestCipher, DataKey};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CorporateNumber, FourFacts, InstitutionCode, KanaName, LinkId,
    MyNumber, PersonName, ResidentRecordCode, Sex,
};
use renkei_protocol::{NodeRecord, StoreError, UnixMillis};
use renkei_registry::at_rest::{ResidentSecrets, my_number_index, open_event_detail, seal_event_detail};
use renkei_registry::{
    Card, CardAction, CardActionRefusal, CardCert, CardId, CardStatus, CertEffect, HouseholdId, NewCard,
    RegistryCounts, RegistryStore, Resident, ResidentEvent, ResidentStatus, StoredEvent, plan_action,
    plan_reissue,
};
use sqlx::QueryBuilder;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};

use crate::at_rest::{self, Cipher};
use crate::db::{self, DbError, Durability, corrupt, get, parse_col, store_err};
use crate::group_commit::GroupCommit;
use crate::node::NodeRow;
use crate::registry_card as cards;

const MIGRATIONS: &[&str] = renkei_store_sql::sqlite::migrations::REGISTRY;

/// The registry's store in one SQLite file. Opened with a data key, it
/// seals residents' personal data, event details and card certificates
/// (`renkei_registry::at_rest`) and finds residents by blind indexes.
#[derive(Debug, Clone)]
pub struct SqliteRegistryStore {
    pool: SqlitePool,
    records: GroupCommit<NodeRow>,
    cipher: Cipher,
}

impl SqliteRegistryStore {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Self::open_with_key(path, durability, None).await
    }

    /// Open with the registry's data key, if it has one: a new store is
    /// then encrypted at rest; an existing one must have been created with
    /// the same key (or, without a key, in clear).
    pub async fn open_with_key(
        path: &Path,
        durability: Durability,
        key: Option<&DataKey>,
    ) -> Result<Self, DbError> {
        let pool = db::open(path, durability, MIGRATIONS).await?;
        let cipher = at_rest::settle(&pool, path, key, "SELECT EXISTS (SELECT 1 FROM residents)").await?;
        let next = crate::node::next_seq(&pool, path).await?;
        let writer = db::writer(path, durability).await?;
        Ok(Self {
            pool,
            records: GroupCommit::start(writer, next, (), Box::new(|_| {}), "registry records"),
            cipher,
        })
    }

    fn cipher(&self) -> Option<&AtRestCipher> {
        self.cipher.as_deref()
    }

    /// What the store keeps (and looks up) for a My Number.
    fn my_number_key(&self, n: &MyNumber) -> String {
        match self.cipher() {
            None => n.expose(),
            Some(c) => my_number_index(c, n),
        }
    }
}

fn link_from(bytes: Vec<u8>) -> Result<LinkId, StoreError> {
    let b: [u8; 16] = bytes.try_into().map_err(|_| corrupt("link_id", "not 16 bytes"))?;
    Ok(LinkId::from_bytes(b))
}

/// A resident's personal fields from their row: the sealed value in an
/// encrypted store, the columns in a store in clear. A row of the other
/// kind is corrupt (the two are never mixed).
pub(crate) fn secrets_from(
    row: &SqliteRow,
    link: LinkId,
    cipher: Option<&AtRestCipher>,
) -> Result<ResidentSecrets, StoreError> {
    let sealed: Option<Vec<u8>> = get(row, "sealed")?;
    match (cipher, sealed) {
        (Some(c), Some(sealed)) => ResidentSecrets::open(
            c,
            link,
            &get::<String>(row, "my_number")?,
            &get::<String>(row, "resident_code")?,
            &sealed,
        )
        .map_err(|e| corrupt("resident", e)),
        (Some(_), None) => Err(corrupt("resident", "a row in clear in an encrypted store")),
        (None, Some(_)) => Err(corrupt("resident", "a sealed row in a store in clear")),
        (None, None) => {
            let sex: i64 = get(row, "sex")?;
            Ok(ResidentSecrets {
                my_number: MyNumber::parse(&get::<String>(row, "my_number")?)
                    .map_err(|e| corrupt("my_number", e))?,
                resident_code: ResidentRecordCode::parse(&get::<String>(row, "resident_code")?)
                    .map_err(|e| corrupt("resident_code", e))?,
                facts: FourFacts {
                    name: parse_col("name", &get::<String>(row, "name")?, PersonName::parse)?,
                    address: parse_col("address", &get::<String>(row, "address")?, Address::parse)?,
                    birth_date: parse_col(
                        "birth_date",
                        &get::<String>(row, "birth_date")?,
                        BirthDate::parse,
                    )?,
                    sex: u8::try_from(sex)
                        .map_err(|_| corrupt("sex", sex))
                        .and_then(|s| Sex::from_iso5218(s).map_err(|e| corrupt("sex", e)))?,
                },
                kana: parse_col("kana", &get::<String>(row, "kana")?, KanaName::parse)?,
                status: match get::<Option<String>>(row, "deceased_on")? {
                    None => ResidentStatus::Living,
                    Some(d) => ResidentStatus::Deceased {
                        date: parse_col("deceased_on", &d, BirthDate::parse)?,
                    },
                },
            })
        }
    }
}

fn resident_from(row: &SqliteRow, cipher: Option<&AtRestCipher>) -> Result<Resident, StoreError> {
    let link_id = link_from(get(row, "link_id")?)?;
    let s = secrets_from(row, link_id, cipher)?;
    Ok(Resident {
        link_id,
        my_number: s.my_number,
        resident_code: s.resident_code,
        facts: s.facts,
        kana: s.kana,
        household: HouseholdId(get::<i64>(row, "household")? as u64),
        status: s.status,
        own_code: get::<Option<String>>(row, "own_code")?
            .map(|c| parse_col("own_code", &c, InstitutionCode::parse))
            .transpose()?,
        registered_at: UnixMillis(get(row, "registered_at")?),
    })
}

/// An event's detail column: its JSON, sealed in an encrypted store.
fn detail_col(
    cipher: Option<&AtRestCipher>,
    link: LinkId,
    kind: &str,
    at: UnixMillis,
    detail: &serde_json::Value,
) -> String {
    let json = detail.to_string();
    match cipher {
        None => json,
        Some(c) => seal_event_detail(c, link, kind, at, &json),
    }
}

/// In an encrypted store: find a resident by My Number index, change their
/// sealed fields with `change` (which returns `false` to leave them as they
/// are) and write them back. The caller's transaction began IMMEDIATE, so
/// nothing changes the row between the read and the write.
async fn update_sealed(
    conn: &mut SqliteConnection,
    c: &AtRestCipher,
    my_number: &MyNumber,
    change: impl FnOnce(&mut ResidentSecrets) -> bool,
) -> Result<Option<LinkId>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM residents WHERE my_number = ?")
        .bind(my_number_index(c, my_number))
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_err("update resident"))?
    else {
        return Ok(None);
    };
    let link = link_from(get(&row, "link_id")?)?;
    let mut secrets = secrets_from(&row, link, Some(c))?;
    if !change(&mut secrets) {
        return Ok(None);
    }
    sqlx::query("UPDATE residents SET sealed = ? WHERE link_id = ?")
        .bind(secrets.seal(c, link).sealed)
        .bind(&link.as_bytes()[..])
        .execute(&mut *conn)
        .await
        .map_err(store_err("update resident"))?;
    Ok(Some(link))
}

impl RegistryStore for SqliteRegistryStore {
    async fn register(&self, residents: Vec<Resident>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("register residents"))?;
        for r in &residents {
            let q = sqlx::query(
                "INSERT INTO residents (link_id, my_number, resident_code, name, kana, address, \
                 birth_date, sex, household, deceased_on, own_code, registered_at, sealed) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            )
            .bind(&r.link_id.as_bytes()[..]);
            // A registered resident is living (the status is not taken from
            // the caller, as in clear).
            let sealed = self.cipher().map(|c| {
                ResidentSecrets {
                    status: ResidentStatus::Living,
                    ..ResidentSecrets::of(r)
                }
                .seal(c, r.link_id)
            });
            let q = match &sealed {
                None => q
                    .bind(r.my_number.expose())
                    .bind(r.resident_code.as_string())
                    .bind(r.facts.name.as_str())
                    .bind(r.kana.as_str())
                    .bind(r.facts.address.as_str())
                    .bind(r.facts.birth_date.to_string())
                    .bind(i64::from(r.facts.sex.iso5218())),
                // Blind indexes, empty personal columns.
                Some(sr) => q
                    .bind(sr.my_number_index.clone())
                    .bind(sr.resident_code_index.clone())
                    .bind("")
                    .bind("")
                    .bind("")
                    .bind("")
                    .bind(0_i64),
            };
            let sealed = sealed.map(|sr| sr.sealed);
            q.bind(
                i64::try_from(r.household.0).map_err(|_| corrupt("household", "does not fit an INTEGER"))?,
            )
            .bind(r.own_code.as_ref().map(ToString::to_string))
            .bind(r.registered_at.0)
            .bind(sealed)
            .execute(&mut *tx)
            .await
            .map_err(store_err("register residents"))?;
        }
        tx.commit().await.map_err(store_err("register residents"))
    }

    async fn by_my_numbers(&self, numbers: Vec<MyNumber>) -> Result<Vec<Option<Resident>>, StoreError> {
        let mut found: HashMap<String, Resident> = HashMap::new();
        let keys: Vec<String> = numbers.iter().map(|n| self.my_number_key(n)).collect();
        for chunk in keys.chunks(500) {
            let mut q = QueryBuilder::new("SELECT * FROM residents WHERE my_number IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(k.clone());
            }
            q.push(")");
            let rows = q
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("find residents"))?;
            for row in &rows {
                // The column holds what was asked: the number, or its index.
                found.insert(get(row, "my_number")?, resident_from(row, self.cipher())?);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn by_own_code(&self, code: &InstitutionCode) -> Result<Option<Resident>, StoreError> {
        let row = sqlx::query("SELECT * FROM residents WHERE own_code = ?")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find resident by code"))?;
        row.as_ref().map(|r| resident_from(r, self.cipher())).transpose()
    }

    async fn set_own_codes(&self, codes: Vec<(LinkId, InstitutionCode)>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("set own codes"))?;
        for (link, code) in &codes {
            sqlx::query("UPDATE residents SET own_code = ? WHERE link_id = ?")
                .bind(code.to_string())
                .bind(&link.as_bytes()[..])
                .execute(&mut *tx)
                .await
                .map_err(store_err("set own codes"))?;
        }
        tx.commit().await.map_err(store_err("set own codes"))
    }

    async fn without_own_code(&self, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows = sqlx::query("SELECT link_id FROM residents WHERE own_code IS NULL LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("residents without code"))?;
        rows.iter().map(|r| link_from(get(r, "link_id")?)).collect()
    }

    async fn link_ids_page(&self, after: Option<LinkId>, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows = sqlx::query("SELECT link_id FROM residents WHERE link_id > ? ORDER BY link_id LIMIT ?")
            .bind(after.map_or_else(Vec::new, |l| l.as_bytes().to_vec()))
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list link ids"))?;
        rows.iter().map(|r| link_from(get(r, "link_id")?)).collect()
    }

    async fn claim_acquisition_numbers(
        &self,
        institution: CorporateNumber,
        numbers: Vec<AcquisitionNumber>,
        at: UnixMillis,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(store_err("claim acquisition numbers"))?;
        let mut claimed = Vec::with_capacity(numbers.len());
        for n in &numbers {
            let r = sqlx::query(
                "INSERT INTO acquisitions (institution, number, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(institution.to_string())
            .bind(n.to_string())
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("claim acquisition numbers"))?;
            claimed.push(r.rows_affected() == 1);
        }
        tx.commit()
            .await
            .map_err(store_err("claim acquisition numbers"))?;
        Ok(claimed)
    }

    async fn change_address(
        &self,
        my_number: MyNumber,
        new_address: Address,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("change address"))?;
        let link = match self.cipher() {
            None => {
                let Some(row) =
                    sqlx::query("UPDATE residents SET address = ? WHERE my_number = ? RETURNING link_id")
                        .bind(new_address.as_str())
                        .bind(my_number.expose())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_err("change address"))?
                else {
                    return Ok(None);
                };
                link_from(get(&row, "link_id")?)?
            }
            Some(c) => {
                let Some(link) = update_sealed(&mut tx, c, &my_number, |s| {
                    s.facts.address = new_address.clone();
                    true
                })
                .await?
                else {
                    return Ok(None);
                };
                link
            }
        };
        let detail = serde_json::json!({ "address": new_address.as_str() });
        let seq = sqlx::query("INSERT INTO events (link_id, kind, detail, at) VALUES (?, ?, ?, ?)")
            .bind(&link.as_bytes()[..])
            .bind("address_changed")
            .bind(detail_col(self.cipher(), link, "address_changed", at, &detail))
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("change address"))?
            .last_insert_rowid();
        for card in cards::live_cards(&mut tx, link, self.cipher()).await? {
            cards::apply(
                &mut tx,
                &card,
                None,
                CertEffect::Revoke(RevocationReason::FactsChanged),
                |c| c.purpose == CertPurpose::Signing,
                at,
            )
            .await?;
        }
        tx.commit().await.map_err(store_err("change address"))?;
        Ok(Some(seq as u64))
    }

    async fn record_death(
        &self,
        my_number: MyNumber,
        date: BirthDate,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("record death"))?;
        let link = match self.cipher() {
            None => {
                let Some(row) = sqlx::query(
                    "UPDATE residents SET deceased_on = ? WHERE my_number = ? AND deceased_on IS NULL RETURNING link_id",
                )
                .bind(date.to_string())
                .bind(my_number.expose())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err("record death"))?
                else {
                    return Ok(None);
                };
                link_from(get(&row, "link_id")?)?
            }
            Some(c) => {
                let Some(link) = update_sealed(&mut tx, c, &my_number, |s| {
                    if s.status != ResidentStatus::Living {
                        return false;
                    }
                    s.status = ResidentStatus::Deceased { date };
                    true
                })
                .await?
                else {
                    return Ok(None);
                };
                link
            }
        };
        let detail = serde_json::json!({ "date": date.to_string() });
        let seq = sqlx::query("INSERT INTO events (link_id, kind, detail, at) VALUES (?, ?, ?, ?)")
            .bind(&link.as_bytes()[..])
            .bind("died")
            .bind(detail_col(self.cipher(), link, "died", at, &detail))
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("record death"))?
            .last_insert_rowid();
        for card in cards::live_cards(&mut tx, link, self.cipher()).await? {
            cards::apply(
                &mut tx,
                &card,
                Some(CardStatus::Ceased),
                CertEffect::Revoke(RevocationReason::Ceased),
                |_| true,
                at,
            )
            .await?;
        }
        tx.commit().await.map_err(store_err("record death"))?;
        Ok(Some(seq as u64))
    }

    async fn events(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list events"))?;
        rows.iter()
            .map(|r| {
                let kind: String = get(r, "kind")?;
                let link_id = link_from(get(r, "link_id")?)?;
                let at = UnixMillis(get(r, "at")?);
                let stored: String = get(r, "detail")?;
                let detail: serde_json::Value = match self.cipher() {
                    None => serde_json::from_str(&stored),
                    Some(c) => {
                        let plain = open_event_detail(c, link_id, &kind, at, &stored)
                            .map_err(|e| corrupt("event detail", e))?;
                        serde_json::from_slice(&plain)
                    }
                }
                .map_err(|e| corrupt("event detail", e))?;
                let text = |k: &str| {
                    detail[k]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| corrupt("event detail", k))
                };
                let event = match kind.as_str() {
                    "address_changed" => ResidentEvent::AddressChanged {
                        new_address: parse_col("address", &text("address")?, Address::parse)?,
                    },
                    "died" => ResidentEvent::Died {
                        date: parse_col("date", &text("date")?, BirthDate::parse)?,
                    },
                    other => return Err(corrupt("event kind", other)),
                };
                Ok(StoredEvent {
                    seq: get::<i64>(r, "seq")? as u64,
                    link_id,
                    event,
                    at,
                })
            })
            .collect()
    }

    async fn counts(&self) -> Result<RegistryCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM residents) AS r, (SELECT COUNT(*) FROM events) AS e, \
             (SELECT COUNT(*) FROM acquisitions) AS a, (SELECT COUNT(*) FROM cards) AS c",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_err("count"))?;
        Ok(RegistryCounts {
            residents: get::<i64>(&row, "r")? as u64,
            events: get::<i64>(&row, "e")? as u64,
            acquisitions: get::<i64>(&row, "a")? as u64,
            cards: get::<i64>(&row, "c")? as u64,
        })
    }

    async fn resident_by_link(&self, link: LinkId) -> Result<Option<Resident>, StoreError> {
        let row = sqlx::query("SELECT * FROM residents WHERE link_id = ?")
            .bind(&link.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find resident"))?;
        row.as_ref().map(|r| resident_from(r, self.cipher())).transpose()
    }

    async fn insert_card(
        &self,
        card: NewCard,
        facts: FourFacts,
    ) -> Result<(Card, Option<CardId>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("issue card"))?;
        cards::check_facts(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let mut replaced = None;
        for old in cards::live_cards(&mut tx, card.link_id, self.cipher()).await? {
            if let Some((status, effect)) = plan_reissue(old.status) {
                cards::apply(&mut tx, &old, Some(status), effect, |_| true, card.issued_at).await?;
                replaced = Some(old.id);
            }
        }
        let id = cards::insert_card(&mut tx, &card, self.cipher()).await?;
        let stored = cards::card(&mut tx, id, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished after insert"))?;
        tx.commit().await.map_err(store_err("issue card"))?;
        Ok((stored, replaced))
    }

    async fn card(&self, id: CardId) -> Result<Option<Card>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err("read card"))?;
        cards::card(&mut conn, id, self.cipher()).await
    }

    async fn card_by_serial(&self, serial: CardSerial) -> Result<Option<Card>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err("find card"))?;
        cards::card_by_serial(&mut conn, serial, self.cipher()).await
    }

    async fn cards_of(&self, link: LinkId) -> Result<Vec<Card>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err("list cards"))?;
        cards::cards_of(&mut conn, link, self.cipher()).await
    }

    async fn card_action(
        &self,
        id: CardId,
        action: CardAction,
        at: UnixMillis,
    ) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("card action"))?;
        let Some(card) = cards::card(&mut tx, id, self.cipher()).await? else {
            return Ok(None);
        };
        let (status, effect) = match plan_action(card.status, action) {
            Ok(p) => p,
            Err(refusal) => return Ok(Some(Err(refusal))),
        };
        let after = cards::apply(&mut tx, &card, Some(status), effect, |_| true, at).await?;
        tx.commit().await.map_err(store_err("card action"))?;
        Ok(Some(Ok(after)))
    }

    async fn add_signing_cert(
        &self,
        id: CardId,
        cert: CardCert,
        facts: FourFacts,
    ) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(store_err("renew signing certificate"))?;
        let Some(card) = cards::card(&mut tx, id, self.cipher()).await? else {
            return Ok(None);
        };
        if card.status != CardStatus::Active {
            return Ok(Some(Err(CardActionRefusal::CannotRenew(card.status))));
        }
        cards::check_facts(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let card = cards::apply(
            &mut tx,
            &card,
            None,
            CertEffect::Revoke(RevocationReason::Reissued),
            |c| c.purpose == CertPurpose::Signing && c.revoked.is_none(),
            cert.issued_at,
        )
        .await?;
        cards::insert_cert(&mut tx, card.id, card.profile, &cert, self.cipher()).await?;
        let stored = cards::card(&mut tx, id, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished"))?;
        tx.commit()
            .await
            .map_err(store_err("renew signing certificate"))?;
        Ok(Some(Ok(stored)))
    }

    async fn card_revocations(
        &self,
        profile: CardProfile,
        purpose: CertPurpose,
        now: UnixMillis,
    ) -> Result<(u64, Vec<RevokedCard>), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err("list revocations"))?;
        cards::revocations(&mut conn, profile, purpose, now).await
    }

    async fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError> {
        self.records.append(NodeRow(record)).await
    }

    async fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, NodeRecord)>, StoreError> {
        crate::node::list_records(&self.pool, after_seq, limit).await
    }

    async fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(CorporateNumber, renkei_ids::MessageId, UnixMillis)>, StoreError> {
        crate::node::recent_provided(&self.pool, since).await
    }
}
