//! `renkei client …`: administrators screen and manage the consent API's
//! clients through the portal's admin API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use renkei_portal_web::{AlertView, ClientActionRequest, ClientView, ClientWithEvents, UsageView};
use renkei_transport::LocalClient;

/// Where the portal's admin API is, and its token (`renkei client`,
/// `renkei sender`).
#[derive(Args)]
pub(crate) struct AdminArgs {
    /// The portal's admin URL (plain HTTP on loopback).
    #[arg(long)]
    admin: String,
    /// File holding the portal's admin token.
    #[arg(long)]
    token: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// File an application (a JSON document: corporate_number, name,
    /// purpose, redirect_uris, jwks or jwks_uri, items, max_data_life_days,
    /// contact).
    Apply {
        #[command(flatten)]
        admin: AdminArgs,
        /// The application (JSON).
        file: PathBuf,
    },
    /// List every client.
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// A client and every change made to it.
    Show {
        #[command(flatten)]
        admin: AdminArgs,
        /// The client's id.
        client_id: String,
    },
    /// A client's use of the API: fetches by outcome, the monitor's window.
    Usage {
        #[command(flatten)]
        admin: AdminArgs,
        /// The client's id.
        client_id: String,
    },
    /// The monitor's alerts (of one client with --client), newest first.
    Alerts {
        #[command(flatten)]
        admin: AdminArgs,
        /// Only this client's alerts.
        #[arg(long)]
        client: Option<String>,
    },
    /// Screening and later changes: approve, reject, suspend, resume,
    /// revoke, transfer.
    Change {
        #[command(flatten)]
        admin: AdminArgs,
        /// The client's id.
        client_id: String,
        /// What to do with the client.
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

/// The changes an administrator can make to a client.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ClientAction {
    /// Admit a screened application.
    Approve,
    /// Refuse an application.
    Reject,
    /// Stop the client's access until resumed.
    Suspend,
    /// Lift a suspension.
    Resume,
    /// End the client's access for good.
    Revoke,
    /// Hand the client to a successor (--to).
    Transfer,
}

impl ClientAction {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Revoke => "revoke",
            Self::Transfer => "transfer",
        }
    }
}

pub(crate) fn connect(a: &AdminArgs) -> Result<LocalClient> {
    let token = renkei_transport::read_token_file(&a.token)?;
    Ok(LocalClient::loopback(&a.admin, &token, Duration::from_secs(30))?)
}

/// Send the application in `file` (JSON) to `path`.
pub(crate) async fn apply_from_file<V: serde::de::DeserializeOwned>(
    admin: &AdminArgs,
    path: &str,
    file: &std::path::Path,
) -> Result<V> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    Ok(connect(admin)?.post(path, &body).await?)
}

/// Take a screening `action` on the party at `path` (`/admin/v1/clients/ID`).
pub(crate) async fn screen<V: serde::de::DeserializeOwned>(
    admin: &AdminArgs,
    path: &str,
    action: ClientAction,
    request: ClientActionRequest,
) -> Result<V> {
    Ok(connect(admin)?
        .post(&format!("{path}/{}", action.path()), &request)
        .await?)
}

fn line(c: &ClientView) -> String {
    format!(
        "{}  {:<9}  {}  {}  items: {}",
        c.client_id,
        c.status,
        c.corporate_number,
        c.name,
        c.items.join(",")
    )
}

#[allow(clippy::print_stdout)]
pub(crate) async fn run(cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Apply { admin, file } => {
            let c: ClientView = apply_from_file(&admin, "/admin/v1/clients", &file).await?;
            println!("applied: {}", line(&c));
        }
        ClientCommand::List { admin } => {
            let list: Vec<ClientView> = connect(&admin)?.get("/admin/v1/clients").await?;
            for c in &list {
                println!("{}", line(c));
            }
        }
        ClientCommand::Show { admin, client_id } => {
            let c: ClientWithEvents = connect(&admin)?
                .get(&format!("/admin/v1/clients/{client_id}"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        ClientCommand::Usage { admin, client_id } => {
            let u: UsageView = connect(&admin)?
                .get(&format!("/admin/v1/clients/{client_id}/usage"))
                .await?;
            println!(
                "{} {}: last 24 h delivered {} refused {} failed {}; total delivered {} refused {} failed {}; \
                 monitor window {} requests, {} failures, {} over the rate",
                u.client_id,
                u.status,
                u.last_24h.delivered,
                u.last_24h.refused,
                u.last_24h.failed,
                u.total.delivered,
                u.total.refused,
                u.total.failed,
                u.window_requests,
                u.window_failures,
                u.rate_limited
            );
        }
        ClientCommand::Alerts { admin, client } => {
            let path = match &client {
                Some(c) => format!("/admin/v1/alerts?client={c}"),
                None => "/admin/v1/alerts".to_owned(),
            };
            let list: Vec<AlertView> = connect(&admin)?.get(&path).await?;
            for a in &list {
                println!("{}  {}  {:<16} {}", a.at, a.client_id, a.kind, a.detail);
            }
        }
        ClientCommand::Change {
            admin,
            client_id,
            action,
            by,
            reason,
            to,
        } => {
            let path = format!("/admin/v1/clients/{client_id}");
            let c: ClientView = screen(&admin, &path, action, ClientActionRequest { by, reason, to }).await?;
            println!("{}", line(&c));
        }
    }
    Ok(())
}
