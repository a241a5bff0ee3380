//! The consent API's tables, in the portal's store. Single use survives
//! many portals on one database: request URIs, codes and refresh tokens
//! are spent by one conditional `UPDATE … RETURNING`, one-time values by
//! one `INSERT … ON CONFLICT`; what belongs together commits together.

use renkei_catalog::ItemCode;
use renkei_consent::{
    Actor, ApiClient, AuthorizationRequest, ClientAlert, ClientApplication, ClientAuth, ClientEvent,
    ClientId, ClientKeys, ClientStatus, CodeRecord, CodeRedemption, ConsentStore, DeliveryClaim,
    FetchOutcome, FetchRecord, Grant, GrantId, PushedRequest, RefreshRedemption, RevokedBy, SecretDigest,
    SelfInformation, TokenRecord, Usage,
};
use renkei_ids::{CorporateNumber, LocalPersonId};
use renkei_protocol::{StoreError, UnixMillis};
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use crate::PgPortalStore;
use crate::db::{corrupt, get, parse_col, store_err};

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &PgRow, col: &str) -> Result<T, StoreError> {
    serde_json::from_str(&get::<String>(row, col)?).map_err(|e| corrupt(col, e))
}

fn status_col(row: &PgRow, col: &str) -> Result<ClientStatus, StoreError> {
    let s: String = get(row, col)?;
    ClientStatus::parse(&s).ok_or_else(|| corrupt(col, s))
}

fn client_id_col(row: &PgRow, col: &str) -> Result<ClientId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        ClientId::parse(s).ok_or("not a client id")
    })
}

fn grant_id_col(row: &PgRow, col: &str) -> Result<GrantId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        GrantId::parse(s).ok_or("not a grant id")
    })
}

fn client_from(row: &PgRow) -> Result<ApiClient, StoreError> {
    let items: String = get(row, "items")?;
    let items = items
        .split(' ')
        .map(|i| parse_col("items", i, ItemCode::parse))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: ClientKeys = from_json(row, "keys")?;
    let auth: ClientAuth = from_json(row, "auth")?;
    Ok(ApiClient {
        id: client_id_col(row, "id")?,
        app: ClientApplication {
            corporate_number: parse_col(
                "corporate_number",
                &get::<String>(row, "corporate_number")?,
                CorporateNumber::parse,
            )?,
            name: get(row, "name")?,
            name_en: get(row, "name_en")?,
            purpose: get(row, "purpose")?,
            redirect_uris: from_json(row, "redirect_uris")?,
            keys,
            auth,
            items,
            max_data_life_days: u32::try_from(get::<i64>(row, "max_data_life_days")?)
                .map_err(|e| corrupt("max_data_life_days", e))?,
            contact: get(row, "contact")?,
        },
        status: status_col(row, "status")?,
        status_reason: get(row, "status_reason")?,
        created_at: UnixMillis(get(row, "created_at")?),
        updated_at: UnixMillis(get(row, "updated_at")?),
    })
}

fn event_from(id: &ClientId, r: &PgRow) -> Result<ClientEvent, StoreError> {
    let from: Option<String> = get(r, "from_status")?;
    let previous: Option<String> = get(r, "previous_corporate_number")?;
    Ok(ClientEvent {
        client: id.clone(),
        at: UnixMillis(get(r, "at")?),
        actor: from_json::<Actor>(r, "actor")?,
        action: get(r, "action")?,
        from: from
            .map(|s| ClientStatus::parse(&s).ok_or_else(|| corrupt("from_status", s)))
            .transpose()?,
        to: status_col(r, "to_status")?,
        reason: get(r, "reason")?,
        previous_corporate_number: previous
            .map(|s| parse_col("previous_corporate_number", &s, CorporateNumber::parse))
            .transpose()?,
    })
}

fn token_from(r: &PgRow, token: &SecretDigest) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        token: token.clone(),
        grant: grant_id_col(r, "grant_id")?,
        client: client_id_col(r, "client")?,
        jkt: get(r, "jkt")?,
        expires_at: UnixMillis(get(r, "expires_at")?),
    })
}

fn grant_from(r: &PgRow) -> Result<Grant, StoreError> {
    let details: serde_json::Value = from_json(r, "details")?;
    let revoked = match (
        get::<Option<i64>>(r, "revoked_at")?,
        get::<Option<String>>(r, "revoked_by")?,
    ) {
        (Some(at), Some(by)) => Some((
            UnixMillis(at),
            RevokedBy::parse(&by).ok_or_else(|| corrupt("revoked_by", by))?,
        )),
        _ => None,
    };
    Ok(Grant {
        id: grant_id_col(r, "id")?,
        client: client_id_col(r, "client")?,
        person: parse_col("person", &get::<String>(r, "person")?, LocalPersonId::parse)?,
        details: SelfInformation::from_canonical(&details)
            .ok_or_else(|| corrupt("details", "not canonical"))?,
        created_at: UnixMillis(get(r, "created_at")?),
        expires_at: UnixMillis(get(r, "expires_at")?),
        revoked,
        preview_digest: get(r, "preview_digest")?,
        artefact: get(r, "artefact")?,
        person_proof: get(r, "person_proof")?,
    })
}

fn request_from(uri: &SecretDigest, row: &PgRow) -> Result<PushedRequest, StoreError> {
    let v: serde_json::Value = from_json(row, "request")?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let request = AuthorizationRequest {
        redirect_uri: text("redirect_uri").ok_or_else(|| corrupt("request", "redirect_uri"))?,
        state: text("state"),
        code_challenge: text("code_challenge").ok_or_else(|| corrupt("request", "code_challenge"))?,
        details: SelfInformation::from_canonical(&v["details"])
            .ok_or_else(|| corrupt("request", "details"))?,
        dpop_jkt: text("dpop_jkt"),
    };
    Ok(PushedRequest {
        uri: uri.clone(),
        client: client_id_col(row, "client")?,
        request,
        expires_at: UnixMillis(get(row, "expires_at")?),
    })
}

fn code_from(code: &SecretDigest, row: &PgRow) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        code: code.clone(),
        grant: grant_id_col(row, "grant_id")?,
        client: client_id_col(row, "client")?,
        redirect_uri: get(row, "redirect_uri")?,
        code_challenge: get(row, "code_challenge")?,
        dpop_jkt: get(row, "dpop_jkt")?,
        expires_at: UnixMillis(get(row, "expires_at")?),
    })
}

async fn insert_fetch(tx: &mut Transaction<'_, Postgres>, f: &FetchRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_fetches (client, grant_id, at, items, outcome, hub_records) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(f.client.as_str())
    .bind(f.grant.as_ref().map(GrantId::as_str))
    .bind(f.at.0)
    .bind(&f.items)
    .bind(f.outcome.as_str())
    .bind(json!(f.hub_records).to_string())
    .execute(&mut **tx)
    .await
    .map_err(store_err("record fetch"))?;
    Ok(())
}

async fn insert_event(tx: &mut Transaction<'_, Postgres>, e: &ClientEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_client_events (client, at, actor, action, from_status, to_status, reason, \
         previous_corporate_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.client.as_str())
    .bind(e.at.0)
    .bind(json("actor", &e.actor)?)
    .bind(&e.action)
    .bind(e.from.map(ClientStatus::as_str))
    .bind(e.to.as_str())
    .bind(&e.reason)
    .bind(e.previous_corporate_number.map(|c| c.to_string()))
    .execute(&mut **tx)
    .await
    .map_err(store_err("record client event"))?;
    Ok(())
}

impl ConsentStore for PgPortalStore {
    async fn insert_client(&self, c: &ApiClient, event: &ClientEvent) -> Result<(), StoreError> {
        let redirect_uris = json("redirect_uris", &c.app.redirect_uris)?;
        let keys = json("keys", &c.app.keys)?;
        let auth = json("auth", &c.app.auth)?;
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        sqlx::query(
            "INSERT INTO api_clients (id, corporate_number, name, name_en, purpose, redirect_uris, keys, \
             auth, items, max_data_life_days, contact, status, status_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(c.id.as_str())
        .bind(c.app.corporate_number.to_string())
        .bind(&c.app.name)
        .bind(&c.app.name_en)
        .bind(&c.app.purpose)
        .bind(redirect_uris)
        .bind(keys)
        .bind(auth)
        .bind(
            c.app
                .items
                .iter()
                .map(ItemCode::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        )
        .bind(i64::from(c.app.max_data_life_days))
        .bind(&c.app.contact)
        .bind(c.status.as_str())
        .bind(&c.status_reason)
        .bind(c.created_at.0)
        .bind(c.updated_at.0)
        .execute(&mut *tx)
        .await
        .map_err(store_err("insert client"))?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(store_err("commit client"))?;
        Ok(())
    }

    async fn client(&self, id: &ClientId) -> Result<Option<ApiClient>, StoreError> {
        sqlx::query("SELECT * FROM api_clients WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read client"))?
            .as_ref()
            .map(client_from)
            .transpose()
    }

    async fn clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        sqlx::query("SELECT * FROM api_clients ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read clients"))?
            .iter()
            .map(client_from)
            .collect()
    }

    async fn update_client(
        &self,
        next: &ApiClient,
        expected: ClientStatus,
        event: &ClientEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        // Of two changes at once, the second waits for the first's row
        // lock and then finds the status changed.
        let done = sqlx::query(
            "UPDATE api_clients SET corporate_number = $1, status = $2, status_reason = $3, updated_at = $4 \
             WHERE id = $5 AND status = $6",
        )
        .bind(next.app.corporate_number.to_string())
        .bind(next.status.as_str())
        .bind(&next.status_reason)
        .bind(next.updated_at.0)
        .bind(next.id.as_str())
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_err("update client"))?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(store_err("commit client change"))?;
        Ok(true)
    }

    async fn client_events(&self, id: &ClientId) -> Result<Vec<ClientEvent>, StoreError> {
        sqlx::query("SELECT * FROM api_client_events WHERE client = $1 ORDER BY seq")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read client events"))?
            .iter()
            .map(|r| event_from(id, r))
            .collect()
    }

    async fn insert_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        let req = json!({
            "redirect_uri": r.request.redirect_uri,
            "state": r.request.state,
            "code_challenge": r.request.code_challenge,
            "details": r.request.details.to_json(),
            "dpop_jkt": r.request.dpop_jkt,
        });
        sqlx::query(
            "INSERT INTO oauth_requests (uri_digest, client, request, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.uri.0)
        .bind(r.client.as_str())
        .bind(req.to_string())
        .bind(r.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("insert pushed request"))?;
        Ok(())
    }

    async fn request(
        &self,
        uri: &SecretDigest,
        now: UnixMillis,
    ) -> Result<Option<PushedRequest>, StoreError> {
        sqlx::query("SELECT * FROM oauth_requests WHERE uri_digest = $1 AND NOT used AND expires_at > $2")
            .bind(&uri.0)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read pushed request"))?
            .map(|row| request_from(uri, &row))
            .transpose()
    }

    async fn insert_grant(
        &self,
        request: &SecretDigest,
        g: &Grant,
        code: &CodeRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        // Spending the request takes its row lock: a concurrent consent to
        // the same request waits, then finds it used. Dropping `tx`
        // without commit rolls back.
        let used = sqlx::query("UPDATE oauth_requests SET used = true WHERE uri_digest = $1 AND NOT used")
            .bind(&request.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err("use pushed request"))?
            .rows_affected();
        if used != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO grants (id, client, person, details, created_at, expires_at, preview_digest, \
             artefact, person_proof) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(g.id.as_str())
        .bind(g.client.as_str())
        .bind(g.person.to_string())
        .bind(g.details.to_json().to_string())
        .bind(g.created_at.0)
        .bind(g.expires_at.0)
        .bind(&g.preview_digest)
        .bind(&g.artefact)
        .bind(&g.person_proof)
        .execute(&mut *tx)
        .await
        .map_err(store_err("insert grant"))?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_digest, grant_id, client, redirect_uri, code_challenge, \
             dpop_jkt, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code.code.0)
        .bind(code.grant.as_str())
        .bind(code.client.as_str())
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(&code.dpop_jkt)
        .bind(code.expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(store_err("insert code"))?;
        tx.commit().await.map_err(store_err("commit grant"))?;
        Ok(true)
    }

    async fn redeem_code(&self, code: &SecretDigest, now: UnixMillis) -> Result<CodeRedemption, StoreError> {
        // Spend it in one statement: of two redemptions at once exactly
        // one is fresh.
        let spent = sqlx::query(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_digest = $2 AND used_at IS NULL RETURNING *",
        )
        .bind(now.0)
        .bind(&code.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("spend code"))?;
        if let Some(row) = spent {
            return Ok(CodeRedemption::Fresh(code_from(code, &row)?));
        }
        // Not spent now: spent before (a spent code stays spent), or
        // unknown when the statement above ran.
        let seen = sqlx::query("SELECT grant_id, used_at FROM oauth_codes WHERE code_digest = $1")
            .bind(&code.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read code"))?;
        Ok(match seen {
            Some(row) if get::<Option<i64>>(&row, "used_at")?.is_some() => {
                CodeRedemption::Replayed(grant_id_col(&row, "grant_id")?)
            }
            _ => CodeRedemption::Unknown,
        })
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.insert_bound_token(
            "INSERT INTO access_tokens (token_digest, grant_id, client, jkt, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            t,
        )
        .await
    }

    async fn insert_refresh(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.insert_bound_token(
            "INSERT INTO refresh_tokens (token_digest, grant_id, client, jkt, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            t,
        )
        .await
    }

    async fn redeem_refresh(&self, token: &SecretDigest, jkt: &str) -> Result<RefreshRedemption, StoreError> {
        // Spent in one statement, and only with the key it is bound to.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used = true WHERE token_digest = $1 AND NOT used AND jkt = $2 \
             RETURNING *",
        )
        .bind(&token.0)
        .bind(jkt)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("spend refresh token"))?;
        if let Some(row) = spent {
            return Ok(RefreshRedemption::Fresh(token_from(&row, token)?));
        }
        // Not spent now: used before (a replay, whatever the key, as in
        // the SQLite store), presented with another key (left unspent),
        // or unknown when the statement above ran.
        let seen = sqlx::query("SELECT grant_id, used, jkt FROM refresh_tokens WHERE token_digest = $1")
            .bind(&token.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read refresh token"))?;
        let Some(row) = seen else {
            return Ok(RefreshRedemption::Unknown);
        };
        Ok(if get::<bool>(&row, "used")? {
            RefreshRedemption::Replayed(grant_id_col(&row, "grant_id")?)
        } else if get::<String>(&row, "jkt")? != jkt {
            RefreshRedemption::WrongKey
        } else {
            RefreshRedemption::Unknown
        })
    }

    async fn token(&self, token: &SecretDigest) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query("SELECT * FROM access_tokens WHERE token_digest = $1 AND NOT revoked")
            .bind(&token.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read token"))?
            .map(|r| token_from(&r, token))
            .transpose()
    }

    async fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        sqlx::query("SELECT * FROM grants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read grant"))?
            .as_ref()
            .map(grant_from)
            .transpose()
    }

    async fn grants_of(&self, person: &LocalPersonId) -> Result<Vec<Grant>, StoreError> {
        sqlx::query("SELECT * FROM grants WHERE person = $1 ORDER BY created_at DESC, id")
            .bind(person.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read grants"))?
            .iter()
            .map(grant_from)
            .collect()
    }

    async fn revoke_grant(&self, id: &GrantId, by: RevokedBy, now: UnixMillis) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        let n = sqlx::query(
            "UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now.0)
        .bind(by.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_err("revoke grant"))?
        .rows_affected();
        sqlx::query("UPDATE access_tokens SET revoked = true WHERE grant_id = $1 AND NOT revoked")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_err("revoke tokens"))?;
        tx.commit().await.map_err(store_err("commit revocation"))?;
        Ok(n == 1)
    }

    async fn remember_once(
        &self,
        scope: &str,
        value: &str,
        until: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        // Forget what has expired; rows another call holds are left to it
        // (no waiting, no deadlock between concurrent clean-ups).
        sqlx::query(
            "DELETE FROM seen_once WHERE ctid IN \
             (SELECT ctid FROM seen_once WHERE until < $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("forget old one-time values"))?;
        // Fresh if new, or if only an expired sighting is left (one the
        // clean-up skipped): one statement, so of two at once one wins.
        let fresh = sqlx::query(
            "INSERT INTO seen_once (scope, value, until) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, value) DO UPDATE SET until = excluded.until WHERE seen_once.until < $4",
        )
        .bind(scope)
        .bind(value)
        .bind(until.0)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("remember one-time value"))?
        .rows_affected()
            == 1;
        Ok(fresh)
    }

    async fn record_fetch(&self, f: &FetchRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        insert_fetch(&mut tx, f).await?;
        tx.commit().await.map_err(store_err("commit fetch"))?;
        Ok(())
    }

    async fn claim_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryClaim, StoreError> {
        // One statement: of concurrent claimers exactly one inserts (or
        // takes over an abandoned claim); the others wait on the row lock
        // and then see it.
        let won = sqlx::query(
            "INSERT INTO grant_deliveries (grant_id, state, claim, claimed_at) VALUES ($1, 'claimed', $2, $3) \
             ON CONFLICT (grant_id) DO UPDATE SET claim = excluded.claim, claimed_at = excluded.claimed_at \
             WHERE grant_deliveries.state = 'claimed' AND grant_deliveries.claimed_at < $4 \
             RETURNING claim",
        )
        .bind(grant.as_str())
        .bind(claim)
        .bind(now.0)
        .bind(now.0.saturating_sub(lease_ms))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("claim delivery"))?;
        if won.is_some() {
            return Ok(DeliveryClaim::Claimed);
        }
        let state = sqlx::query("SELECT state FROM grant_deliveries WHERE grant_id = $1")
            .bind(grant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read delivery"))?;
        match state
            .as_ref()
            .map(|r| get::<String>(r, "state"))
            .transpose()?
            .as_deref()
        {
            Some("delivered") => Ok(DeliveryClaim::Delivered),
            Some("claimed") => Ok(DeliveryClaim::InProgress),
            // Released between the two statements: someone else's turn.
            None => Ok(DeliveryClaim::InProgress),
            Some(other) => Err(corrupt("grant_deliveries.state", other)),
        }
    }

    async fn complete_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        f: &FetchRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        let done = sqlx::query(
            "UPDATE grant_deliveries SET state = 'delivered', delivered_at = $1 \
             WHERE grant_id = $2 AND claim = $3 AND state = 'claimed'",
        )
        .bind(f.at.0)
        .bind(grant.as_str())
        .bind(claim)
        .execute(&mut *tx)
        .await
        .map_err(store_err("complete delivery"))?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        insert_fetch(&mut tx, f).await?;
        tx.commit().await.map_err(store_err("commit delivery"))?;
        Ok(true)
    }

    async fn release_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        f: &FetchRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        sqlx::query("DELETE FROM grant_deliveries WHERE grant_id = $1 AND claim = $2 AND state = 'claimed'")
            .bind(grant.as_str())
            .bind(claim)
            .execute(&mut *tx)
            .await
            .map_err(store_err("release delivery"))?;
        insert_fetch(&mut tx, f).await?;
        tx.commit().await.map_err(store_err("commit release"))?;
        Ok(())
    }

    async fn fetches_of(&self, grant: &GrantId) -> Result<Vec<FetchRecord>, StoreError> {
        sqlx::query("SELECT * FROM api_fetches WHERE grant_id = $1 ORDER BY seq")
            .bind(grant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read fetches"))?
            .iter()
            .map(|r| {
                let outcome: String = get(r, "outcome")?;
                Ok(FetchRecord {
                    client: client_id_col(r, "client")?,
                    grant: Some(grant.clone()),
                    at: UnixMillis(get(r, "at")?),
                    items: get(r, "items")?,
                    outcome: FetchOutcome::parse(&outcome).ok_or_else(|| corrupt("outcome", outcome))?,
                    hub_records: from_json(r, "hub_records")?,
                })
            })
            .collect()
    }

    async fn insert_alert(&self, a: &ClientAlert) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_alerts (client, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(a.client.as_str())
            .bind(a.at.0)
            .bind(&a.kind)
            .bind(&a.detail)
            .execute(&self.pool)
            .await
            .map_err(store_err("record alert"))?;
        Ok(())
    }

    async fn alerts(&self, client: Option<&ClientId>, limit: u32) -> Result<Vec<ClientAlert>, StoreError> {
        let rows = match client {
            Some(c) => {
                sqlx::query("SELECT * FROM api_alerts WHERE client = $1 ORDER BY seq DESC LIMIT $2")
                    .bind(c.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM api_alerts ORDER BY seq DESC LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(store_err("read alerts"))?;
        rows.iter()
            .map(|r| {
                Ok(ClientAlert {
                    client: client_id_col(r, "client")?,
                    at: UnixMillis(get(r, "at")?),
                    kind: get(r, "kind")?,
                    detail: get(r, "detail")?,
                })
            })
            .collect()
    }

    async fn usage(&self, client: &ClientId, since: UnixMillis) -> Result<Usage, StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM api_fetches WHERE client = $1 AND at >= $2 GROUP BY outcome",
        )
        .bind(client.as_str())
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("read usage"))?;
        let mut u = Usage::default();
        for r in &rows {
            let n = u64::try_from(get::<i64>(r, "n")?).unwrap_or(0);
            match get::<String>(r, "outcome")?.as_str() {
                "delivered" => u.delivered = n,
                "refused" => u.refused = n,
                _ => u.failed = n,
            }
        }
        Ok(u)
    }
}

impl PgPortalStore {
    /// Access and refresh tokens share their columns; `sql` names the table.
    async fn insert_bound_token(&self, sql: &'static str, t: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(&t.token.0)
            .bind(t.grant.as_str())
            .bind(t.client.as_str())
            .bind(&t.jkt)
            .bind(t.expires_at.0)
            .execute(&self.pool)
            .await
            .map_err(store_err("insert token"))?;
        Ok(())
    }
}
