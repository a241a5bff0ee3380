//! `renkei hub …`: serve, check a configuration, balance several hubs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use renkei_hub_service::{HubSettings, check_catalog, start_hub};

use crate::args::{ConfigArg, ServeArgs, init_tracing, read_config, wait_for_shutdown};

#[derive(Subcommand)]
pub(crate) enum HubCommand {
    /// Serve the hub.
    Serve(ServeArgs),
    /// Validate the catalog and permission table of a configuration.
    Check(ConfigArg),
    /// Several hub processes behind one address: a TCP balancer (TLS passes
    /// through, so mutual TLS stays between the caller and a hub).
    Balance {
        /// Where callers connect (host:port).
        #[arg(long)]
        listen: SocketAddr,
        /// A hub's network (or log) listener; give it once per hub.
        #[arg(long = "backend", required = true)]
        backends: Vec<SocketAddr>,
        /// Open connections allowed from one client address (an IPv4
        /// address or an IPv6 /64); the hubs behind see only the balancer.
        #[arg(long, default_value_t = renkei_transport::ListenerLimits::default().max_connections_per_address)]
        max_connections_per_address: usize,
        /// Open connections allowed in total.
        #[arg(long, default_value_t = renkei_transport::ListenerLimits::default().max_connections)]
        max_connections: usize,
    },
}

pub(crate) async fn run(cmd: HubCommand) -> Result<()> {
    match cmd {
        HubCommand::Serve(arg) => {
            init_tracing("info");
            let settings: HubSettings = read_config(&arg.config.config)?;
            serve(&settings, arg.store_config("hub.sqlite").open_hub().await?).await
        }
        HubCommand::Balance {
            listen,
            backends,
            max_connections_per_address,
            max_connections,
        } => {
            init_tracing("info");
            let limits = renkei_transport::ListenerLimits {
                max_connections_per_address,
                max_connections,
                ..renkei_transport::ListenerLimits::default()
            };
            let lb = renkei_transport::balancer::Balancer::start_limited(listen, backends.clone(), &limits)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            eprintln!(
                "balancing {} over {}",
                lb.addr,
                backends
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            wait_for_shutdown().await;
            lb.stop();
            Ok(())
        }
        HubCommand::Check(arg) => {
            let settings: HubSettings = read_config(&arg.config)?;
            let (works, rows, version) = check_catalog(&settings)?;
            println!("permission table {version}: {rows} rows over {works} office works — valid");
            Ok(())
        }
    }
}

async fn serve<S: renkei_hub::HubStore + Clone>(settings: &HubSettings, store: S) -> Result<()> {
    let hub = start_hub(settings, store).await?;
    eprintln!("hub serving on {} (admin {})", hub.network.url(), hub.admin.url());
    wait_for_shutdown().await;
    hub.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
