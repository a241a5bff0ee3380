//! Senders' API for private delivery, on the portal's public listener.
//!
//! A sender authenticates every request by signing it with a key it
//! registered when it applied (there is no password or token to leak): a
//! compact JWS `typ: renkei-deposit+jws` whose claims say what it wants —
//! deposit a document, void one, or read its feed (links and receipts).
//!
//! * `POST /delivery/v1/senders/{id}/deposits`, `application/jose`: one
//!   deposit or void; `application/jsonl`: up to [`MAX_BATCH_LINES`] of
//!   them, one per line, answered line by line (with `?atomic=true`, all
//!   or none).
//! * `POST /delivery/v1/senders/{id}/feed`: links made or ended and
//!   documents first opened since a time.
//! * `GET /delivery/v1/document-types[/{name.vN}]`: what may be deposited,
//!   with the schemas.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_delivery::{
    CheckedDeposit, CheckedVoid, Decision, DeliveryHandle, DepositRefusal, MailboxDocument, Sender, SenderId,
    SenderRequest, StoredVersion, check_deposit, decide,
};
use renkei_ids::LocalPersonId;
use renkei_protocol::UnixMillis;
use renkei_transport::ApiError;
use serde::{Deserialize, Serialize};

use crate::state::PortalState;

/// Lines one batch request may carry; a larger file goes in several.
pub const MAX_BATCH_LINES: usize = 1_000;
/// Bytes one batch request may carry.
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// Links and receipts one feed answer carries at most (each).
pub const FEED_PAGE: u32 = 1_000;
/// How far behind the present a complete feed answer's `next_since` is:
/// a change stamped just before it may commit just after.
const FEED_SETTLE_MS: i64 = 5_000;

pub(crate) fn routes<S: crate::Store + Clone>() -> Router<Arc<PortalState<S>>> {
    Router::new()
        .route("/delivery/v1/senders/{id}/deposits", post(deposits::<S>))
        .route("/delivery/v1/senders/{id}/feed", post(feed::<S>))
        .route("/delivery/v1/document-types", get(document_types::<S>))
        .route("/delivery/v1/document-types/{id}", get(document_type::<S>))
        .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
}

fn refusal_status(r: &DepositRefusal) -> StatusCode {
    match r {
        DepositRefusal::Oversized { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DepositRefusal::UnknownKey { .. } | DepositRefusal::BadSignature { .. } => StatusCode::UNAUTHORIZED,
        DepositRefusal::SenderNotActive(_) | DepositRefusal::NotLinked => StatusCode::FORBIDDEN,
        DepositRefusal::Conflict(_) => StatusCode::CONFLICT,
        DepositRefusal::UnknownDocument(_) => StatusCode::NOT_FOUND,
        DepositRefusal::Malformed(_)
        | DepositRefusal::WrongTyp
        | DepositRefusal::Field { .. }
        | DepositRefusal::FromTheFuture(_) => StatusCode::BAD_REQUEST,
        DepositRefusal::UnknownDocumentType(_)
        | DepositRefusal::TypeNotApproved(_)
        | DepositRefusal::Document(_)
        | DepositRefusal::BadReplaces(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn refused(sender: &SenderId, r: &DepositRefusal) -> ApiError {
    record_refusal(sender, r);
    ApiError::new(refusal_status(r), r.code(), r.to_string())
}

/// Every refusal is counted and logged (without the document).
fn record_refusal(sender: &SenderId, r: &DepositRefusal) {
    metrics::counter!("renkei_delivery_refusals_total", "code" => r.code()).increment(1);
    tracing::info!(sender = %sender, code = r.code(), reason = %r, "deposit refused");
}

/// The answer to one deposit or void.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DepositAnswer {
    pub document_id: String,
    /// `stored`, `replayed` (the same deposit came before: nothing new was
    /// stored) or `voided`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// One line of a batch's report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineReport {
    /// 1-based, as editors count.
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// `stored`, `replayed`, `voided`, `refused`, or — in an atomic batch
    /// some other line spoilt — `not_stored`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A batch's report: the counts, then every line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchReport {
    pub lines: usize,
    pub stored: usize,
    pub replayed: usize,
    pub voided: usize,
    pub refused: usize,
    /// Whether the batch was all-or-nothing (`?atomic=true`).
    pub atomic: bool,
    pub results: Vec<LineReport>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchQuery {
    #[serde(default)]
    atomic: Option<bool>,
}

fn sender_id(s: &str) -> Result<SenderId, ApiError> {
    SenderId::parse(s).ok_or_else(|| ApiError::malformed(format!("{s:?} is not a sender id")))
}

impl<S: crate::Store> PortalState<S> {
    async fn known_sender(&self, id: &SenderId) -> Result<Sender, ApiError> {
        self.store.sender(id).await?.ok_or_else(|| {
            metrics::counter!("renkei_delivery_refusals_total", "code" => "no_sender").increment(1);
            ApiError::not_found(
                "no_sender",
                "no such sender: apply at the portal's administrators first",
            )
        })
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

async fn deposits<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::malformed(format!("query: {}", e.body_text())))?;
    let id = sender_id(&id)?;
    let sender = st.known_sender(&id).await?;
    match media_type(&headers).as_str() {
        "application/jose" => {
            if q.atomic.is_some() {
                return Err(ApiError::malformed(
                    "atomic: only a batch (application/jsonl) is atomic",
                ));
            }
            let text =
                std::str::from_utf8(&body).map_err(|_| ApiError::malformed("the body is not UTF-8"))?;
            let now = UnixMillis::now();
            let types = st.document_types.clone();
            let jws = text.to_owned();
            let sender2 = sender.clone();
            let checked = tokio::task::spawn_blocking(move || check_deposit(&jws, &sender2, &types, now))
                .await
                .map_err(|e| ApiError::internal("deposit check", e))?
                .map_err(|r| refused(&id, &r))?;
            let answer = match checked {
                SenderRequest::Deposit(d) => st.deposit_one(&sender, d).await?,
                SenderRequest::Void(v) => st.void_one(&sender, &v).await?,
                SenderRequest::Feed { .. } => {
                    return Err(ApiError::malformed(
                        "kind: a feed request goes to /delivery/v1/senders/{id}/feed",
                    ));
                }
            };
            let status = if answer.status == "stored" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(answer)).into_response())
        }
        "application/jsonl" | "application/x-ndjson" => {
            let report = st.batch(&sender, &body, q.atomic.unwrap_or(false)).await?;
            let status = if report.atomic && report.refused > 0 {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            Ok((status, Json(report)).into_response())
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type {other:?}: send one deposit as application/jose or many as application/jsonl"
            ),
        )),
    }
}

/// What a batch has decided so far, so that later lines see earlier ones.
#[derive(Default)]
struct Ledger {
    versions: HashMap<String, StoredVersion>,
    persons: HashMap<DeliveryHandle, Option<LocalPersonId>>,
}

impl<S: crate::Store> PortalState<S> {
    async fn stored_version(
        &self,
        sender: &SenderId,
        document_id: &str,
        ledger: &Ledger,
    ) -> Result<Option<StoredVersion>, ApiError> {
        if let Some(v) = ledger.versions.get(document_id) {
            return Ok(Some(v.clone()));
        }
        Ok(self
            .store
            .document(sender, document_id)
            .await?
            .map(|d| d.stored_version()))
    }

    /// Decide one checked deposit against the store and what the batch
    /// decided before it.
    async fn decide_one(
        &self,
        sender: &SenderId,
        d: &CheckedDeposit,
        ledger: &mut Ledger,
    ) -> Result<Result<(Decision, Option<LocalPersonId>), DepositRefusal>, ApiError> {
        let same = self.stored_version(sender, &d.document_id, ledger).await?;
        let replaced = match &d.replaces {
            Some(r) => self.stored_version(sender, r, ledger).await?,
            None => None,
        };
        let person = match ledger.persons.get(&d.handle) {
            Some(p) => p.clone(),
            None => {
                let p = self.store.linked_person(sender, &d.handle).await?;
                ledger.persons.insert(d.handle.clone(), p.clone());
                p
            }
        };
        Ok(decide(d, same.as_ref(), replaced.as_ref(), person.is_some()).map(|dec| (dec, person)))
    }

    async fn deposit_one(&self, sender: &Sender, d: CheckedDeposit) -> Result<DepositAnswer, ApiError> {
        // Twice at most: a concurrent deposit may take the id or correct
        // the same version between the decision and the store.
        for _ in 0..2 {
            let mut ledger = Ledger::default();
            let (decision, person) = self
                .decide_one(&sender.id, &d, &mut ledger)
                .await?
                .map_err(|r| refused(&sender.id, &r))?;
            match (decision, person) {
                (Decision::Replay { version }, _) => {
                    metrics::counter!("renkei_delivery_deposits_total", "outcome" => "replayed").increment(1);
                    return Ok(DepositAnswer {
                        document_id: d.document_id,
                        status: "replayed".into(),
                        version: Some(version),
                    });
                }
                (Decision::Store { version }, Some(person)) => {
                    let doc = mailbox_document(sender, &d, version, person);
                    if self.store.store_document(&doc).await? {
                        metrics::counter!("renkei_delivery_deposits_total", "outcome" => "stored")
                            .increment(1);
                        tracing::info!(sender = %sender.id, document = %d.document_id, version, "document deposited");
                        return Ok(DepositAnswer {
                            document_id: d.document_id,
                            status: "stored".into(),
                            version: Some(version),
                        });
                    }
                }
                (Decision::Store { .. }, None) => {
                    return Err(refused(&sender.id, &DepositRefusal::NotLinked));
                }
            }
        }
        Err(refused(&sender.id, &DepositRefusal::Conflict(d.document_id)))
    }

    async fn void_one(&self, sender: &Sender, v: &CheckedVoid) -> Result<DepositAnswer, ApiError> {
        let Some(doc) = self.store.document(&sender.id, &v.document_id).await? else {
            return Err(refused(
                &sender.id,
                &DepositRefusal::UnknownDocument(v.document_id.clone()),
            ));
        };
        let status = if doc.voided.is_some() {
            "replayed"
        } else if self
            .store
            .void_document(&sender.id, &v.document_id, &v.reason, v.issued_at)
            .await?
        {
            metrics::counter!("renkei_delivery_voids_total").increment(1);
            tracing::info!(sender = %sender.id, document = %v.document_id, "document voided");
            "voided"
        } else {
            "replayed"
        };
        Ok(DepositAnswer {
            document_id: v.document_id.clone(),
            status: status.into(),
            version: Some(doc.version),
        })
    }

    /// Check every line (in parallel, off the async threads), decide them
    /// in order, store the documents in one transaction, then the voids.
    async fn batch(&self, sender: &Sender, body: &[u8], atomic: bool) -> Result<BatchReport, ApiError> {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::malformed("the body is not UTF-8"))?;
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l.to_owned()))
            .collect();
        if lines.is_empty() {
            return Err(ApiError::malformed("the batch has no lines"));
        }
        if lines.len() > MAX_BATCH_LINES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the batch has {} lines; send at most {MAX_BATCH_LINES} per request",
                    lines.len()
                ),
            ));
        }
        let now = UnixMillis::now();
        let checked = check_lines(lines, sender.clone(), self.document_types.clone(), now).await?;
        let mut report = BatchReport {
            lines: checked.len(),
            atomic,
            ..BatchReport::default()
        };
        let mut ledger = Ledger::default();
        let mut to_store: Vec<(usize, MailboxDocument)> = Vec::new();
        let mut voids: Vec<(usize, CheckedVoid)> = Vec::new();
        for (line, outcome) in checked {
            let request = match outcome {
                Ok(r) => r,
                Err(r) => {
                    report.results.push(refusal_line(line, None, &sender.id, &r));
                    continue;
                }
            };
            match request {
                SenderRequest::Feed { .. } => {
                    let r = DepositRefusal::Field {
                        field: "kind".into(),
                        reason: "a feed request goes to /feed, not in a batch".into(),
                    };
                    report.results.push(refusal_line(line, None, &sender.id, &r));
                }
                SenderRequest::Void(v) => {
                    report.results.push(LineReport {
                        line,
                        document_id: Some(v.document_id.clone()),
                        status: "pending".into(),
                        version: None,
                        code: None,
                        error: None,
                    });
                    voids.push((report.results.len() - 1, v));
                }
                SenderRequest::Deposit(d) => match self.decide_one(&sender.id, &d, &mut ledger).await? {
                    Err(r) => report
                        .results
                        .push(refusal_line(line, Some(&d.document_id), &sender.id, &r)),
                    Ok((Decision::Replay { version }, _)) => report.results.push(LineReport {
                        line,
                        document_id: Some(d.document_id.clone()),
                        status: "replayed".into(),
                        version: Some(version),
                        code: None,
                        error: None,
                    }),
                    Ok((Decision::Store { version }, person)) => {
                        let Some(person) = person else {
                            report.results.push(refusal_line(
                                line,
                                Some(&d.document_id),
                                &sender.id,
                                &DepositRefusal::NotLinked,
                            ));
                            continue;
                        };
                        let doc = mailbox_document(sender, &d, version, person);
                        if let Some(old) = &d.replaces {
                            let mut v = self
                                .stored_version(&sender.id, old, &ledger)
                                .await?
                                .ok_or_else(|| ApiError::internal("batch", "replaced version vanished"))?;
                            v.superseded = true;
                            ledger.versions.insert(old.clone(), v);
                        }
                        ledger
                            .versions
                            .insert(d.document_id.clone(), doc.stored_version());
                        report.results.push(LineReport {
                            line,
                            document_id: Some(d.document_id.clone()),
                            status: "stored".into(),
                            version: Some(version),
                            code: None,
                            error: None,
                        });
                        to_store.push((report.results.len() - 1, doc));
                    }
                },
            }
        }
        report.refused = report.results.iter().filter(|r| r.status == "refused").count();
        if atomic && report.refused > 0 {
            for r in &mut report.results {
                if r.status != "refused" {
                    r.status = "not_stored".into();
                    r.version = None;
                }
            }
            metrics::counter!("renkei_delivery_batches_total", "outcome" => "refused").increment(1);
            return Ok(report);
        }
        let docs: Vec<MailboxDocument> = to_store.iter().map(|(_, d)| d.clone()).collect();
        if !docs.is_empty() && !self.store.store_documents(&docs).await? {
            // Someone else took an id or corrected a version meanwhile:
            // in an atomic batch that spoils it; otherwise each line again.
            if atomic {
                for (i, d) in &to_store {
                    report.results[*i] = refusal_line(
                        report.results[*i].line,
                        Some(&d.document_id),
                        &sender.id,
                        &DepositRefusal::Conflict(d.document_id.clone()),
                    );
                }
                report.refused = report.results.iter().filter(|r| r.status == "refused").count();
                return Ok(report);
            }
            for (i, d) in &to_store {
                if !self.store.store_document(d).await? {
                    report.results[*i] = refusal_line(
                        report.results[*i].line,
                        Some(&d.document_id),
                        &sender.id,
                        &DepositRefusal::Conflict(d.document_id.clone()),
                    );
                }
            }
        }
        for (i, v) in &voids {
            report.results[*i] = match self.void_one(sender, v).await {
                Ok(a) => LineReport {
                    line: report.results[*i].line,
                    document_id: Some(a.document_id),
                    status: a.status,
                    version: a.version,
                    code: None,
                    error: None,
                },
                Err(e) => LineReport {
                    line: report.results[*i].line,
                    document_id: Some(v.document_id.clone()),
                    status: "refused".into(),
                    version: None,
                    code: Some(e.code),
                    error: Some(e.message),
                },
            };
        }
        for r in &report.results {
            match r.status.as_str() {
                "stored" => report.stored += 1,
                "replayed" => report.replayed += 1,
                "voided" => report.voided += 1,
                _ => {}
            }
        }
        report.refused = report.results.iter().filter(|r| r.status == "refused").count();
        metrics::counter!("renkei_delivery_deposits_total", "outcome" => "stored")
            .increment(report.stored as u64);
        metrics::counter!("renkei_delivery_deposits_total", "outcome" => "replayed")
            .increment(report.replayed as u64);
        metrics::counter!("renkei_delivery_batches_total", "outcome" => "done").increment(1);
        tracing::info!(
            sender = %sender.id,
            lines = report.lines,
            stored = report.stored,
            replayed = report.replayed,
            voided = report.voided,
            refused = report.refused,
            "deposit batch"
        );
        Ok(report)
    }
}

fn refusal_line(line: usize, document_id: Option<&str>, sender: &SenderId, r: &DepositRefusal) -> LineReport {
    record_refusal(sender, r);
    LineReport {
        line,
        document_id: document_id.map(str::to_owned),
        status: "refused".into(),
        version: None,
        code: Some(r.code().into()),
        error: Some(renkei_transport::scrub(&r.to_string())),
    }
}

/// Verify and check every line on the blocking pool, split across the
/// machine's cores (signature checks dominate a batch).
async fn check_lines(
    lines: Vec<(usize, String)>,
    sender: Sender,
    types: Arc<renkei_delivery::DocumentTypes>,
    now: UnixMillis,
) -> Result<Vec<(usize, Result<SenderRequest, DepositRefusal>)>, ApiError> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let per = lines.len().div_ceil(workers);
    let sender = Arc::new(sender);
    let mut tasks = Vec::new();
    let mut lines = lines.into_iter();
    loop {
        let chunk: Vec<(usize, String)> = lines.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        let (sender, types) = (sender.clone(), types.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|(n, l)| (n, check_deposit(&l, &sender, &types, now)))
                .collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.map_err(|e| ApiError::internal("batch check", e))?);
    }
    Ok(out)
}

fn mailbox_document(
    sender: &Sender,
    d: &CheckedDeposit,
    version: u32,
    person: LocalPersonId,
) -> MailboxDocument {
    MailboxDocument {
        sender: sender.id.clone(),
        document_id: d.document_id.clone(),
        version,
        replaces: d.replaces.clone(),
        type_id: d.type_id.clone(),
        handle: d.handle.clone(),
        person,
        tax_year: d.tax_year,
        document: d.document.clone(),
        digest: d.digest,
        jws: d.jws.clone(),
        network_record: None,
        deposited_at: UnixMillis::now(),
        superseded_by: None,
        voided: None,
        opened_at: None,
        deleted_at: None,
    }
}

/// A link as the sender's feed shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedLink {
    pub handle: String,
    /// What the person gave as the sender's number for them.
    pub reference: Option<String>,
    /// Milliseconds since 1970.
    pub linked_at: i64,
    pub unlinked_at: Option<i64>,
}

/// A first opening as the sender's feed shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedReceipt {
    pub document_id: String,
    pub version: u32,
    pub handle: String,
    pub opened_at: i64,
}

/// What changed for a sender since the time it asked about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Feed {
    pub links: Vec<FeedLink>,
    pub receipts: Vec<FeedReceipt>,
    /// Ask with this `since` next (the feed may repeat a change at the
    /// boundary; apply them idempotently).
    pub next_since: i64,
}

async fn feed<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Feed>, ApiError> {
    let id = sender_id(&id)?;
    let sender = st.known_sender(&id).await?;
    if media_type(&headers) != "application/jose" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the signed feed request as application/jose",
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::malformed("the body is not UTF-8"))?;
    let now = UnixMillis::now();
    let since = match check_deposit(text, &sender, &st.document_types, now).map_err(|r| refused(&id, &r))? {
        SenderRequest::Feed { since } => since,
        other => {
            return Err(ApiError::malformed(format!(
                "kind: {} goes to /delivery/v1/senders/{{id}}/deposits; the feed takes kind feed",
                other.kind()
            )));
        }
    };
    let links = st.store.sender_links(&id, since, FEED_PAGE).await?;
    let receipts = st.store.receipts(&id, since, FEED_PAGE).await?;
    let mut next = now.0 - FEED_SETTLE_MS;
    if links.len() as u32 == FEED_PAGE
        && let Some(l) = links.last()
    {
        next = next.min(l.unlinked_at.unwrap_or(l.linked_at).0.max(l.linked_at.0));
    }
    if receipts.len() as u32 == FEED_PAGE
        && let Some(r) = receipts.last()
    {
        next = next.min(r.opened_at.0);
    }
    Ok(Json(Feed {
        links: links
            .into_iter()
            .map(|l| FeedLink {
                handle: l.handle.to_string(),
                reference: l.reference,
                linked_at: l.linked_at.0,
                unlinked_at: l.unlinked_at.map(|t| t.0),
            })
            .collect(),
        receipts: receipts
            .into_iter()
            .map(|r| FeedReceipt {
                document_id: r.document_id,
                version: r.version,
                handle: r.handle.to_string(),
                opened_at: r.opened_at.0,
            })
            .collect(),
        next_since: next.max(since.0),
    }))
}

/// A document type as senders read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentTypeView {
    pub id: String,
    pub label_ja: String,
    pub label_en: String,
    pub nta_spec: Option<String>,
    /// Deposited into mailboxes (else only filed with the tax agency).
    pub deposit: bool,
    pub schema: String,
}

async fn document_types<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
) -> Json<Vec<DocumentTypeView>> {
    Json(
        st.document_types
            .iter()
            .map(|t| DocumentTypeView {
                id: t.id.to_string(),
                label_ja: t.label_ja.clone(),
                label_en: t.label_en.clone(),
                nta_spec: t.nta_spec.clone(),
                deposit: t.deposit,
                schema: format!("/delivery/v1/document-types/{}", t.id),
            })
            .collect(),
    )
}

async fn document_type<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = st.document_types.lookup(&id).ok_or_else(|| {
        ApiError::not_found(
            "no_document_type",
            format!("{id:?} is not a document type (name.vN)"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/schema+json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        t.source,
    )
        .into_response())
}
