//! `renkei portal serve`: the citizen portal.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use crate::args::{ServeArgs, init_tracing, read_config, wait_for_shutdown};

#[derive(Subcommand)]
pub(crate) enum PortalCommand {
    /// Serve the portal.
    Serve(ServeArgs),
}

pub(crate) async fn run(cmd: PortalCommand) -> Result<()> {
    let PortalCommand::Serve(arg) = cmd;
    init_tracing("info");
    let settings: renkei_portal_web::PortalSettings = read_config(&arg.config.config)?;
    serve(&settings, arg.store_config("portal.sqlite").open_portal().await?).await
}

async fn serve<S: renkei_portal_web::Store + Clone>(
    settings: &renkei_portal_web::PortalSettings,
    store: S,
) -> Result<()> {
    let portal = renkei_portal_web::start_portal(settings, store).await?;
    eprintln!("portal serving on {} (admin {})", portal.url, portal.admin.addr());
    wait_for_shutdown().await;
    portal.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
