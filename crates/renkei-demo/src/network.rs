//! A whole network in one process: the registry, the hub and the
//! institution nodes as real mutual-TLS servers on loopback, each with its
//! own SQLite store in its own directory. `renkei demo` runs one; the
//! integration tests run one per test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use renkei_api::hub::InstitutionWire;
use renkei_api::net::PublicKeyWire;
use renkei_card::{CaOperator, CardAuthorities, CardProfile};
use renkei_crypto::{PublicKeyFile, SealingKeyPair, SigningKey, Suite, VerifyingKey};
use renkei_hub_service::{HubSettings, RunningHub, start_hub, write_sample_catalog};
use renkei_hub_service::{LogSettings, WitnessPeer};
use renkei_ids::CorporateNumber;
use renkei_node_service::{NodeSettings, RunningNode, start_node};
use renkei_pki::provision::{
    RoleFiles, issue_tls, note_verifier, private_dir, provision_hub_secrets, provision_role, read_data_key,
    tls_algorithm,
};
use renkei_pki::{Identity, NetworkCa, Role, TrustAnchors, WriteMode};
use renkei_portal_web::{InstitutionName, PortalSettings, RunningPortal, Source, start_portal};
use renkei_protocol::UnixMillis;
use renkei_registry_service::CardSettings;
use renkei_registry_service::{RegistrySettings, RunningRegistry, start_registry};
use renkei_store_sqlite::{
    Durability, SqliteHubStore, SqliteNodeStore, SqlitePortalStore, SqliteRegistryStore, SqliteWitnessStore,
};
use renkei_transport::{Expect, LocalClient, NetClient, TlsFiles, TrustState};
use renkei_witness_service::{FollowedLogSettings, RunningWitness, WitnessSettings, start_witness};

use crate::institutions::{DIGITAL, InstitutionSpec, NODES, REGISTRY, TAX};
use crate::processes::RoleProcess;

/// The demo log's origin (the first line of its checkpoints).
pub const LOG_ORIGIN: &str = "renkei.demo/provision-records";
/// The demo witness's key name.
pub const WITNESS_NAME: &str = "witness.renkei.demo";

/// How to build the network.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    pub data_dir: PathBuf,
    pub suite: Suite,
    pub durability: Durability,
    pub provider_timeout_ms: u64,
    pub crl_poll_secs: u64,
    pub max_skew_secs: u64,
    pub checkpoint_interval_ms: u64,
    /// A catalog to use instead of the sample (tests shorten delays).
    pub catalog: Option<String>,
    /// Run the hub as a separate process of this `renkei` binary (tests
    /// that kill it), instead of in this process.
    pub hub_binary: Option<PathBuf>,
    /// Extra environment of every role that runs as a process (the hub
    /// under `hub_binary`, every role after `into_processes`).
    pub process_env: Vec<(String, String)>,
    /// The portal's monitor of API clients (tests lower the thresholds).
    pub consent_monitor: renkei_consent::MonitorPolicy,
    /// Keep every role's data in this PostgreSQL database (each role in a
    /// schema of its own) instead of SQLite files.
    pub database_url: Option<String>,
    /// Hub processes on the shared database behind one balanced address
    /// (more than one needs `hub_binary` and `database_url`).
    pub hubs: usize,
    /// Nodes beyond the demo's seven (benchmarks that want ten).
    pub extra_nodes: Vec<InstitutionSpec>,
    /// Seal the registry's and the nodes' personal data at rest under
    /// their data keys (the default).
    pub encrypt_at_rest: bool,
    /// Every listener's deadlines and connection caps (tests lower them).
    pub limits: renkei_transport::ListenerLimits,
    /// How the nodes' outboxes retry deliveries (tests shorten it).
    pub deliveries: renkei_node_service::DeliverySettings,
}

impl NetworkOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            suite: Suite::default(),
            durability: Durability::Full,
            provider_timeout_ms: 10_000,
            crl_poll_secs: 5,
            max_skew_secs: 120,
            checkpoint_interval_ms: 1000,
            catalog: None,
            hub_binary: None,
            process_env: Vec::new(),
            database_url: None,
            hubs: 1,
            extra_nodes: Vec::new(),
            encrypt_at_rest: true,
            limits: renkei_transport::ListenerLimits::default(),
            deliveries: renkei_node_service::DeliverySettings::default(),
            // A demo is one person clicking and benchmarks driving flows
            // back to back: limits far above either.
            consent_monitor: renkei_consent::MonitorPolicy {
                rate_per_minute: 60_000,
                burst: 1_000,
                ..renkei_consent::MonitorPolicy::default()
            },
        }
    }
}

/// One institution node of the running network.
#[derive(Debug)]
pub struct NodeHandle {
    pub spec: InstitutionSpec,
    pub id: CorporateNumber,
    pub running: Option<RunningNode>,
    pub local: LocalClient,
    pub files: RoleFiles,
    pub settings: NodeSettings,
    /// The SQLite file, or the PostgreSQL URL (with its schema) of the store.
    pub store_path: PathBuf,
    pub database_url: Option<String>,
}

impl NodeHandle {
    pub fn network_url(&self) -> String {
        format!("https://{}", self.settings.listen)
    }

    pub fn local_url(&self) -> String {
        format!("https://{}", self.settings.local_listen)
    }
}

/// The running network.
#[derive(Debug)]
pub struct Network {
    pub options: NetworkOptions,
    pub ca_dir: PathBuf,
    pub witness: RunningWitness,
    pub witness_settings: WitnessSettings,
    pub hub: HubHandle,
    pub hub_settings: HubSettings,
    pub hub_admin: LocalClient,
    pub hub_key: VerifyingKey,
    pub registry: RunningRegistry,
    pub registry_settings: RegistrySettings,
    pub registry_admin: LocalClient,
    pub registry_files: RoleFiles,
    pub nodes: BTreeMap<&'static str, NodeHandle>,
    /// The citizen portal, a business system of the Digital Agency's node.
    pub portal: RunningPortal,
    pub portal_settings: PortalSettings,
    /// The portal administrators' bearer token.
    pub portal_admin_token: String,
    /// This network's prefix of PostgreSQL schema names (each role's is
    /// `<prefix>_<role>`), with `options.database_url`.
    pub schema_prefix: String,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn tls_files(ca_dir: &Path, f: &RoleFiles) -> TlsFiles {
    tls_paths(ca_dir, f.cert.clone(), f.key.clone())
}

/// A role's TLS files: the network CA and CRL, its certificate and key.
fn tls_paths(ca_dir: &Path, cert: PathBuf, key: PathBuf) -> TlsFiles {
    TlsFiles {
        ca_cert: ca_dir.join(renkei_pki::CA_CERT_FILE),
        crl: ca_dir.join(renkei_pki::CA_CRL_FILE),
        cert,
        key,
    }
}

fn read_token(path: &Path) -> Result<String> {
    let t = renkei_pki::read_private(path)?;
    Ok(String::from_utf8_lossy(&t).trim().to_owned())
}

fn write_config<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = toml::to_string_pretty(value).context("encoding a role configuration")?;
    renkei_pki::write_public(path, text.as_bytes(), WriteMode::Replace)?;
    Ok(())
}

pub(crate) fn local_client(url: &str, ca_dir: &Path, token_file: &Path) -> Result<LocalClient> {
    let ca = std::fs::read(ca_dir.join(renkei_pki::CA_CERT_FILE))?;
    Ok(LocalClient::new(
        url,
        &ca,
        &read_token(token_file)?,
        Duration::from_secs(120),
    )?)
}

/// The public half of an institution as the hub's admin API takes it.
fn registration(spec: &InstitutionSpec, files: &RoleFiles, endpoint: &str) -> Result<InstitutionWire> {
    let signing = match PublicKeyFile::parse(&std::fs::read_to_string(&files.signing_pub)?)? {
        PublicKeyFile::Verifying(k) => k,
        PublicKeyFile::Sealing(_) => bail!("{} is not a signing key", files.signing_pub.display()),
    };
    let sealing = match PublicKeyFile::parse(&std::fs::read_to_string(&files.sealing_pub)?)? {
        PublicKeyFile::Sealing(k) => k,
        PublicKeyFile::Verifying(_) => bail!("{} is not a sealing key", files.sealing_pub.display()),
    };
    Ok(InstitutionWire {
        id: String::new(),
        name: spec.name.into(),
        kind: spec.kind.into(),
        endpoint: endpoint.into(),
        certificate: std::fs::read_to_string(&files.cert)?,
        signing_key: Some(PublicKeyWire::from(&signing)),
        sealing_key: Some(PublicKeyWire::from(&sealing)),
        status: None,
    })
}

/// Where one role keeps its data: `None` for its SQLite file, or its own
/// schema of the network's PostgreSQL database.
async fn role_database(options: &NetworkOptions, prefix: &str, role: &str) -> Result<Option<String>> {
    match &options.database_url {
        None => Ok(None),
        Some(base) => Ok(Some(
            renkei_store_postgres::schema_url(base, &format!("{prefix}_{role}"))
                .await
                .with_context(|| format!("preparing the {role} schema"))?,
        )),
    }
}

/// Open a role's store on the backend chosen and hand it to `start`,
/// which is generic over the store type.
macro_rules! with_store {
    ($url:expr, $sqlite:expr, $pg:ty, |$store:ident| $start:expr) => {
        match $url {
            Some(url) => {
                let $store = <$pg>::open(url).await?;
                $start
            }
            None => {
                let $store = $sqlite.await?;
                $start
            }
        }
    };
    // A store that holds personal data, opened with the role's data key.
    ($url:expr, $sqlite:expr, $pg:ty, key $key:expr, |$store:ident| $start:expr) => {
        match $url {
            Some(url) => {
                let $store = <$pg>::open_with_key(url, $key).await?;
                $start
            }
            None => {
                let $store = $sqlite.await?;
                $start
            }
        }
    };
}

/// The data key a role's settings name, if any.
fn data_key_of(path: Option<&Path>) -> Result<Option<renkei_crypto::DataKey>> {
    Ok(path.map(read_data_key).transpose()?)
}

/// A prefix no other network on the same database has: networks started
/// in the same millisecond (tests running at once) differ by process and
/// by a count within it.
fn schema_prefix() -> String {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("rk{}_{}_{n}", UnixMillis::now().0, std::process::id())
}

/// What the steps of [`Network::start`] share: the options, this run's
/// schema prefix and the network CA.
struct Setup<'a> {
    options: &'a NetworkOptions,
    /// Schemas of this network: unique, so runs never see each other's data.
    prefix: String,
    ca: NetworkCa,
    ca_dir: PathBuf,
}

/// The hub's provisioned files: its role files, its secrets and catalog.
struct HubFiles {
    role: RoleFiles,
    code_keys: PathBuf,
    record_key: PathBuf,
    log_key: PathBuf,
    catalog: PathBuf,
    permissions: PathBuf,
}

impl<'a> Setup<'a> {
    fn new(options: &'a NetworkOptions) -> Result<Self> {
        if options.hubs > 1 && (options.hub_binary.is_none() || options.database_url.is_none()) {
            bail!(
                "several hubs need hub processes (hub_binary) sharing a PostgreSQL database (database_url)"
            );
        }
        private_dir(&options.data_dir)?;
        let ca_dir = options.data_dir.join("pki").join("ca");
        let ca = NetworkCa::create(&ca_dir, "renkei demo network CA", tls_algorithm(options.suite))
            .with_context(|| format!("creating the network CA in {}", ca_dir.display()))?;
        Ok(Self {
            options,
            prefix: schema_prefix(),
            ca,
            ca_dir,
        })
    }

    fn dir(&self, role: &str) -> PathBuf {
        self.options.data_dir.join(role)
    }

    async fn database(&self, role: &str) -> Result<Option<String>> {
        role_database(self.options, &self.prefix, role).await
    }

    fn tls(&self, files: &RoleFiles) -> TlsFiles {
        tls_files(&self.ca_dir, files)
    }

    /// The hub's certificate, keys, log key and the sample catalog.
    fn provision_hub(&self) -> Result<HubFiles> {
        let hub_dir = self.dir("hub");
        let role = provision_role(
            &self.ca,
            &hub_dir,
            Role::Hub,
            None,
            "renkei hub",
            self.options.suite,
        )?;
        let (code_keys, record_key, log_key) = provision_hub_secrets(&hub_dir, LOG_ORIGIN)?;
        let (catalog, permissions) = write_sample_catalog(&hub_dir)?;
        if let Some(text) = &self.options.catalog {
            renkei_pki::write_public(&catalog, text.as_bytes(), WriteMode::Replace)?;
        }
        Ok(HubFiles {
            role,
            code_keys,
            record_key,
            log_key,
            catalog,
            permissions,
        })
    }

    /// A witness that follows the hub's log.
    async fn start_witness(&self, log_key: &Path) -> Result<(RunningWitness, WitnessSettings)> {
        let witness_dir = self.dir("witness");
        let (cert, key, _) = issue_tls(
            &self.ca,
            &witness_dir,
            Role::Witness,
            None,
            "renkei demo witness",
            self.options.suite,
        )?;
        let witness_key = witness_dir.join("witness.key");
        renkei_pki::write_private(
            &witness_key,
            renkei_witness_service::new_witness_key(WITNESS_NAME)
                .map_err(|e| anyhow::anyhow!("witness key: {e}"))?
                .as_bytes(),
            WriteMode::Replace,
        )?;
        let mut settings = WitnessSettings {
            listen: any_port(),
            tls: tls_paths(&self.ca_dir, cert, key),
            key: witness_key,
            logs: vec![FollowedLogSettings {
                origin: LOG_ORIGIN.into(),
                key: note_verifier(log_key, false)?,
            }],
            crl_poll_secs: self.options.crl_poll_secs,
            limits: self.options.limits.clone(),
        };
        let witness = with_store!(
            &self.database("witness").await?,
            SqliteWitnessStore::open(&witness_dir.join("witness.sqlite"), self.options.durability),
            renkei_store_postgres::PgWitnessStore,
            |store| start_witness(&settings, store).await?
        );
        settings.listen = witness.server.addr;
        write_config(&witness_dir.join("witness.toml"), &settings)?;
        Ok((witness, settings))
    }

    /// The hub, in this process or as `options.hubs` processes of the
    /// `renkei` binary behind one balanced address.
    async fn start_hub(
        &self,
        files: &HubFiles,
        witness: &RunningWitness,
    ) -> Result<(HubHandle, HubSettings)> {
        let options = self.options;
        let hub_dir = self.dir("hub");
        let mut settings = HubSettings {
            listen: any_port(),
            admin_listen: any_port(),
            tls: self.tls(&files.role),
            suite: options.suite,
            signing_key: files.role.signing_key.clone(),
            code_keys: files.code_keys.clone(),
            record_key: files.record_key.clone(),
            catalog: files.catalog.clone(),
            permissions: files.permissions.clone(),
            admin_token: files.role.token.clone(),
            max_skew_secs: options.max_skew_secs,
            provider_timeout_ms: options.provider_timeout_ms,
            crl_poll_secs: options.crl_poll_secs,
            limits: options.limits.clone(),
            log: LogSettings {
                listen: any_port(),
                key: files.log_key.clone(),
                origin: LOG_ORIGIN.into(),
                checkpoint_interval_ms: options.checkpoint_interval_ms,
                witnesses: vec![WitnessPeer {
                    url: witness.url(),
                    key: witness.cosignature_key.clone(),
                }],
                retention_days: renkei_api::log::SEVEN_YEARS_DAYS,
            },
        };
        let Some(binary) = &options.hub_binary else {
            let hub = with_store!(
                &self.database("hub").await?,
                SqliteHubStore::open(&hub_dir.join("hub.sqlite"), options.durability),
                renkei_store_postgres::PgHubStore,
                |store| start_hub(&settings, store).await?
            );
            settings.listen = hub.network.addr;
            settings.admin_listen = hub.admin.addr;
            settings.log.listen = hub.log.addr;
            write_config(&hub_dir.join("hub.toml"), &settings)?;
            return Ok((HubHandle::in_process(hub), settings));
        };
        let database = self.database("hub").await?;
        let mut configs = Vec::new();
        for i in 0..options.hubs.max(1) {
            let mut s = settings.clone();
            s.listen = free_port()?;
            s.admin_listen = free_port()?;
            s.log.listen = free_port()?;
            let config = hub_dir.join(if i == 0 {
                "hub.toml".to_owned()
            } else {
                format!("hub-{i}.toml")
            });
            write_config(&config, &s)?;
            configs.push((config, s));
        }
        let first = configs
            .first()
            .map(|(_, s)| s.clone())
            .context("at least one hub")?;
        let handle = HubHandle::processes(binary, &configs, database, &options.process_env).await?;
        Ok((handle, first))
    }

    /// The resident registry with its card CAs.
    async fn start_registry(
        &self,
        hub: &HubFiles,
        hub_url: &str,
    ) -> Result<(RunningRegistry, RegistrySettings, RoleFiles)> {
        let options = self.options;
        let reg_dir = self.dir("registry");
        let files = provision_role(
            &self.ca,
            &reg_dir,
            Role::Registry,
            Some(REGISTRY.id()),
            REGISTRY.name_en,
            options.suite,
        )?;
        // The card CA (JPKI role) of the registry.
        let card_ca_dir = reg_dir.join("card-ca");
        if !card_ca_dir.join(CardProfile::Rsa2048Sha256.as_str()).exists() {
            CardAuthorities::create(
                &card_ca_dir,
                &CaOperator {
                    name: "renkei demo card authority".into(),
                    name_ja: REGISTRY.name.into(),
                },
                time::OffsetDateTime::now_utc(),
            )
            .context("creating the card CAs")?;
        }
        let mut settings = RegistrySettings {
            institution: REGISTRY.id(),
            name: REGISTRY.name.into(),
            listen: any_port(),
            admin_listen: any_port(),
            tls: self.tls(&files),
            suite: options.suite,
            signing_key: files.signing_key.clone(),
            sealing_key: files.sealing_key.clone(),
            hub_url: hub_url.into(),
            hub_signing_key: hub.role.signing_pub.clone(),
            admin_token: files.token.clone(),
            max_skew_secs: options.max_skew_secs,
            request_timeout_ms: 60_000,
            crl_poll_secs: options.crl_poll_secs,
            limits: options.limits.clone(),
            cards: Some(CardSettings {
                ca_dir: card_ca_dir,
                listen: any_port(),
                public_url: None,
                certificate_validity_days: 1826,
                crl_validity_secs: 3600,
                resolvers: vec![DIGITAL.id()],
            }),
            outbox: None,
            data_key: files.data_key.clone().filter(|_| options.encrypt_at_rest),
            identity_mismatches: Default::default(),
            municipalities: crate::institutions::MUNICIPALITIES
                .iter()
                .map(|(m, prefix)| renkei_registry::Municipality {
                    institution: m.id(),
                    name: m.name.into(),
                    address_prefix: (*prefix).into(),
                })
                .collect(),
            statutory_filers: vec![TAX.id()],
        };
        let key = data_key_of(settings.data_key.as_deref())?;
        let registry = with_store!(
            &self.database("registry").await?,
            SqliteRegistryStore::open_with_key(&reg_dir.join("registry.sqlite"), options.durability, key.as_ref()),
            renkei_store_postgres::PgRegistryStore,
            key key.as_ref(),
            |store| start_registry(&settings, store).await?
        );
        settings.listen = registry.network.addr;
        settings.admin_listen = registry.admin.addr;
        if let (Some(cs), Some(server)) = (settings.cards.as_mut(), registry.cards.as_ref()) {
            cs.listen = server.addr;
        }
        write_config(&reg_dir.join("registry.toml"), &settings)?;
        Ok((registry, settings, files))
    }

    /// One institution node.
    async fn start_node(
        &self,
        spec: InstitutionSpec,
        hub: &HubFiles,
        hub_url: &str,
        registry_url: &str,
    ) -> Result<NodeHandle> {
        let options = self.options;
        let node_dir = self.dir("nodes").join(spec.key);
        let files = provision_role(
            &self.ca,
            &node_dir,
            Role::Node,
            Some(spec.id()),
            spec.name_en,
            options.suite,
        )?;
        let mut settings = NodeSettings {
            institution: spec.id(),
            name: spec.name.into(),
            kind: renkei_catalog::KindCode::parse(spec.kind)?,
            listen: any_port(),
            local_listen: any_port(),
            tls: self.tls(&files),
            suite: options.suite,
            signing_key: files.signing_key.clone(),
            sealing_key: files.sealing_key.clone(),
            hub_url: hub_url.into(),
            hub_signing_key: hub.role.signing_pub.clone(),
            registry_url: registry_url.into(),
            catalog: hub.catalog.clone(),
            local_token: files.token.clone(),
            max_skew_secs: options.max_skew_secs,
            request_timeout_ms: 60_000,
            crl_poll_secs: options.crl_poll_secs,
            data_key: files.data_key.clone().filter(|_| options.encrypt_at_rest),
            notice_recipient: (spec.kind != DIGITAL.kind).then(|| DIGITAL.id()),
            limits: options.limits.clone(),
            deliveries: options.deliveries.clone(),
            // The tax agency takes the employers' statutory filings.
            filings: (spec.kind == TAX.kind).then(|| renkei_node_service::FilingSettings {
                registry: REGISTRY.id(),
                concurrency: 16,
            }),
        };
        let store_path = node_dir.join("node.sqlite");
        let database_url = self.database(&format!("node_{}", spec.id())).await?;
        let key = data_key_of(settings.data_key.as_deref())?;
        let running = with_store!(
            &database_url,
            SqliteNodeStore::open_with_key(&store_path, options.durability, key.as_ref()),
            renkei_store_postgres::PgNodeStore,
            key key.as_ref(),
            |store| start_node(&settings, store).await?
        );
        settings.listen = running.network.addr;
        settings.local_listen = running.local.addr;
        write_config(&node_dir.join("node.toml"), &settings)?;
        let local = local_client(&running.local.url(), &self.ca_dir, &files.token)?;
        Ok(NodeHandle {
            spec,
            id: spec.id(),
            running: Some(running),
            local,
            files,
            settings,
            store_path,
            database_url,
        })
    }

    /// The citizen portal, a business system of the Digital Agency's node.
    async fn start_portal(
        &self,
        digital: &NodeHandle,
        card_url: &str,
        log_url: &str,
        catalog: &Path,
    ) -> Result<(RunningPortal, PortalSettings, String)> {
        let options = self.options;
        let portal_dir = self.dir("portal");
        private_dir(&portal_dir)?;
        let admin_token = renkei_pki::provision::new_token();
        renkei_pki::write_private(
            &portal_dir.join("admin.token"),
            admin_token.as_bytes(),
            WriteMode::Replace,
        )?;
        let oauth_key = renkei_jose::SigningKey::generate(renkei_jose::Alg::Es256)?;
        renkei_pki::write_private(
            &portal_dir.join("oauth-signing.key"),
            oauth_key.pkcs8(),
            WriteMode::Replace,
        )?;
        let mut handle_key = [0u8; 32];
        renkei_jose::random_bytes(&mut handle_key)?;
        renkei_pki::write_private(
            &portal_dir.join("delivery-handle.key"),
            &handle_key,
            WriteMode::Replace,
        )?;
        let mut settings = portal_settings(
            &portal_dir,
            &self.ca_dir,
            digital.local.base(),
            &digital.files.token,
            card_url,
            log_url,
            catalog,
        );
        settings.consent_monitor = options.consent_monitor.clone();
        settings.limits = options.limits.clone();
        let portal = with_store!(
            &self.database("portal").await?,
            SqlitePortalStore::open(&portal_dir.join("portal.sqlite"), options.durability),
            renkei_store_postgres::PgPortalStore,
            |store| start_portal(&settings, store).await?
        );
        settings.listen = portal.web.addr();
        settings.admin_listen = portal.admin.addr();
        write_config(&portal_dir.join("portal.toml"), &settings)?;
        Ok((portal, settings, admin_token))
    }
}

/// Register an institution (its certificate, keys and endpoint) at the hub.
async fn register_at_hub(
    hub_admin: &LocalClient,
    spec: &InstitutionSpec,
    files: &RoleFiles,
    endpoint: &str,
) -> Result<()> {
    let wire = registration(spec, files, endpoint)?;
    let _: InstitutionWire = hub_admin
        .put(&format!("/admin/v1/institutions/{}", spec.id()), &wire)
        .await
        .with_context(|| format!("registering {} at the hub", spec.name_en))?;
    Ok(())
}

impl Network {
    /// Provision everything under `options.data_dir` and start every role:
    /// the witness first (the hub submits its checkpoints to it), then the
    /// hub, the registry, the nodes (each registered at the hub as it
    /// starts) and the portal.
    pub async fn start(options: NetworkOptions) -> Result<Self> {
        let setup = Setup::new(&options)?;
        let hub_files = setup.provision_hub()?;
        let (witness, witness_settings) = setup.start_witness(&hub_files.log_key).await?;
        let (hub, hub_settings) = setup.start_hub(&hub_files, &witness).await?;
        let hub_url = hub.url();
        let hub_admin = local_client(&hub.admin_url(), &setup.ca_dir, &hub_files.role.token)?;

        let (registry, registry_settings, registry_files) =
            setup.start_registry(&hub_files, &hub_url).await?;
        let registry_admin = local_client(&registry.admin.url(), &setup.ca_dir, &registry_files.token)?;
        register_at_hub(&hub_admin, &REGISTRY, &registry_files, &registry.network.url()).await?;

        let mut nodes = BTreeMap::new();
        for spec in NODES.into_iter().chain(options.extra_nodes.iter().copied()) {
            let node = setup
                .start_node(spec, &hub_files, &hub_url, &registry.network.url())
                .await?;
            register_at_hub(&hub_admin, &spec, &node.files, &node.network_url()).await?;
            nodes.insert(spec.key, node);
        }

        let card_url = registry
            .cards
            .as_ref()
            .map(|c| c.url())
            .context("the registry's card listener")?;
        let digital = nodes.get(DIGITAL.key).context("the Digital Agency's node")?;
        let (portal, portal_settings, portal_admin_token) = setup
            .start_portal(digital, &card_url, &hub.log_url(), &hub_files.catalog)
            .await?;

        let hub_key = hub.verifying_key.clone();
        let schema_prefix = setup.prefix.clone();
        let ca_dir = setup.ca_dir;
        Ok(Self {
            options,
            ca_dir,
            witness,
            witness_settings,
            hub,
            hub_settings,
            hub_admin,
            hub_key,
            registry,
            registry_settings,
            registry_admin,
            registry_files,
            nodes,
            portal,
            portal_settings,
            portal_admin_token,
            schema_prefix,
        })
    }

    /// Where `role` (`hub`, `registry`, `portal`, `witness`,
    /// `node_<corporate number>`) keeps its data on PostgreSQL; `None` on
    /// SQLite, where it is `<role>/<role>.sqlite` under the data directory.
    pub async fn role_database(&self, role: &str) -> Result<Option<String>> {
        role_database(&self.options, &self.schema_prefix, role).await
    }

    /// The portal's admin API base (plain HTTP on loopback).
    pub fn portal_admin_url(&self) -> String {
        format!("http://{}", self.portal.admin.addr())
    }

    /// Witnesses that cosign the hub's checkpoints.
    pub fn witness_count(&self) -> usize {
        self.hub_settings.log.witnesses.len()
    }

    pub fn node(&self, key: &str) -> &NodeHandle {
        self.nodes
            .get(key)
            .unwrap_or_else(|| panic!("no demo node `{key}`"))
    }

    /// Stop a node as a crash would (its listeners close at once).
    pub fn kill_node(&mut self, key: &str) {
        if let Some(n) = self.nodes.get_mut(key).and_then(|n| n.running.take()) {
            n.kill();
        }
    }

    /// Start a killed node again on the same ports with the same store.
    pub async fn restart_node(&mut self, key: &str) -> Result<()> {
        let durability = self.options.durability;
        let n = self.nodes.get_mut(key).context("no such node")?;
        if n.running.is_some() {
            return Ok(());
        }
        let key = data_key_of(n.settings.data_key.as_deref())?;
        n.running = Some(with_store!(
            &n.database_url,
            SqliteNodeStore::open_with_key(&n.store_path, durability, key.as_ref()),
            renkei_store_postgres::PgNodeStore,
            key key.as_ref(),
            |store| start_node_again(&n.settings, store).await?
        ));
        Ok(())
    }
}

/// Start a node on the ports it had: the old listener may take a moment
/// to release them.
async fn start_node_again<S: renkei_node::NodeStore + Clone>(
    settings: &NodeSettings,
    store: S,
) -> Result<RunningNode> {
    {
        let mut last = None;
        for _ in 0..50 {
            match start_node(settings, store.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.map_or_else(|| anyhow::anyhow!("restart failed"), anyhow::Error::from))
    }
}

impl Network {
    /// Act as an institution's node directly — its TLS identity and keys —
    /// bypassing its local API. For tests and scenarios that must send what
    /// a well-behaved node never would.
    pub fn impersonate(&self, key: &str) -> Result<RawNode> {
        let n = self.node(key);
        RawNode::load(&self.ca_dir, &n.files, n.id, self.options.suite)
    }

    pub async fn shutdown(self) {
        let grace = Duration::from_secs(2);
        self.portal.shutdown(grace).await;
        for (_, n) in self.nodes {
            if let Some(r) = n.running {
                r.shutdown(grace).await;
            }
        }
        self.registry.shutdown(grace).await;
        self.hub.shutdown(grace).await;
        self.witness.shutdown(grace).await;
    }
}

/// The demo portal's configuration: every institution's name, and My
/// Information asked of the institutions that hold each item.
fn portal_settings(
    dir: &Path,
    ca_dir: &Path,
    node_url: &str,
    node_token: &Path,
    card_url: &str,
    log_url: &str,
    catalog: &Path,
) -> PortalSettings {
    use crate::institutions::{KENPO, PENSION, SETAGAYA, YOKOHAMA};
    let municipalities = vec![SETAGAYA.id(), YOKOHAMA.id()];
    let source = |item: &str, providers: Vec<CorporateNumber>, fiscal_years: Vec<u16>| Source {
        item: item.to_owned(),
        providers,
        fiscal_years,
    };
    PortalSettings {
        listen: any_port(),
        admin_listen: any_port(),
        public_url: None,
        tls: None,
        node_url: node_url.to_owned(),
        node_token: node_token.to_owned(),
        network_ca: ca_dir.join(renkei_pki::CA_CERT_FILE),
        card_url: card_url.to_owned(),
        log_url: log_url.to_owned(),
        catalog: catalog.to_owned(),
        admin_token: dir.join("admin.token"),
        session_idle_secs: 15 * 60,
        session_max_secs: 4 * 3600,
        challenge_secs: 300,
        crl_poll_secs: 30,
        sweep_secs: 30,
        // One machine plays every citizen from 127.0.0.1 (benchmarks log in
        // thousands of times): the per-address bound is the total here.
        login_challenges_per_address: 50_000,
        login_challenges_total: 50_000,
        institutions: NODES
            .iter()
            .chain([&REGISTRY])
            .map(|s| InstitutionName {
                id: s.id(),
                name_ja: s.name.to_owned(),
                name_en: s.name_en.to_owned(),
            })
            .collect(),
        sources: vec![
            source("four_facts", vec![REGISTRY.id()], vec![]),
            source("resident_tax_income", municipalities.clone(), vec![2025]),
            source("household", municipalities.clone(), vec![]),
            source("child_allowance_status", municipalities.clone(), vec![]),
            source("disability_certificate", municipalities.clone(), vec![]),
            source("public_assistance_status", municipalities.clone(), vec![]),
            source("vaccination_records", municipalities, vec![]),
            source("pension_benefits", vec![PENSION.id()], vec![2025]),
            source("health_insurance_qualification", vec![KENPO.id()], vec![]),
            source("health_checkup", vec![KENPO.id()], (2021..=2025).collect()),
            source("public_fund_account", vec![DIGITAL.id()], vec![]),
        ],
        oauth_signing_key: Some(dir.join("oauth-signing.key")),
        mtls_listen: None,
        mtls_url: None,
        consent_monitor: renkei_consent::MonitorPolicy::default(),
        limits: renkei_transport::ListenerLimits::default(),
        // The demo's example services and the tests serve JWKS on loopback.
        jwks_uri_allow_loopback: true,
        delivery_handle_key: Some(dir.join("delivery-handle.key")),
        // Public senders' documents show up in the mailbox at once.
        network_mail_poll_ms: 200,
    }
}

/// A node's keys and TLS identity, usable without the node.
#[derive(Debug)]
pub struct RawNode {
    pub id: CorporateNumber,
    pub signing: SigningKey,
    pub sealing: SealingKeyPair,
    /// The node's certificate (DER), which certifies the two keys.
    pub certificate: Vec<u8>,
    pub client: std::sync::Arc<NetClient>,
    pub trust: std::sync::Arc<TrustState>,
}

impl RawNode {
    pub fn load(ca_dir: &Path, files: &RoleFiles, id: CorporateNumber, suite: Suite) -> Result<Self> {
        let key_text =
            |p: &Path| -> Result<String> { Ok(String::from_utf8(renkei_pki::read_private(p)?.to_vec())?) };
        let signing = match renkei_crypto::KeyFile::parse(&key_text(&files.signing_key)?)? {
            renkei_crypto::KeyFile::Signing(k) => k,
            renkei_crypto::KeyFile::Sealing(_) => bail!("not a signing key"),
        };
        let sealing = match renkei_crypto::KeyFile::parse(&key_text(&files.sealing_key)?)? {
            renkei_crypto::KeyFile::Sealing(k) => k,
            renkei_crypto::KeyFile::Signing(_) => bail!("not a sealing key"),
        };
        debug_assert_eq!(signing.algorithm(), suite.signature());
        let identity = Identity::load(&files.cert, &files.key)?;
        let certificate = identity
            .cert_chain()
            .first()
            .map(|c| c.as_ref().to_vec())
            .context("the certificate file holds no certificate")?;
        let anchors = TrustAnchors::load(
            &ca_dir.join(renkei_pki::CA_CERT_FILE),
            &ca_dir.join(renkei_pki::CA_CRL_FILE),
        )?;
        let trust = TrustState::new(identity, anchors);
        let client = trust.client(Duration::from_secs(30))?;
        Ok(Self {
            id,
            signing,
            sealing,
            certificate,
            client,
            trust,
        })
    }

    /// POST a JSON body to the hub as this node.
    pub async fn post_hub<B: serde::Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &self,
        hub_url: &str,
        path: &str,
        body: &B,
    ) -> Result<R, renkei_transport::ApiFailure> {
        self.client
            .post(&format!("{hub_url}{path}"), body, Expect::Role(Role::Hub), None)
            .await
    }
}

/// A loopback address with a port free at the time of asking.
fn free_port() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// The hub, in this process or as child processes (several sharing one
/// PostgreSQL database behind one balanced address).
#[derive(Debug)]
pub struct HubHandle {
    network_url: String,
    admin_url: String,
    log_url: String,
    /// The log's note verifier key.
    pub log_verifier: String,
    pub verifying_key: VerifyingKey,
    mode: HubMode,
}

#[derive(Debug)]
enum HubMode {
    InProcess(Option<Box<RunningHub>>),
    Process {
        procs: Vec<HubProcess>,
        /// With several hubs: the network and log balancers.
        balancers: Vec<renkei_transport::balancer::Balancer>,
    },
}

/// One hub process.
#[derive(Debug)]
struct HubProcess {
    process: RoleProcess,
    admin_url: String,
}

impl HubHandle {
    fn in_process(hub: RunningHub) -> Self {
        Self {
            network_url: hub.network.url(),
            admin_url: hub.admin.url(),
            log_url: hub.log_url(),
            log_verifier: hub.log_verifier.clone(),
            verifying_key: hub.verifying_key.clone(),
            mode: HubMode::InProcess(Some(Box::new(hub))),
        }
    }

    /// Start one hub process per configuration; with more than one, put
    /// a balancer in front of their network and log listeners.
    async fn processes(
        binary: &Path,
        configs: &[(PathBuf, HubSettings)],
        database_url: Option<String>,
        process_env: &[(String, String)],
    ) -> Result<Self> {
        let first = &configs.first().context("no hub configuration")?.1;
        let verifying_key =
            match PublicKeyFile::parse(&std::fs::read_to_string(first.signing_key.with_extension("pub"))?)? {
                PublicKeyFile::Verifying(k) => k,
                PublicKeyFile::Sealing(_) => bail!("the hub's signing.pub is not a signing key"),
            };
        let mut balancers = Vec::new();
        let (network, log) = if configs.len() == 1 {
            (first.listen, first.log.listen)
        } else {
            let any = SocketAddr::from(([127, 0, 0, 1], 0));
            let net = renkei_transport::balancer::Balancer::start(
                any,
                configs.iter().map(|(_, s)| s.listen).collect(),
            )
            .await?;
            let log = renkei_transport::balancer::Balancer::start(
                any,
                configs.iter().map(|(_, s)| s.log.listen).collect(),
            )
            .await?;
            let addrs = (net.addr, log.addr);
            balancers.push(net);
            balancers.push(log);
            addrs
        };
        let log_dir = configs[0]
            .0
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut h = Self {
            network_url: format!("https://{network}"),
            admin_url: format!("https://{}", first.admin_listen),
            log_url: format!("https://{log}/log"),
            log_verifier: note_verifier(&first.log.key, false)?,
            verifying_key,
            mode: HubMode::Process {
                procs: configs
                    .iter()
                    .enumerate()
                    .map(|(i, (config, s))| {
                        let mut process = RoleProcess::serving(
                            format!("hub-process-{i}"),
                            binary,
                            "hub",
                            config,
                            vec![s.listen, s.admin_listen, s.log.listen],
                            &log_dir,
                        );
                        if let Some(url) = &database_url {
                            process.env.push(("RENKEI_DATABASE_URL".into(), url.into()));
                        }
                        process
                            .env
                            .extend(process_env.iter().map(|(k, v)| (k.into(), v.into())));
                        HubProcess {
                            process,
                            admin_url: format!("https://{}", s.admin_listen),
                        }
                    })
                    .collect(),
                balancers,
            },
        };
        h.restart().await?;
        Ok(h)
    }

    /// The network address (the balancer's, with several hubs).
    pub fn url(&self) -> String {
        self.network_url.clone()
    }

    /// The first hub's admin API (every hub's admin sees the same store).
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    /// The operating-system ids of the hub processes that are running.
    pub fn process_ids(&self) -> Vec<u32> {
        match &self.mode {
            HubMode::InProcess(_) => Vec::new(),
            HubMode::Process { procs, .. } => procs.iter().filter_map(|p| p.process.pid()).collect(),
        }
    }

    /// Hub `i`'s admin API.
    pub fn process_admin_url(&self, i: usize) -> Option<String> {
        match &self.mode {
            HubMode::InProcess(_) => (i == 0).then(|| self.admin_url.clone()),
            HubMode::Process { procs, .. } => procs.get(i).map(|p| p.admin_url.clone()),
        }
    }

    /// The public log's URL prefix.
    pub fn log_url(&self) -> String {
        self.log_url.clone()
    }

    /// SIGKILL every hub process (a crash, mid-request).
    pub fn kill(&mut self) -> Result<()> {
        let n = match &self.mode {
            HubMode::InProcess(_) => 1,
            HubMode::Process { procs, .. } => procs.len(),
        };
        (0..n).try_for_each(|i| self.kill_process(i))
    }

    /// SIGKILL hub process `i`.
    pub fn kill_process(&mut self, i: usize) -> Result<()> {
        self.process_mut(i)?.kill()
    }

    /// Hub process `i`, to change how it starts next (its store, a
    /// wrapper command).
    pub fn process_mut(&mut self, i: usize) -> Result<&mut RoleProcess> {
        match &mut self.mode {
            HubMode::InProcess(_) => {
                bail!("the hub runs in this process; start the network with hub_binary to kill it")
            }
            HubMode::Process { procs, .. } => {
                Ok(&mut procs.get_mut(i).context("no such hub process")?.process)
            }
        }
    }

    /// Start every hub process that is not running again on its
    /// configuration and wait until each listens.
    pub async fn restart(&mut self) -> Result<()> {
        if let HubMode::Process { procs, .. } = &mut self.mode {
            for p in procs.iter_mut() {
                p.process.start().await?;
            }
        }
        Ok(())
    }

    /// Stop the hub: in this process gracefully, as processes by SIGKILL.
    pub async fn shutdown(mut self, grace: Duration) {
        match &mut self.mode {
            HubMode::InProcess(h) => {
                if let Some(h) = h.take() {
                    h.shutdown(grace).await;
                }
            }
            HubMode::Process { balancers, .. } => {
                for b in balancers.drain(..) {
                    b.stop();
                }
                let _ = self.kill();
            }
        }
    }
}
