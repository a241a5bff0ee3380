//! The consent API's tables, in the portal's store.

use renkei_catalog::ItemCode;
use renkei_consent::{
    Actor, ApiClient, ClientApplication, ClientAuth, ClientEvent, ClientId, ClientKeys, ClientStatus,
    ConsentStore,
};
use renkei_ids::CorporateNumber;
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};

use crate::SqlitePortalStore;
use crate::db::{corrupt, get, parse_col, store_err};

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T, StoreError> {
    serde_json::from_str(&get::<String>(row, col)?).map_err(|e| corrupt(col, e))
}

fn status_col(row: &SqliteRow, col: &str) -> Result<ClientStatus, StoreError> {
    let s: String = get(row, col)?;
    ClientStatus::parse(&s).ok_or_else(|| corrupt(col, s))
}

fn client_from(row: &SqliteRow) -> Result<ApiClient, StoreError> {
    let items: String = get(row, "items")?;
    let items = items
        .split(' ')
        .map(|i| parse_col("items", i, ItemCode::parse))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: ClientKeys = from_json(row, "keys")?;
    let auth: ClientAuth = from_json(row, "auth")?;
    Ok(ApiClient {
        id: parse_col("id", &get::<String>(row, "id")?, |s| {
            ClientId::parse(s).ok_or("not a client id")
        })?,
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

async fn insert_event(tx: &mut Transaction<'_, Sqlite>, e: &ClientEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_client_events (client, at, actor, action, from_status, to_status, reason, \
         previous_corporate_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

impl ConsentStore for SqlitePortalStore {
    async fn insert_client(&self, c: &ApiClient, event: &ClientEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        sqlx::query(
            "INSERT INTO api_clients (id, corporate_number, name, name_en, purpose, redirect_uris, keys, \
             auth, items, max_data_life_days, contact, status, status_reason, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.as_str())
        .bind(c.app.corporate_number.to_string())
        .bind(&c.app.name)
        .bind(&c.app.name_en)
        .bind(&c.app.purpose)
        .bind(json("redirect_uris", &c.app.redirect_uris)?)
        .bind(json("keys", &c.app.keys)?)
        .bind(json("auth", &c.app.auth)?)
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
        sqlx::query("SELECT * FROM api_clients WHERE id = ?")
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
        let done = sqlx::query(
            "UPDATE api_clients SET corporate_number = ?, status = ?, status_reason = ?, updated_at = ? \
             WHERE id = ? AND status = ?",
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
        sqlx::query("SELECT * FROM api_client_events WHERE client = ? ORDER BY seq")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read client events"))?
            .iter()
            .map(|r| {
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
            })
            .collect()
    }
}
