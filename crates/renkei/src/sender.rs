//! `renkei sender …`: administrators screen the senders that deposit
//! documents, through the portal's admin API (as `renkei client` does for
//! the consent API's clients).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use renkei_portal_web::{ClientActionRequest, SenderView, SenderWithEvents};

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
    }
    Ok(())
}
