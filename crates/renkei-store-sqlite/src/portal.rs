use std::path::Path;

use renkei_card::{CardProfile, CardSerial};
use renkei_ids::LocalPersonId;
use renkei_portal::{
    CardHolder, Challenge, ChallengePurpose, ChallengeState, HoldReason, Invitation, MatchValue,
    PendingAction, PortalStore, PrincipalAuthority, Proxy, ProxyAct, ProxyBasis, ProxyId, ProxyStatus,
    ScopeSet, Secret, SecretHash, Session, ShortCode,
};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::Date;

use crate::db::{self, DbError, Durability, corrupt, get, parse_col, store_err};
use crate::registry_card::serial_sql;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/portal_001.sql"),
    include_str!("../migrations/portal_002.sql"),
    include_str!("../migrations/portal_003.sql"),
    include_str!("../migrations/portal_004.sql"),
];

/// The portal's store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqlitePortalStore {
    pub(crate) pool: SqlitePool,
}

impl SqlitePortalStore {
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            pool: db::open(path, durability, MIGRATIONS).await?,
        })
    }
}

fn hash_col(row: &SqliteRow, col: &str) -> Result<SecretHash, StoreError> {
    let v: Vec<u8> = get(row, col)?;
    Ok(SecretHash(
        v.try_into().map_err(|_| corrupt(col, "not 32 bytes"))?,
    ))
}

fn person_col(row: &SqliteRow, col: &str) -> Result<LocalPersonId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, LocalPersonId::parse)
}

fn serial_col(row: &SqliteRow, col: &str) -> Result<CardSerial, StoreError> {
    let v: i64 = get(row, col)?;
    u64::try_from(v)
        .ok()
        .and_then(CardSerial::from_u64)
        .ok_or_else(|| corrupt(col, v))
}

fn opt_serial(row: &SqliteRow, col: &str) -> Result<Option<CardSerial>, StoreError> {
    match get::<Option<i64>>(row, col)? {
        None => Ok(None),
        Some(_) => serial_col(row, col).map(Some),
    }
}

fn holder_from(row: &SqliteRow) -> Result<CardHolder, StoreError> {
    Ok(CardHolder {
        person: person_col(row, "person")?,
        serial: serial_col(row, "serial")?,
        profile: parse_col("profile", &get::<String>(row, "profile")?, |s| {
            s.parse::<CardProfile>()
        })?,
        card_status_since: get(row, "card_status_since")?,
        // Kept for challenges and sessions; the `people` table has none.
        person_proof: match sqlx::Row::try_get::<Option<String>, _>(row, "person_proof") {
            Ok(p) => p,
            Err(sqlx::Error::ColumnNotFound(_)) => None,
            Err(e) => return Err(corrupt("person_proof", e)),
        },
    })
}

fn date_col(row: &SqliteRow, col: &str) -> Result<Date, StoreError> {
    let s: String = get(row, col)?;
    Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|e| corrupt(col, e))
}

fn date_text(d: Date) -> String {
    d.to_string()
}

fn challenge_from(row: &SqliteRow) -> Result<Challenge, StoreError> {
    let nonce: Vec<u8> = get(row, "nonce")?;
    let purpose = match get::<String>(row, "purpose")?.as_str() {
        "login" => ChallengePurpose::Login,
        _ => ChallengePurpose::Confirm {
            action: get::<Option<String>>(row, "action")?.unwrap_or_default(),
            grant: get(row, "grant_ref")?,
        },
    };
    let state = match get::<String>(row, "state")?.as_str() {
        "pending" => ChallengeState::Pending,
        "approved" => ChallengeState::Approved(holder_from(row)?),
        "refused" => ChallengeState::Refused,
        _ => ChallengeState::Used,
    };
    let browser: String = get(row, "browser")?;
    let match_value = get::<Option<String>>(row, "match_value")?
        .map(|m| MatchValue::parse(&m).ok_or_else(|| corrupt("match_value", "not two digits")))
        .transpose()?;
    Ok(Challenge {
        code: parse_col("code", &get::<String>(row, "code")?, |s| {
            ShortCode::parse(s).ok_or("bad code")
        })?,
        nonce: nonce.try_into().map_err(|_| corrupt("nonce", "not 32 bytes"))?,
        purpose,
        binding: hash_col(row, "binding")?,
        browser: browser
            .parse()
            .map_err(|_| corrupt("browser", "not an IP address"))?,
        created_at: UnixMillis(get(row, "created_at")?),
        expires_at: UnixMillis(get(row, "expires_at")?),
        match_value,
        state,
    })
}

fn session_from(row: &SqliteRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: hash_col(row, "id")?,
        holder: holder_from(row)?,
        csrf: Secret::parse(&get::<String>(row, "csrf")?).ok_or_else(|| corrupt("csrf", "not a secret"))?,
        created_at: UnixMillis(get(row, "created_at")?),
        last_seen: UnixMillis(get(row, "last_seen")?),
        acting_for: get::<Option<i64>>(row, "acting_for")?.map(|v| ProxyId(v as u64)),
    })
}

fn proxy_from(row: &SqliteRow) -> Result<Proxy, StoreError> {
    let status_at = get::<Option<i64>>(row, "status_at")?.map(UnixMillis);
    let status = match get::<String>(row, "status")?.as_str() {
        "active" => ProxyStatus::Active,
        "on_hold" => ProxyStatus::OnHold {
            since: status_at.ok_or_else(|| corrupt("status_at", "missing"))?,
            reason: parse_col(
                "hold_reason",
                &get::<Option<String>>(row, "hold_reason")?.unwrap_or_default(),
                |s| HoldReason::parse(s).ok_or("unknown reason"),
            )?,
        },
        _ => ProxyStatus::Revoked {
            at: status_at.ok_or_else(|| corrupt("status_at", "missing"))?,
        },
    };
    let basis = match get::<String>(row, "basis")?.as_str() {
        "principal" => ProxyBasis::Principal,
        _ => ProxyBasis::Guardianship {
            reference: get::<Option<String>>(row, "reference")?.unwrap_or_default(),
        },
    };
    Ok(Proxy {
        id: ProxyId(get::<i64>(row, "id")? as u64),
        principal: person_col(row, "principal")?,
        representative: person_col(row, "representative")?,
        principal_name: get(row, "principal_name")?,
        representative_name: get(row, "representative_name")?,
        scopes: parse_col("scopes", &get::<String>(row, "scopes")?, |s| {
            ScopeSet::from_text(s).ok_or("unknown scope")
        })?,
        valid_from: date_col(row, "valid_from")?,
        valid_until: date_col(row, "valid_until")?,
        basis,
        status,
        principal_card: opt_serial(row, "principal_card")?,
        representative_card: opt_serial(row, "representative_card")?,
        confirmed_at: UnixMillis(get(row, "confirmed_at")?),
        created_at: UnixMillis(get(row, "created_at")?),
        authority: authority_from(row)?,
    })
}

fn authority_from(row: &SqliteRow) -> Result<Option<PrincipalAuthority>, StoreError> {
    match (
        get::<Option<String>>(row, "grant_ref")?,
        get::<Option<String>>(row, "principal_proof")?,
    ) {
        (Some(grant), Some(proof)) => Ok(Some(PrincipalAuthority { grant, proof })),
        (None, None) => Ok(None),
        _ => Err(corrupt(
            "principal_proof",
            "a grant without its proof, or the other way round",
        )),
    }
}

fn status_cols(s: ProxyStatus) -> (&'static str, Option<i64>, Option<&'static str>) {
    match s {
        ProxyStatus::Active => ("active", None, None),
        ProxyStatus::OnHold { since, reason } => ("on_hold", Some(since.0), Some(reason.as_str())),
        ProxyStatus::Revoked { at } => ("revoked", Some(at.0), None),
    }
}

impl PortalStore for SqlitePortalStore {
    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        let (action, grant) = match &c.purpose {
            ChallengePurpose::Confirm { action, grant } => (Some(action.clone()), grant.clone()),
            ChallengePurpose::Login => (None, None),
        };
        sqlx::query(
            "INSERT INTO challenges (code, nonce, purpose, action, binding, browser, created_at, expires_at, \
             match_value, state, grant_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        )
        .bind(c.code.as_str())
        .bind(&c.nonce[..])
        .bind(c.purpose.as_str())
        .bind(action)
        .bind(&c.binding.0[..])
        .bind(c.browser.to_string())
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .bind(c.match_value.map(|m| m.to_string()))
        .bind(grant)
        .execute(&self.pool)
        .await
        .map_err(store_err("store challenge"))?;
        Ok(())
    }

    async fn challenge(&self, code: &ShortCode) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query("SELECT * FROM challenges WHERE code = ?")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read challenge"))?;
        row.as_ref().map(challenge_from).transpose()
    }

    async fn approve_challenge(
        &self,
        code: &ShortCode,
        h: CardHolder,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE challenges SET state = 'approved', person = ?, serial = ?, profile = ?, card_status_since = ?, \
             person_proof = ? WHERE code = ? AND state = 'pending' AND expires_at >= ?",
        )
        .bind(h.person.as_str())
        .bind(serial_sql(h.serial))
        .bind(h.profile.as_str())
        .bind(h.card_status_since)
        .bind(h.person_proof.clone())
        .bind(code.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("approve challenge"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn refuse_challenge(&self, code: &ShortCode, now: UnixMillis) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE challenges SET state = 'refused' WHERE code = ? AND state = 'pending' AND expires_at >= ?",
        )
        .bind(code.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("refuse challenge"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn take_challenge(
        &self,
        code: &ShortCode,
        binding: SecretHash,
        now: UnixMillis,
    ) -> Result<Option<CardHolder>, StoreError> {
        let row = sqlx::query(
            "UPDATE challenges SET state = 'used' \
             WHERE code = ? AND binding = ? AND state = 'approved' AND expires_at >= ? \
             RETURNING person, serial, profile, card_status_since, person_proof",
        )
        .bind(code.as_str())
        .bind(&binding.0[..])
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("take challenge"))?;
        row.as_ref().map(holder_from).transpose()
    }

    async fn insert_session(&self, s: Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, person, serial, profile, card_status_since, csrf, created_at, last_seen, acting_for, \
             person_proof) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id.0[..])
        .bind(s.holder.person.as_str())
        .bind(serial_sql(s.holder.serial))
        .bind(s.holder.profile.as_str())
        .bind(s.holder.card_status_since)
        .bind(s.csrf.expose())
        .bind(s.created_at.0)
        .bind(s.last_seen.0)
        .bind(s.acting_for.map(|p| p.0 as i64))
        .bind(s.holder.person_proof.clone())
        .execute(&self.pool)
        .await
        .map_err(store_err("store session"))?;
        Ok(())
    }

    async fn session(&self, id: SecretHash) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read session"))?;
        row.as_ref().map(session_from).transpose()
    }

    async fn touch_session(
        &self,
        id: SecretHash,
        now: UnixMillis,
        acting_for: Option<ProxyId>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen = ?, acting_for = ? WHERE id = ?")
            .bind(now.0)
            .bind(acting_for.map(|p| p.0 as i64))
            .bind(&id.0[..])
            .execute(&self.pool)
            .await
            .map_err(store_err("touch session"))?;
        Ok(())
    }

    async fn delete_session(&self, id: SecretHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(&id.0[..])
            .execute(&self.pool)
            .await
            .map_err(store_err("delete session"))?;
        sqlx::query("DELETE FROM pending WHERE session = ?")
            .bind(&id.0[..])
            .execute(&self.pool)
            .await
            .map_err(store_err("delete session"))?;
        Ok(())
    }

    async fn record_login(&self, h: &CardHolder, now: UnixMillis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO people (person, serial, profile, card_status_since, last_login) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (person) DO UPDATE SET serial = excluded.serial, profile = excluded.profile, \
             card_status_since = excluded.card_status_since, last_login = excluded.last_login",
        )
        .bind(h.person.as_str())
        .bind(serial_sql(h.serial))
        .bind(h.profile.as_str())
        .bind(h.card_status_since)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("record login"))?;
        Ok(())
    }

    async fn last_card(&self, person: &LocalPersonId) -> Result<Option<CardHolder>, StoreError> {
        let row = sqlx::query("SELECT * FROM people WHERE person = ?")
            .bind(person.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read person"))?;
        row.as_ref().map(holder_from).transpose()
    }

    async fn insert_pending(&self, p: PendingAction) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending (id, session, challenge, action, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&p.id.0[..])
        .bind(&p.session.0[..])
        .bind(p.challenge.as_str())
        .bind(&p.action)
        .bind(p.created_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("stage action"))?;
        Ok(())
    }

    async fn take_pending(
        &self,
        id: SecretHash,
        session: SecretHash,
    ) -> Result<Option<PendingAction>, StoreError> {
        let row = sqlx::query("DELETE FROM pending WHERE id = ? AND session = ? RETURNING *")
            .bind(&id.0[..])
            .bind(&session.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("take staged action"))?;
        row.as_ref().map(pending_from).transpose()
    }

    async fn pending(&self, id: SecretHash) -> Result<Option<PendingAction>, StoreError> {
        let row = sqlx::query("SELECT * FROM pending WHERE id = ?")
            .bind(&id.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read staged action"))?;
        row.as_ref().map(pending_from).transpose()
    }

    async fn insert_proxy(&self, p: Proxy) -> Result<Proxy, StoreError> {
        let (status, status_at, hold) = status_cols(p.status);
        let (basis, reference) = match &p.basis {
            ProxyBasis::Principal => ("principal", None),
            ProxyBasis::Guardianship { reference } => ("guardianship", Some(reference.clone())),
        };
        let id = sqlx::query(
            "INSERT INTO proxies (principal, representative, principal_name, representative_name, scopes, \
             valid_from, valid_until, basis, reference, status, status_at, hold_reason, principal_card, \
             representative_card, confirmed_at, created_at, grant_ref, principal_proof) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.principal.as_str())
        .bind(p.representative.as_str())
        .bind(&p.principal_name)
        .bind(&p.representative_name)
        .bind(p.scopes.to_text())
        .bind(date_text(p.valid_from))
        .bind(date_text(p.valid_until))
        .bind(basis)
        .bind(reference)
        .bind(status)
        .bind(status_at)
        .bind(hold)
        .bind(p.principal_card.map(serial_sql))
        .bind(p.representative_card.map(serial_sql))
        .bind(p.confirmed_at.0)
        .bind(p.created_at.0)
        .bind(p.authority.as_ref().map(|a| a.grant.clone()))
        .bind(p.authority.as_ref().map(|a| a.proof.clone()))
        .execute(&self.pool)
        .await
        .map_err(store_err("store proxy"))?
        .last_insert_rowid();
        Ok(Proxy {
            id: ProxyId(id as u64),
            ..p
        })
    }

    async fn proxy(&self, id: ProxyId) -> Result<Option<Proxy>, StoreError> {
        let row = sqlx::query("SELECT * FROM proxies WHERE id = ?")
            .bind(id.0 as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read proxy"))?;
        row.as_ref().map(proxy_from).transpose()
    }

    async fn proxies_of(&self, person: &LocalPersonId) -> Result<Vec<Proxy>, StoreError> {
        let rows = sqlx::query("SELECT * FROM proxies WHERE principal = ? OR representative = ? ORDER BY id")
            .bind(person.as_str())
            .bind(person.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list proxies"))?;
        rows.iter().map(proxy_from).collect()
    }

    async fn update_proxy(&self, p: &Proxy, expected: ProxyStatus) -> Result<bool, StoreError> {
        let (status, status_at, hold) = status_cols(p.status);
        let (old, _, _) = status_cols(expected);
        let r = sqlx::query(
            "UPDATE proxies SET status = ?, status_at = ?, hold_reason = ?, principal_card = ?, \
             representative_card = ?, confirmed_at = ?, grant_ref = ?, principal_proof = ? \
             WHERE id = ? AND status = ?",
        )
        .bind(status)
        .bind(status_at)
        .bind(hold)
        .bind(p.principal_card.map(serial_sql))
        .bind(p.representative_card.map(serial_sql))
        .bind(p.confirmed_at.0)
        .bind(p.authority.as_ref().map(|a| a.grant.clone()))
        .bind(p.authority.as_ref().map(|a| a.proof.clone()))
        .bind(p.id.0 as i64)
        .bind(old)
        .execute(&self.pool)
        .await
        .map_err(store_err("update proxy"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_invitation(&self, i: Invitation) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO invitations (code, principal, principal_name, principal_card, scopes, valid_from, \
             valid_until, created_at, expires_at, grant_ref, principal_proof) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i.code.as_str())
        .bind(i.principal.as_str())
        .bind(&i.principal_name)
        .bind(serial_sql(i.principal_card))
        .bind(i.scopes.to_text())
        .bind(date_text(i.valid_from))
        .bind(date_text(i.valid_until))
        .bind(i.created_at.0)
        .bind(i.expires_at.0)
        .bind(i.authority.as_ref().map(|a| a.grant.clone()))
        .bind(i.authority.as_ref().map(|a| a.proof.clone()))
        .execute(&self.pool)
        .await
        .map_err(store_err("store invitation"))?;
        Ok(())
    }

    async fn take_invitation(
        &self,
        code: &ShortCode,
        now: UnixMillis,
    ) -> Result<Option<Invitation>, StoreError> {
        let row = sqlx::query("DELETE FROM invitations WHERE code = ? AND expires_at >= ? RETURNING *")
            .bind(code.as_str())
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("take invitation"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Invitation {
            code: code.clone(),
            principal: person_col(&row, "principal")?,
            principal_name: get(&row, "principal_name")?,
            principal_card: serial_col(&row, "principal_card")?,
            scopes: parse_col("scopes", &get::<String>(&row, "scopes")?, |s| {
                ScopeSet::from_text(s).ok_or("unknown scope")
            })?,
            valid_from: date_col(&row, "valid_from")?,
            valid_until: date_col(&row, "valid_until")?,
            created_at: UnixMillis(get(&row, "created_at")?),
            expires_at: UnixMillis(get(&row, "expires_at")?),
            authority: authority_from(&row)?,
        }))
    }

    async fn record_act(&self, a: ProxyAct) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO proxy_acts (proxy, actor, principal, action, at) VALUES (?, ?, ?, ?, ?)")
            .bind(a.proxy.0 as i64)
            .bind(a.actor.as_str())
            .bind(a.principal.as_str())
            .bind(&a.action)
            .bind(a.at.0)
            .execute(&self.pool)
            .await
            .map_err(store_err("record proxy act"))?;
        Ok(())
    }

    async fn acts_for(&self, principal: &LocalPersonId, limit: u32) -> Result<Vec<ProxyAct>, StoreError> {
        let rows = sqlx::query("SELECT * FROM proxy_acts WHERE principal = ? ORDER BY seq DESC LIMIT ?")
            .bind(principal.as_str())
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list proxy acts"))?;
        rows.iter()
            .map(|r| {
                Ok(ProxyAct {
                    proxy: ProxyId(get::<i64>(r, "proxy")? as u64),
                    actor: person_col(r, "actor")?,
                    principal: person_col(r, "principal")?,
                    action: get(r, "action")?,
                    at: UnixMillis(get(r, "at")?),
                })
            })
            .collect()
    }

    async fn purge(&self, now: UnixMillis, session_max_ms: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for (sql, at) in [
            ("DELETE FROM challenges WHERE expires_at < ?", now.0),
            (
                "DELETE FROM sessions WHERE created_at < ?",
                now.0.saturating_sub(session_max_ms),
            ),
            ("DELETE FROM invitations WHERE expires_at < ?", now.0),
            (
                "DELETE FROM pending WHERE created_at < ?",
                now.0.saturating_sub(session_max_ms),
            ),
        ] {
            n += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(store_err("purge"))?
                .rows_affected();
        }
        Ok(n)
    }
}

fn pending_from(row: &SqliteRow) -> Result<PendingAction, StoreError> {
    Ok(PendingAction {
        id: hash_col(row, "id")?,
        session: hash_col(row, "session")?,
        challenge: parse_col("challenge", &get::<String>(row, "challenge")?, |s| {
            ShortCode::parse(s).ok_or("bad code")
        })?,
        action: get(row, "action")?,
        created_at: UnixMillis(get(row, "created_at")?),
    })
}
