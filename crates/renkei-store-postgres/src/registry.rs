//! The resident registry's store: residents, acquisition numbers, events,
//! cards (in `registry_card`) and the registry's own provision records,
//! which share the node's record writer and reader.

use std::collections::{HashMap, HashSet};

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
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Postgres, QueryBuilder, Transaction};

use crate::at_rest::{self, Cipher};
use crate::db::{self, DbError, MAX_BINDS, corrupt, get, parse_col, store_err, to_i64, to_u64};
use crate::group_commit::GroupCommit;
use crate::node::NodeRow;
use crate::registry_card::{self as cards, CrlBumps};

const MIGRATIONS: &[&str] = renkei_store_sql::postgres::migrations::REGISTRY;

/// The registry's store in a PostgreSQL database, in a schema or database
/// of its own (a node's store has a `records` table too). One process
/// appends the registry's provision records; everything else may be
/// shared by several processes. Opened with a data key, it seals
/// residents' personal data, event details and card certificates
/// (`renkei_registry::at_rest`) and finds residents by blind indexes.
#[derive(Debug, Clone)]
pub struct PgRegistryStore {
    pool: PgPool,
    records: GroupCommit<NodeRow>,
    cipher: Cipher,
}

impl PgRegistryStore {
    /// Open a store in clear (refused if it was created with a data key).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Self::open_with_key(url, None).await
    }

    /// Open with the registry's data key, if it has one: a new store is
    /// then encrypted at rest; an existing one must have been created with
    /// the same key (or, without a key, in clear).
    pub async fn open_with_key(url: &str, key: Option<&DataKey>) -> Result<Self, DbError> {
        let pool = db::open(url, "registry", MIGRATIONS).await?;
        let cipher =
            at_rest::settle(&pool, "registry", key, "SELECT EXISTS (SELECT 1 FROM residents)").await?;
        let next = crate::node::next_seq(&pool).await?;
        Ok(Self {
            records: GroupCommit::start(pool.clone(), next, Box::new(|_| {}), "registry records"),
            pool,
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

    /// A read-only transaction on one snapshot: a card and its
    /// certificates, a CRL number and its entries, are read consistently.
    async fn snapshot(&self, what: &'static str) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err(what))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        Ok(tx)
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
    row: &PgRow,
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

fn resident_from(row: &PgRow, cipher: Option<&AtRestCipher>) -> Result<Resident, StoreError> {
    let link_id = link_from(get(row, "link_id")?)?;
    let s = secrets_from(row, link_id, cipher)?;
    Ok(Resident {
        link_id,
        my_number: s.my_number,
        resident_code: s.resident_code,
        facts: s.facts,
        kana: s.kana,
        household: HouseholdId(to_u64("household", get(row, "household")?)?),
        status: s.status,
        own_code: get::<Option<String>>(row, "own_code")?
            .map(|c| parse_col("own_code", &c, InstitutionCode::parse))
            .transpose()?,
        registered_at: UnixMillis(get(row, "registered_at")?),
    })
}

/// In an encrypted store: find and lock a resident by My Number index,
/// change their sealed fields with `change` (which returns `false` to leave
/// them as they are) and write them back. The row lock is the first of the
/// transaction (see `registry_card`).
async fn update_sealed(
    conn: &mut PgConnection,
    c: &AtRestCipher,
    my_number: &MyNumber,
    change: impl FnOnce(&mut ResidentSecrets) -> bool,
) -> Result<Option<LinkId>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM residents WHERE my_number = $1 FOR UPDATE")
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
    sqlx::query("UPDATE residents SET sealed = $1 WHERE link_id = $2")
        .bind(secrets.seal(c, link).sealed)
        .bind(&link.as_bytes()[..])
        .execute(&mut *conn)
        .await
        .map_err(store_err("update resident"))?;
    Ok(Some(link))
}

/// Record an event. Numbers follow the commit order — the table stays
/// locked against other writers until the commit (readers go on) — so a
/// reader paging by number never passes one that commits later; and they
/// stay dense, as SQLite's.
async fn append_event(
    conn: &mut PgConnection,
    cipher: Option<&AtRestCipher>,
    link: LinkId,
    kind: &str,
    detail: serde_json::Value,
    at: UnixMillis,
) -> Result<u64, StoreError> {
    let detail = match cipher {
        None => detail.to_string(),
        Some(c) => seal_event_detail(c, link, kind, at, &detail.to_string()),
    };
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await
        .map_err(store_err("record event"))?;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (seq, link_id, kind, detail, at) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4 FROM events RETURNING seq",
    )
    .bind(&link.as_bytes()[..])
    .bind(kind)
    .bind(detail)
    .bind(at.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_err("record event"))?;
    to_u64("event seq", seq)
}

const RESIDENT_COLUMNS: usize = 12;

impl RegistryStore for PgRegistryStore {
    async fn register(&self, residents: Vec<Resident>) -> Result<(), StoreError> {
        // Refuse a household number beyond BIGINT before anything is written.
        let rows = residents
            .iter()
            .map(|r| Ok((r, to_i64("household", r.household.0)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut tx = self.pool.begin().await.map_err(store_err("register residents"))?;
        for chunk in rows.chunks(MAX_BINDS / RESIDENT_COLUMNS) {
            let mut q = QueryBuilder::new(
                "INSERT INTO residents (link_id, my_number, resident_code, name, kana, address, \
                 birth_date, sex, household, own_code, registered_at, sealed) ",
            );
            let cipher = self.cipher();
            q.push_values(chunk, |mut b, (r, household)| {
                b.push_bind(r.link_id.as_bytes().to_vec());
                // A registered resident is living (the status is not
                // taken from the caller, as in clear).
                let sealed = cipher.map(|c| {
                    ResidentSecrets {
                        status: ResidentStatus::Living,
                        ..ResidentSecrets::of(r)
                    }
                    .seal(c, r.link_id)
                });
                match &sealed {
                    None => {
                        b.push_bind(r.my_number.expose())
                            .push_bind(r.resident_code.as_string())
                            .push_bind(r.facts.name.as_str().to_owned())
                            .push_bind(r.kana.as_str().to_owned())
                            .push_bind(r.facts.address.as_str().to_owned())
                            .push_bind(r.facts.birth_date.to_string())
                            .push_bind(i64::from(r.facts.sex.iso5218()));
                    }
                    // Blind indexes, empty personal columns.
                    Some(sr) => {
                        b.push_bind(sr.my_number_index.clone())
                            .push_bind(sr.resident_code_index.clone())
                            .push_bind("")
                            .push_bind("")
                            .push_bind("")
                            .push_bind("")
                            .push_bind(0_i64);
                    }
                }
                b.push_bind(*household)
                    .push_bind(r.own_code.as_ref().map(ToString::to_string))
                    .push_bind(r.registered_at.0)
                    .push_bind(sealed.map(|sr| sr.sealed));
            });
            q.build()
                .execute(&mut *tx)
                .await
                .map_err(store_err("register residents"))?;
        }
        tx.commit().await.map_err(store_err("register residents"))
    }

    async fn by_my_numbers(&self, numbers: Vec<MyNumber>) -> Result<Vec<Option<Resident>>, StoreError> {
        let asked: Vec<String> = numbers.iter().map(|n| self.my_number_key(n)).collect();
        let rows = sqlx::query("SELECT * FROM residents WHERE my_number = ANY($1)")
            .bind(&asked)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("find residents"))?;
        let mut found: HashMap<String, Resident> = HashMap::new();
        for row in &rows {
            // The column holds what was asked: the number, or its index.
            found.insert(get(row, "my_number")?, resident_from(row, self.cipher())?);
        }
        Ok(asked.iter().map(|n| found.get(n).cloned()).collect())
    }

    async fn by_own_code(&self, code: &InstitutionCode) -> Result<Option<Resident>, StoreError> {
        let row = sqlx::query("SELECT * FROM residents WHERE own_code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find resident by code"))?;
        row.as_ref().map(|r| resident_from(r, self.cipher())).transpose()
    }

    async fn set_own_codes(&self, codes: Vec<(LinkId, InstitutionCode)>) -> Result<(), StoreError> {
        // One statement per person, in order, as on SQLite (a code moved
        // between people in one batch behaves the same).
        let mut tx = self.pool.begin().await.map_err(store_err("set own codes"))?;
        for (link, code) in &codes {
            sqlx::query("UPDATE residents SET own_code = $1 WHERE link_id = $2")
                .bind(code.to_string())
                .bind(&link.as_bytes()[..])
                .execute(&mut *tx)
                .await
                .map_err(store_err("set own codes"))?;
        }
        tx.commit().await.map_err(store_err("set own codes"))
    }

    async fn without_own_code(&self, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT link_id FROM residents WHERE own_code IS NULL ORDER BY registered_at, link_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("residents without code"))?;
        rows.into_iter().map(link_from).collect()
    }

    async fn link_ids_page(&self, after: Option<LinkId>, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT link_id FROM residents WHERE link_id > $1 ORDER BY link_id LIMIT $2")
                .bind(after.map_or_else(Vec::new, |l| l.as_bytes().to_vec()))
                .bind(i64::from(limit.clamp(1, 10_000)))
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("list link ids"))?;
        rows.into_iter().map(link_from).collect()
    }

    async fn claim_acquisition_numbers(
        &self,
        institution: CorporateNumber,
        numbers: Vec<AcquisitionNumber>,
        at: UnixMillis,
    ) -> Result<Vec<bool>, StoreError> {
        let asked: Vec<String> = numbers.iter().map(ToString::to_string).collect();
        // One statement: a number claimed concurrently by another
        // transaction waits for it and then counts as used.
        let fresh: Vec<String> = sqlx::query_scalar(
            "INSERT INTO acquisitions (institution, number, at) \
             SELECT $1, n, $3 FROM UNNEST($2::text[]) AS n \
             ON CONFLICT DO NOTHING RETURNING number",
        )
        .bind(institution.to_string())
        .bind(&asked)
        .bind(at.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("claim acquisition numbers"))?;
        // A number asked twice is fresh the first time only.
        let mut fresh: HashSet<String> = fresh.into_iter().collect();
        Ok(asked.iter().map(|n| fresh.remove(n)).collect())
    }

    async fn change_address(
        &self,
        my_number: MyNumber,
        new_address: Address,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("change address"))?;
        // The update locks the resident's row (the first lock, see registry_card).
        let link = match self.cipher() {
            None => {
                let Some(link) = sqlx::query_scalar::<_, Vec<u8>>(
                    "UPDATE residents SET address = $1 WHERE my_number = $2 RETURNING link_id",
                )
                .bind(new_address.as_str())
                .bind(my_number.expose())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err("change address"))?
                else {
                    return Ok(None);
                };
                link_from(link)?
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
        let mut crls = CrlBumps::default();
        for card in cards::live_cards(&mut tx, link, self.cipher()).await? {
            cards::apply(
                &mut tx,
                &mut crls,
                &card,
                None,
                CertEffect::Revoke(RevocationReason::FactsChanged),
                |c| c.purpose == CertPurpose::Signing,
                at,
            )
            .await?;
        }
        crls.write(&mut tx).await?;
        let detail = serde_json::json!({ "address": new_address.as_str() });
        let seq = append_event(&mut tx, self.cipher(), link, "address_changed", detail, at).await?;
        tx.commit().await.map_err(store_err("change address"))?;
        Ok(Some(seq))
    }

    async fn record_death(
        &self,
        my_number: MyNumber,
        date: BirthDate,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("record death"))?;
        let link = match self.cipher() {
            None => {
                let Some(link) = sqlx::query_scalar::<_, Vec<u8>>(
                    "UPDATE residents SET deceased_on = $1 WHERE my_number = $2 AND deceased_on IS NULL \
                     RETURNING link_id",
                )
                .bind(date.to_string())
                .bind(my_number.expose())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err("record death"))?
                else {
                    return Ok(None);
                };
                link_from(link)?
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
        let mut crls = CrlBumps::default();
        for card in cards::live_cards(&mut tx, link, self.cipher()).await? {
            cards::apply(
                &mut tx,
                &mut crls,
                &card,
                Some(CardStatus::Ceased),
                CertEffect::Revoke(RevocationReason::Ceased),
                |_| true,
                at,
            )
            .await?;
        }
        crls.write(&mut tx).await?;
        let detail = serde_json::json!({ "date": date.to_string() });
        let seq = append_event(&mut tx, self.cipher(), link, "died", detail, at).await?;
        tx.commit().await.map_err(store_err("record death"))?;
        Ok(Some(seq))
    }

    async fn events(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let Ok(after) = i64::try_from(after_seq) else {
            // No event is numbered beyond a BIGINT.
            return Ok(Vec::new());
        };
        let rows = sqlx::query("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
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
                    seq: to_u64("seq", get(r, "seq")?)?,
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
            residents: to_u64("residents", get(&row, "r")?)?,
            events: to_u64("events", get(&row, "e")?)?,
            acquisitions: to_u64("acquisitions", get(&row, "a")?)?,
            cards: to_u64("cards", get(&row, "c")?)?,
        })
    }

    async fn resident_by_link(&self, link: LinkId) -> Result<Option<Resident>, StoreError> {
        let row = sqlx::query("SELECT * FROM residents WHERE link_id = $1")
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
        // Locks the resident: a concurrent issuance waits and then
        // replaces this card; an address change waits and then revokes it.
        cards::check_facts(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let mut crls = CrlBumps::default();
        let mut replaced = None;
        for old in cards::live_cards(&mut tx, card.link_id, self.cipher()).await? {
            if let Some((status, effect)) = plan_reissue(old.status) {
                cards::apply(
                    &mut tx,
                    &mut crls,
                    &old,
                    Some(status),
                    effect,
                    |_| true,
                    card.issued_at,
                )
                .await?;
                replaced = Some(old.id);
            }
        }
        let id = cards::insert_card(&mut tx, &card, self.cipher()).await?;
        crls.write(&mut tx).await?;
        let stored = cards::card(&mut tx, id, false, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished after insert"))?;
        tx.commit().await.map_err(store_err("issue card"))?;
        Ok((stored, replaced))
    }

    async fn card(&self, id: CardId) -> Result<Option<Card>, StoreError> {
        let mut tx = self.snapshot("read card").await?;
        let card = cards::card(&mut tx, id, false, self.cipher()).await?;
        tx.commit().await.map_err(store_err("read card"))?;
        Ok(card)
    }

    async fn card_by_serial(&self, serial: CardSerial) -> Result<Option<Card>, StoreError> {
        let mut tx = self.snapshot("find card").await?;
        let card = cards::card_by_serial(&mut tx, serial, self.cipher()).await?;
        tx.commit().await.map_err(store_err("find card"))?;
        Ok(card)
    }

    async fn cards_of(&self, link: LinkId) -> Result<Vec<Card>, StoreError> {
        let mut tx = self.snapshot("list cards").await?;
        let list = cards::cards_of(&mut tx, link, false, self.cipher()).await?;
        tx.commit().await.map_err(store_err("list cards"))?;
        Ok(list)
    }

    async fn card_action(
        &self,
        id: CardId,
        action: CardAction,
        at: UnixMillis,
    ) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("card action"))?;
        // Locked: a concurrent action decides on what this one leaves.
        let Some(card) = cards::card(&mut tx, id, true, self.cipher()).await? else {
            return Ok(None);
        };
        let (status, effect) = match plan_action(card.status, action) {
            Ok(p) => p,
            Err(refusal) => return Ok(Some(Err(refusal))),
        };
        let mut crls = CrlBumps::default();
        let after = cards::apply(&mut tx, &mut crls, &card, Some(status), effect, |_| true, at).await?;
        crls.write(&mut tx).await?;
        tx.commit().await.map_err(store_err("card action"))?;
        Ok(Some(Ok(after)))
    }

    async fn add_signing_cert(
        &self,
        id: CardId,
        cert: CardCert,
        facts: FourFacts,
    ) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError> {
        let what = "renew signing certificate";
        let mut tx = self.pool.begin().await.map_err(store_err(what))?;
        let Some(card) = cards::card(&mut tx, id, false, self.cipher()).await? else {
            return Ok(None);
        };
        // The resident before the card (the lock order), then read again.
        cards::lock_resident(&mut tx, card.link_id).await?;
        let card = cards::card(&mut tx, id, true, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished"))?;
        if card.status != CardStatus::Active {
            return Ok(Some(Err(CardActionRefusal::CannotRenew(card.status))));
        }
        cards::check_facts(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let mut crls = CrlBumps::default();
        let card = cards::apply(
            &mut tx,
            &mut crls,
            &card,
            None,
            CertEffect::Revoke(RevocationReason::Reissued),
            |c| c.purpose == CertPurpose::Signing && c.revoked.is_none(),
            cert.issued_at,
        )
        .await?;
        cards::insert_cert(&mut tx, card.id, card.profile, &cert, self.cipher()).await?;
        crls.write(&mut tx).await?;
        let stored = cards::card(&mut tx, id, false, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished"))?;
        tx.commit().await.map_err(store_err(what))?;
        Ok(Some(Ok(stored)))
    }

    async fn card_revocations(
        &self,
        profile: CardProfile,
        purpose: CertPurpose,
        now: UnixMillis,
    ) -> Result<(u64, Vec<RevokedCard>), StoreError> {
        let mut tx = self.snapshot("list revocations").await?;
        let listed = cards::revocations(&mut tx, profile, purpose, now).await?;
        tx.commit().await.map_err(store_err("list revocations"))?;
        Ok(listed)
    }

    async fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError> {
        self.records.append(NodeRow::new(record)?).await
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
