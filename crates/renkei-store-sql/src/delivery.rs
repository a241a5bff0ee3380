//! Private delivery's tables, in the portal's store. A document id is
//! taken once per sender by the primary key, and a correction marks the
//! version it replaces in the same transaction, only while that one is
//! still the latest — so two corrections of one document cannot both win.

use renkei_consent::ClientStatus;
use renkei_delivery::{
    DeliveryHandle, DeliveryStore, DocumentTypeId, Link, MailboxDocument, NetworkCursor, Receipt, Sender,
    SenderApplication, SenderEvent, SenderId, SenderKind,
};
use renkei_ids::{CorporateNumber, LocalPersonId, QueryId};
use renkei_jose::Jwks;
use renkei_protocol::{StoreError, UnixMillis};
use sqlx::Transaction;

use crate::dialect::Dialect;
use crate::portal::{PortalDialect, SqlPortal};
use crate::screening::{ScreeningTables, insert_event, status_col};
use crate::sql::{Cols, Stmt, corrupt, digest, get, parse_col, store_err};

fn sender_id_col(row: &impl Cols, col: &str) -> Result<SenderId, StoreError> {
    parse_col(col, &get::<String>(row, col)?, |s| {
        SenderId::parse(s).ok_or("not a sender id")
    })
}

fn handle_col(row: &impl Cols) -> Result<DeliveryHandle, StoreError> {
    parse_col("handle", &get::<String>(row, "handle")?, |s| {
        DeliveryHandle::parse(s).ok_or("not a delivery handle")
    })
}

fn person_col(row: &impl Cols) -> Result<LocalPersonId, StoreError> {
    parse_col("person", &get::<String>(row, "person")?, LocalPersonId::parse)
}

fn type_id(text: &str) -> Result<DocumentTypeId, StoreError> {
    DocumentTypeId::parse(text).ok_or_else(|| corrupt("document type", text))
}

fn sender_from(row: &impl Cols) -> Result<Sender, StoreError> {
    let kind: String = get(row, "kind")?;
    let jwks: String = get(row, "jwks")?;
    let types: String = get(row, "document_types")?;
    Ok(Sender {
        id: sender_id_col(row, "id")?,
        app: SenderApplication {
            corporate_number: parse_col(
                "corporate_number",
                &get::<String>(row, "corporate_number")?,
                CorporateNumber::parse,
            )?,
            name: get(row, "name")?,
            name_en: get(row, "name_en")?,
            kind: SenderKind::parse(&kind).ok_or_else(|| corrupt("kind", kind))?,
            // A public sender has no keys of its own here: `null`.
            jwks: match jwks.as_str() {
                "null" => None,
                text => Some(Jwks::parse(text).map_err(|e| corrupt("jwks", e))?),
            },
            document_types: types.split(' ').map(type_id).collect::<Result<_, _>>()?,
            contact: get(row, "contact")?,
        },
        status: status_col(row, "status")?,
        status_reason: get(row, "status_reason")?,
        created_at: UnixMillis(get(row, "created_at")?),
        updated_at: UnixMillis(get(row, "updated_at")?),
    })
}

fn document_from(r: &impl Cols) -> Result<MailboxDocument, StoreError> {
    let version: i64 = get(r, "version")?;
    let year: i64 = get(r, "tax_year")?;
    let doc: String = get(r, "document")?;
    let voided = match (
        get::<Option<i64>>(r, "voided_at")?,
        get::<Option<String>>(r, "void_reason")?,
    ) {
        (Some(at), Some(reason)) => Some((UnixMillis(at), reason)),
        (None, None) => None,
        _ => return Err(corrupt("voided_at", "a void without its reason")),
    };
    Ok(MailboxDocument {
        sender: sender_id_col(r, "sender")?,
        document_id: get(r, "document_id")?,
        version: u32::try_from(version).map_err(|e| corrupt("version", e))?,
        replaces: get(r, "replaces")?,
        type_id: type_id(&get::<String>(r, "doc_type")?)?,
        handle: handle_col(r)?,
        person: person_col(r)?,
        tax_year: u16::try_from(year).map_err(|e| corrupt("tax_year", e))?,
        document: serde_json::from_str(&doc).map_err(|e| corrupt("document", e))?,
        digest: digest(get(r, "digest")?, "digest")?,
        jws: get(r, "jws")?,
        network_record: get::<Option<String>>(r, "network_record")?
            .map(|q| parse_col("network_record", &q, QueryId::parse))
            .transpose()?,
        deposited_at: UnixMillis(get(r, "deposited_at")?),
        superseded_by: get(r, "superseded_by")?,
        voided,
        opened_at: get::<Option<i64>>(r, "opened_at")?.map(UnixMillis),
        deleted_at: get::<Option<i64>>(r, "deleted_at")?.map(UnixMillis),
    })
}

fn link_from(r: &impl Cols) -> Result<Link, StoreError> {
    Ok(Link {
        sender: sender_id_col(r, "sender")?,
        person: person_col(r)?,
        handle: handle_col(r)?,
        reference: get(r, "reference")?,
        linked_at: UnixMillis(get(r, "linked_at")?),
        unlinked_at: get::<Option<i64>>(r, "unlinked_at")?.map(UnixMillis),
    })
}

/// Insert one version and mark the one it replaces; `false` (and the
/// caller rolls back) if the id is taken or the replaced one is no longer
/// the latest.
async fn put_document<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    d: &MailboxDocument,
) -> Result<bool, StoreError> {
    let inserted = Stmt::new(
        "INSERT INTO delivery_documents (sender, document_id, version, replaces, doc_type, handle, person, \
         tax_year, document, digest, jws, deposited_at, network_record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (sender, document_id) DO NOTHING",
    )
    .arg(d.sender.as_str())
    .arg(d.document_id.as_str())
    .arg(i64::from(d.version))
    .arg(&d.replaces)
    .arg(d.type_id.to_string())
    .arg(d.handle.as_str())
    .arg(d.person.to_string())
    .arg(i64::from(d.tax_year))
    .arg(d.document.to_string())
    .arg(d.digest.to_vec())
    .arg(d.jws.as_str())
    .arg(d.deposited_at.0)
    .arg(d.network_record.map(|q| q.to_string()))
    .execute(&mut *tx)
    .await
    .map_err(store_err("store document"))?;
    if inserted != 1 {
        return Ok(false);
    }
    if let Some(old) = &d.replaces {
        let marked = Stmt::new(
            "UPDATE delivery_documents SET superseded_by = $1 \
             WHERE sender = $2 AND document_id = $3 AND superseded_by IS NULL AND voided_at IS NULL",
        )
        .arg(d.document_id.as_str())
        .arg(d.sender.as_str())
        .arg(old.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_err("supersede document"))?;
        if marked != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

const SENDERS: ScreeningTables = ScreeningTables {
    update: "UPDATE delivery_senders SET corporate_number = $1, status = $2, status_reason = $3, \
             updated_at = $4 WHERE id = $5 AND status = $6",
    insert_event: "INSERT INTO delivery_sender_events (sender, at, actor, action, from_status, to_status, \
                   reason, previous_corporate_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    events: "SELECT * FROM delivery_sender_events WHERE sender = $1 ORDER BY seq",
};

impl<D: PortalDialect> DeliveryStore for SqlPortal<D> {
    async fn insert_sender(&self, s: &Sender, event: &SenderEvent) -> Result<(), StoreError> {
        let types: Vec<String> = s.app.document_types.iter().map(ToString::to_string).collect();
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        Stmt::new(
            "INSERT INTO delivery_senders (id, corporate_number, name, name_en, kind, jwks, document_types, \
             contact, status, status_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .arg(s.id.as_str())
        .arg(s.app.corporate_number.to_string())
        .arg(&s.app.name)
        .arg(&s.app.name_en)
        .arg(s.app.kind.as_str())
        .arg(
            s.app
                .jwks
                .as_ref()
                .map_or_else(|| "null".to_owned(), Jwks::to_json),
        )
        .arg(types.join(" "))
        .arg(&s.app.contact)
        .arg(s.status.as_str())
        .arg(&s.status_reason)
        .arg(s.created_at.0)
        .arg(s.updated_at.0)
        .execute(&mut tx)
        .await
        .map_err(store_err("insert sender"))?;
        insert_event(&mut tx, &SENDERS, event).await?;
        tx.commit().await.map_err(store_err("commit sender"))?;
        Ok(())
    }

    async fn sender(&self, id: &SenderId) -> Result<Option<Sender>, StoreError> {
        Stmt::new("SELECT * FROM delivery_senders WHERE id = $1")
            .arg(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read sender"))?
            .as_ref()
            .map(sender_from)
            .transpose()
    }

    async fn senders(&self) -> Result<Vec<Sender>, StoreError> {
        Stmt::new("SELECT * FROM delivery_senders ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read senders"))?
            .iter()
            .map(sender_from)
            .collect()
    }

    async fn update_sender(
        &self,
        next: &Sender,
        expected: ClientStatus,
        event: &SenderEvent,
    ) -> Result<bool, StoreError> {
        crate::screening::update(&self.pool, &SENDERS, next, expected, event).await
    }

    async fn sender_events(&self, id: &SenderId) -> Result<Vec<SenderEvent>, StoreError> {
        crate::screening::events(&self.pool, &SENDERS, id).await
    }

    async fn link(
        &self,
        sender: &SenderId,
        person: &LocalPersonId,
        handle: &DeliveryHandle,
        reference: Option<&str>,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO delivery_links (sender, person, handle, reference, linked_at, unlinked_at, changed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $5) \
             ON CONFLICT (sender, person) DO UPDATE SET handle = $3, reference = $4, linked_at = $5, \
             unlinked_at = NULL, changed_at = $5",
        )
        .arg(sender.as_str())
        .arg(person.to_string())
        .arg(handle.as_str())
        .arg(reference)
        .arg(now.0)
        .execute(&self.pool)
        .await
        .map_err(store_err("link sender"))?;
        Ok(())
    }

    async fn unlink(
        &self,
        sender: &SenderId,
        person: &LocalPersonId,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = Stmt::new(
            "UPDATE delivery_links SET unlinked_at = $1, changed_at = $1 \
             WHERE sender = $2 AND person = $3 AND unlinked_at IS NULL",
        )
        .arg(now.0)
        .arg(sender.as_str())
        .arg(person.to_string())
        .execute(&self.pool)
        .await
        .map_err(store_err("unlink sender"))?;
        Ok(done == 1)
    }

    async fn linked_person(
        &self,
        sender: &SenderId,
        handle: &DeliveryHandle,
    ) -> Result<Option<LocalPersonId>, StoreError> {
        Stmt::new(
            "SELECT person FROM delivery_links WHERE sender = $1 AND handle = $2 AND unlinked_at IS NULL",
        )
        .arg(sender.as_str())
        .arg(handle.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("read link"))?
        .as_ref()
        .map(person_col)
        .transpose()
    }

    async fn links(&self, person: &LocalPersonId) -> Result<Vec<Link>, StoreError> {
        Stmt::new("SELECT * FROM delivery_links WHERE person = $1 ORDER BY linked_at, sender")
            .arg(person.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("read links"))?
            .iter()
            .map(link_from)
            .collect()
    }

    async fn sender_links(
        &self,
        sender: &SenderId,
        since: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Link>, StoreError> {
        Stmt::new(
            "SELECT * FROM delivery_links WHERE sender = $1 AND changed_at >= $2 \
             ORDER BY changed_at, handle LIMIT $3",
        )
        .arg(sender.as_str())
        .arg(since.0)
        .arg(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("read sender links"))?
        .iter()
        .map(link_from)
        .collect()
    }

    async fn receipts(
        &self,
        sender: &SenderId,
        since: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Receipt>, StoreError> {
        Stmt::new(
            "SELECT document_id, version, handle, opened_at FROM delivery_documents \
             WHERE sender = $1 AND opened_at IS NOT NULL AND opened_at >= $2 \
             ORDER BY opened_at, document_id LIMIT $3",
        )
        .arg(sender.as_str())
        .arg(since.0)
        .arg(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("read receipts"))?
        .iter()
        .map(|r| {
            let version: i64 = get(r, "version")?;
            Ok(Receipt {
                document_id: get(r, "document_id")?,
                version: u32::try_from(version).map_err(|e| corrupt("version", e))?,
                handle: handle_col(r)?,
                opened_at: UnixMillis(get(r, "opened_at")?),
            })
        })
        .collect()
    }

    async fn document(
        &self,
        sender: &SenderId,
        document_id: &str,
    ) -> Result<Option<MailboxDocument>, StoreError> {
        Stmt::new("SELECT * FROM delivery_documents WHERE sender = $1 AND document_id = $2")
            .arg(sender.as_str())
            .arg(document_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read document"))?
            .as_ref()
            .map(document_from)
            .transpose()
    }

    async fn store_document(&self, d: &MailboxDocument) -> Result<bool, StoreError> {
        self.store_documents(std::slice::from_ref(d)).await
    }

    async fn store_documents(&self, docs: &[MailboxDocument]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_err("begin"))?;
        for d in docs {
            if !put_document(&mut tx, d).await? {
                // Dropping the transaction rolls back what went before.
                return Ok(false);
            }
        }
        tx.commit().await.map_err(store_err("commit documents"))?;
        Ok(true)
    }

    async fn void_document(
        &self,
        sender: &SenderId,
        document_id: &str,
        reason: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = Stmt::new(
            "UPDATE delivery_documents SET voided_at = $1, void_reason = $2 \
             WHERE sender = $3 AND document_id = $4 AND voided_at IS NULL",
        )
        .arg(at.0)
        .arg(reason)
        .arg(sender.as_str())
        .arg(document_id)
        .execute(&self.pool)
        .await
        .map_err(store_err("void document"))?;
        Ok(done == 1)
    }

    async fn mailbox(&self, person: &LocalPersonId) -> Result<Vec<MailboxDocument>, StoreError> {
        Stmt::new(
            "SELECT * FROM delivery_documents WHERE person = $1 AND deleted_at IS NULL \
             ORDER BY tax_year DESC, deposited_at, sender, document_id",
        )
        .arg(person.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("read mailbox"))?
        .iter()
        .map(document_from)
        .collect()
    }

    async fn open_document(
        &self,
        person: &LocalPersonId,
        sender: &SenderId,
        document_id: &str,
        now: UnixMillis,
    ) -> Result<Option<MailboxDocument>, StoreError> {
        Stmt::new(
            "UPDATE delivery_documents SET opened_at = $1 \
             WHERE person = $2 AND sender = $3 AND document_id = $4 AND opened_at IS NULL \
             AND deleted_at IS NULL",
        )
        .arg(now.0)
        .arg(person.to_string())
        .arg(sender.as_str())
        .arg(document_id)
        .execute(&self.pool)
        .await
        .map_err(store_err("open document"))?;
        Ok(self
            .document(sender, document_id)
            .await?
            .filter(|d| d.person == *person && d.deleted_at.is_none()))
    }

    async fn network_cursor(&self, cursor: NetworkCursor) -> Result<u64, StoreError> {
        let after: Option<i64> = Stmt::new("SELECT reached FROM delivery_network_cursors WHERE name = $1")
            .arg(cursor.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("read network cursor"))?
            .as_ref()
            .map(|r| get(r, "reached"))
            .transpose()?;
        u64::try_from(after.unwrap_or(0)).map_err(|e| corrupt("reached", e))
    }

    async fn set_network_cursor(&self, cursor: NetworkCursor, after: u64) -> Result<(), StoreError> {
        let after = i64::try_from(after).map_err(|e| corrupt("reached", e))?;
        Stmt::new(
            "INSERT INTO delivery_network_cursors (name, reached) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET reached = $2",
        )
        .arg(cursor.as_str())
        .arg(after)
        .execute(&self.pool)
        .await
        .map_err(store_err("set network cursor"))?;
        Ok(())
    }

    async fn delete_document(
        &self,
        person: &LocalPersonId,
        sender: &SenderId,
        document_id: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = Stmt::new(
            "UPDATE delivery_documents SET deleted_at = $1, document = 'null', jws = '' \
             WHERE person = $2 AND sender = $3 AND document_id = $4 AND deleted_at IS NULL",
        )
        .arg(now.0)
        .arg(person.to_string())
        .arg(sender.as_str())
        .arg(document_id)
        .execute(&self.pool)
        .await
        .map_err(store_err("delete document"))?;
        Ok(done == 1)
    }
}
