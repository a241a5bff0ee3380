//! The citizen portal's store: card challenges, sessions, staged actions,
//! proxies and invitations (and, in `consent.rs`, the self-information
//! API's tables). Everything that may happen once — taking a challenge, a
//! staged action, an invitation — is one atomic statement, so it stays
//! once with many portals on one database.

use std::future::Future;

use renkei_card::{CardProfile, CardSerial};
use renkei_ids::LocalPersonId;
use renkei_portal::{
    CardHolder, Challenge, ChallengePurpose, ChallengeState, HoldReason, Invitation, MatchValue,
    PendingAction, PortalStore, PrincipalAuthority, Proxy, ProxyAct, ProxyBasis, ProxyId, ProxyStatus,
    ScopeSet, Secret, SecretHash, Session, ShortCode,
};
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Pool;
use time::Date;

use crate::dialect::Dialect;
use crate::sql::{Cols, Stmt, corrupt, get, parse_col, store_err};

/// What the portal's store does differently on each dialect.
pub trait PortalDialect: Dialect {
    /// Deleting a session and what it staged (`$1`: the session id).
    const DELETE_SESSION: &'static [&'static str];

    /// The consent API's one-time values: `true` if `value` is new in
    /// `scope` (now remembered until `until`); expired ones are forgotten.
    fn remember_once(
        pool: &Pool<Self>,
        scope: &str,
        value: &str,
        until: UnixMillis,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The portal's store (portal and consent API) on dialect `D`
/// (`SqlitePortalStore`, `PgPortalStore`).
pub struct SqlPortal<D: Dialect> {
    pub(crate) pool: Pool<D>,
}

impl<D: Dialect> Clone for SqlPortal<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlPortal<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlPortal").field("pool", &self.pool).finish()
    }
}

/// Card serials have 63 bits and fit a BIGINT; checked all the same.
fn serial_sql(s: CardSerial) -> Result<i64, StoreError> {
    i64::try_from(s.value()).map_err(|e| corrupt("card serial", e))
}

fn opt_serial_sql(s: Option<CardSerial>) -> Result<Option<i64>, StoreError> {
    s.map(serial_sql).transpose()
}

/// A proxy id to store: one beyond BIGINT is refused, not wrapped.
fn proxy_sql(id: ProxyId) -> Result<i64, StoreError> {
    i64::try_from(id.0).map_err(|e| corrupt("proxy id", e))
}

fn proxy_col(row: &impl Cols, col: &str) -> Result<ProxyId, StoreError> {
    let v: i64 = get(row, col)?;
    u64::try_from(v).map(ProxyId).map_err(|e| corrupt(col, e))
}

fn hash_col(row: &impl Cols, col: &str) -> Result<SecretHash, StoreError> {
    let v: Vec<u8> = get(row, col)?;
    Ok(SecretHash(
        v.try_into().map_err(|_| corrupt(col, "not 32 bytes"))?,
    ))
}

fn person_col(row: &impl Cols, col: &str) -> Result<LocalPersonId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, LocalPersonId::parse)
}

fn code_col(row: &impl Cols, col: &str) -> Result<ShortCode, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        ShortCode::parse(s).ok_or("bad code")
    })
}

fn serial_col(row: &impl Cols, col: &str) -> Result<CardSerial, StoreError> {
    let v: i64 = get(row, col)?;
    u64::try_from(v)
        .ok()
        .and_then(CardSerial::from_u64)
        .ok_or_else(|| corrupt(col, v))
}

fn opt_serial(row: &impl Cols, col: &str) -> Result<Option<CardSerial>, StoreError> {
    match get::<Option<i64>>(row, col)? {
        None => Ok(None),
        Some(_) => serial_col(row, col).map(Some),
    }
}

fn scopes_col(row: &impl Cols, col: &str) -> Result<ScopeSet, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        ScopeSet::from_text(s).ok_or("unknown scope")
    })
}

fn holder_from(row: &impl Cols) -> Result<CardHolder, StoreError> {
    Ok(CardHolder {
        person: person_col(row, "person")?,
        serial: serial_col(row, "serial")?,
        profile: parse_col("profile", &get::<String>(row, "profile")?, |s| {
            s.parse::<CardProfile>()
        })?,
        card_status_since: get(row, "card_status_since")?,
        // Kept for challenges and sessions; the `people` table has none.
        person_proof: if row.has("person_proof") {
            get(row, "person_proof")?
        } else {
            None
        },
    })
}

fn date_col(row: &impl Cols, col: &str) -> Result<Date, StoreError> {
    let s: String = get(row, col)?;
    Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|e| corrupt(col, e))
}

fn date_text(d: Date) -> String {
    d.to_string()
}

fn challenge_from(row: &impl Cols) -> Result<Challenge, StoreError> {
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
        code: code_col(row, "code")?,
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

fn session_from(row: &impl Cols) -> Result<Session, StoreError> {
    Ok(Session {
        id: hash_col(row, "id")?,
        holder: holder_from(row)?,
        csrf: Secret::parse(&get::<String>(row, "csrf")?).ok_or_else(|| corrupt("csrf", "not a secret"))?,
        created_at: UnixMillis(get(row, "created_at")?),
        last_seen: UnixMillis(get(row, "last_seen")?),
        acting_for: match get::<Option<i64>>(row, "acting_for")? {
            None => None,
            Some(_) => Some(proxy_col(row, "acting_for")?),
        },
    })
}

fn proxy_from(row: &impl Cols) -> Result<Proxy, StoreError> {
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
        id: proxy_col(row, "id")?,
        principal: person_col(row, "principal")?,
        representative: person_col(row, "representative")?,
        principal_name: get(row, "principal_name")?,
        representative_name: get(row, "representative_name")?,
        scopes: scopes_col(row, "scopes")?,
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

fn pending_from(row: &impl Cols) -> Result<PendingAction, StoreError> {
    Ok(PendingAction {
        id: hash_col(row, "id")?,
        session: hash_col(row, "session")?,
        challenge: code_col(row, "challenge")?,
        action: get(row, "action")?,
        created_at: UnixMillis(get(row, "created_at")?),
    })
}

fn invitation_from(row: &impl Cols) -> Result<Invitation, StoreError> {
    Ok(Invitation {
        code: code_col(row, "code")?,
        principal: person_col(row, "principal")?,
        principal_name: get(row, "principal_name")?,
        principal_card: serial_col(row, "principal_card")?,
        scopes: scopes_col(row, "scopes")?,
        valid_from: date_col(row, "valid_from")?,
        valid_until: date_col(row, "valid_until")?,
        created_at: UnixMillis(get(row, "created_at")?),
        expires_at: UnixMillis(get(row, "expires_at")?),
        authority: authority_from(row)?,
    })
}

fn authority_from(row: &impl Cols) -> Result<Option<PrincipalAuthority>, StoreError> {
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

impl<D: PortalDialect> PortalStore for SqlPortal<D> {
    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        let (action, grant) = match &c.purpose {
            ChallengePurpose::Confirm { action, grant } => (Some(action.clone()), grant.clone()),
            ChallengePurpose::Login => (None, None),
        };
        Stmt::new(
            "INSERT INTO challenges (code, nonce, purpose, action, binding, browser, created_at, expires_at, \
             match_value, state, grant_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10)",
        )
        .arg(c.code.as_str())
        .arg(&c.nonce[..])
        .arg(c.purpose.as_str())
        .arg(action)
        .arg(&c.binding.0[..])
        .arg(c.browser.to_string())
        .arg(c.created_at.0)
        .arg(c.expires_at.0)
        .arg(c.match_value.map(|m| m.to_string()))
        .arg(grant)
        .execute(&self.pool)
        .await
        .map_err(store_err("store challenge"))?;
        Ok(())
    }

    async fn challenge(&self, code: &ShortCode) -> Result<Option<Challenge>, StoreError> {
        let row = Stmt::new("SELECT * FROM challenges WHERE code = $1")
            .arg(code.as_str())
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
        // One statement: of two approvals at once, the second finds the
        // row no longer pending.
        let r = Stmt::new(
            "UPDATE challenges SET state = 'approved', person = $1, serial = $2, profile = $3, \
             card_status_since = $4, person_proof = $7 WHERE code = $5 AND state = 'pending' AND expires_at >= $6",
        )
        .arg(h.person.as_str())
        .arg(serial_sql(h.serial)?)
        .arg(h.profile.as_str())
        .arg(h.card_status_since)
        .arg(code.as_str())
        .arg(now.0)
        .arg(h.person_proof.clone())
        .execute(&self.pool)
        .await
        .map_err(store_err("approve challenge"))?;
        Ok(r == 1)
    }

    async fn refuse_challenge(&self, code: &ShortCode, now: UnixMillis) -> Result<bool, StoreError> {
        let r = Stmt::new(
            "UPDATE challenges SET state = 'refused' WHERE code = $1 AND state = 'pending' AND expires_at >= $2",
        )
        .arg(code.as_str())
        .arg(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("refuse challenge"))?;
        Ok(r == 1)
    }

    async fn take_challenge(
        &self,
        code: &ShortCode,
        binding: SecretHash,
        now: UnixMillis,
    ) -> Result<Option<CardHolder>, StoreError> {
        let row = Stmt::new(
            "UPDATE challenges SET state = 'used' \
             WHERE code = $1 AND binding = $2 AND state = 'approved' AND expires_at >= $3 \
             RETURNING person, serial, profile, card_status_since, person_proof",
        )
        .arg(code.as_str())
        .arg(&binding.0[..])
        .arg(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("take challenge"))?;
        row.as_ref().map(holder_from).transpose()
    }

    async fn insert_session(&self, s: Session) -> Result<(), StoreError> {
        let acting_for = s.acting_for.map(proxy_sql).transpose()?;
        Stmt::new(
            "INSERT INTO sessions (id, person, serial, profile, card_status_since, csrf, created_at, \
             last_seen, acting_for, person_proof) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .arg(&s.id.0[..])
        .arg(s.holder.person.as_str())
        .arg(serial_sql(s.holder.serial)?)
        .arg(s.holder.profile.as_str())
        .arg(s.holder.card_status_since)
        .arg(s.csrf.expose())
        .arg(s.created_at.0)
        .arg(s.last_seen.0)
        .arg(acting_for)
        .arg(s.holder.person_proof.clone())
        .execute(&self.pool)
        .await
        .map_err(store_err("store session"))?;
        Ok(())
    }

    async fn session(&self, id: SecretHash) -> Result<Option<Session>, StoreError> {
        let row = Stmt::new("SELECT * FROM sessions WHERE id = $1")
            .arg(&id.0[..])
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
        let acting_for = acting_for.map(proxy_sql).transpose()?;
        Stmt::new("UPDATE sessions SET last_seen = $1, acting_for = $2 WHERE id = $3")
            .arg(now.0)
            .arg(acting_for)
            .arg(&id.0[..])
            .execute(&self.pool)
            .await
            .map_err(store_err("touch session"))?;
        Ok(())
    }

    async fn delete_session(&self, id: SecretHash) -> Result<(), StoreError> {
        for sql in D::DELETE_SESSION {
            Stmt::new(sql)
                .arg(&id.0[..])
                .execute(&self.pool)
                .await
                .map_err(store_err("delete session"))?;
        }
        Ok(())
    }

    async fn record_login(&self, h: &CardHolder, now: UnixMillis) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO people (person, serial, profile, card_status_since, last_login) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (person) DO UPDATE SET serial = excluded.serial, profile = excluded.profile, \
             card_status_since = excluded.card_status_since, last_login = excluded.last_login",
        )
        .arg(h.person.as_str())
        .arg(serial_sql(h.serial)?)
        .arg(h.profile.as_str())
        .arg(h.card_status_since)
        .arg(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("record login"))?;
        Ok(())
    }

    async fn last_card(&self, person: &LocalPersonId) -> Result<Option<CardHolder>, StoreError> {
        let row = Stmt::new("SELECT * FROM people WHERE person = $1")
            .arg(person.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read person"))?;
        row.as_ref().map(holder_from).transpose()
    }

    async fn insert_pending(&self, p: PendingAction) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO pending (id, session, challenge, action, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .arg(&p.id.0[..])
        .arg(&p.session.0[..])
        .arg(p.challenge.as_str())
        .arg(&p.action)
        .arg(p.created_at.0)
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
        let row = Stmt::new("DELETE FROM pending WHERE id = $1 AND session = $2 RETURNING *")
            .arg(&id.0[..])
            .arg(&session.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("take staged action"))?;
        row.as_ref().map(pending_from).transpose()
    }

    async fn pending(&self, id: SecretHash) -> Result<Option<PendingAction>, StoreError> {
        let row = Stmt::new("SELECT * FROM pending WHERE id = $1")
            .arg(&id.0[..])
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
        let row = Stmt::new(
            "INSERT INTO proxies (principal, representative, principal_name, representative_name, scopes, \
             valid_from, valid_until, basis, reference, status, status_at, hold_reason, principal_card, \
             representative_card, confirmed_at, created_at, grant_ref, principal_proof) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
        )
        .arg(p.principal.as_str())
        .arg(p.representative.as_str())
        .arg(&p.principal_name)
        .arg(&p.representative_name)
        .arg(p.scopes.to_text())
        .arg(date_text(p.valid_from))
        .arg(date_text(p.valid_until))
        .arg(basis)
        .arg(reference)
        .arg(status)
        .arg(status_at)
        .arg(hold)
        .arg(opt_serial_sql(p.principal_card)?)
        .arg(opt_serial_sql(p.representative_card)?)
        .arg(p.confirmed_at.0)
        .arg(p.created_at.0)
        .arg(p.authority.as_ref().map(|a| a.grant.clone()))
        .arg(p.authority.as_ref().map(|a| a.proof.clone()))
        .fetch_one(&self.pool)
        .await
        .map_err(store_err("store proxy"))?;
        Ok(Proxy {
            id: proxy_col(&row, "id")?,
            ..p
        })
    }

    async fn proxy(&self, id: ProxyId) -> Result<Option<Proxy>, StoreError> {
        // An id beyond BIGINT was never assigned.
        let Ok(id) = i64::try_from(id.0) else {
            return Ok(None);
        };
        let row = Stmt::new("SELECT * FROM proxies WHERE id = $1")
            .arg(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read proxy"))?;
        row.as_ref().map(proxy_from).transpose()
    }

    async fn proxies_of(&self, person: &LocalPersonId) -> Result<Vec<Proxy>, StoreError> {
        let rows = Stmt::new("SELECT * FROM proxies WHERE principal = $1 OR representative = $1 ORDER BY id")
            .arg(person.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list proxies"))?;
        rows.iter().map(proxy_from).collect()
    }

    async fn update_proxy(&self, p: &Proxy, expected: ProxyStatus) -> Result<bool, StoreError> {
        // An id beyond BIGINT was never assigned.
        let Ok(id) = i64::try_from(p.id.0) else {
            return Ok(false);
        };
        let (status, status_at, hold) = status_cols(p.status);
        let (old, _, _) = status_cols(expected);
        let r = Stmt::new(
            "UPDATE proxies SET status = $1, status_at = $2, hold_reason = $3, principal_card = $4, \
             representative_card = $5, confirmed_at = $6, grant_ref = $9, principal_proof = $10 \
             WHERE id = $7 AND status = $8",
        )
        .arg(status)
        .arg(status_at)
        .arg(hold)
        .arg(opt_serial_sql(p.principal_card)?)
        .arg(opt_serial_sql(p.representative_card)?)
        .arg(p.confirmed_at.0)
        .arg(id)
        .arg(old)
        .arg(p.authority.as_ref().map(|a| a.grant.clone()))
        .arg(p.authority.as_ref().map(|a| a.proof.clone()))
        .execute(&self.pool)
        .await
        .map_err(store_err("update proxy"))?;
        Ok(r == 1)
    }

    async fn insert_invitation(&self, i: Invitation) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO invitations (code, principal, principal_name, principal_card, scopes, valid_from, \
             valid_until, created_at, expires_at, grant_ref, principal_proof) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .arg(i.code.as_str())
        .arg(i.principal.as_str())
        .arg(&i.principal_name)
        .arg(serial_sql(i.principal_card)?)
        .arg(i.scopes.to_text())
        .arg(date_text(i.valid_from))
        .arg(date_text(i.valid_until))
        .arg(i.created_at.0)
        .arg(i.expires_at.0)
        .arg(i.authority.as_ref().map(|a| a.grant.clone()))
        .arg(i.authority.as_ref().map(|a| a.proof.clone()))
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
        let row = Stmt::new("DELETE FROM invitations WHERE code = $1 AND expires_at >= $2 RETURNING *")
            .arg(code.as_str())
            .arg(now.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("take invitation"))?;
        row.as_ref().map(invitation_from).transpose()
    }

    async fn record_act(&self, a: ProxyAct) -> Result<(), StoreError> {
        Stmt::new("INSERT INTO proxy_acts (proxy, actor, principal, action, at) VALUES ($1, $2, $3, $4, $5)")
            .arg(proxy_sql(a.proxy)?)
            .arg(a.actor.as_str())
            .arg(a.principal.as_str())
            .arg(&a.action)
            .arg(a.at.0)
            .execute(&self.pool)
            .await
            .map_err(store_err("record proxy act"))?;
        Ok(())
    }

    async fn acts_for(&self, principal: &LocalPersonId, limit: u32) -> Result<Vec<ProxyAct>, StoreError> {
        let rows = Stmt::new("SELECT * FROM proxy_acts WHERE principal = $1 ORDER BY seq DESC LIMIT $2")
            .arg(principal.as_str())
            .arg(i64::from(limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("list proxy acts"))?;
        rows.iter()
            .map(|r| {
                Ok(ProxyAct {
                    proxy: proxy_col(r, "proxy")?,
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
            ("DELETE FROM challenges WHERE expires_at < $1", now.0),
            (
                "DELETE FROM sessions WHERE created_at < $1",
                now.0.saturating_sub(session_max_ms),
            ),
            ("DELETE FROM invitations WHERE expires_at < $1", now.0),
            (
                "DELETE FROM pending WHERE created_at < $1",
                now.0.saturating_sub(session_max_ms),
            ),
        ] {
            n += Stmt::new(sql)
                .arg(at)
                .execute(&self.pool)
                .await
                .map_err(store_err("purge"))?;
        }
        Ok(n)
    }
}
