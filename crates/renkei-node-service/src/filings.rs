//! Statutory filings at the tax agency's node (`[filings]` in its
//! settings). The tax agency's intake system posts an employer's file of
//! withholding reports (`withholding_report.v1`, one JSON object per line,
//! each with the employee's My Number as the law requires). The node
//! checks every line, enrols each employee through the registry by the
//! number with the name and date of birth on the record (the number goes
//! to the registry and nowhere else: it is taken out of the record before
//! anything is kept), and keeps the reports under its own person ids — the
//! whole file or nothing. A worker then asks the registry, through the hub
//! under a query row, for each employee's municipality of residence on 1
//! January after the tax year, and hands the report to the outbox as a
//! delivery to that municipality (the salary-payment report). Every step
//! is a recorded exchange; a report no municipality can be found for is
//! kept and marked unroutable with the reason.
//!
//! Monthly earnings reports (`?type=monthly_earnings_filing.v1`, filed on
//! each pay day) go in the same way and are kept here, not forwarded: they
//! are what the tax agency knows of a person's pay during the year.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_api::filings::{FiledReportWire, FilingWire};
use renkei_api::net::{CodeRequestEntryWire, STATUTORY_FILING_BASIS};
use renkei_api::node::MAX_ENROL_BATCH;
use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_delivery::{FilingError, parse_filing_of};
use renkei_ids::{AcquisitionNumber, CorporateNumber, InstitutionCode, LocalPersonId};
use renkei_node::{
    DeliveryContent, DeliveryStatus, EnrolledPerson, FiledReport, Filing, FilingCounts, FilingId,
    FilingInsert, FilingType, NodeStore, OutgoingDelivery, RecordOutcome, ReportRoute, build_request,
    check_document, january_municipality, report_delivery_id,
};
use renkei_protocol::{AnswerPayload, FiscalYear, UnixMillis};
use renkei_transport::{ApiError, QueryParams};
use serde::{Deserialize, Serialize};

use crate::card::new_local_id;
use crate::node::{NodeState, ask_codes, exchange};

/// A filing of 200,000 reports of ~1.5 KB each, with room.
const FILING_BODY_LIMIT: usize = 512 * 1024 * 1024;

/// Refused lines named in one answer.
const REFUSALS_SHOWN: usize = 50;

const OFFICE_WORK: &str = "statutory_filing";
const REPORT_ITEM: &str = "salary_payment_report";
const RESIDENCE_ITEM: &str = "residence_on_january_1";

/// `[filings]`: this node takes statutory filings (the tax agency's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingSettings {
    /// The registry's corporate number: residences are asked of it.
    pub registry: CorporateNumber,
    /// Residences asked at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
}

fn default_concurrency() -> u32 {
    16
}

/// What a node taking filings holds besides its settings.
pub(crate) struct Filings {
    pub(crate) settings: FilingSettings,
    pub(crate) wake: tokio::sync::Notify,
}

impl Filings {
    pub(crate) fn new(settings: FilingSettings) -> Self {
        Self {
            settings,
            wake: tokio::sync::Notify::new(),
        }
    }
}

pub(crate) fn node_local_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new()
        .route(
            "/local/v1/filings",
            post(post_filing::<S>).layer(DefaultBodyLimit::max(FILING_BODY_LIMIT)),
        )
        .route("/local/v1/filings/{filing_id}", get(get_filing::<S>))
        .route("/local/v1/filings/{filing_id}/reports", get(list_reports::<S>))
}

fn filings<S>(st: &NodeState<S>) -> Result<&Filings, ApiError> {
    st.filings.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "filings_not_enabled",
            "this node takes no statutory filings (no [filings] in its settings)",
        )
    })
}

fn wire(f: &Filing, c: FilingCounts) -> FilingWire {
    FilingWire {
        filing_id: f.id.to_string(),
        filing_type: f.filing_type.as_str().into(),
        payer: f.payer.to_string(),
        tax_year: f.tax_year,
        digest: f.digest.clone(),
        reports: f.reports,
        received_at: f.received_at.0,
        pending: c.pending,
        routed: c.routed,
        unroutable: c.unroutable,
        kept: c.kept,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingQuery {
    filing_id: Option<String>,
    /// `withholding_report.v1` (the default) or `monthly_earnings_filing.v1`.
    #[serde(rename = "type")]
    filing_type: Option<String>,
}

/// A file refused as a whole: every refused line (the first
/// [`REFUSALS_SHOWN`]) named with its field; nothing was kept.
fn refused(total: usize, errors: &[FilingError]) -> ApiError {
    let shown: Vec<String> = errors
        .iter()
        .take(REFUSALS_SHOWN)
        .map(ToString::to_string)
        .collect();
    let more = errors.len().saturating_sub(REFUSALS_SHOWN);
    metrics::counter!("renkei_node_filings_refused_total").increment(1);
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "filing_refused",
        format!(
            "{} of {total} records refused; nothing was kept: {}{}",
            errors.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ),
    )
}

fn line_error(line: usize, field: &str, reason: impl Into<String>) -> FilingError {
    FilingError {
        line,
        field: field.into(),
        reason: reason.into(),
    }
}

async fn post_filing<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    QueryParams(q): QueryParams<FilingQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<FilingWire>), ApiError> {
    let f = filings(&st)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/jsonl" | "application/x-ndjson")
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a filing is sent as application/jsonl (one withholding_report.v1 record per line)",
        ));
    }
    let filing_type = match q.filing_type.as_deref() {
        None => FilingType::WithholdingReports,
        Some(t) => FilingType::parse(t).ok_or_else(|| {
            ApiError::malformed(format!(
                "type: {t:?} is neither withholding_report.v1 nor monthly_earnings_filing.v1"
            ))
        })?,
    };
    let requested_id = q
        .filing_id
        .as_deref()
        .map(|s| FilingId::parse(s).map_err(|e| ApiError::malformed(format!("filing_id: {e}"))))
        .transpose()?;
    let digest: String = renkei_crypto::sha256_plain(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let me = st.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let text =
            std::str::from_utf8(&body).map_err(|e| line_error(0, "file", format!("not UTF-8: {e}")))?;
        parse_filing_of(&me.document_types, filing_type.as_str(), text)
    })
    .await
    .map_err(|e| ApiError::internal("reading a filing", e))?;
    let lines = match parsed {
        Ok(lines) => lines,
        Err(e) => return Err(refused(0, &[e])),
    };
    let total = lines.len();
    let mut errors = Vec::new();
    let mut reports = Vec::with_capacity(total);
    for l in lines {
        match l {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e),
        }
    }
    // One employer's filing for one year: every record names the payer
    // and year of the first.
    let first = reports.first().map(|r| (r.payer, r.tax_year));
    if let Some((payer, year)) = first {
        for r in &reports {
            if r.payer != payer {
                errors.push(line_error(
                    r.line,
                    match filing_type {
                        FilingType::WithholdingReports => "/payer/corporate_number",
                        FilingType::MonthlyEarnings => "/employer/corporate_number",
                    },
                    format!("a filing is one payer's; the first record's payer is {payer}"),
                ));
            } else if r.tax_year != year {
                errors.push(line_error(
                    r.line,
                    "/tax_year",
                    format!("a filing is one tax year's; the first record's is {year}"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(refused(total, &errors));
    }
    let Some((payer, tax_year)) = first else {
        return Err(refused(
            total,
            &[line_error(0, "file", "the filing has no records")],
        ));
    };
    let id = requested_id.unwrap_or_else(|| FilingId::derived(&payer, tax_year, &digest));
    if let Some((existing, counts)) = st.store.filing(&id).await? {
        return same_or_conflict(&existing, counts, &digest);
    }

    // Enrol every employee by number through the registry. Nothing is
    // kept until every record has its person; two records about one person
    // not enrolled here yet get one new id.
    let mut persons: Vec<Option<LocalPersonId>> = vec![None; reports.len()];
    let mut new_persons: HashMap<InstitutionCode, LocalPersonId> = HashMap::new();
    for (chunk_no, chunk) in reports.chunks(MAX_ENROL_BATCH).enumerate() {
        let base = chunk_no * MAX_ENROL_BATCH;
        let mut by_acq = HashMap::new();
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, r) in chunk.iter().enumerate() {
            let acq = AcquisitionNumber::random();
            let (name, birth_date) = employee_of(&r.report);
            entries.push(CodeRequestEntryWire {
                acquisition_number: acq.to_string(),
                my_number: r.my_number.expose(),
                name,
                address: None,
                birth_date,
                sex: None,
            });
            by_acq.insert(acq, base + i);
        }
        let answer = ask_codes(&st, entries, Some(STATUTORY_FILING_BASIS)).await?;
        // The registry stopped checking this institution's numbers for a
        // while (too many mismatches): the file is not wrong, it is early.
        if answer.refused.iter().any(|(_, code, _)| code == "rate_limited") {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "the registry is not checking this institution's numbers for now; nothing was kept, send the filing again later",
            )
            .retryable(true));
        }
        for (acq, code, message) in answer.refused {
            let Some(&i) = by_acq.get(&acq) else { continue };
            let field = match code.as_str() {
                "unknown_my_number" => "/employee/my_number",
                _ => "/employee",
            };
            let reason = match code.as_str() {
                "unknown_my_number" => "no resident has this individual number".to_owned(),
                "facts_differ" => {
                    format!("{message} (name and date of birth are checked against the number)")
                }
                _ => format!("{code}: {message}"),
            };
            errors.push(line_error(reports[i].line, field, reason));
        }
        for (acq, code) in answer.codes {
            let Some(&i) = by_acq.get(&acq) else { continue };
            let local_id = match new_persons.get(&code) {
                Some(fresh) => fresh.clone(),
                None => match st.store.person_by_code(&code).await? {
                    Some(known) => known,
                    None => new_persons.entry(code).or_insert_with(new_local_id).clone(),
                },
            };
            persons[i] = Some(local_id);
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(refused(total, &errors));
    }
    let kept: Vec<FiledReport> = reports
        .into_iter()
        .zip(persons)
        .map(|(r, p)| {
            p.map(|local_id| FiledReport {
                filing: id.clone(),
                line: u32::try_from(r.line).unwrap_or(u32::MAX),
                local_id,
                report: r.report,
                route: filing_type.first_route(),
            })
            .ok_or_else(|| ApiError::internal("a filing", "a record without its person"))
        })
        .collect::<Result<_, _>>()?;
    let filing = Filing {
        id: id.clone(),
        filing_type,
        payer,
        tax_year,
        digest: digest.clone(),
        reports: u32::try_from(kept.len()).unwrap_or(u32::MAX),
        received_at: UnixMillis::now(),
    };
    if !new_persons.is_empty() {
        let now = UnixMillis::now();
        let enrolled = new_persons
            .into_iter()
            .map(|(code, local_id)| EnrolledPerson {
                local_id,
                code,
                enrolled_at: now,
            })
            .collect();
        st.store.enrol(enrolled).await?;
    }
    match st.store.insert_filing(filing.clone(), kept).await? {
        FilingInsert::New => {
            metrics::counter!("renkei_node_filings_total").increment(1);
            metrics::counter!("renkei_node_filed_reports_total").increment(u64::from(filing.reports));
            tracing::info!(filing = %filing.id, payer = %filing.payer, reports = filing.reports, "filing kept");
            f.wake.notify_one();
            let n = u64::from(filing.reports);
            let counts = match filing_type {
                FilingType::WithholdingReports => FilingCounts {
                    pending: n,
                    ..FilingCounts::default()
                },
                FilingType::MonthlyEarnings => FilingCounts {
                    kept: n,
                    ..FilingCounts::default()
                },
            };
            Ok((StatusCode::ACCEPTED, Json(wire(&filing, counts))))
        }
        FilingInsert::Existing(existing) => {
            let counts = st.store.filing(&id).await?.map(|(_, c)| c).unwrap_or_default();
            same_or_conflict(&existing, counts, &digest)
        }
    }
}

/// The employee's name (family and given, as the register writes it) and
/// date of birth on a record (checked by the schema).
fn employee_of(report: &serde_json::Value) -> (String, String) {
    let e = &report["employee"];
    let part = |k: &str| e["name"][k].as_str().unwrap_or_default().to_owned();
    (
        format!("{} {}", part("family_name"), part("given_name")),
        e["birth_date"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The same file again is answered as the filing stands; another file
/// under the same id is a conflict.
fn same_or_conflict(
    existing: &Filing,
    counts: FilingCounts,
    digest: &str,
) -> Result<(StatusCode, Json<FilingWire>), ApiError> {
    if existing.digest == digest {
        Ok((StatusCode::OK, Json(wire(existing, counts))))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "filing_id_conflict",
            format!("filing {} was received before with another file", existing.id),
        ))
    }
}

fn filing_id(s: &str) -> Result<FilingId, ApiError> {
    FilingId::parse(s).map_err(|e| ApiError::malformed(format!("filing_id: {e}")))
}

async fn get_filing<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<FilingWire>, ApiError> {
    filings(&st)?;
    let id = filing_id(&id)?;
    let (f, c) = st
        .store
        .filing(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_filing", format!("no filing {id} here")))?;
    Ok(Json(wire(&f, c)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsQuery {
    after: Option<u32>,
    limit: Option<u32>,
}

async fn list_reports<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<ReportsQuery>,
) -> Result<Json<Vec<FiledReportWire>>, ApiError> {
    filings(&st)?;
    let id = filing_id(&id)?;
    if st.store.filing(&id).await?.is_none() {
        return Err(ApiError::not_found(
            "unknown_filing",
            format!("no filing {id} here"),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::malformed("limit: 1 to 1000"));
    }
    let reports = st.store.filed_reports(&id, q.after.unwrap_or(0), limit).await?;
    Ok(Json(
        reports
            .into_iter()
            .map(|r| {
                let (recipient, delivery_id, reason) = r.route.parts();
                FiledReportWire {
                    line: r.line,
                    local_id: r.local_id.to_string(),
                    route: r.route.as_str().into(),
                    recipient,
                    delivery_id,
                    reason,
                    report: r.report,
                }
            })
            .collect(),
    ))
}

/// The filings' worker: routes pending reports, `concurrency` at a time,
/// for the node's lifetime. A report whose residence could not be asked
/// (the hub or the registry unreachable) stays pending and is asked again
/// after a pause that doubles up to a minute.
pub(crate) async fn run_worker<S: NodeStore>(st: Arc<NodeState<S>>) {
    let Some(f) = st.filings.as_ref() else { return };
    let slots = f.settings.concurrency.max(1) as usize;
    let mut pause = Duration::from_secs(1);
    loop {
        let batch = match st.store.pending_filed_reports(512).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the pending filed reports; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = f.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            continue;
        }
        let mut settled = 0usize;
        let mut tasks = tokio::task::JoinSet::new();
        let mut queue = batch.into_iter();
        loop {
            while tasks.len() < slots {
                let Some(r) = queue.next() else { break };
                let st = st.clone();
                tasks.spawn(async move { route(&st, r).await });
            }
            match tasks.join_next().await {
                Some(Ok(true)) => settled += 1,
                Some(Ok(false)) => {}
                Some(Err(e)) => tracing::error!(error = %e, "routing a filed report failed to complete"),
                None => break,
            }
        }
        if settled == 0 {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(60));
        } else {
            pause = Duration::from_secs(1);
        }
    }
}

/// Route one report: ask its municipality of 1 January, hand it to the
/// outbox, settle its route. `false` if it stays pending.
async fn route<S: NodeStore>(st: &Arc<NodeState<S>>, r: FiledReport) -> bool {
    match try_route(st, &r).await {
        Ok(Some(route)) => {
            let kind = route.as_str();
            match st.store.route_filed_report(&r.filing, r.line, route).await {
                Ok(_) => {
                    metrics::counter!("renkei_node_filed_reports_settled_total", "route" => kind)
                        .increment(1);
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot settle a filed report");
                    false
                }
            }
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(code = %e.code, filing = %r.filing, line = r.line, "a filed report waits: {}", e.message);
            false
        }
    }
}

async fn try_route<S: NodeStore>(
    st: &Arc<NodeState<S>>,
    r: &FiledReport,
) -> Result<Option<ReportRoute>, ApiError> {
    let f = filings(st)?;
    let unroutable = |reason: String| Ok(Some(ReportRoute::Unroutable { reason }));
    let Some(tax_year) = r.report["tax_year"].as_u64().and_then(|y| u16::try_from(y).ok()) else {
        return unroutable("the report names no tax year".into());
    };
    let Some(code) = st.store.code_of(&r.local_id).await? else {
        return unroutable(format!("person {} is no longer enrolled here", r.local_id));
    };
    let office_work = OfficeWorkCode::parse(OFFICE_WORK).map_err(|e| ApiError::internal("office work", e))?;
    let requested_at = UnixMillis::now();
    let request = build_request(
        &st.provider.identity,
        renkei_node::Ask {
            provider: f.settings.registry,
            office_work: office_work.clone(),
            item: ItemCode::parse(RESIDENCE_ITEM).map_err(|e| ApiError::internal("item", e))?,
            fiscal_year: None,
            subject: code,
            consent: None,
            person_proof: None,
        },
        requested_at,
    );
    let asked = exchange(st, &request, r.local_id.clone(), requested_at, |p| match p {
        AnswerPayload::Found { .. } => Some(RecordOutcome::Provided),
        AnswerPayload::NoData => Some(RecordOutcome::NoData),
        AnswerPayload::Accepted => None,
    })
    .await;
    let verified = match asked {
        Ok((v, _)) => v,
        // The hub or the registry out of reach, or busy: ask again later.
        Err(e) if e.retryable || e.status.is_server_error() || e.status == StatusCode::TOO_MANY_REQUESTS => {
            return Err(e);
        }
        Err(e) => return unroutable(format!("{}: {}", e.code, e.message)),
    };
    let january = u32::from(tax_year) + 1;
    let municipality = match &verified.payload {
        AnswerPayload::Found { value, .. } => january_municipality(value, tax_year),
        _ => None,
    };
    let Some(recipient) = municipality else {
        return unroutable(format!(
            "the registry knows no municipality of residence on {january}-01-01"
        ));
    };
    let document = match check_document(&r.report) {
        Ok(d) => d,
        Err(e) => return unroutable(e),
    };
    let delivery_id = report_delivery_id(&r.filing, r.line);
    let now = UnixMillis::now();
    let delivery = OutgoingDelivery {
        delivery_id: delivery_id.clone(),
        content: DeliveryContent {
            local_id: r.local_id.clone(),
            recipient,
            office_work,
            item: ItemCode::parse(REPORT_ITEM).map_err(|e| ApiError::internal("item", e))?,
            fiscal_year: Some(FiscalYear::new(tax_year).map_err(|e| ApiError::internal("fiscal year", e))?),
            document,
        },
        created_at: now,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
    };
    // Enqueued first, settled after: a crash between the two routes the
    // report again, and the same delivery id finds the delivery there.
    st.store.enqueue_delivery(delivery).await?;
    st.deliveries_wake.notify_one();
    Ok(Some(ReportRoute::Routed {
        recipient,
        delivery_id,
    }))
}
