//! Roles as processes of the `renkei` binary, for the tests that crash
//! them: each starts on the configuration and store the network
//! provisioned, is killed with SIGKILL, and starts again on the same ports.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a role may take to listen again after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One role as a child process: `renkei <args…>`, optionally behind a
/// wrapper command (`faketime …`, `ip netns exec …`).
#[derive(Debug)]
pub struct RoleProcess {
    pub name: String,
    binary: PathBuf,
    /// Arguments after the binary (`node serve --config …`).
    pub args: Vec<OsString>,
    /// A command the binary runs under, with its arguments.
    pub wrapper: Vec<OsString>,
    /// Extra environment.
    pub env: Vec<(OsString, OsString)>,
    /// Addresses that accept connections once the role serves.
    pub listens: Vec<SocketAddr>,
    log_dir: PathBuf,
    starts: u32,
    child: Option<Child>,
}

impl RoleProcess {
    pub fn new(
        name: impl Into<String>,
        binary: &Path,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        listens: Vec<SocketAddr>,
        log_dir: &Path,
    ) -> Self {
        Self {
            name: name.into(),
            binary: binary.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
            wrapper: Vec::new(),
            env: Vec::new(),
            listens,
            log_dir: log_dir.to_path_buf(),
            starts: 0,
            child: None,
        }
    }

    /// `renkei <command> serve --config <config>`, the way a role runs.
    pub fn serving(
        name: impl Into<String>,
        binary: &Path,
        command: &str,
        config: &Path,
        listens: Vec<SocketAddr>,
        log_dir: &Path,
    ) -> Self {
        let args = [
            OsString::from(command),
            "serve".into(),
            "--config".into(),
            config.into(),
        ];
        Self::new(name, binary, args, listens, log_dir)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (it may have exited on its own).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// The log file of the latest start.
    pub fn log_path(&self) -> PathBuf {
        let file = self.name.replace(['/', ' '], "-");
        self.log_dir.join(format!("{file}-{}.log", self.starts))
    }

    /// The last lines the process wrote.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Start the process (if it is not running) and wait until every
    /// listener accepts connections; returns how long that took.
    pub async fn start(&mut self) -> Result<Duration> {
        if self.is_running() {
            return Ok(Duration::ZERO);
        }
        self.starts += 1;
        let log_path = self.log_path();
        let out =
            std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        cmd.args(&self.args)
            .env("RUST_LOG", "warn")
            .env("RUST_BACKTRACE", "0")
            .env_remove("RENKEI_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone()?)
            .stderr(out);
        let began = Instant::now();
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting {} ({})", self.name, self.binary.display()))?,
        );
        while began.elapsed() < START_TIMEOUT {
            if !self.is_running() {
                bail!(
                    "{} exited as it started; the end of {}:\n{}",
                    self.name,
                    log_path.display(),
                    self.log_tail(20)
                );
            }
            if self.listening().await {
                return Ok(began.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill()?;
        bail!(
            "{} did not listen within {START_TIMEOUT:?}; the end of {}:\n{}",
            self.name,
            log_path.display(),
            self.log_tail(20)
        )
    }

    async fn listening(&self) -> bool {
        for addr in &self.listens {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return false;
            }
        }
        true
    }

    /// SIGKILL: a crash, mid-request, with nothing flushed or closed.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().with_context(|| format!("killing {}", self.name))?;
            c.wait()?;
        }
        Ok(())
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// One institution node of a [`ProcessNetwork`].
#[derive(Debug)]
pub struct ProcessNode {
    pub spec: crate::institutions::InstitutionSpec,
    pub local: renkei_transport::LocalClient,
    pub settings: renkei_node_service::NodeSettings,
}

/// The network with every role a process of the `renkei` binary, on the
/// configurations, stores and ports the in-process network had.
#[derive(Debug)]
pub struct ProcessNetwork {
    pub options: crate::network::NetworkOptions,
    pub ca_dir: PathBuf,
    pub hub: crate::network::HubHandle,
    pub hub_admin: renkei_transport::LocalClient,
    pub registry_admin: renkei_transport::LocalClient,
    pub registry_url: String,
    pub witness_key: String,
    pub portal_admin_url: String,
    pub portal_admin_token: String,
    pub nodes: std::collections::BTreeMap<&'static str, ProcessNode>,
    /// Every role but the hub: `witness`, `registry`, `node/<key>`, `portal`.
    pub roles: std::collections::BTreeMap<String, RoleProcess>,
}

impl crate::network::Network {
    /// Hand every role over to a process of `binary`: the in-process
    /// roles stop (their stores closed), and a process of each starts on
    /// the configuration the network wrote, in the order the roles need
    /// each other. The hub must already be a process (`hub_binary`).
    pub async fn into_processes(self, binary: &Path) -> Result<ProcessNetwork> {
        if self.options.hub_binary.is_none() {
            bail!("processes need the hub as a process (hub_binary)");
        }
        // On PostgreSQL each role's process gets its schema's URL.
        let mut databases = std::collections::BTreeMap::new();
        for role in ["witness", "registry", "portal"] {
            if let Some(url) = self.role_database(role).await? {
                databases.insert(role.to_owned(), url);
            }
        }
        let crate::network::Network {
            options,
            ca_dir,
            witness,
            witness_settings,
            hub,
            hub_admin,
            registry,
            registry_settings,
            registry_admin,
            nodes,
            portal,
            portal_settings,
            portal_admin_token,
            ..
        } = self;
        let data = options.data_dir.clone();
        let registry_url = registry.network.url();
        let witness_key = witness.cosignature_key.clone();
        let portal_admin_url = format!("http://{}", portal.admin.addr());

        let grace = Duration::from_secs(2);
        portal.shutdown(grace).await;
        let mut process_nodes = std::collections::BTreeMap::new();
        for (key, n) in nodes {
            if let Some(url) = &n.database_url {
                databases.insert(format!("node/{key}"), url.clone());
            }
            if let Some(r) = n.running {
                r.shutdown(grace).await;
            }
            process_nodes.insert(
                key,
                ProcessNode {
                    spec: n.spec,
                    local: n.local,
                    settings: n.settings,
                },
            );
        }
        registry.shutdown(grace).await;
        witness.shutdown(grace).await;

        let logs = data.join("process-logs");
        std::fs::create_dir_all(&logs)?;
        let mut registry_listens = vec![registry_settings.listen, registry_settings.admin_listen];
        registry_listens.extend(registry_settings.cards.as_ref().map(|c| c.listen));
        // In start order, each role after those it calls: (name, command,
        // configuration, listeners).
        let mut plan = vec![
            (
                "witness".to_owned(),
                "witness",
                data.join("witness").join("witness.toml"),
                vec![witness_settings.listen],
            ),
            (
                "registry".to_owned(),
                "registry",
                data.join("registry").join("registry.toml"),
                registry_listens,
            ),
        ];
        for (key, n) in &process_nodes {
            plan.push((
                format!("node/{key}"),
                "node",
                data.join("nodes").join(key).join("node.toml"),
                vec![n.settings.listen, n.settings.local_listen],
            ));
        }
        plan.push((
            "portal".to_owned(),
            "portal",
            data.join("portal").join("portal.toml"),
            vec![portal_settings.listen, portal_settings.admin_listen],
        ));
        let mut roles = std::collections::BTreeMap::new();
        for (name, command, config, listens) in plan {
            let mut p = RoleProcess::serving(name.clone(), binary, command, &config, listens, &logs);
            p.env
                .extend(options.process_env.iter().map(|(k, v)| (k.into(), v.into())));
            if let Some(url) = databases.get(&name) {
                p.env.push(("RENKEI_DATABASE_URL".into(), url.into()));
            }
            p.start().await?;
            roles.insert(name, p);
        }
        Ok(ProcessNetwork {
            options,
            ca_dir,
            hub,
            hub_admin,
            registry_admin,
            registry_url,
            witness_key,
            portal_admin_url,
            portal_admin_token,
            nodes: process_nodes,
            roles,
        })
    }
}

impl ProcessNetwork {
    /// A role process by name (`witness`, `registry`, `node/<key>`, `portal`).
    pub fn role(&mut self, name: &str) -> Result<&mut RoleProcess> {
        self.roles
            .get_mut(name)
            .with_context(|| format!("no role process `{name}`"))
    }

    /// Kill every process.
    pub async fn shutdown(mut self) {
        for p in self.roles.values_mut() {
            let _ = p.kill();
        }
        self.hub.shutdown(Duration::ZERO).await;
    }

    /// Where a [`crate::load::Load`] sends its requests.
    pub fn load_targets(&self) -> crate::load::Targets {
        crate::load::Targets {
            nodes: self.nodes.iter().map(|(k, n)| (*k, n.local.clone())).collect(),
            registry_admin: self.registry_admin.clone(),
            portal_admin_url: self.portal_admin_url.clone(),
            portal_admin_token: self.portal_admin_token.clone(),
        }
    }

    /// Every running role process by name, the hub's as `hub-<i>`.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = self
            .hub
            .process_ids()
            .into_iter()
            .enumerate()
            .map(|(i, pid)| (format!("hub-{i}"), pid))
            .collect();
        out.extend(
            self.roles
                .iter()
                .filter_map(|(name, p)| Some((name.clone(), p.pid()?))),
        );
        out
    }
}
