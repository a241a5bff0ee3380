//! The card tables of the registry store. The decisions (what an action
//! does to a card and its certificates) are the registry crate's; here
//! they are read, applied and written back in the caller's transaction.
//!
//! On PostgreSQL several registries may share the database, and nothing
//! serialises writers as SQLite's single writer does, so a transaction
//! that reads what it is about to change locks it first (`FOR_UPDATE`),
//! always in the same order — the resident's row, then their card rows,
//! then the CRL numbers (bumped once per list just before the commit, in
//! key order), then the events table — so that concurrent transactions
//! wait for each other instead of deciding on stale reads, and never
//! deadlock. On SQLite the same statements run without the locks.

use std::collections::BTreeMap;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason, RevokedCard};
use renkei_crypto::AtRestCipher;
use renkei_ids::{FourFacts, LinkId};
use renkei_protocol::{StoreError, UnixMillis};
use renkei_registry::at_rest::{open_cert, seal_cert};
use renkei_registry::{
    Card, CardCert, CardId, CardStatus, CertEffect, NewCard, ResidentStatus, apply_effect,
};
use time::OffsetDateTime;

use crate::registry::RegistryDialect;
use crate::sql::{Cols, Stmt, corrupt, get, on, parse_col, store_err, to_i64, to_u64};

/// `sql`, locking the rows it reads to the commit where rows lock.
fn locking<D: RegistryDialect>(sql: &'static str, lock: bool) -> Stmt<'static> {
    if lock && !D::FOR_UPDATE.is_empty() {
        Stmt::assembled(format!("{sql}{}", D::FOR_UPDATE))
    } else {
        Stmt::new(sql)
    }
}

fn serial_col(v: i64) -> Result<CardSerial, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(CardSerial::from_u64)
        .ok_or_else(|| corrupt("card serial", v))
}

/// 63-bit serials fit a BIGINT.
fn serial_sql(s: CardSerial) -> Result<i64, StoreError> {
    to_i64("card serial", s.value())
}

fn cert_from(row: &impl Cols, cipher: Option<&AtRestCipher>) -> Result<CardCert, StoreError> {
    let purpose: String = get(row, "purpose")?;
    let revoked = match (
        get::<Option<i64>>(row, "revoked_at")?,
        get::<Option<String>>(row, "revoked_reason")?,
    ) {
        (Some(at), Some(r)) => Some((
            UnixMillis(at),
            RevocationReason::parse(&r).ok_or_else(|| corrupt("revoked_reason", &r))?,
        )),
        (None, None) => None,
        _ => return Err(corrupt("card_certs", "revoked_at and revoked_reason disagree")),
    };
    let serial = serial_col(get(row, "serial")?)?;
    let der: Vec<u8> = get(row, "der")?;
    Ok(CardCert {
        serial,
        purpose: parse_col("purpose", &purpose, |s| s.parse::<CertPurpose>())?,
        der: match cipher {
            None => der,
            Some(c) => open_cert(c, serial, &der).map_err(|e| corrupt("card certificate", e))?,
        },
        issued_at: UnixMillis(get(row, "issued_at")?),
        not_after: UnixMillis(get(row, "not_after")?),
        revoked,
    })
}

async fn card_from<D: RegistryDialect>(
    conn: &mut D::Connection,
    row: &impl Cols,
    cipher: Option<&AtRestCipher>,
) -> Result<Card, StoreError> {
    let id: i64 = get(row, "card_id")?;
    let link: Vec<u8> = get(row, "link_id")?;
    let link: [u8; 16] = link.try_into().map_err(|_| corrupt("link_id", "not 16 bytes"))?;
    let certs = Stmt::new(D::CARD_CERTS)
        .arg(id)
        .fetch_all(on::<D>(conn))
        .await
        .map_err(store_err("read card certificates"))?;
    Ok(Card {
        id: CardId(to_u64("card_id", id)?),
        link_id: LinkId::from_bytes(link),
        profile: parse_col("profile", &get::<String>(row, "profile")?, |s| {
            s.parse::<CardProfile>()
        })?,
        status: parse_col("status", &get::<String>(row, "status")?, |s| {
            CardStatus::parse(s).ok_or("unknown card status")
        })?,
        status_since: UnixMillis(get(row, "status_since")?),
        issued_at: UnixMillis(get(row, "issued_at")?),
        certs: certs
            .iter()
            .map(|c| cert_from(c, cipher))
            .collect::<Result<_, _>>()?,
    })
}

/// A card; with `lock`, its row stays locked to the end of the transaction.
pub(crate) async fn card<D: RegistryDialect>(
    conn: &mut D::Connection,
    id: CardId,
    lock: bool,
    cipher: Option<&AtRestCipher>,
) -> Result<Option<Card>, StoreError> {
    let Ok(id) = i64::try_from(id.0) else {
        // No card is numbered beyond a BIGINT.
        return Ok(None);
    };
    let row = locking::<D>("SELECT * FROM cards WHERE card_id = $1", lock)
        .arg(id)
        .fetch_optional(on::<D>(conn))
        .await
        .map_err(store_err("read card"))?;
    match row {
        Some(r) => Ok(Some(card_from::<D>(conn, &r, cipher).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn card_by_serial<D: RegistryDialect>(
    conn: &mut D::Connection,
    serial: CardSerial,
    cipher: Option<&AtRestCipher>,
) -> Result<Option<Card>, StoreError> {
    let id = Stmt::new("SELECT card_id FROM card_certs WHERE serial = $1")
        .arg(serial_sql(serial)?)
        .fetch_optional(on::<D>(conn))
        .await
        .map_err(store_err("find card"))?;
    match id {
        Some(row) => {
            card::<D>(
                conn,
                CardId(to_u64("card_id", get(&row, "card_id")?)?),
                false,
                cipher,
            )
            .await
        }
        None => Ok(None),
    }
}

/// A person's cards, newest first; with `lock`, their rows stay locked.
pub(crate) async fn cards_of<D: RegistryDialect>(
    conn: &mut D::Connection,
    link: LinkId,
    lock: bool,
    cipher: Option<&AtRestCipher>,
) -> Result<Vec<Card>, StoreError> {
    let rows = locking::<D>(
        "SELECT * FROM cards WHERE link_id = $1 ORDER BY card_id DESC",
        lock,
    )
    .arg(&link.as_bytes()[..])
    .fetch_all(on::<D>(conn))
    .await
    .map_err(store_err("list cards"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(card_from::<D>(conn, r, cipher).await?);
    }
    Ok(out)
}

/// The revocation lists a transaction changed, and how often: each is
/// bumped once per card saved that changed it (as on SQLite), but all at
/// the end and in key order.
#[derive(Debug, Default)]
pub(crate) struct CrlBumps(BTreeMap<(&'static str, &'static str), i64>);

impl CrlBumps {
    fn add(&mut self, profile: CardProfile, purpose: CertPurpose) {
        *self.0.entry((profile.as_str(), purpose.as_str())).or_default() += 1;
    }

    pub(crate) async fn write<D: RegistryDialect>(self, conn: &mut D::Connection) -> Result<(), StoreError> {
        for ((profile, purpose), n) in self.0 {
            Stmt::new(
                "INSERT INTO card_crls (profile, purpose, number) VALUES ($1, $2, $3) \
                 ON CONFLICT (profile, purpose) DO UPDATE SET number = card_crls.number + excluded.number",
            )
            .arg(profile)
            .arg(purpose)
            .arg(n)
            .execute(on::<D>(conn))
            .await
            .map_err(store_err("bump CRL number"))?;
        }
        Ok(())
    }
}

/// Write back what changed between `before` and `after` (status and
/// certificate revocations), noting the lists touched.
async fn save<D: RegistryDialect>(
    conn: &mut D::Connection,
    crls: &mut CrlBumps,
    before: &Card,
    after: &Card,
) -> Result<(), StoreError> {
    let id = to_i64("card_id", after.id.0)?;
    if before.status != after.status || before.status_since != after.status_since {
        Stmt::new("UPDATE cards SET status = $1, status_since = $2 WHERE card_id = $3")
            .arg(after.status.as_str())
            .arg(after.status_since.0)
            .arg(id)
            .execute(on::<D>(conn))
            .await
            .map_err(store_err("update card"))?;
    }
    let mut auth = false;
    let mut sign = false;
    for (b, a) in before.certs.iter().zip(&after.certs) {
        if b.revoked != a.revoked {
            Stmt::new("UPDATE card_certs SET revoked_at = $1, revoked_reason = $2 WHERE serial = $3")
                .arg(a.revoked.map(|(at, _)| at.0))
                .arg(a.revoked.map(|(_, r)| r.as_str()))
                .arg(serial_sql(a.serial)?)
                .execute(on::<D>(conn))
                .await
                .map_err(store_err("update certificate"))?;
            match a.purpose {
                CertPurpose::Authentication => auth = true,
                CertPurpose::Signing => sign = true,
            }
        }
    }
    if auth {
        crls.add(after.profile, CertPurpose::Authentication);
    }
    if sign {
        crls.add(after.profile, CertPurpose::Signing);
    }
    Ok(())
}

/// Apply `effect` to the certificates of `card` selected by `which`, and
/// the new status if any; write the changes.
pub(crate) async fn apply<D: RegistryDialect>(
    conn: &mut D::Connection,
    crls: &mut CrlBumps,
    card: &Card,
    status: Option<CardStatus>,
    effect: CertEffect,
    which: impl Fn(&CardCert) -> bool,
    at: UnixMillis,
) -> Result<Card, StoreError> {
    let mut after = card.clone();
    if let Some(s) = status {
        after.status = s;
        after.status_since = at;
    }
    for c in after.certs.iter_mut().filter(|c| which(c)) {
        apply_effect(c, effect, at);
    }
    save::<D>(conn, crls, card, &after).await?;
    Ok(after)
}

/// Non-final cards of a person (normally at most one), locked.
pub(crate) async fn live_cards<D: RegistryDialect>(
    conn: &mut D::Connection,
    link: LinkId,
    cipher: Option<&AtRestCipher>,
) -> Result<Vec<Card>, StoreError> {
    Ok(cards_of::<D>(conn, link, true, cipher)
        .await?
        .into_iter()
        .filter(|c| !c.status.is_final())
        .collect())
}

/// Lock the resident's row (if any) to the end of the transaction.
pub(crate) async fn lock_resident<D: RegistryDialect>(
    conn: &mut D::Connection,
    link: LinkId,
) -> Result<(), StoreError> {
    locking::<D>("SELECT 1 FROM residents WHERE link_id = $1", true)
        .arg(&link.as_bytes()[..])
        .fetch_optional(on::<D>(conn))
        .await
        .map_err(store_err("lock resident"))?;
    Ok(())
}

/// The facts on file must still be those certified; the person alive.
/// The resident's row stays locked: the facts cannot change before the
/// commit.
pub(crate) async fn check_facts<D: RegistryDialect>(
    conn: &mut D::Connection,
    link: LinkId,
    facts: &FourFacts,
    cipher: Option<&AtRestCipher>,
) -> Result<(), StoreError> {
    let row = locking::<D>("SELECT * FROM residents WHERE link_id = $1", true)
        .arg(&link.as_bytes()[..])
        .fetch_optional(on::<D>(conn))
        .await
        .map_err(store_err("check facts"))?
        .ok_or_else(|| StoreError::Conflict("no such resident".to_owned()))?;
    let on_file = crate::registry::secrets_from(&row, link, cipher)?;
    if on_file.facts != *facts {
        return Err(StoreError::Conflict(
            "the resident's facts changed meanwhile".to_owned(),
        ));
    }
    if on_file.status != ResidentStatus::Living {
        return Err(StoreError::Conflict("the resident is deceased".to_owned()));
    }
    Ok(())
}

pub(crate) async fn insert_cert<D: RegistryDialect>(
    conn: &mut D::Connection,
    card: CardId,
    profile: CardProfile,
    c: &CardCert,
    cipher: Option<&AtRestCipher>,
) -> Result<(), StoreError> {
    Stmt::new(
        "INSERT INTO card_certs (serial, card_id, purpose, profile, der, issued_at, not_after, revoked_at, revoked_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
    )
    .arg(serial_sql(c.serial)?)
    .arg(to_i64("card_id", card.0)?)
    .arg(c.purpose.as_str())
    .arg(profile.as_str())
    .arg(match cipher {
        None => c.der.clone(),
        Some(k) => seal_cert(k, c.serial, &c.der),
    })
    .arg(c.issued_at.0)
    .arg(c.not_after.0)
    .execute(on::<D>(conn))
    .await
    .map_err(store_err("store certificate"))?;
    Ok(())
}

pub(crate) async fn insert_card<D: RegistryDialect>(
    conn: &mut D::Connection,
    new: &NewCard,
    cipher: Option<&AtRestCipher>,
) -> Result<CardId, StoreError> {
    let id = Stmt::new(
        "INSERT INTO cards (link_id, profile, status, status_since, issued_at) \
         VALUES ($1, $2, 'active', $3, $4) RETURNING card_id",
    )
    .arg(&new.link_id.as_bytes()[..])
    .arg(new.profile.as_str())
    .arg(new.issued_at.0)
    .arg(new.issued_at.0)
    .fetch_one(on::<D>(conn))
    .await
    .map_err(store_err("store card"))?;
    let id: i64 = get(&id, "card_id")?;
    let id = CardId(to_u64("card_id", id)?);
    for c in &new.certs {
        insert_cert::<D>(conn, id, new.profile, c, cipher).await?;
    }
    Ok(id)
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) async fn revocations<D: RegistryDialect>(
    conn: &mut D::Connection,
    profile: CardProfile,
    purpose: CertPurpose,
    now: UnixMillis,
) -> Result<(u64, Vec<RevokedCard>), StoreError> {
    let number: Option<i64> = Stmt::new("SELECT number FROM card_crls WHERE profile = $1 AND purpose = $2")
        .arg(profile.as_str())
        .arg(purpose.as_str())
        .fetch_optional(on::<D>(conn))
        .await
        .map_err(store_err("read CRL number"))?
        .map(|r| get(&r, "number"))
        .transpose()?;
    let rows = Stmt::new(
        "SELECT serial, revoked_at, revoked_reason FROM card_certs \
         WHERE profile = $1 AND purpose = $2 AND revoked_at IS NOT NULL AND not_after >= $3 ORDER BY serial",
    )
    .arg(profile.as_str())
    .arg(purpose.as_str())
    .arg(now.0)
    .fetch_all(on::<D>(conn))
    .await
    .map_err(store_err("list revocations"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let reason: String = get(r, "revoked_reason")?;
        out.push(RevokedCard {
            serial: serial_col(get(r, "serial")?)?,
            at: datetime(get(r, "revoked_at")?),
            reason: RevocationReason::parse(&reason).ok_or_else(|| corrupt("revoked_reason", &reason))?,
        });
    }
    Ok((to_u64("CRL number", number.unwrap_or(0))?, out))
}
