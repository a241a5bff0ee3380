//! What several benchmarks measure alike: rates and latency percentiles,
//! synthetic log records, and a throwaway PostgreSQL schema.

use std::time::Duration;

use anyhow::{Context, Result};
use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_demo::institutions::{PENSION, SETAGAYA};
use renkei_ids::{MessageId, QueryId};
use renkei_protocol::{FiscalYear, UnixMillis};

/// Requests one path served in one measured round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The `p` quantile of `sorted` in milliseconds (nearest rank); 0 for no
/// samples, so that an empty series reports rather than panics.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A synthetic provision record about a random subject.
pub(crate) fn synthetic_record(i: u64) -> renkei_hub::ProvisionRecord {
    synthetic_record_for(i, renkei_hub::SubjectTag(renkei_ids::random_bytes::<32>()))
}

/// A synthetic provision record (pension service asking 世田谷区 for
/// income) about `subject`; `i` only varies its request time.
pub(crate) fn synthetic_record_for(i: u64, subject: renkei_hub::SubjectTag) -> renkei_hub::ProvisionRecord {
    use renkei_hub::{Outcome, ProvisionRecord};
    ProvisionRecord {
        leaf: renkei_hub::LogLeaf {
            query_id: QueryId::random(),
            message_id: MessageId::random(),
            request_digest: renkei_ids::random_bytes::<32>(),
            requester: PENSION.id(),
            provider: SETAGAYA.id(),
            office_work: OfficeWorkCode::parse("pension_premium_exemption").expect("static code"),
            item: ItemCode::parse("resident_tax_income").expect("static code"),
            fiscal_year: Some(FiscalYear::new(2025).expect("static year")),
            table_row: Some(TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0201").expect("static row"),
            }),
            commitment: Some(renkei_ids::random_bytes::<32>()),
            consent_commitment: None,
            requested_at: UnixMillis::now().plus_ms(-(i as i64 % 1000)),
            provided_at: Some(UnixMillis::now()),
            outcome: Outcome::Provided,
            non_disclosure: false,
            hidden_until: None,
            hidden_reason: None,
        },
        subject: Some(subject),
        consent: None,
    }
}

/// The PostgreSQL server a run used, for its report.
#[derive(Debug, Clone, PartialEq)]
pub enum PgServer {
    /// The server's version, then the settings that bear on durable
    /// appends, as the server names them.
    Read {
        version: String,
        settings: Vec<(String, String)>,
    },
    /// Why the settings could not be read: the run stands without them.
    Unreadable(String),
}

/// A fresh schema on a PostgreSQL server for one benchmark run, dropped
/// (with its disk) by [`PgSchema::drop`].
#[derive(Debug)]
pub(crate) struct PgSchema {
    pub(crate) base: String,
    pub(crate) name: String,
    /// `base` selecting the schema.
    pub(crate) url: String,
}

impl PgSchema {
    pub(crate) async fn create(base: &str, purpose: &str) -> Result<Self> {
        let name = format!("renkei_bench_{purpose}_{:012x}", fastrand::u64(..1 << 48));
        let url = renkei_store_postgres::schema_url(base, &name)
            .await
            .context("--database-url")?;
        Ok(Self {
            base: base.to_owned(),
            name,
            url,
        })
    }

    /// `DROP SCHEMA … CASCADE`: the run's tables and their disk are gone.
    pub(crate) async fn drop(&self) -> Result<()> {
        renkei_store_postgres::drop_schema(&self.base, &self.name)
            .await
            .with_context(|| format!("dropping the benchmark schema {}", self.name))
    }

    /// The server's version and settings; unreadable ones do not fail the
    /// run, since the figures are measured already.
    pub(crate) async fn server(&self) -> PgServer {
        match renkei_store_postgres::server_settings(
            &self.base,
            &["shared_buffers", "synchronous_commit", "fsync", "max_wal_size"],
        )
        .await
        {
            Ok(s) => {
                let mut it = s.into_iter();
                let version = it.next().map(|(_, v)| v).unwrap_or_default();
                PgServer::Read {
                    version,
                    settings: it.collect(),
                }
            }
            Err(e) => PgServer::Unreadable(e.to_string()),
        }
    }
}

/// Resident and peak memory of a process (this one if `None`), from /proc
/// (Linux).
pub(crate) fn memory(pid: Option<u32>) -> Option<crate::enrol::Memory> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some(crate::enrol::Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}
