//! `renkei sender …`: administrators screen the senders that deposit
//! documents, through the portal's admin API (as `renkei client` does for
//! the consent API's clients).

use std::path::PathBuf;

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use renkei_portal_web::deposits::{LineReport, MAX_BATCH_LINES};
use renkei_portal_web::sender_client::{SenderClient, load_signing_key, sign_line, unsigned_line};
use renkei_portal_web::{ClientActionRequest, SenderView, SenderWithEvents};
use renkei_protocol::UnixMillis;

use crate::client::{AdminArgs, ClientAction, apply_from_file, connect, screen};

#[derive(Subcommand)]
pub(crate) enum SenderCommand {
    /// File an application (a JSON document: corporate_number, name,
    /// name_en, kind, jwks, document_types, contact).
    Apply {
        #[command(flatten)]
        admin: AdminArgs,
        /// The application (JSON).
        file: PathBuf,
    },
    /// List every sender.
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// A sender and every change made to it.
    Show {
        #[command(flatten)]
        admin: AdminArgs,
        /// The sender's id.
        sender_id: String,
    },
    /// Screening and later changes: approve, reject, suspend, resume,
    /// revoke, transfer.
    Change {
        #[command(flatten)]
        admin: AdminArgs,
        /// The sender's id.
        sender_id: String,
        /// What to do with the sender.
        #[arg(value_enum)]
        action: ClientAction,
        /// The administrator acting.
        #[arg(long)]
        by: String,
        /// Why (recorded with the change).
        #[arg(long)]
        reason: Option<String>,
        /// For transfer: the successor's corporate number.
        #[arg(long)]
        to: Option<String>,
    },
    /// As a sender: sign every line of a JSONL file with the sender's key
    /// and deposit them in batches, with a progress bar; each line's
    /// outcome goes to a report (JSONL). A line is a deposit
    /// `{"document_id", "type", "handle", "document", "replaces"?}`, a
    /// void `{"kind": "void", "document_id", "reason"}` or a compact JWS
    /// signed elsewhere.
    Deposit {
        #[command(flatten)]
        sender: SenderArgs,
        /// Lines per request (at most 1,000).
        #[arg(long, default_value_t = MAX_BATCH_LINES)]
        batch: usize,
        /// Each batch is stored whole or not at all.
        #[arg(long)]
        atomic: bool,
        /// Where the per-line report goes (default: FILE.report.jsonl).
        #[arg(long)]
        report: Option<PathBuf>,
        /// The documents (JSONL).
        file: PathBuf,
    },
    /// As a sender: the links made or ended and the documents first opened
    /// since a time.
    Feed {
        #[command(flatten)]
        sender: SenderArgs,
        /// Milliseconds since 1970 (the last answer's next_since).
        #[arg(long, default_value_t = 0)]
        since: i64,
    },
}

/// Who deposits, where, with which key.
#[derive(Args)]
pub(crate) struct SenderArgs {
    /// The portal, e.g. https://portal.example.jp.
    #[arg(long)]
    portal: String,
    /// The sender's id (rs_…), as the portal's administrators gave it.
    #[arg(long = "sender")]
    sender_id: String,
    /// The sender's signing key (PKCS#8 DER, 0600), whose public half it
    /// registered.
    #[arg(long)]
    key: PathBuf,
}

impl SenderArgs {
    fn client(&self) -> Result<SenderClient> {
        let der = renkei_pki::read_private(&self.key)?;
        let key = load_signing_key(&der).with_context(|| self.key.display().to_string())?;
        Ok(SenderClient::new(&self.portal, &self.sender_id, key)?)
    }
}

/// Totals of a deposit run.
#[derive(Debug, Default)]
struct Totals {
    stored: usize,
    replayed: usize,
    voided: usize,
    refused: usize,
    /// Good lines of an atomic batch that another line spoilt.
    not_stored: usize,
}

/// Sign and send `file` batch by batch; every line's outcome is written
/// to `report` in the file's order, with the file's line numbers.
async fn deposit_file(
    client: &SenderClient,
    file: &std::path::Path,
    report: &std::path::Path,
    batch: usize,
    atomic: bool,
) -> Result<Totals> {
    if batch == 0 || batch > MAX_BATCH_LINES {
        bail!("--batch: between 1 and {MAX_BATCH_LINES}");
    }
    let name = file.display().to_string();
    let open = || std::fs::File::open(file).with_context(|| format!("reading {name}"));
    let total = std::io::BufReader::new(open()?).lines().count();
    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("depositing [{bar:30}] {pos}/{len} {per_sec} {msg}")?
            .progress_chars("=> "),
    );
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(report).with_context(|| format!("writing {}", report.display()))?,
    );
    let mut totals = Totals::default();
    let mut lines = std::io::BufReader::new(open()?).lines().enumerate();
    loop {
        // (file line, signed) to send, and lines refused before sending.
        let mut signed: Vec<(usize, String)> = Vec::new();
        let mut reports: Vec<LineReport> = Vec::new();
        let now = UnixMillis::now();
        for (i, line) in lines.by_ref() {
            let line = line.with_context(|| format!("{name}:{}", i + 1))?;
            if line.trim().is_empty() {
                pb.inc(1);
                continue;
            }
            match sign_line(client.key(), &line, now) {
                Ok(jws) => signed.push((i + 1, jws)),
                Err(e) => reports.push(unsigned_line(i + 1, e)),
            }
            if signed.len() == batch {
                break;
            }
        }
        if signed.is_empty() && reports.is_empty() {
            break;
        }
        if !signed.is_empty() {
            let jws: Vec<String> = signed.iter().map(|(_, j)| j.clone()).collect();
            let answer = client.batch(&jws, atomic).await?;
            for mut r in answer.results {
                // The portal numbers the lines of its batch from 1.
                r.line = signed.get(r.line.wrapping_sub(1)).map_or(r.line, |(n, _)| *n);
                reports.push(r);
            }
        }
        reports.sort_by_key(|r| r.line);
        for r in &reports {
            match r.status.as_str() {
                "stored" => totals.stored += 1,
                "replayed" => totals.replayed += 1,
                "voided" => totals.voided += 1,
                "not_stored" => totals.not_stored += 1,
                _ => totals.refused += 1,
            }
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        pb.inc(reports.len() as u64);
        pb.set_message(format!("{} refused", totals.refused));
    }
    out.flush()?;
    pb.finish();
    Ok(totals)
}

fn line(s: &SenderView) -> String {
    format!(
        "{}  {:<9}  {}  {}  {}  types: {}",
        s.sender_id,
        s.status,
        s.corporate_number,
        s.kind,
        s.name,
        s.document_types.join(",")
    )
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(cmd: SenderCommand) -> Result<()> {
    match cmd {
        SenderCommand::Apply { admin, file } => {
            let s: SenderView = apply_from_file(&admin, "/admin/v1/senders", &file).await?;
            println!("applied: {}", line(&s));
        }
        SenderCommand::List { admin } => {
            let list: Vec<SenderView> = connect(&admin)?.get("/admin/v1/senders").await?;
            for s in &list {
                println!("{}", line(s));
            }
        }
        SenderCommand::Show { admin, sender_id } => {
            let s: SenderWithEvents = connect(&admin)?
                .get(&format!("/admin/v1/senders/{sender_id}"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        SenderCommand::Change {
            admin,
            sender_id,
            action,
            by,
            reason,
            to,
        } => {
            let path = format!("/admin/v1/senders/{sender_id}");
            let s: SenderView = screen(&admin, &path, action, ClientActionRequest { by, reason, to }).await?;
            println!("{}", line(&s));
        }
        SenderCommand::Deposit {
            sender,
            batch,
            atomic,
            report,
            file,
        } => {
            let client = sender.client()?;
            let report = report.unwrap_or_else(|| {
                let mut p = file.clone().into_os_string();
                p.push(".report.jsonl");
                PathBuf::from(p)
            });
            let t = deposit_file(&client, &file, &report, batch, atomic).await?;
            println!(
                "stored {}, replayed {}, voided {}, refused {}, not stored (atomic) {}; report: {}",
                t.stored,
                t.replayed,
                t.voided,
                t.refused,
                t.not_stored,
                report.display()
            );
            if t.refused > 0 {
                bail!(
                    "{} lines refused; each is named in {}",
                    t.refused,
                    report.display()
                );
            }
        }
        SenderCommand::Feed { sender, since } => {
            let feed = sender.client()?.feed(since).await?;
            println!("{}", serde_json::to_string_pretty(&feed)?);
        }
    }
    Ok(())
}
