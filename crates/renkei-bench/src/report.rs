//! The Markdown reports of the benchmarks, as BENCHMARKS.md records them:
//! one `render_*` per benchmark, from the figures its run returned. Only
//! the machine line is read here (CPU and cores of the machine rendering,
//! which is the one that measured).

use std::fmt::Write as _;
use std::time::Duration;

use crate::delivery::DeliveryRun;
use crate::enrol::{EnrolRun, Memory};
use crate::filing::FilingRun;
use crate::history::{HISTORY_LIMIT, HistoryRun, HistoryStore, RootCheck, VERIFY_ROOT_UP_TO};
use crate::linkage::LinkageRun;
use crate::log::LogRun;
use crate::measure::{PgServer, percentile};
use crate::portal::PortalRun;
use crate::push::PushBench;
use crate::scale::ScaleRun;

/// The CPU's model name from /proc/cpuinfo (Linux), or "unknown CPU".
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// "2 × AMD EPYC …, x86_64": every report's machine line.
fn machine() -> String {
    format!(
        "{} × {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH,
    )
}

/// A database URL for a report: the password, if any, is not shown.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// "PostgreSQL 15.2 (shared_buffers=128MB, …)".
fn pg_server(server: &PgServer) -> String {
    match server {
        PgServer::Read { version, settings } => {
            let rest: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("PostgreSQL {version} ({})", rest.join(", "))
        }
        PgServer::Unreadable(e) => format!("PostgreSQL (settings unreadable: {e})"),
    }
}

/// The upper median; NaN for no values (a run always has some).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `renkei bench linkage`.
pub fn render_linkage(run: &LinkageRun) -> String {
    let opts = &run.options;
    let mut out = String::new();
    let _ = writeln!(out, "## Linkage: price of trust ({})\n", opts.suite);
    let _ = writeln!(
        out,
        "- date: {}\n- machine: {}\n- command: `renkei bench linkage --requests {} --concurrency {} --rounds {} --suite {}`\n- setup: one process; registry, hub and 7 nodes on loopback mutual TLS (TLS 1.3, {} certificates); SQLite stores with synchronous=FULL; client = pension service asking 世田谷区 for FY2025 income\n",
        run.date,
        machine(),
        opts.requests,
        opts.concurrency,
        opts.rounds,
        opts.suite,
        renkei_pki::provision::tls_algorithm(opts.suite),
    );
    let _ = writeln!(
        out,
        "| round | direct req/s | direct p50 ms | direct p99 ms | hub req/s | hub p50 ms | hub p99 ms | ratio hub/direct |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (i, (d, h)) in run.rows.iter().enumerate() {
        let ratio = h.per_second / d.per_second;
        ratios.push(ratio);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            i + 1,
            d.per_second,
            d.p50_ms,
            d.p99_ms,
            h.per_second,
            h.p50_ms,
            h.p99_ms,
            ratio
        );
    }
    let _ = writeln!(
        out,
        "\nMedian price of trust: **{:.2}** (target ≥ 0.5; X-Road's published figure ≈ 0.11).",
        median(ratios)
    );
    out
}

/// Microseconds at quantile `p` of sorted times.
fn us(v: &[Duration], p: f64) -> f64 {
    percentile(v, p) * 1000.0
}

/// `renkei bench log`: SQLite alone, or SQLite and PostgreSQL side by side.
pub fn render_log(run: &LogRun) -> String {
    let (records, concurrency) = (run.records, run.concurrency);
    let s = &run.sqlite;
    let mut out = String::new();
    let machine = machine();
    let Some(postgres) = &run.postgres else {
        let _ = writeln!(out, "## Log: durable appends and proofs ({})\n", run.date);
        let _ = writeln!(
            out,
            "- machine: {machine}\n- command: `renkei bench log --records {records} --concurrency {concurrency}`\n- store: SQLite, WAL, synchronous=FULL (an fsync per commit); each append writes the record, its leaf and the tree nodes it completes in one group-commit transaction\n",
        );
        let _ = writeln!(
            out,
            "| appenders | records | durable appends/s | ratio to 1 appender |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        let _ = writeln!(
            out,
            "| 1 (baseline: one fsync each) | {} | {:.0} | 1.0 |",
            s.single_n, s.single
        );
        let _ = writeln!(
            out,
            "| {concurrency} (group commit) | {records} | {:.0} | {:.1} |",
            s.grouped,
            s.grouped / s.single
        );
        let _ = writeln!(
            out,
            "\nInclusion proofs in a log of {} leaves (1,000 random leaves; proof length {}–{} hashes):\n",
            s.size, s.min_len, s.max_len
        );
        let _ = writeln!(out, "| | p50 µs | p99 µs |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| generate (from the store) | {:.0} | {:.0} |",
            us(&s.gen_t, 0.5),
            us(&s.gen_t, 0.99)
        );
        let _ = writeln!(
            out,
            "| verify | {:.1} | {:.1} |",
            us(&s.ver_t, 0.5),
            us(&s.ver_t, 0.99)
        );
        return out;
    };

    let pg = &postgres.log;
    let _ = writeln!(
        out,
        "## Log: durable appends and proofs, SQLite and PostgreSQL ({})\n",
        run.date
    );
    let _ = writeln!(
        out,
        "- machine: {machine}\n- command: `renkei bench log --records {records} --concurrency {concurrency} --database-url {}`\n- SQLite: WAL, synchronous=FULL (an fsync per commit), a temporary file\n- PostgreSQL: {}, a fresh schema dropped after the run; one transaction per group-commit batch (≤ 1024 records) locking the `log_state` row\n- both: each append writes the record, its leaf and the tree nodes it completes in one group-commit transaction; the same records, appenders and proofs, one store after the other\n",
        redact_url(&postgres.database_url),
        pg_server(&postgres.server),
    );
    let _ = writeln!(out, "| | SQLite | PostgreSQL | ratio PostgreSQL / SQLite |");
    let _ = writeln!(out, "|---|---|---|---|");
    let row = |out: &mut String, what: &str, a: f64, b: f64, prec: usize| {
        let _ = writeln!(out, "| {what} | {a:.prec$} | {b:.prec$} | {:.2} |", b / a);
    };
    row(
        &mut out,
        &format!("durable appends/s, 1 appender ({} records)", s.single_n),
        s.single,
        pg.single,
        0,
    );
    row(
        &mut out,
        &format!("durable appends/s, {concurrency} appenders, group commit ({records} records)"),
        s.grouped,
        pg.grouped,
        0,
    );
    let _ = writeln!(
        out,
        "| group commit ÷ 1 appender | {:.1} | {:.1} | |",
        s.grouped / s.single,
        pg.grouped / pg.single
    );
    row(
        &mut out,
        "proof generation from the store, p50 µs",
        us(&s.gen_t, 0.5),
        us(&pg.gen_t, 0.5),
        0,
    );
    row(
        &mut out,
        "proof generation from the store, p99 µs",
        us(&s.gen_t, 0.99),
        us(&pg.gen_t, 0.99),
        0,
    );
    row(
        &mut out,
        "proof verification, p50 µs",
        us(&s.ver_t, 0.5),
        us(&pg.ver_t, 0.5),
        1,
    );
    let _ = writeln!(
        out,
        "\nProofs: 1,000 random leaves of a log of {} leaves on each store (proof length {}–{} hashes).",
        s.size,
        s.min_len.min(pg.min_len),
        s.max_len.max(pg.max_len)
    );
    out
}

fn gb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// `renkei bench history`.
pub fn render_history(run: &HistoryRun) -> String {
    let opts = &run.options;
    let (store_name, store_line) = match &run.store {
        HistoryStore::Sqlite => (
            "SQLite",
            "SQLite, WAL, synchronous=FULL, a temporary file; group-commit transactions of ≤ 1024 records"
                .to_owned(),
        ),
        HistoryStore::Postgres { server, schema } => (
            "PostgreSQL",
            format!(
                "{}, a fresh schema `{schema}` dropped after the run; group-commit transactions of ≤ 1024 records locking the `log_state` row",
                pg_server(server),
            ),
        ),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## History: one person's records as the log grows, {store_name} ({})\n",
        run.started
    );
    let url = opts
        .database_url
        .as_deref()
        .map(|u| format!(" --database-url {}", redact_url(u)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench history --records {} --person-records {} --concurrency {} --repetitions {}{url}`\n- store: {store_line}\n- fill: {} synthetic provision records through `append_record` ({} concurrent appenders), each about a random 32-byte subject except the measured persons'; {:.0} records/s overall\n- at each size a person with {} records spread evenly through the log so far; a history read = `records(subject, limit {HISTORY_LIMIT})` + their leaves + all their proof nodes (one batched read each) + one inclusion proof per record, {} times; the first read's records, leaves and proofs are checked against the head\n- final head: {}\n",
        machine(),
        opts.records,
        opts.person_records,
        opts.concurrency,
        opts.repetitions,
        opts.records,
        opts.concurrency,
        run.fill_rate,
        opts.person_records,
        opts.repetitions,
        match run.root_check {
            RootCheck::Recomputed =>
                "the store's root equals the root recomputed from the appended records (independently of the store's tree)".to_owned(),
            RootCheck::Skipped => format!(
                "not recomputed independently (only done up to {VERIFY_ROOT_UP_TO} records: it keeps every leaf hash in memory); the measured proofs verify against the store's head"
            ),
        },
    );
    let pg = matches!(run.store, HistoryStore::Postgres { .. });
    let _ = writeln!(
        out,
        "| log size | fill records/s (this stage) | on disk{} | history records | query alone p50 / p99 ms | leaves read p50 ms | proof nodes read: count, p50 ms | history with proofs p50 / p99 ms | ratio history p50 to first size |",
        if pg { " (subject index, B-tree levels)" } else { "" }
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let base = run.stages.first().map_or(1.0, |r| percentile(&r.full, 0.5));
    for r in &run.stages {
        let disk = match (pg, r.index) {
            (true, Some(i)) => format!(
                "{} ({}, {})",
                gb(r.disk_bytes),
                gb(i.bytes),
                i.levels.map_or("levels n/a".to_owned(), |l| l.to_string())
            ),
            _ => gb(r.disk_bytes),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {disk} | {} | {:.2} / {:.2} | {:.1} | {}, {:.1} | {:.1} / {:.1} | {:.2} |",
            r.size,
            r.fill_rate,
            r.returned,
            percentile(&r.query, 0.5),
            percentile(&r.query, 0.99),
            percentile(&r.leaves, 0.5),
            r.stored_nodes,
            percentile(&r.nodes, 0.5),
            percentile(&r.full, 0.5),
            percentile(&r.full, 0.99),
            percentile(&r.full, 0.5) / base,
        );
    }
    if let Some(last) = run.stages.last() {
        let _ = writeln!(
            out,
            "\nProof length {}–{} hashes at {} records; fill {:.1} s in all; on disk {:.0} bytes per record at the end.",
            last.proof_len.0,
            last.proof_len.1,
            last.size,
            run.stages.iter().map(|r| r.fill_secs).sum::<f64>(),
            last.disk_bytes as f64 / last.size as f64,
        );
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `renkei bench enrol`.
pub fn render_enrol(run: &EnrolRun) -> String {
    let opts = &run.options;
    let mut out = String::new();
    let _ = writeln!(out, "## Enrolment at national scale ({})\n", run.date);
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench enrol --people {}{}{}`\n- store: {}; personal data at the registry and nodes {}; every role durable (FULL); the hub in its own process\n- path: registry admin API (batches of 5,000), then each institution's local API (batches of 1,000) → node → hub code service → registry (four facts checked, codes issued) → node; all ten institutions at once\n",
        machine(),
        opts.people,
        if opts.database_url.is_some() {
            " --database-url …"
        } else {
            ""
        },
        if opts.encrypt_at_rest {
            ""
        } else {
            " --clear-stores"
        },
        if opts.database_url.is_some() {
            "PostgreSQL (one schema per role)"
        } else {
            "SQLite (one file per role)"
        },
        if opts.encrypt_at_rest {
            "sealed at rest (AES-256-GCM-SIV, blind indexes)"
        } else {
            "in clear"
        },
    );
    let _ = writeln!(out, "| phase | items | seconds | items/s |");
    let _ = writeln!(out, "|---|---|---|---|");
    let row = |out: &mut String, what: &str, n: usize, d: Duration| {
        let _ = writeln!(
            out,
            "| {what} | {n} | {:.1} | {:.0} |",
            d.as_secs_f64(),
            n as f64 / d.as_secs_f64()
        );
    };
    row(
        &mut out,
        "generate the population (no I/O)",
        run.people,
        run.generated,
    );
    row(&mut out, "register residents", run.people, run.registered);
    row(&mut out, "enrol at 10 institutions", run.enrolled, run.enrolling);
    let _ = writeln!(out, "\nMemory (resident set; peak = VmHWM):\n");
    let _ = writeln!(out, "| process | at start | after registration | end | peak |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let rss = |m: Option<Memory>| m.map_or("–".to_owned(), |m| format!("{:.0} MiB", mib(m.rss_kib)));
    let peak = |m: Option<Memory>| m.map_or("–".to_owned(), |m| format!("{:.0} MiB", mib(m.peak_kib)));
    let _ = writeln!(
        out,
        "| hub | {} | {} | {} | {} |",
        rss(run.hub_start),
        rss(run.hub_after_registration),
        rss(run.hub_end),
        peak(run.hub_end)
    );
    let _ = writeln!(
        out,
        "| this process (registry, 10 nodes, portal, witness, population in memory) | – | – | {} | {} |",
        rss(run.own),
        peak(run.own)
    );
    let samples = &run.samples;
    if samples.len() >= 4 {
        let q = |f: f64| samples[((samples.len() - 1) as f64 * f) as usize];
        let _ = writeln!(
            out,
            "\nHub resident set while enrolling (enrolments done → RSS): {}",
            [0.0, 0.25, 0.5, 0.75, 1.0]
                .iter()
                .map(|f| {
                    let (n, rss) = q(*f);
                    format!("{n} → {:.0} MiB", mib(rss))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    out
}

/// One row of the portal's tables: `v` sorted, compared with `base_p50`.
fn portal_row(out: &mut String, label: &str, v: &[Duration], base_p50: f64) {
    let p50 = percentile(v, 0.5);
    let _ = writeln!(
        out,
        "| {label} | {} | {p50:.1} | {:.1} | {:.1} |",
        v.len(),
        percentile(v, 0.99),
        p50 / base_p50
    );
}

/// `renkei bench portal`.
pub fn render_portal(run: &PortalRun) -> String {
    let (logins, records) = (run.logins, run.records);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Portal: card login and the exchange history ({})\n",
        run.date
    );
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench portal --logins {logins} --records {records}`\n- stores: SQLite, synchronous=FULL; every role on loopback; server time = wall time of the requests (the card's signature is made before and excluded)\n",
        machine(),
    );
    let _ = writeln!(
        out,
        "### Login (challenge → session), {logins} logins per profile\n"
    );
    let _ = writeln!(out, "| | n | p50 ms | p99 ms | p50 ÷ HTTP floor |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let floor_p50 = percentile(&run.floor, 0.5);
    portal_row(
        &mut out,
        "baseline: `GET /health` (HTTP floor)",
        &run.floor,
        floor_p50,
    );
    for p in &run.profiles {
        portal_row(
            &mut out,
            &format!("card resolution alone, {}", p.profile.label()),
            &p.resolve,
            floor_p50,
        );
        portal_row(
            &mut out,
            &format!("**login**, {}", p.profile.label()),
            &p.logins,
            floor_p50,
        );
    }
    let _ = writeln!(
        out,
        "\n### Exchange history: {} records of one person, {} shown per page with a verified proof, {} views\n",
        run.count,
        run.verified,
        run.pages.len()
    );
    let _ = writeln!(out, "| | n | p50 ms | p99 ms | p50 ÷ baseline |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let raw_p50 = percentile(&run.raw, 0.5);
    portal_row(
        &mut out,
        "baseline: the log's records + proofs (JSON, not verified)",
        &run.raw,
        raw_p50,
    );
    portal_row(
        &mut out,
        "**history page** (fetch, verify every proof, filter, render)",
        &run.pages,
        raw_p50,
    );
    out
}

/// `renkei bench delivery`.
pub fn render_delivery(run: &DeliveryRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Private delivery: signed deposits and the mailbox export ({})\n",
        run.date
    );
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench delivery --deposits {} --singles {} --batch {} --inflight {} --concurrency {} --export-docs {}`\n- setup: the demo network in the benchmark's process (portal store SQLite, synchronous=FULL); the sender's ES256 deposits are signed before the clock starts; the documents are life-insurance certificates for card holders who linked the sender from the mailbox\n",
        machine(),
        run.deposits,
        run.singles,
        run.batch,
        run.inflight,
        run.concurrency,
        run.export_docs,
    );
    let check = run.deposits as f64 / run.check_secs;
    let _ = writeln!(out, "| | deposits | seconds | deposits/s | ÷ baseline |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (label, n, secs) in [
        (
            "baseline: the checks alone in process (signature, claims, schema), every core",
            run.deposits,
            run.check_secs,
        ),
        (
            "**batched over HTTP** (check, decide, one transaction per batch)",
            run.deposits,
            run.batched_secs,
        ),
        ("one deposit per request over HTTP", run.singles, run.single_secs),
    ] {
        let rate = n as f64 / secs;
        let _ = writeln!(
            out,
            "| {label} | {n} | {secs:.2} | {rate:.0} | {:.2} |",
            rate / check
        );
    }
    let _ = writeln!(
        out,
        "\n### Mailbox export: {} documents, {} bytes of ZIP ({} views)\n",
        run.export_docs,
        run.export_bytes,
        run.export.len()
    );
    let _ = writeln!(out, "| | n | p50 ms | p99 ms | p50 ÷ baseline |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let base = percentile(&run.page, 0.5);
    portal_row(
        &mut out,
        "baseline: the mailbox page listing them",
        &run.page,
        base,
    );
    portal_row(&mut out, "**export** (JSON + CSV in a ZIP)", &run.export, base);
    out
}

/// `renkei bench push`: deliveries beside queries, round by round.
pub fn render_push(run: &PushBench) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Deliveries (hub pushes) beside queries ({})\n", run.date);
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench push --requests {} --concurrency {} --rounds {}`\n- setup: the demo network in the benchmark's process, every store SQLite synchronous=FULL; queries: the pension service's node asks Setagaya's for a contributor's income (query, answer, both records, the hub's leaf); deliveries: the tax agency's node takes salary-payment reports into its outbox through its local API and its worker pushes them to Setagaya, which keeps each in its inbox (the run ends when all are there)\n",
        machine(),
        run.requests,
        run.concurrency,
        run.rounds.len(),
    );
    let _ = writeln!(
        out,
        "| round | queries/s (baseline) | deliveries taken into the outbox/s | deliveries in the receiver's inbox/s | delivered ÷ queries |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (i, (q, p)) in run.rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {q:.0} | {:.0} | {:.0} | {:.2} |",
            i + 1,
            p.posted_per_second,
            p.delivered_per_second,
            p.delivered_per_second / q
        );
    }
    out
}

/// `renkei bench filing`.
pub fn render_filing(run: &FilingRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Statutory filing end to end ({})\n", run.date);
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench filing --employees {} --queries {} --concurrency {}`\n- setup: the demo network in the benchmark's process, every store SQLite synchronous=FULL; {} employees registered at the registry (Setagaya and Yokohama); one file of {} withholding reports ({:.1} MB) posted to the tax agency's node, which checks every line, enrols every employee through the registry by number and keeps the reports; its worker asks each employee's municipality of 1 January through the hub (16 at a time) and hands each report to its outbox, whose worker pushes it to the municipality (16 at a time); the run ends when no delivery is pending. Baseline: {} plain queries through the hub in the same network, {} at a time\n",
        machine(),
        run.employees,
        run.queries,
        run.concurrency,
        run.employees,
        run.employees,
        run.file_bytes as f64 / 1e6,
        run.queries,
        run.concurrency,
    );
    let _ = writeln!(
        out,
        "| queries/s (baseline) | submission (checked, enrolled, kept) | all routed | all delivered | reports/s end to end | reports ÷ queries | copies at Setagaya / Yokohama | unroutable |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {:.0} | {:.1} s | {:.1} s | {:.1} s | {:.0} | {:.2} | {} / {} | {} |",
        run.queries_per_second,
        run.submission.as_secs_f64(),
        run.routed.as_secs_f64(),
        run.delivered.as_secs_f64(),
        run.reports_per_second(),
        run.reports_per_second() / run.queries_per_second,
        run.copies.0,
        run.copies.1,
        run.unroutable,
    );
    out
}

/// `renkei bench scale`: the medians of each configuration's rounds.
pub fn render_scale(run: &ScaleRun) -> String {
    let l = &run.options.linkage;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Scale-out: price of trust on SQLite and PostgreSQL, 1 and 2 hubs ({})\n",
        run.date
    );
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench scale --database-url … --requests {} --concurrency {} --rounds {}`\n- setup: as `bench linkage`, but the hub runs as its own process in every configuration (two processes on one database behind `renkei hub balance`'s TCP balancer in the last); the requester spreads its requests over {} connections; every store durable (SQLite FULL, PostgreSQL default fsync); registry and nodes in the benchmark's process\n",
        machine(),
        l.requests,
        l.concurrency,
        l.rounds,
        l.concurrency.clamp(1, 8),
    );
    let _ = writeln!(
        out,
        "| configuration | direct req/s | hub req/s | hub p50 ms | hub p99 ms | price of trust (hub/direct) | hub req/s vs SQLite, 1 hub |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let base = run.configurations.first().map_or(f64::NAN, |c| {
        median(c.rows.iter().map(|(_, h)| h.per_second).collect())
    });
    for c in &run.configurations {
        let rows = &c.rows;
        let direct = median(rows.iter().map(|(d, _)| d.per_second).collect());
        let hub = median(rows.iter().map(|(_, h)| h.per_second).collect());
        let p50 = median(rows.iter().map(|(_, h)| h.p50_ms).collect());
        let p99 = median(rows.iter().map(|(_, h)| h.p99_ms).collect());
        let ratio = median(rows.iter().map(|(d, h)| h.per_second / d.per_second).collect());
        let _ = writeln!(
            out,
            "| {} | {direct:.0} | {hub:.0} | {p50:.2} | {p99:.2} | {ratio:.2} | {:.2} |",
            c.name,
            hub / base
        );
    }
    let _ = writeln!(out, "\n(Medians over {} rounds of each path.)", l.rounds);
    out
}

/// The soak: a row per sample (rate, latency, refusals, memory and file
/// handles summed over the roles), then each role's first and last sample.
pub fn render_soak(run: &crate::soak::SoakRun) -> String {
    let opts = &run.options;
    let mut out = String::new();
    let _ = writeln!(out, "## Soak ({})\n", run.date);
    let _ = writeln!(
        out,
        "- machine: {}\n- command: `renkei bench soak --minutes {} --sample-secs {} --residents {}{}`\n- setup: every role a process of the `renkei` binary (hub, witness, registry, 7 nodes, portal), SQLite stores with synchronous=FULL and {} MiB of page cache per connection; load: 2 workers on each of 4 linkages (one answered by the registry), address changes at the registry, API client applications at the portal\n- acknowledged: {}; refused or failed: {}\n",
        machine(),
        opts.minutes,
        opts.sample_secs,
        opts.residents,
        opts.sqlite_cache_mib
            .map(|m| format!(" --sqlite-cache-mib {m}"))
            .unwrap_or_default(),
        opts.sqlite_cache_mib.unwrap_or(32),
        run.acknowledged,
        run.failures.values().sum::<u64>(),
    );
    let _ = writeln!(
        out,
        "| at (s) | linkages/s | p50 ms | p99 ms | refused | RSS all roles (MiB) | open files all roles |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    for s in &run.samples {
        let rss: u64 = s.roles.iter().map(|r| r.rss_kib).sum();
        let fds: usize = s.roles.iter().map(|r| r.fds).sum();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {} |",
            s.at_secs,
            s.per_second,
            s.p50_ms,
            s.p99_ms,
            s.failed,
            rss as f64 / 1024.0,
            fds
        );
    }
    if let (Some(first), Some(last)) = (run.samples.first(), run.samples.last()) {
        let _ = writeln!(
            out,
            "\n| role | RSS first (MiB) | RSS last (MiB) | last/first | files first | files last |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for f in &first.roles {
            let Some(l) = last.roles.iter().find(|r| r.role == f.role) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.2} | {} | {} |",
                f.role,
                f.rss_kib as f64 / 1024.0,
                l.rss_kib as f64 / 1024.0,
                l.rss_kib as f64 / f.rss_kib.max(1) as f64,
                f.fds,
                l.fds
            );
        }
        let _ = writeln!(
            out,
            "\np99 last/first: {:.2}; rate last/first: {:.2}",
            last.p99_ms / first.p99_ms.max(f64::MIN_POSITIVE),
            last.per_second / first.per_second.max(f64::MIN_POSITIVE)
        );
    }
    if !run.failures.is_empty() {
        let _ = writeln!(out, "\nRefusals by cause: {:?}", run.failures);
    }
    out
}

#[cfg(test)]
mod tests {
    use renkei_crypto::Suite;
    use renkei_protocol::UnixMillis;

    use super::*;
    use crate::linkage::LinkageOptions;
    use crate::measure::Measure;
    use crate::scale::{ScaleConfiguration, ScaleOptions};

    fn m(per_second: f64, p50_ms: f64, p99_ms: f64) -> Measure {
        Measure {
            per_second,
            p50_ms,
            p99_ms,
        }
    }

    #[test]
    fn the_soak_report_shows_each_sample_and_each_roles_drift() {
        use crate::soak::{RoleUse, SoakOptions, SoakRun, SoakSample};
        let sample = |at_secs, p99_ms, rss_kib, fds| SoakSample {
            at_secs,
            linkages: 600,
            per_second: 10.0,
            p50_ms: 5.0,
            p99_ms,
            failed: 1,
            roles: vec![RoleUse {
                role: "hub-0".into(),
                rss_kib,
                fds,
            }],
        };
        let run = SoakRun {
            date: UnixMillis(0),
            options: SoakOptions {
                minutes: 2.0,
                sample_secs: 60,
                residents: 300,
                sqlite_cache_mib: None,
                binary: "renkei".into(),
                progress: false,
            },
            samples: vec![sample(60, 20.0, 40 * 1024, 30), sample(120, 30.0, 60 * 1024, 31)],
            acknowledged: 1200,
            failures: [("x: 503 hub_unavailable".to_owned(), 2)].into(),
        };
        let md = render_soak(&run);
        assert!(
            md.contains("`renkei bench soak --minutes 2 --sample-secs 60 --residents 300`"),
            "{md}"
        );
        assert!(md.contains("| 60 | 10 | 5.0 | 20.0 | 1 | 40.0 | 30 |"), "{md}");
        assert!(md.contains("| 120 | 10 | 5.0 | 30.0 | 1 | 60.0 | 31 |"), "{md}");
        assert!(md.contains("| hub-0 | 40.0 | 60.0 | 1.50 | 30 | 31 |"), "{md}");
        assert!(md.contains("p99 last/first: 1.50; rate last/first: 1.00"), "{md}");
        assert!(md.contains("acknowledged: 1200; refused or failed: 2"), "{md}");
        assert!(md.contains("32 MiB of page cache per connection"), "{md}");
        let mut small = run.clone();
        small.options.sqlite_cache_mib = Some(4);
        let md = render_soak(&small);
        assert!(md.contains("--residents 300 --sqlite-cache-mib 4`"), "{md}");
        assert!(md.contains("4 MiB of page cache per connection"), "{md}");
    }

    fn options() -> LinkageOptions {
        LinkageOptions {
            requests: 100,
            concurrency: 4,
            rounds: 3,
            suite: Suite::Ed25519X25519,
        }
    }

    #[test]
    fn the_linkage_report_has_a_row_per_round_and_the_median_price_of_trust() {
        let out = render_linkage(&LinkageRun {
            options: options(),
            date: UnixMillis(1000),
            rows: vec![
                (m(1000.0, 1.0, 2.0), m(500.0, 3.0, 4.0)),
                (m(1000.0, 1.0, 2.0), m(600.0, 3.0, 4.0)),
                (m(1000.0, 1.0, 2.0), m(400.0, 3.0, 4.0)),
            ],
        });
        assert!(out.contains("- date: 1970-01-01T00:00:01.000Z\n"), "{out}");
        assert!(
            out.contains("`renkei bench linkage --requests 100 --concurrency 4 --rounds 3 --suite "),
            "{out}"
        );
        assert!(
            out.contains("| 1 | 1000 | 1.00 | 2.00 | 500 | 3.00 | 4.00 | 0.50 |\n"),
            "{out}"
        );
        assert!(
            out.contains("| 3 | 1000 | 1.00 | 2.00 | 400 | 3.00 | 4.00 | 0.40 |\n"),
            "{out}"
        );
        assert!(
            out.ends_with(
                "\nMedian price of trust: **0.50** (target ≥ 0.5; X-Road's published figure ≈ 0.11).\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_scale_report_compares_each_configuration_with_the_first() {
        let rows = |hub: f64| vec![(m(1000.0, 1.0, 2.0), m(hub, 3.0, 4.0)); 3];
        let out = render_scale(&ScaleRun {
            options: ScaleOptions {
                linkage: options(),
                database_url: "postgres://u:secret@localhost/db".into(),
                hub_binary: "renkei".into(),
            },
            date: UnixMillis(0),
            configurations: vec![
                ScaleConfiguration {
                    name: "SQLite, 1 hub",
                    rows: rows(500.0),
                },
                ScaleConfiguration {
                    name: "PostgreSQL, 2 hubs behind a balancer",
                    rows: rows(750.0),
                },
            ],
        });
        assert!(!out.contains("secret"), "{out}");
        assert!(
            out.contains("| SQLite, 1 hub | 1000 | 500 | 3.00 | 4.00 | 0.50 | 1.00 |\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "| PostgreSQL, 2 hubs behind a balancer | 1000 | 750 | 3.00 | 4.00 | 0.75 | 1.50 |\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with("\n(Medians over 3 rounds of each path.)\n"),
            "{out}"
        );
    }

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://bench:secret@db:5432/renkei?sslmode=disable"),
            "postgres://bench:***@db:5432/renkei?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://bench@db/renkei"),
            "postgres://bench@db/renkei"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
