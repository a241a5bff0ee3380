//! The mailbox: the senders a person links (each link confirmed with the
//! card), the documents they deposit — by year and type, with their
//! signature, versions and the first opening that is the sender's receipt
//! — downloads, an export of everything, deletion, and the draft tax
//! return computed from the year's documents.
//!
//! A proxy sees the mailbox within the notices scope and links, unlinks
//! or deletes within the account scope.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_delivery::{DraftSource, MailboxDocument, Sender, SenderId, check_document_id, check_reference};
use renkei_ids::LocalPersonId;
use renkei_portal::Scope;
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::account::Staged;
use crate::i18n::Tr;
use crate::routes::{CsrfForm, page_result};
use crate::state::PortalState;
use crate::templates::{
    DocumentPage, DraftLineView, DraftPage, LinkView, MailboxItem, MailboxPage, Opt, VersionView, render,
};
use crate::web::{ClientAddr, LoggedIn, PageError, jst, lang_of};

/// Where a document's signature stands now.
fn signature_status(doc: &MailboxDocument, sender: Option<&Sender>, tr: &Tr) -> (String, bool) {
    let Some(sender) = sender else {
        return (tr.s("mailbox_sig_unknown_sender").to_owned(), false);
    };
    // A public sender's node signed and sealed it to the portal's node,
    // which verified both before it accepted; the hub's record names it.
    if let Some(record) = doc.network_record {
        return (format!("{} ({record})", tr.s("mailbox_sig_network")), true);
    }
    let verified = renkei_jose::decode_unverified(&doc.jws).ok().and_then(|u| {
        let kid = u.header.kid.clone();
        let key = sender
            .app
            .jwks
            .as_ref()?
            .signing_key(kid.as_deref(), u.header.alg)
            .ok()?;
        u.verify_with(key).ok().map(|_| kid)
    });
    match verified {
        Some(kid) => (
            format!(
                "{} ({})",
                tr.s("mailbox_sig_valid"),
                kid.unwrap_or_else(|| tr.s("mailbox_sig_no_kid").to_owned())
            ),
            true,
        ),
        // Checked when it was deposited; the key has been replaced since.
        None => (tr.s("mailbox_sig_key_gone").to_owned(), false),
    }
}

fn sender_name(senders: &HashMap<SenderId, Sender>, id: &SenderId, tr: &Tr) -> String {
    senders
        .get(id)
        .map(|s| match (&s.app.name_en, tr.lang) {
            (Some(en), crate::i18n::Lang::En) => en.clone(),
            _ => s.app.name.clone(),
        })
        .unwrap_or_else(|| id.to_string())
}

impl<S: crate::Store> PortalState<S> {
    fn type_label(&self, doc: &MailboxDocument, tr: &Tr) -> String {
        self.document_types
            .get(&doc.type_id.name, doc.type_id.version)
            .map(|t| tr.pick(&t.label_ja, &t.label_en).to_owned())
            .unwrap_or_else(|| doc.type_id.to_string())
    }

    async fn senders_by_id(&self, tr: &Tr) -> Result<HashMap<SenderId, Sender>, PageError> {
        Ok(self
            .store
            .senders()
            .await
            .map_err(|e| PageError::store(e, tr))?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect())
    }

    /// Whose mailbox this is (the person's, or their principal's within
    /// `scope`), once delivery is on.
    async fn mailbox_subject(
        &self,
        li: &LoggedIn,
        scope: Scope,
        action: &str,
    ) -> Result<LocalPersonId, PageError> {
        self.require_delivery(&li.tr)?;
        Ok(self.subject(li, scope, action).await?.0)
    }

    fn require_delivery(&self, tr: &Tr) -> Result<&renkei_delivery::HandleKey, PageError> {
        self.handle_key
            .as_ref()
            .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("mailbox_off")))
    }
}

/// The versions of one document, newest first: `head` and what it
/// replaced, following `replaces` back.
fn chain<'a>(docs: &'a [MailboxDocument], head: &'a MailboxDocument) -> Vec<&'a MailboxDocument> {
    let mut out = vec![head];
    let mut seen = BTreeSet::from([head.document_id.as_str()]);
    let mut at = head;
    while let Some(prev) = &at.replaces {
        let Some(d) = docs
            .iter()
            .find(|d| d.sender == head.sender && &d.document_id == prev)
        else {
            break;
        };
        if !seen.insert(d.document_id.as_str()) {
            break;
        }
        out.push(d);
        at = d;
    }
    out
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MailboxQuery {
    #[serde(default)]
    year: Option<String>,
    #[serde(default, rename = "type")]
    doc_type: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub(crate) async fn page<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        let subject = st.mailbox_subject(&li, Scope::Notices, "mailbox").await?;
        let senders = st.senders_by_id(&tr).await?;
        let docs = st
            .store
            .mailbox(&subject)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let links = st
            .store
            .links(&subject)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let year = match q.year.as_deref().filter(|y| !y.is_empty()) {
            None => None,
            Some(y) => Some(
                y.parse::<u16>()
                    .ok()
                    .filter(|y| (2000..=2100).contains(y))
                    .ok_or_else(|| PageError::bad(tr.s("error_bad_input")))?,
            ),
        };
        let doc_type = match q.doc_type.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) if st.document_types.iter().any(|d| d.id.name == t) => Some(t.to_owned()),
            Some(_) => return Err(PageError::bad(tr.s("error_bad_input"))),
        };
        let years: BTreeSet<u16> = docs.iter().map(|d| d.tax_year).collect();
        let items = docs
            .iter()
            .filter(|d| d.superseded_by.is_none())
            .filter(|d| year.is_none_or(|y| d.tax_year == y))
            .filter(|d| doc_type.as_deref().is_none_or(|t| d.type_id.name == t))
            .map(|d| MailboxItem {
                href: format!("/mailbox/documents/{}/{}", d.sender, d.document_id),
                sender: sender_name(&senders, &d.sender, &tr),
                type_label: st.type_label(d, &tr),
                tax_year: d.tax_year,
                deposited: jst(d.deposited_at.0),
                versions: chain(&docs, d).len(),
                unread: d.opened_at.is_none(),
                voided: d.voided.is_some(),
            })
            .collect();
        let linked: BTreeSet<&SenderId> = links
            .iter()
            .filter(|l| l.unlinked_at.is_none())
            .map(|l| &l.sender)
            .collect();
        let link_views = links
            .iter()
            .map(|l| LinkView {
                sender_id: l.sender.to_string(),
                sender: sender_name(&senders, &l.sender, &tr),
                reference: l.reference.clone().unwrap_or_default(),
                since: jst(l.linked_at.0),
                active: l.unlinked_at.is_none(),
            })
            .collect();
        let mut linkable: Vec<Opt> = senders
            .values()
            // Public senders reach everyone through the network: nothing to link.
            .filter(|s| s.is_active() && !s.app.kind.is_public() && !linked.contains(&s.id))
            .map(|s| Opt {
                value: s.id.to_string(),
                label: sender_name(&senders, &s.id, &tr),
                selected: false,
            })
            .collect();
        linkable.sort_by(|a, b| a.label.cmp(&b.label));
        let types = st
            .document_types
            .iter()
            .filter(|t| t.deposit)
            .map(|t| Opt {
                value: t.id.name.clone(),
                label: tr.pick(&t.label_ja, &t.label_en).to_owned(),
                selected: doc_type.as_deref() == Some(t.id.name.as_str()),
            })
            .collect();
        let flash = q.done.as_deref().map(|d| match d {
            "linked" => tr.s("mailbox_linked").to_owned(),
            "unlinked" => tr.s("mailbox_unlinked").to_owned(),
            _ => tr.s("mailbox_deleted").to_owned(),
        });
        Ok(render(&MailboxPage {
            ctx: st.ctx(&li, "mailbox_title", "/mailbox").await.with_flash(flash),
            items,
            years: years
                .into_iter()
                .rev()
                .map(|y| Opt {
                    value: y.to_string(),
                    label: y.to_string(),
                    selected: year == Some(y),
                })
                .collect(),
            types,
            links: link_views,
            linkable,
            draft_year: year.unwrap_or(2025),
        }))
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    reference: String,
}

/// Stage a link for confirmation with the card.
pub(crate) async fn link<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        let tr = li.tr;
        st.require_delivery(&tr)?;
        let (subject, proxy) = st.subject(&li, Scope::Account, "mailbox_link").await?;
        let sender =
            SenderId::parse(f.sender.trim()).ok_or_else(|| PageError::bad(tr.s("mailbox_err_sender")))?;
        let sender = st
            .store
            .sender(&sender)
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .filter(|s| s.is_active() && !s.app.kind.is_public())
            .ok_or_else(|| PageError::bad(tr.s("mailbox_err_sender")))?;
        let reference = f.reference.trim();
        let reference = if reference.is_empty() {
            None
        } else {
            check_reference(reference)
                .map_err(|why| PageError::bad(format!("{}: {why}", tr.s("mailbox_reference"))))?;
            Some(reference.to_owned())
        };
        let text = format!(
            "{}: {}{}",
            tr.s("mailbox_link_action"),
            sender.app.name,
            reference
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        st.stage(
            &li,
            addr,
            Staged::LinkSender {
                subject: subject.to_string(),
                proxy: proxy.map(|p| p.id.0),
                sender: sender.id.to_string(),
                reference,
            },
            text,
        )
        .await
    }
    .await;
    page_result(&tr, r)
}

/// Commit a confirmed link: the person's pairwise handle at the sender.
pub(crate) async fn commit_link<S: crate::Store>(
    st: &PortalState<S>,
    li: &LoggedIn,
    subject: &str,
    sender: &str,
    reference: Option<&str>,
) -> Result<Response, PageError> {
    let tr = &li.tr;
    let key = st.require_delivery(tr)?;
    let (now_subject, _) = st.subject(li, Scope::Account, "mailbox_link").await?;
    if now_subject.as_str() != subject {
        return Err(PageError::forbidden(tr.s("error_forbidden")));
    }
    let sender = SenderId::parse(sender).ok_or_else(|| PageError::bad(tr.s("mailbox_err_sender")))?;
    let active = st
        .store
        .sender(&sender)
        .await
        .map_err(|e| PageError::store(e, tr))?
        .is_some_and(|s| s.is_active() && !s.app.kind.is_public());
    if !active {
        return Err(PageError::bad(tr.s("mailbox_err_sender")));
    }
    let handle = key.handle(&sender, now_subject.as_str());
    st.store
        .link(&sender, &now_subject, &handle, reference, UnixMillis::now())
        .await
        .map_err(|e| PageError::store(e, tr))?;
    metrics::counter!("renkei_delivery_links_total", "action" => "linked").increment(1);
    tracing::info!(sender = %sender, acting = li.session.acting_for.is_some(), "sender linked");
    Ok(Redirect::to("/mailbox?done=linked").into_response())
}

pub(crate) async fn unlink<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let tr = li.tr;
        let subject = st.mailbox_subject(&li, Scope::Account, "mailbox_unlink").await?;
        let sender = SenderId::parse(&id).ok_or_else(|| PageError::bad(tr.s("mailbox_err_sender")))?;
        if !st
            .store
            .unlink(&sender, &subject, UnixMillis::now())
            .await
            .map_err(|e| PageError::store(e, &tr))?
        {
            return Err(PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")));
        }
        metrics::counter!("renkei_delivery_links_total", "action" => "unlinked").increment(1);
        tracing::info!(sender = %sender, "sender unlinked");
        Ok(Redirect::to("/mailbox?done=unlinked").into_response())
    }
    .await;
    page_result(&tr, r)
}

/// The person's document (`sender`, `document_id`), from their mailbox.
async fn own_documents<S: crate::Store>(
    st: &PortalState<S>,
    person: &LocalPersonId,
    sender: &str,
    document_id: &str,
    tr: &Tr,
) -> Result<(SenderId, Vec<MailboxDocument>), PageError> {
    let sender = SenderId::parse(sender)
        .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
    check_document_id(document_id)
        .map_err(|_| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
    let docs = st
        .store
        .mailbox(person)
        .await
        .map_err(|e| PageError::store(e, tr))?;
    if !docs
        .iter()
        .any(|d| d.sender == sender && d.document_id == document_id)
    {
        return Err(PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")));
    }
    Ok((sender, docs))
}

pub(crate) async fn document<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path((sender, document_id)): Path<(String, String)>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        let subject = st.mailbox_subject(&li, Scope::Notices, "mailbox_open").await?;
        let (sender_id, mut docs) = own_documents(&st, &subject, &sender, &document_id, &tr).await?;
        // The first opening is the delivery receipt the sender reads.
        let doc = st
            .store
            .open_document(&subject, &sender_id, &document_id, UnixMillis::now())
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
        if let Some(read) = docs
            .iter_mut()
            .find(|d| d.sender == doc.sender && d.document_id == doc.document_id)
        {
            *read = doc.clone();
        }
        let senders = st.senders_by_id(&tr).await?;
        let (signature, signature_ok) = signature_status(&doc, senders.get(&doc.sender), &tr);
        // The whole history: the newest version that descends from this one.
        let mut head = &doc;
        while let Some(next) = head.superseded_by.as_ref().and_then(|n| {
            docs.iter()
                .find(|d| d.sender == doc.sender && &d.document_id == n)
        }) {
            head = next;
        }
        let versions = chain(&docs, head)
            .into_iter()
            .map(|d| VersionView {
                href: format!("/mailbox/documents/{}/{}", d.sender, d.document_id),
                version: d.version,
                document_id: d.document_id.clone(),
                deposited: jst(d.deposited_at.0),
                current: d.document_id == doc.document_id,
                voided: d.voided.is_some(),
            })
            .collect();
        Ok(render(&DocumentPage {
            ctx: st
                .ctx(
                    &li,
                    "mailbox_document_title",
                    &format!("/mailbox/documents/{sender}/{document_id}"),
                )
                .await,
            sender: sender_name(&senders, &doc.sender, &tr),
            corporate_number: senders
                .get(&doc.sender)
                .map(|s| s.app.corporate_number.to_string())
                .unwrap_or_default(),
            type_label: st.type_label(&doc, &tr),
            document_id: doc.document_id.clone(),
            version: doc.version,
            tax_year: doc.tax_year,
            deposited: jst(doc.deposited_at.0),
            opened: doc.opened_at.map(|t| jst(t.0)).unwrap_or_default(),
            superseded: doc.superseded_by.is_some(),
            voided: doc
                .voided
                .as_ref()
                .map(|(at, why)| format!("{} — {why}", jst(at.0))),
            signature,
            signature_ok,
            fields: crate::pages::fields(&doc.document, &tr),
            versions,
            base: format!("/mailbox/documents/{}/{}", doc.sender, doc.document_id),
        }))
    }
    .await;
    page_result(&tr, r)
}

/// A document as it is downloaded and exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedDocument {
    pub sender_id: String,
    pub sender: String,
    pub corporate_number: String,
    pub document_id: String,
    pub version: u32,
    pub replaces: Option<String>,
    pub superseded_by: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: String,
    pub type_label: String,
    pub tax_year: u16,
    pub deposited_at: String,
    pub opened_at: Option<String>,
    pub voided_at: Option<String>,
    pub void_reason: Option<String>,
    pub document: serde_json::Value,
    /// The sender's signed deposit: anyone can check it with the
    /// sender's published key. Empty for a public sender's document.
    pub jws: String,
    /// A public sender's document: the hub's record (query id) of the push
    /// that carried it, which the person finds in their exchange history.
    #[serde(default)]
    pub network_record: Option<String>,
}

impl<S: crate::Store> PortalState<S> {
    fn exported(
        &self,
        d: &MailboxDocument,
        senders: &HashMap<SenderId, Sender>,
        tr: &Tr,
    ) -> ExportedDocument {
        ExportedDocument {
            sender_id: d.sender.to_string(),
            sender: sender_name(senders, &d.sender, tr),
            corporate_number: senders
                .get(&d.sender)
                .map(|s| s.app.corporate_number.to_string())
                .unwrap_or_default(),
            document_id: d.document_id.clone(),
            version: d.version,
            replaces: d.replaces.clone(),
            superseded_by: d.superseded_by.clone(),
            doc_type: d.type_id.to_string(),
            type_label: self.type_label(d, tr),
            tax_year: d.tax_year,
            deposited_at: d.deposited_at.to_string(),
            opened_at: d.opened_at.map(|t| t.to_string()),
            voided_at: d.voided.as_ref().map(|(t, _)| t.to_string()),
            void_reason: d.voided.as_ref().map(|(_, r)| r.clone()),
            document: d.document.clone(),
            jws: d.jws.clone(),
            network_record: d.network_record.map(|q| q.to_string()),
        }
    }
}

fn attachment(name: &str, content_type: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn download<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path((sender, document_id)): Path<(String, String)>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        let subject = st
            .mailbox_subject(&li, Scope::Notices, "mailbox_download")
            .await?;
        let (sender_id, docs) = own_documents(&st, &subject, &sender, &document_id, &tr).await?;
        let doc = docs
            .iter()
            .find(|d| d.sender == sender_id && d.document_id == document_id)
            .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
        let senders = st.senders_by_id(&tr).await?;
        let body = serde_json::to_vec_pretty(&st.exported(doc, &senders, &tr))
            .map_err(|e| PageError::backend("download", e, &tr))?;
        Ok(attachment(
            &format!("{document_id}.json"),
            "application/json",
            body,
        ))
    }
    .await;
    page_result(&tr, r)
}

/// The columns of the CSV export, one row per document version.
const CSV_COLUMNS: [&str; 12] = [
    "sender_id",
    "sender",
    "corporate_number",
    "document_id",
    "version",
    "replaces",
    "type",
    "tax_year",
    "deposited_at",
    "opened_at",
    "voided_at",
    "document",
];

/// RFC 4180: quote every field, double the quotes inside.
fn csv_row(fields: &[String]) -> String {
    let mut row = fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

/// Everything in the mailbox as `mailbox.json` and `mailbox.csv` in one
/// ZIP archive.
pub fn export_archive(docs: &[ExportedDocument]) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec_pretty(docs).map_err(|e| e.to_string())?;
    let mut csv = csv_row(&CSV_COLUMNS.map(str::to_owned));
    for d in docs {
        csv.push_str(&csv_row(&[
            d.sender_id.clone(),
            d.sender.clone(),
            d.corporate_number.clone(),
            d.document_id.clone(),
            d.version.to_string(),
            d.replaces.clone().unwrap_or_default(),
            d.doc_type.clone(),
            d.tax_year.to_string(),
            d.deposited_at.clone(),
            d.opened_at.clone().unwrap_or_default(),
            d.voided_at.clone().unwrap_or_default(),
            d.document.to_string(),
        ]));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [("mailbox.json", json), ("mailbox.csv", csv.into_bytes())] {
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

pub(crate) async fn export<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        let subject = st.mailbox_subject(&li, Scope::Notices, "mailbox_export").await?;
        let docs = st
            .store
            .mailbox(&subject)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let senders = st.senders_by_id(&tr).await?;
        let exported: Vec<ExportedDocument> = docs.iter().map(|d| st.exported(d, &senders, &tr)).collect();
        let zip = tokio::task::spawn_blocking(move || export_archive(&exported))
            .await
            .map_err(|e| PageError::backend("export", e, &tr))?
            .map_err(|e| PageError::backend("export", e, &tr))?;
        metrics::counter!("renkei_delivery_exports_total").increment(1);
        Ok(attachment("mailbox.zip", "application/zip", zip))
    }
    .await;
    page_result(&tr, r)
}

/// Delete a document — every version of it — from the mailbox.
pub(crate) async fn delete<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path((sender, document_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let tr = li.tr;
        let subject = st.mailbox_subject(&li, Scope::Account, "mailbox_delete").await?;
        let (sender_id, docs) = own_documents(&st, &subject, &sender, &document_id, &tr).await?;
        // Every version connected to this one, forwards and back.
        let mut ids = BTreeSet::from([document_id.clone()]);
        loop {
            let before = ids.len();
            for d in docs.iter().filter(|d| d.sender == sender_id) {
                let touches = ids.contains(&d.document_id)
                    || d.replaces.as_ref().is_some_and(|r| ids.contains(r))
                    || d.superseded_by.as_ref().is_some_and(|s| ids.contains(s));
                if touches {
                    ids.insert(d.document_id.clone());
                }
            }
            if ids.len() == before {
                break;
            }
        }
        let now = UnixMillis::now();
        for id in &ids {
            st.store
                .delete_document(&subject, &sender_id, id, now)
                .await
                .map_err(|e| PageError::store(e, &tr))?;
        }
        metrics::counter!("renkei_delivery_deletions_total").increment(ids.len() as u64);
        tracing::info!(sender = %sender_id, versions = ids.len(), "mailbox document deleted");
        Ok(Redirect::to("/mailbox?done=deleted").into_response())
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DraftQuery {
    #[serde(default)]
    year: Option<String>,
}

/// The draft return and where each of its figures came from.
#[derive(Debug, Clone, Serialize)]
pub struct DraftExport {
    pub draft: renkei_tax::TaxDraft,
    /// Input path → the documents (`sender name / document id`) it came from.
    pub sources: BTreeMap<String, Vec<String>>,
    pub notes: Vec<String>,
}

impl<S: crate::Store> PortalState<S> {
    async fn draft_of(
        &self,
        li: &LoggedIn,
        q: &DraftQuery,
    ) -> Result<(u16, Result<DraftExport, String>), PageError> {
        let tr = &li.tr;
        let year = q
            .year
            .as_deref()
            .unwrap_or("2025")
            .parse::<u16>()
            .ok()
            .filter(|y| (2000..=2100).contains(y))
            .ok_or_else(|| PageError::bad(tr.s("error_bad_input")))?;
        let subject = self.mailbox_subject(li, Scope::Notices, "mailbox_draft").await?;
        let docs = self
            .store
            .mailbox(&subject)
            .await
            .map_err(|e| PageError::store(e, tr))?;
        let senders = self.senders_by_id(tr).await?;
        let refs: Vec<String> = docs
            .iter()
            .map(|d| format!("{} / {}", sender_name(&senders, &d.sender, tr), d.document_id))
            .collect();
        let sources: Vec<DraftSource<'_>> = docs
            .iter()
            .zip(&refs)
            .filter(|(d, _)| d.is_current())
            .map(|(d, r)| DraftSource {
                reference: r,
                type_id: &d.type_id,
                document: &d.document,
            })
            .collect();
        let out = renkei_delivery::draft_input(year, &sources)
            .and_then(|input| {
                renkei_tax::draft(year, &input.input).map(|draft| DraftExport {
                    draft,
                    sources: input.sources,
                    notes: input.notes,
                })
            })
            .map_err(|e| e.to_string());
        Ok((year, out))
    }
}

pub(crate) async fn draft<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<DraftQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let (year, out) = st.draft_of(&li, &q).await?;
        let tr = li.tr;
        let (lines, notes, error) = match out {
            Ok(d) => {
                let figures = serde_json::to_value(&d.draft).unwrap_or_default();
                let lines = d
                    .draft
                    .trace
                    .iter()
                    .map(|l| {
                        let documents: BTreeSet<String> = l
                            .sources
                            .iter()
                            .flat_map(|s| {
                                d.sources
                                    .iter()
                                    .filter(move |(k, _)| {
                                        s == *k
                                            || s.starts_with(&format!("{k}."))
                                            || s.starts_with(&format!("{k}["))
                                    })
                                    .flat_map(|(_, refs)| refs.iter().cloned())
                            })
                            .collect();
                        DraftLineView {
                            figure: l.figure.clone(),
                            label: tr.pick(&l.label_ja, &l.figure).to_owned(),
                            amount: figure_amount(&figures, &l.figure),
                            rule: l.rule.clone(),
                            note: l.note.clone(),
                            documents: documents.into_iter().collect(),
                        }
                    })
                    .collect();
                (lines, d.notes, None)
            }
            Err(e) => (Vec::new(), Vec::new(), Some(e)),
        };
        Ok(render(&DraftPage {
            ctx: st.ctx(&li, "draft_title", "/mailbox/draft").await,
            year,
            lines,
            notes,
            error,
        }))
    }
    .await;
    page_result(&tr, r)
}

/// The amount of a figure of the draft (as JSON), as the page shows it
/// (yen).
fn figure_amount(v: &serde_json::Value, figure: &str) -> String {
    let pointer = format!("/{}", figure.replace('.', "/"));
    match v.pointer(&pointer) {
        Some(serde_json::Value::Number(n)) => {
            let s = n.to_string();
            let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{sign}{out}")
        }
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

pub(crate) async fn draft_json<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<DraftQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let (year, out) = st.draft_of(&li, &q).await?;
        let d = out.map_err(|e| PageError::show(StatusCode::UNPROCESSABLE_ENTITY, e))?;
        let body = serde_json::to_vec_pretty(&d).map_err(|e| PageError::backend("draft", e, &li.tr))?;
        Ok(attachment(
            &format!("draft-{year}.json"),
            "application/json",
            body,
        ))
    }
    .await;
    page_result(&tr, r)
}
