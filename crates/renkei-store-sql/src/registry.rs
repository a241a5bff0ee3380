//! The resident registry's store: residents, acquisition numbers, events,
//! cards (in `registry_card`) and the registry's own provision records,
//! which share the node's record writer and reader.

use std::collections::HashMap;
use std::future::Future;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason, RevokedCard};
use renkei_crypto::AtRestCipher;
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
use sqlx::Pool;

use crate::dialect::{Dialect, Keys};
use crate::node::{NodeRow, RecordKeeper, SqlRecordKeeper, list_records, recent_provided};
use crate::registry_card::{self as cards, CrlBumps};
use crate::sql::{
    Cols, Exec, Stmt, Value, corrupt, get, on, parse_col, store_err, to_i64, to_u64, values_placeholders,
};

/// What the registry's store does differently on each dialect.
pub trait RegistryDialect: Dialect {
    /// A card's certificates in the order they were stored (`$1`: the card).
    const CARD_CERTS: &'static str;
    /// Residents without their own code (`$1`: how many at most).
    const WITHOUT_OWN_CODE: &'static str;
    /// Run before an event is numbered (on PostgreSQL: numbers follow the
    /// commit order, so the table stays locked against other writers until
    /// the commit; readers go on).
    const LOCK_EVENTS: &'static [&'static str];
    /// Insert an event and return its number as `seq` (`$1` link id, `$2`
    /// kind, `$3` detail, `$4` time). Numbers are dense from 1.
    const INSERT_EVENT: &'static str;

    /// Claim acquisition numbers for `institution`: `true` for each one not
    /// claimed before (a number asked twice is fresh the first time only).
    fn claim_acquisition_numbers(
        pool: &Pool<Self>,
        institution: CorporateNumber,
        numbers: &[AcquisitionNumber],
        at: UnixMillis,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;
}

/// The registry.
#[derive(Debug)]
pub enum Registry {}

impl RecordKeeper for Registry {
    const SEALED_ROWS: &'static str = "SELECT EXISTS (SELECT 1 FROM residents) AS has";
    const WRITER: &'static str = "registry records";
    const COMPONENT: &'static str = "registry";
    const SQLITE_MIGRATIONS: &'static [&'static str] = crate::sqlite::migrations::REGISTRY;
    const POSTGRES_MIGRATIONS: &'static [&'static str] = crate::postgres::migrations::REGISTRY;
}

/// The registry's store on dialect `D` (`SqliteRegistryStore`,
/// `PgRegistryStore`), in a file or schema of its own (a node's store has
/// a `records` table too). One process appends the registry's provision
/// records; on PostgreSQL everything else may be shared by several
/// processes. Opened with a data key, it seals residents' personal data,
/// event details and card certificates (`renkei_registry::at_rest`) and
/// finds residents by blind indexes.
pub type SqlRegistry<D> = SqlRecordKeeper<D, Registry>;

impl<D: Dialect> SqlRegistry<D> {
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
    row: &impl Cols,
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

fn resident_from(row: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<Resident, StoreError> {
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
        address_since: get::<Option<String>>(row, "address_since")?
            .map(|d| parse_col("address_since", &d, BirthDate::parse))
            .transpose()?,
    })
}

/// In an encrypted store: find and lock a resident by My Number index,
/// change their sealed fields with `change` (which returns `false` to leave
/// them as they are) and write them back. The row lock is the first of the
/// transaction (see `registry_card`).
async fn update_sealed<D: RegistryDialect>(
    conn: &mut D::Connection,
    c: &AtRestCipher,
    my_number: &MyNumber,
    change: impl FnOnce(&mut ResidentSecrets) -> bool,
) -> Result<Option<LinkId>, StoreError> {
    let Some(row) = Stmt::assembled(format!(
        "SELECT * FROM residents WHERE my_number = $1{}",
        D::FOR_UPDATE
    ))
    .arg(my_number_index(c, my_number))
    .fetch_optional(on::<D>(conn))
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
    Stmt::new("UPDATE residents SET sealed = $1 WHERE link_id = $2")
        .arg(secrets.seal(c, link).sealed)
        .arg(&link.as_bytes()[..])
        .execute(on::<D>(conn))
        .await
        .map_err(store_err("update resident"))?;
    Ok(Some(link))
}

/// Record an event; its number (see `RegistryDialect::INSERT_EVENT`).
async fn append_event<D: RegistryDialect>(
    conn: &mut D::Connection,
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
    for sql in D::LOCK_EVENTS {
        Stmt::new(sql)
            .execute(on::<D>(conn))
            .await
            .map_err(store_err("record event"))?;
    }
    let row = Stmt::new(D::INSERT_EVENT)
        .arg(&link.as_bytes()[..])
        .arg(kind)
        .arg(detail)
        .arg(at.0)
        .fetch_one(on::<D>(conn))
        .await
        .map_err(store_err("record event"))?;
    to_u64("event seq", get(&row, "seq")?)
}

/// An `address_changed` event from its detail (the day of the move and
/// the address left are absent from events recorded before they were kept).
fn address_changed(detail: &serde_json::Value) -> Result<ResidentEvent, StoreError> {
    let date = |k: &str| {
        detail[k]
            .as_str()
            .map(|d| parse_col(k, d, BirthDate::parse))
            .transpose()
    };
    let new_address = detail["address"]
        .as_str()
        .ok_or_else(|| corrupt("event detail", "address"))?;
    Ok(ResidentEvent::AddressChanged {
        new_address: parse_col("address", new_address, Address::parse)?,
        moved_on: date("moved_on")?,
        previous: detail["previous_address"]
            .as_str()
            .map(|a| {
                Ok::<_, StoreError>(renkei_registry::AddressPeriod {
                    address: parse_col("previous_address", a, Address::parse)?,
                    since: date("previous_since")?,
                })
            })
            .transpose()?,
    })
}

/// An event from its row (its detail opened in an encrypted store).
fn event_from(r: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<StoredEvent, StoreError> {
    let kind: String = get(r, "kind")?;
    let link_id = link_from(get(r, "link_id")?)?;
    let at = UnixMillis(get(r, "at")?);
    let stored: String = get(r, "detail")?;
    let detail: serde_json::Value = match cipher {
        None => serde_json::from_str(&stored),
        Some(c) => {
            let plain =
                open_event_detail(c, link_id, &kind, at, &stored).map_err(|e| corrupt("event detail", e))?;
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
        "address_changed" => address_changed(&detail)?,
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
}

const RESIDENT_COLUMNS: usize = 13;

impl<D: RegistryDialect> RegistryStore for SqlRegistry<D> {
    async fn register(&self, residents: Vec<Resident>) -> Result<(), StoreError> {
        // Refuse a household number beyond BIGINT before anything is written.
        let rows = residents
            .iter()
            .map(|r| Ok((r, to_i64("household", r.household.0)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut tx = self.pool.begin().await.map_err(store_err("register residents"))?;
        for chunk in rows.chunks(D::MAX_BINDS / RESIDENT_COLUMNS) {
            let mut values: Vec<Value<'_>> = Vec::with_capacity(chunk.len() * RESIDENT_COLUMNS);
            for (r, household) in chunk {
                values.push(r.link_id.as_bytes().to_vec().into());
                // A registered resident is living (the status is not taken
                // from the caller, as in clear).
                let sealed = self.cipher().map(|c| {
                    ResidentSecrets {
                        status: ResidentStatus::Living,
                        ..ResidentSecrets::of(r)
                    }
                    .seal(c, r.link_id)
                });
                match &sealed {
                    None => values.extend([
                        r.my_number.expose().into(),
                        r.resident_code.as_string().into(),
                        r.facts.name.as_str().into(),
                        r.kana.as_str().into(),
                        r.facts.address.as_str().into(),
                        r.facts.birth_date.to_string().into(),
                        i64::from(r.facts.sex.iso5218()).into(),
                    ]),
                    // Blind indexes, empty personal columns.
                    Some(sr) => values.extend([
                        sr.my_number_index.clone().into(),
                        sr.resident_code_index.clone().into(),
                        "".into(),
                        "".into(),
                        "".into(),
                        "".into(),
                        0_i64.into(),
                    ]),
                }
                values.extend([
                    (*household).into(),
                    r.own_code.as_ref().map(ToString::to_string).into(),
                    r.registered_at.0.into(),
                    sealed.map(|sr| sr.sealed).into(),
                    r.address_since.map(|d| d.to_string()).into(),
                ]);
            }
            Stmt::assembled(format!(
                "INSERT INTO residents (link_id, my_number, resident_code, name, kana, address, \
                 birth_date, sex, household, own_code, registered_at, sealed, address_since) VALUES {}",
                values_placeholders(chunk.len(), RESIDENT_COLUMNS)
            ))
            .args(values)
            .execute(&mut tx)
            .await
            .map_err(store_err("register residents"))?;
        }
        tx.commit().await.map_err(store_err("register residents"))
    }

    async fn by_my_numbers(&self, numbers: Vec<MyNumber>) -> Result<Vec<Option<Resident>>, StoreError> {
        let asked: Vec<String> = numbers.iter().map(|n| self.my_number_key(n)).collect();
        let rows = D::fetch_any(
            Exec::Pool(&self.pool),
            "SELECT * FROM residents WHERE",
            "my_number",
            Keys::Text(asked.clone()),
        )
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
        let row = Stmt::new("SELECT * FROM residents WHERE own_code = $1")
            .arg(code.to_string())
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
            Stmt::new("UPDATE residents SET own_code = $1 WHERE link_id = $2")
                .arg(code.to_string())
                .arg(&link.as_bytes()[..])
                .execute(&mut tx)
                .await
                .map_err(store_err("set own codes"))?;
        }
        tx.commit().await.map_err(store_err("set own codes"))
    }

    async fn without_own_code(&self, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows = Stmt::new(D::WITHOUT_OWN_CODE)
            .arg(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("residents without code"))?;
        rows.iter().map(|r| link_from(get(r, "link_id")?)).collect()
    }

    async fn link_ids_page(&self, after: Option<LinkId>, limit: u32) -> Result<Vec<LinkId>, StoreError> {
        let rows = Stmt::new("SELECT link_id FROM residents WHERE link_id > $1 ORDER BY link_id LIMIT $2")
            .arg(after.map_or_else(Vec::new, |l| l.as_bytes().to_vec()))
            .arg(i64::from(limit.clamp(1, 10_000)))
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
        D::claim_acquisition_numbers(&self.pool, institution, &numbers, at).await
    }

    async fn change_address(
        &self,
        my_number: MyNumber,
        new_address: Address,
        moved_on: BirthDate,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("change address"))?;
        // The address left, with its start, goes into the event (the
        // residence history); the first statement locks the resident's row
        // (the first lock, see registry_card).
        let since_col = |row: &_| get::<Option<String>>(row, "address_since");
        let (link, left, left_since) = match self.cipher() {
            None => {
                let Some(row) = Stmt::assembled(format!(
                    "SELECT link_id, address, address_since FROM residents WHERE my_number = $1{}",
                    D::FOR_UPDATE
                ))
                .arg(my_number.expose())
                .fetch_optional(&mut tx)
                .await
                .map_err(store_err("change address"))?
                else {
                    return Ok(None);
                };
                let link = link_from(get(&row, "link_id")?)?;
                let left = parse_col("address", &get::<String>(&row, "address")?, Address::parse)?;
                Stmt::new("UPDATE residents SET address = $1, address_since = $2 WHERE link_id = $3")
                    .arg(new_address.as_str())
                    .arg(moved_on.to_string())
                    .arg(&link.as_bytes()[..])
                    .execute(&mut tx)
                    .await
                    .map_err(store_err("change address"))?;
                (link, left, since_col(&row)?)
            }
            Some(c) => {
                let mut left = None;
                let Some(link) = update_sealed::<D>(&mut tx, c, &my_number, |s| {
                    left = Some(std::mem::replace(&mut s.facts.address, new_address.clone()));
                    true
                })
                .await?
                else {
                    return Ok(None);
                };
                // The start is in clear: read it, then move it on.
                let row = Stmt::new("SELECT address_since FROM residents WHERE link_id = $1")
                    .arg(&link.as_bytes()[..])
                    .fetch_one(&mut tx)
                    .await
                    .map_err(store_err("change address"))?;
                Stmt::new("UPDATE residents SET address_since = $1 WHERE link_id = $2")
                    .arg(moved_on.to_string())
                    .arg(&link.as_bytes()[..])
                    .execute(&mut tx)
                    .await
                    .map_err(store_err("change address"))?;
                let left = left.ok_or_else(|| corrupt("resident", "no address"))?;
                (link, left, since_col(&row)?)
            }
        };
        let mut crls = CrlBumps::default();
        for card in cards::live_cards::<D>(&mut tx, link, self.cipher()).await? {
            cards::apply::<D>(
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
        crls.write::<D>(&mut tx).await?;
        let detail = serde_json::json!({
            "address": new_address.as_str(),
            "moved_on": moved_on.to_string(),
            "previous_address": left.as_str(),
            "previous_since": left_since,
        });
        let seq = append_event::<D>(&mut tx, self.cipher(), link, "address_changed", detail, at).await?;
        tx.commit().await.map_err(store_err("change address"))?;
        Ok(Some(seq))
    }

    async fn record_death(
        &self,
        my_number: MyNumber,
        date: BirthDate,
        at: UnixMillis,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("record death"))?;
        let link = match self.cipher() {
            None => {
                let Some(row) = Stmt::new(
                    "UPDATE residents SET deceased_on = $1 WHERE my_number = $2 AND deceased_on IS NULL \
                     RETURNING link_id",
                )
                .arg(date.to_string())
                .arg(my_number.expose())
                .fetch_optional(&mut tx)
                .await
                .map_err(store_err("record death"))?
                else {
                    return Ok(None);
                };
                link_from(get(&row, "link_id")?)?
            }
            Some(c) => {
                let Some(link) = update_sealed::<D>(&mut tx, c, &my_number, |s| {
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
        for card in cards::live_cards::<D>(&mut tx, link, self.cipher()).await? {
            cards::apply::<D>(
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
        crls.write::<D>(&mut tx).await?;
        let detail = serde_json::json!({ "date": date.to_string() });
        let seq = append_event::<D>(&mut tx, self.cipher(), link, "died", detail, at).await?;
        tx.commit().await.map_err(store_err("record death"))?;
        Ok(Some(seq))
    }

    async fn events(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let Ok(after) = i64::try_from(after_seq) else {
            // No event is numbered beyond a BIGINT.
            return Ok(Vec::new());
        };
        let rows = Stmt::new("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .arg(after)
            .arg(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list events"))?;
        rows.iter().map(|r| event_from(r, self.cipher())).collect()
    }

    async fn addresses_left(&self, link: LinkId) -> Result<Vec<renkei_registry::AddressPeriod>, StoreError> {
        let rows =
            Stmt::new("SELECT * FROM events WHERE link_id = $1 AND kind = 'address_changed' ORDER BY seq")
                .arg(&link.as_bytes()[..])
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("list address changes"))?;
        let mut left = Vec::new();
        for r in &rows {
            if let ResidentEvent::AddressChanged {
                previous: Some(p), ..
            } = event_from(r, self.cipher())?.event
            {
                left.push(p);
            }
        }
        Ok(left)
    }

    async fn counts(&self) -> Result<RegistryCounts, StoreError> {
        let row = Stmt::new(
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
        let row = Stmt::new("SELECT * FROM residents WHERE link_id = $1")
            .arg(&link.as_bytes()[..])
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
        // Reads, then writes what it read: SQLite's write lock first.
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("issue card"))?;
        // Locks the resident: a concurrent issuance waits and then
        // replaces this card; an address change waits and then revokes it.
        cards::check_facts::<D>(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let mut crls = CrlBumps::default();
        let mut replaced = None;
        for old in cards::live_cards::<D>(&mut tx, card.link_id, self.cipher()).await? {
            if let Some((status, effect)) = plan_reissue(old.status) {
                cards::apply::<D>(
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
        let id = cards::insert_card::<D>(&mut tx, &card, self.cipher()).await?;
        crls.write::<D>(&mut tx).await?;
        let stored = cards::card::<D>(&mut tx, id, false, self.cipher())
            .await?
            .ok_or_else(|| corrupt("card", "vanished after insert"))?;
        tx.commit().await.map_err(store_err("issue card"))?;
        Ok((stored, replaced))
    }

    async fn card(&self, id: CardId) -> Result<Option<Card>, StoreError> {
        let mut tx = D::begin_read(&self.pool).await.map_err(store_err("read card"))?;
        let card = cards::card::<D>(&mut tx, id, false, self.cipher()).await?;
        tx.finish().await.map_err(store_err("read card"))?;
        Ok(card)
    }

    async fn card_by_serial(&self, serial: CardSerial) -> Result<Option<Card>, StoreError> {
        let mut tx = D::begin_read(&self.pool).await.map_err(store_err("find card"))?;
        let card = cards::card_by_serial::<D>(&mut tx, serial, self.cipher()).await?;
        tx.finish().await.map_err(store_err("find card"))?;
        Ok(card)
    }

    async fn cards_of(&self, link: LinkId) -> Result<Vec<Card>, StoreError> {
        let mut tx = D::begin_read(&self.pool).await.map_err(store_err("list cards"))?;
        let list = cards::cards_of::<D>(&mut tx, link, false, self.cipher()).await?;
        tx.finish().await.map_err(store_err("list cards"))?;
        Ok(list)
    }

    async fn card_action(
        &self,
        id: CardId,
        action: CardAction,
        at: UnixMillis,
    ) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError> {
        // Reads, then writes what it read: SQLite's write lock first.
        let mut tx = D::begin_write(&self.pool)
            .await
            .map_err(store_err("card action"))?;
        // Locked: a concurrent action decides on what this one leaves.
        let Some(card) = cards::card::<D>(&mut tx, id, true, self.cipher()).await? else {
            return Ok(None);
        };
        let (status, effect) = match plan_action(card.status, action) {
            Ok(p) => p,
            Err(refusal) => return Ok(Some(Err(refusal))),
        };
        let mut crls = CrlBumps::default();
        let after = cards::apply::<D>(&mut tx, &mut crls, &card, Some(status), effect, |_| true, at).await?;
        crls.write::<D>(&mut tx).await?;
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
        // Reads, then writes what it read: SQLite's write lock first.
        let mut tx = D::begin_write(&self.pool).await.map_err(store_err(what))?;
        let Some(card) = cards::card::<D>(&mut tx, id, false, self.cipher()).await? else {
            return Ok(None);
        };
        // Where rows lock: the resident before the card (the lock order),
        // then read again.
        let card = if D::FOR_UPDATE.is_empty() {
            card
        } else {
            cards::lock_resident::<D>(&mut tx, card.link_id).await?;
            cards::card::<D>(&mut tx, id, true, self.cipher())
                .await?
                .ok_or_else(|| corrupt("card", "vanished"))?
        };
        if card.status != CardStatus::Active {
            return Ok(Some(Err(CardActionRefusal::CannotRenew(card.status))));
        }
        cards::check_facts::<D>(&mut tx, card.link_id, &facts, self.cipher()).await?;
        let mut crls = CrlBumps::default();
        let card = cards::apply::<D>(
            &mut tx,
            &mut crls,
            &card,
            None,
            CertEffect::Revoke(RevocationReason::Reissued),
            |c| c.purpose == CertPurpose::Signing && c.revoked.is_none(),
            cert.issued_at,
        )
        .await?;
        cards::insert_cert::<D>(&mut tx, card.id, card.profile, &cert, self.cipher()).await?;
        crls.write::<D>(&mut tx).await?;
        let stored = cards::card::<D>(&mut tx, id, false, self.cipher())
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
        let mut tx = D::begin_read(&self.pool)
            .await
            .map_err(store_err("list revocations"))?;
        let listed = cards::revocations::<D>(&mut tx, profile, purpose, now).await?;
        tx.finish().await.map_err(store_err("list revocations"))?;
        Ok(listed)
    }

    async fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError> {
        self.records.append(NodeRow::new::<D>(record)?).await
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
    ) -> Result<Vec<(CorporateNumber, renkei_ids::MessageId, UnixMillis)>, StoreError> {
        recent_provided(&self.pool, since).await
    }
}
