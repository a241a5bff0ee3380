//! The consent API's tables, in the portal's store. Single use survives
//! many portals on one database: request URIs, codes and refresh tokens
//! are spent by one conditional `UPDATE … RETURNING`, one-time values by
//! one `INSERT … ON CONFLICT`; what belongs together commits together.

use renkei_catalog::ItemCode;
use renkei_consent::{
    ApiClient, AuthorizationRequest, ClientAlert, ClientApplication, ClientAuth, ClientEvent, ClientId,
    ClientKeys, ClientStatus, CodeRecord, CodeRedemption, ConsentStore, DeliveryClaim, FetchOutcome,
    FetchRecord, Grant, GrantId, PushedRequest, RefreshRedemption, RevokedBy, SecretDigest, SelfInformation,
    TokenRecord, Usage,
};
use renkei_ids::{CorporateNumber, LocalPersonId};
use renkei_protocol::{StoreError, UnixMillis};
use serde_json::json;
use sqlx::Transaction;

use crate::portal::{PortalDialect, SqlPortal};
use crate::screening::{ScreeningTables, insert_event, status_col};
use crate::sql::{Cols, Stmt, corrupt, get, parse_col, store_err};

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &impl Cols, col: &str) -> Result<T, StoreError> {
    serde_json::from_str(&get::<String>(row, col)?).map_err(|e| corrupt(col, e))
}

fn client_id_col(row: &impl Cols, col: &str) -> Result<ClientId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        ClientId::parse(s).ok_or("not a client id")
    })
}

fn grant_id_col(row: &impl Cols, col: &str) -> Result<GrantId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        GrantId::parse(s).ok_or("not a grant id")
    })
}

fn client_from(row: &impl Cols) -> Result<ApiClient, StoreError> {
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

fn token_from(r: &impl Cols, token: &SecretDigest) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        token: token.clone(),
        grant: grant_id_col(r, "grant_id")?,
        client: client_id_col(r, "client")?,
        jkt: get(r, "jkt")?,
        expires_at: UnixMillis(get(r, "expires_at")?),
    })
}

fn grant_from(r: &impl Cols) -> Result<Grant, StoreError> {
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

fn request_from(uri: &SecretDigest, row: &impl Cols) -> Result<PushedRequest, StoreError> {
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

fn code_from(code: &SecretDigest, row: &impl Cols) -> Result<CodeRecord, StoreError> {
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

async fn insert_fetch<D: PortalDialect>(
    tx: &mut Transaction<'_, D>,
    f: &FetchRecord,
) -> Result<(), StoreError> {
    Stmt::new(
        "INSERT INTO api_fetches (client, grant_id, at, items, outcome, hub_records) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .arg(f.client.as_str())
    .arg(f.grant.as_ref().map(GrantId::as_str))
    .arg(f.at.0)
    .arg(&f.items)
    .arg(f.outcome.as_str())
    .arg(json!(f.hub_records).to_string())
    .execute(tx)
    .await
    .map_err(store_err("record fetch"))?;
    Ok(())
}

const CLIENTS: ScreeningTables = ScreeningTables {
    update: "UPDATE api_clients SET corporate_number = $1, status = $2, status_reason = $3, updated_at = $4 \
             WHERE id = $5 AND status = $6",
    insert_event: "INSERT INTO api_client_events (client, at, actor, action, from_status, to_status, reason, \
                   previous_corporate_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    events: "SELECT * FROM api_client_events WHERE client = $1 ORDER BY seq",
};

impl<D: PortalDialect> ConsentStore for SqlPortal<D> {
    async fn insert_client(&self, c: &ApiClient, event: &ClientEvent) -> Result<(), StoreError> {
        let redirect_uris = json("redirect_uris", &c.app.redirect_uris)?;
        let keys = json("keys", &c.app.keys)?;
        let auth = json("auth", &c.app.auth)?;
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        Stmt::new(
            "INSERT INTO api_clients (id, corporate_number, name, name_en, purpose, redirect_uris, keys, \
             auth, items, max_data_life_days, contact, status, status_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .arg(c.id.as_str())
        .arg(c.app.corporate_number.to_string())
        .arg(&c.app.name)
        .arg(&c.app.name_en)
        .arg(&c.app.purpose)
        .arg(redirect_uris)
        .arg(keys)
        .arg(auth)
        .arg(
            c.app
                .items
                .iter()
                .map(ItemCode::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        )
        .arg(i64::from(c.app.max_data_life_days))
        .arg(&c.app.contact)
        .arg(c.status.as_str())
        .arg(&c.status_reason)
        .arg(c.created_at.0)
        .arg(c.updated_at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("insert client"))?;
        insert_event(&mut tx, &CLIENTS, event).await?;
        tx.commit().await.map_err(store_err("commit client"))?;
        Ok(())
    }

    async fn client(&self, id: &ClientId) -> Result<Option<ApiClient>, StoreError> {
        Stmt::new("SELECT * FROM api_clients WHERE id = $1")
            .arg(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read client"))?
            .as_ref()
            .map(client_from)
            .transpose()
    }

    async fn clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        Stmt::new("SELECT * FROM api_clients ORDER BY created_at, id")
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
        crate::screening::update(&self.pool, &CLIENTS, next, expected, event).await
    }

    async fn client_events(&self, id: &ClientId) -> Result<Vec<ClientEvent>, StoreError> {
        crate::screening::events(&self.pool, &CLIENTS, id).await
    }

    async fn insert_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        let req = json!({
            "redirect_uri": r.request.redirect_uri,
            "state": r.request.state,
            "code_challenge": r.request.code_challenge,
            "details": r.request.details.to_json(),
            "dpop_jkt": r.request.dpop_jkt,
        });
        Stmt::new(
            "INSERT INTO oauth_requests (uri_digest, client, request, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .arg(&r.uri.0)
        .arg(r.client.as_str())
        .arg(req.to_string())
        .arg(r.expires_at.0)
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
        Stmt::new("SELECT * FROM oauth_requests WHERE uri_digest = $1 AND NOT used AND expires_at > $2")
            .arg(&uri.0)
            .arg(now.0)
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
        let used = Stmt::new("UPDATE oauth_requests SET used = true WHERE uri_digest = $1 AND NOT used")
            .arg(&request.0)
            .execute(&mut tx)
            .await
            .map_err(store_err("use pushed request"))?;
        if used != 1 {
            return Ok(false);
        }
        Stmt::new(
            "INSERT INTO grants (id, client, person, details, created_at, expires_at, preview_digest, \
             artefact, person_proof) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .arg(g.id.as_str())
        .arg(g.client.as_str())
        .arg(g.person.to_string())
        .arg(g.details.to_json().to_string())
        .arg(g.created_at.0)
        .arg(g.expires_at.0)
        .arg(&g.preview_digest)
        .arg(&g.artefact)
        .arg(&g.person_proof)
        .execute(&mut tx)
        .await
        .map_err(store_err("insert grant"))?;
        Stmt::new(
            "INSERT INTO oauth_codes (code_digest, grant_id, client, redirect_uri, code_challenge, \
             dpop_jkt, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .arg(&code.code.0)
        .arg(code.grant.as_str())
        .arg(code.client.as_str())
        .arg(&code.redirect_uri)
        .arg(&code.code_challenge)
        .arg(&code.dpop_jkt)
        .arg(code.expires_at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("insert code"))?;
        tx.commit().await.map_err(store_err("commit grant"))?;
        Ok(true)
    }

    async fn redeem_code(&self, code: &SecretDigest, now: UnixMillis) -> Result<CodeRedemption, StoreError> {
        // Spend it in one statement: of two redemptions at once exactly
        // one is fresh.
        let spent = Stmt::new(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_digest = $2 AND used_at IS NULL RETURNING *",
        )
        .arg(now.0)
        .arg(&code.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("spend code"))?;
        if let Some(row) = spent {
            return Ok(CodeRedemption::Fresh(code_from(code, &row)?));
        }
        // Not spent now: spent before (a spent code stays spent), or
        // unknown when the statement above ran.
        let seen = Stmt::new("SELECT grant_id, used_at FROM oauth_codes WHERE code_digest = $1")
            .arg(&code.0)
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
        let spent = Stmt::new(
            "UPDATE refresh_tokens SET used = true WHERE token_digest = $1 AND NOT used AND jkt = $2 \
             RETURNING *",
        )
        .arg(&token.0)
        .arg(jkt)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("spend refresh token"))?;
        if let Some(row) = spent {
            return Ok(RefreshRedemption::Fresh(token_from(&row, token)?));
        }
        // Not spent now: used before (a replay, whatever the key, as in
        // the SQLite store), presented with another key (left unspent),
        // or unknown when the statement above ran.
        let seen = Stmt::new("SELECT grant_id, used, jkt FROM refresh_tokens WHERE token_digest = $1")
            .arg(&token.0)
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
        Stmt::new("SELECT * FROM access_tokens WHERE token_digest = $1 AND NOT revoked")
            .arg(&token.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read token"))?
            .map(|r| token_from(&r, token))
            .transpose()
    }

    async fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        Stmt::new("SELECT * FROM grants WHERE id = $1")
            .arg(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read grant"))?
            .as_ref()
            .map(grant_from)
            .transpose()
    }

    async fn grants_of(&self, person: &LocalPersonId) -> Result<Vec<Grant>, StoreError> {
        Stmt::new("SELECT * FROM grants WHERE person = $1 ORDER BY created_at DESC, id")
            .arg(person.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read grants"))?
            .iter()
            .map(grant_from)
            .collect()
    }

    async fn revoke_grant(&self, id: &GrantId, by: RevokedBy, now: UnixMillis) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        let n = Stmt::new(
            "UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .arg(now.0)
        .arg(by.as_str())
        .arg(id.as_str())
        .execute(&mut tx)
        .await
        .map_err(store_err("revoke grant"))?;
        Stmt::new("UPDATE access_tokens SET revoked = true WHERE grant_id = $1 AND NOT revoked")
            .arg(id.as_str())
            .execute(&mut tx)
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
        D::remember_once(&self.pool, scope, value, until, now).await
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
        let won = Stmt::new(
            "INSERT INTO grant_deliveries (grant_id, state, claim, claimed_at) VALUES ($1, 'claimed', $2, $3) \
             ON CONFLICT (grant_id) DO UPDATE SET claim = excluded.claim, claimed_at = excluded.claimed_at \
             WHERE grant_deliveries.state = 'claimed' AND grant_deliveries.claimed_at < $4 \
             RETURNING claim",
        )
        .arg(grant.as_str())
        .arg(claim)
        .arg(now.0)
        .arg(now.0.saturating_sub(lease_ms))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("claim delivery"))?;
        if won.is_some() {
            return Ok(DeliveryClaim::Claimed);
        }
        let state = Stmt::new("SELECT state FROM grant_deliveries WHERE grant_id = $1")
            .arg(grant.as_str())
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
        let done = Stmt::new(
            "UPDATE grant_deliveries SET state = 'delivered', delivered_at = $1 \
             WHERE grant_id = $2 AND claim = $3 AND state = 'claimed'",
        )
        .arg(f.at.0)
        .arg(grant.as_str())
        .arg(claim)
        .execute(&mut tx)
        .await
        .map_err(store_err("complete delivery"))?;
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
        Stmt::new("DELETE FROM grant_deliveries WHERE grant_id = $1 AND claim = $2 AND state = 'claimed'")
            .arg(grant.as_str())
            .arg(claim)
            .execute(&mut tx)
            .await
            .map_err(store_err("release delivery"))?;
        insert_fetch(&mut tx, f).await?;
        tx.commit().await.map_err(store_err("commit release"))?;
        Ok(())
    }

    async fn fetches_of(&self, grant: &GrantId) -> Result<Vec<FetchRecord>, StoreError> {
        Stmt::new("SELECT * FROM api_fetches WHERE grant_id = $1 ORDER BY seq")
            .arg(grant.as_str())
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
        Stmt::new("INSERT INTO api_alerts (client, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .arg(a.client.as_str())
            .arg(a.at.0)
            .arg(&a.kind)
            .arg(&a.detail)
            .execute(&self.pool)
            .await
            .map_err(store_err("record alert"))?;
        Ok(())
    }

    async fn alerts(&self, client: Option<&ClientId>, limit: u32) -> Result<Vec<ClientAlert>, StoreError> {
        let rows = match client {
            Some(c) => {
                Stmt::new("SELECT * FROM api_alerts WHERE client = $1 ORDER BY seq DESC LIMIT $2")
                    .arg(c.as_str())
                    .arg(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                Stmt::new("SELECT * FROM api_alerts ORDER BY seq DESC LIMIT $1")
                    .arg(i64::from(limit))
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
        let rows = Stmt::new(
            "SELECT outcome, COUNT(*) AS n FROM api_fetches WHERE client = $1 AND at >= $2 GROUP BY outcome",
        )
        .arg(client.as_str())
        .arg(since.0)
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

impl<D: PortalDialect> SqlPortal<D> {
    /// Access and refresh tokens share their columns; `sql` names the table.
    async fn insert_bound_token(&self, sql: &'static str, t: &TokenRecord) -> Result<(), StoreError> {
        Stmt::new(sql)
            .arg(&t.token.0)
            .arg(t.grant.as_str())
            .arg(t.client.as_str())
            .arg(&t.jkt)
            .arg(t.expires_at.0)
            .execute(&self.pool)
            .await
            .map_err(store_err("insert token"))?;
        Ok(())
    }
}
