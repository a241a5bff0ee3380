//! The card tables of the registry store. The decisions (what an action
//! does to a card and its certificates) are the registry crate's; here
//! they are read, applied and written back in the caller's transaction.

use std::collections::BTreeSet;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason, RevokedCard};
use renkei_crypto::AtRestCipher;
use renkei_ids::{FourFacts, LinkId};
use renkei_protocol::{StoreError, UnixMillis};
use renkei_registry::at_rest::{open_cert, seal_cert};
use renkei_registry::{
    Card, CardCert, CardId, CardStatus, CertEffect, NewCard, ResidentStatus, apply_effect,
};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::db::{corrupt, get, parse_col, store_err};

fn serial_col(v: i64) -> Result<CardSerial, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(CardSerial::from_u64)
        .ok_or_else(|| corrupt("card serial", v))
}

pub(crate) fn serial_sql(s: CardSerial) -> i64 {
    // 63-bit serials fit a signed 64-bit INTEGER.
    s.value() as i64
}

fn cert_from(row: &SqliteRow, cipher: Option<&AtRestCipher>) -> Result<CardCert, StoreError> {
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

async fn card_from(
    conn: &mut SqliteConnection,
    row: &SqliteRow,
    cipher: Option<&AtRestCipher>,
) -> Result<Card, StoreError> {
    let id: i64 = get(row, "card_id")?;
    let link: Vec<u8> = get(row, "link_id")?;
    let link: [u8; 16] = link.try_into().map_err(|_| corrupt("link_id", "not 16 bytes"))?;
    let certs = sqlx::query("SELECT * FROM card_certs WHERE card_id = ? ORDER BY issued_at, rowid")
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_err("read card certificates"))?;
    Ok(Card {
        id: CardId(id as u64),
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

pub(crate) async fn card(
    conn: &mut SqliteConnection,
    id: CardId,
    cipher: Option<&AtRestCipher>,
) -> Result<Option<Card>, StoreError> {
    let row = sqlx::query("SELECT * FROM cards WHERE card_id = ?")
        .bind(id.0 as i64)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_err("read card"))?;
    match row {
        Some(r) => Ok(Some(card_from(conn, &r, cipher).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn card_by_serial(
    conn: &mut SqliteConnection,
    serial: CardSerial,
    cipher: Option<&AtRestCipher>,
) -> Result<Option<Card>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT card_id FROM card_certs WHERE serial = ?")
        .bind(serial_sql(serial))
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_err("find card"))?;
    match id {
        Some(id) => card(conn, CardId(id as u64), cipher).await,
        None => Ok(None),
    }
}

pub(crate) async fn cards_of(
    conn: &mut SqliteConnection,
    link: LinkId,
    cipher: Option<&AtRestCipher>,
) -> Result<Vec<Card>, StoreError> {
    let rows = sqlx::query("SELECT * FROM cards WHERE link_id = ? ORDER BY card_id DESC")
        .bind(&link.as_bytes()[..])
        .fetch_all(&mut *conn)
        .await
        .map_err(store_err("list cards"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(card_from(conn, r, cipher).await?);
    }
    Ok(out)
}

async fn bump_crl(
    conn: &mut SqliteConnection,
    profile: CardProfile,
    purpose: CertPurpose,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO card_crls (profile, purpose, number) VALUES (?, ?, 1) \
         ON CONFLICT (profile, purpose) DO UPDATE SET number = number + 1",
    )
    .bind(profile.as_str())
    .bind(purpose.as_str())
    .execute(&mut *conn)
    .await
    .map_err(store_err("bump CRL number"))?;
    Ok(())
}

/// Write back what changed between `before` and `after` (status and
/// certificate revocations), bumping the CRL numbers of the lists touched.
pub(crate) async fn save(conn: &mut SqliteConnection, before: &Card, after: &Card) -> Result<(), StoreError> {
    if before.status != after.status || before.status_since != after.status_since {
        sqlx::query("UPDATE cards SET status = ?, status_since = ? WHERE card_id = ?")
            .bind(after.status.as_str())
            .bind(after.status_since.0)
            .bind(after.id.0 as i64)
            .execute(&mut *conn)
            .await
            .map_err(store_err("update card"))?;
    }
    let mut lists = BTreeSet::new();
    for (b, a) in before.certs.iter().zip(&after.certs) {
        if b.revoked != a.revoked {
            sqlx::query("UPDATE card_certs SET revoked_at = ?, revoked_reason = ? WHERE serial = ?")
                .bind(a.revoked.map(|(at, _)| at.0))
                .bind(a.revoked.map(|(_, r)| r.as_str()))
                .bind(serial_sql(a.serial))
                .execute(&mut *conn)
                .await
                .map_err(store_err("update certificate"))?;
            lists.insert(a.purpose);
        }
    }
    for purpose in lists {
        bump_crl(conn, after.profile, purpose).await?;
    }
    Ok(())
}

/// Apply `effect` to the certificates of `card` selected by `which`, and
/// the new status if any; write the changes.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
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
    save(conn, card, &after).await?;
    Ok(after)
}

/// Non-final cards of a person (normally at most one).
pub(crate) async fn live_cards(
    conn: &mut SqliteConnection,
    link: LinkId,
    cipher: Option<&AtRestCipher>,
) -> Result<Vec<Card>, StoreError> {
    Ok(cards_of(conn, link, cipher)
        .await?
        .into_iter()
        .filter(|c| !c.status.is_final())
        .collect())
}

/// The facts on file must still be those certified; the person alive.
pub(crate) async fn check_facts(
    conn: &mut SqliteConnection,
    link: LinkId,
    facts: &FourFacts,
    cipher: Option<&AtRestCipher>,
) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT * FROM residents WHERE link_id = ?")
        .bind(&link.as_bytes()[..])
        .fetch_optional(&mut *conn)
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

pub(crate) async fn insert_cert(
    conn: &mut SqliteConnection,
    card: CardId,
    profile: CardProfile,
    c: &CardCert,
    cipher: Option<&AtRestCipher>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO card_certs (serial, card_id, purpose, profile, der, issued_at, not_after, revoked_at, revoked_reason) \
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
    )
    .bind(serial_sql(c.serial))
    .bind(card.0 as i64)
    .bind(c.purpose.as_str())
    .bind(profile.as_str())
    .bind(match cipher {
        None => c.der.clone(),
        Some(k) => seal_cert(k, c.serial, &c.der),
    })
    .bind(c.issued_at.0)
    .bind(c.not_after.0)
    .execute(&mut *conn)
    .await
    .map_err(store_err("store certificate"))?;
    Ok(())
}

pub(crate) async fn insert_card(
    conn: &mut SqliteConnection,
    new: &NewCard,
    cipher: Option<&AtRestCipher>,
) -> Result<CardId, StoreError> {
    let id = sqlx::query(
        "INSERT INTO cards (link_id, profile, status, status_since, issued_at) VALUES (?, ?, 'active', ?, ?)",
    )
    .bind(&new.link_id.as_bytes()[..])
    .bind(new.profile.as_str())
    .bind(new.issued_at.0)
    .bind(new.issued_at.0)
    .execute(&mut *conn)
    .await
    .map_err(store_err("store card"))?
    .last_insert_rowid();
    let id = CardId(id as u64);
    for c in &new.certs {
        insert_cert(conn, id, new.profile, c, cipher).await?;
    }
    Ok(id)
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) async fn revocations(
    conn: &mut SqliteConnection,
    profile: CardProfile,
    purpose: CertPurpose,
    now: UnixMillis,
) -> Result<(u64, Vec<RevokedCard>), StoreError> {
    let number: Option<i64> =
        sqlx::query_scalar("SELECT number FROM card_crls WHERE profile = ? AND purpose = ?")
            .bind(profile.as_str())
            .bind(purpose.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_err("read CRL number"))?;
    let rows = sqlx::query(
        "SELECT serial, revoked_at, revoked_reason FROM card_certs \
         WHERE profile = ? AND purpose = ? AND revoked_at IS NOT NULL AND not_after >= ? ORDER BY serial",
    )
    .bind(profile.as_str())
    .bind(purpose.as_str())
    .bind(now.0)
    .fetch_all(&mut *conn)
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
    Ok((number.unwrap_or(0) as u64, out))
}
