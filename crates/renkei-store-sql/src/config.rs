//! One store configuration for every role: where its data lives (a SQLite
//! file, or a PostgreSQL database) and the one place that opens a role's
//! store on it.
//!
//! A role is generic over its store trait; the store a configuration
//! opens is [`Backend`], either backend's store behind one type, so that a
//! binary chooses the backend from its configuration without choosing the
//! type at every call site.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevokedCard};
use renkei_catalog::ItemCode;
use renkei_consent::{
    ApiClient, ClientAlert, ClientEvent, ClientId, ClientStatus, CodeRecord, CodeRedemption, ConsentStore,
    DeliveryClaim, FetchRecord, Grant, GrantId, PushedRequest, RefreshRedemption, RevokedBy, SecretDigest,
    TokenRecord, Usage,
};
use renkei_crypto::{DataKey, Digest32};
use renkei_delivery::{
    DeliveryHandle, DeliveryStore, Link, MailboxDocument, NetworkCursor, Receipt, Sender, SenderEvent,
    SenderId,
};
use renkei_hub::log::LogHead;
use renkei_hub::{
    HubStore, Institution, InstitutionStatus, ProvisionRecord, RecordFilter, SecurityEvent, SubjectTag,
};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CorporateNumber, FourFacts, InstitutionCode, LinkId,
    LocalPersonId, MessageId, MyNumber,
};
use renkei_log::hash::Hash;
use renkei_log::tree::NodeId;
use renkei_node::{
    AttemptOutcome, DeliveryId, Enqueued, EnrolledPerson, FiledReport, Filing, FilingCounts, FilingId,
    FilingInsert, IncomingDelivery, ItemValue, NodeCounts, NodeRecord, NodeStore, Notice, OutgoingDelivery,
    ReportRoute,
};
use renkei_portal::{
    CardHolder, Challenge, Invitation, PendingAction, PortalStore, Proxy, ProxyAct, ProxyId, ProxyStatus,
    SecretHash, Session, ShortCode,
};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};
use renkei_registry::{
    Card, CardAction, CardActionRefusal, CardCert, CardId, NewCard, RegistryCounts, RegistryStore, Resident,
    StoredEvent,
};
use renkei_witness::{Known, WitnessStore};

use crate::postgres::{PgHubStore, PgNodeStore, PgPortalStore, PgRegistryStore, PgWitnessStore};
use crate::sqlite::{
    Durability, SqliteHubStore, SqliteNodeStore, SqlitePortalStore, SqliteRegistryStore, SqliteWitnessStore,
};

/// Where a role keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// One SQLite file.
    Sqlite { path: PathBuf, durability: Durability },
    /// A PostgreSQL database (or a schema of one), by URL.
    Postgres { url: String },
}

impl StoreConfig {
    /// The database at `database_url` if there is one, else the SQLite
    /// file `sqlite_path`, synchronous (`Durability::Full`).
    pub fn new(database_url: Option<&str>, sqlite_path: PathBuf) -> Self {
        match database_url {
            Some(url) => StoreConfig::Postgres { url: url.to_owned() },
            None => StoreConfig::Sqlite {
                path: sqlite_path,
                durability: Durability::Full,
            },
        }
    }

    pub async fn open_hub(&self) -> Result<HubBackend, OpenError> {
        Ok(match self {
            StoreConfig::Sqlite { path, durability } => {
                Backend::Sqlite(SqliteHubStore::open(path, *durability).await?)
            }
            StoreConfig::Postgres { url } => Backend::Postgres(PgHubStore::open(url).await?),
        })
    }

    /// A node's store, with its data key if it has one.
    pub async fn open_node(&self, key: Option<&DataKey>) -> Result<NodeBackend, OpenError> {
        Ok(match self {
            StoreConfig::Sqlite { path, durability } => {
                Backend::Sqlite(SqliteNodeStore::open_with_key(path, *durability, key).await?)
            }
            StoreConfig::Postgres { url } => Backend::Postgres(PgNodeStore::open_with_key(url, key).await?),
        })
    }

    /// The registry's store, with its data key if it has one.
    pub async fn open_registry(&self, key: Option<&DataKey>) -> Result<RegistryBackend, OpenError> {
        Ok(match self {
            StoreConfig::Sqlite { path, durability } => {
                Backend::Sqlite(SqliteRegistryStore::open_with_key(path, *durability, key).await?)
            }
            StoreConfig::Postgres { url } => {
                Backend::Postgres(PgRegistryStore::open_with_key(url, key).await?)
            }
        })
    }

    pub async fn open_portal(&self) -> Result<PortalBackend, OpenError> {
        Ok(match self {
            StoreConfig::Sqlite { path, durability } => {
                Backend::Sqlite(SqlitePortalStore::open(path, *durability).await?)
            }
            StoreConfig::Postgres { url } => Backend::Postgres(PgPortalStore::open(url).await?),
        })
    }

    pub async fn open_witness(&self) -> Result<WitnessBackend, OpenError> {
        Ok(match self {
            StoreConfig::Sqlite { path, durability } => {
                Backend::Sqlite(SqliteWitnessStore::open(path, *durability).await?)
            }
            StoreConfig::Postgres { url } => Backend::Postgres(PgWitnessStore::open(url).await?),
        })
    }
}

/// Opening a configured store failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] crate::sqlite::DbError),
    #[error(transparent)]
    Postgres(#[from] crate::postgres::DbError),
}

/// A store on the backend a configuration chose: every store trait either
/// store has, by delegation.
#[derive(Debug, Clone)]
pub enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

pub type HubBackend = Backend<SqliteHubStore, PgHubStore>;
pub type NodeBackend = Backend<SqliteNodeStore, PgNodeStore>;
pub type RegistryBackend = Backend<SqliteRegistryStore, PgRegistryStore>;
/// The portal's store: portal and consent API.
pub type PortalBackend = Backend<SqlitePortalStore, PgPortalStore>;
pub type WitnessBackend = Backend<SqliteWitnessStore, PgWitnessStore>;

/// `async fn`s of a store trait that call the chosen store's.
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    Backend::Sqlite(s) => s.$name($($arg),*).await,
                    Backend::Postgres(s) => s.$name($($arg),*).await,
                }
            }
        )*
    };
}

impl<S: HubStore, P: HubStore> HubStore for Backend<S, P> {
    fn log_head(&self) -> LogHead {
        match self {
            Backend::Sqlite(s) => s.log_head(),
            Backend::Postgres(s) => s.log_head(),
        }
    }

    delegate! {
        fn institutions(&self) -> Result<Vec<Institution>, StoreError>;
        fn upsert_institution(&self, institution: &Institution) -> Result<(), StoreError>;
        fn set_institution_status(&self, id: CorporateNumber, status: InstitutionStatus, at: UnixMillis) -> Result<bool, StoreError>;
        fn append_record(&self, record: ProvisionRecord) -> Result<u64, StoreError>;
        fn records(&self, filter: RecordFilter) -> Result<Vec<(u64, ProvisionRecord)>, StoreError>;
        fn recent_message_ids(&self, since: UnixMillis) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>;
        fn claim_message(&self, requester: CorporateNumber, id: MessageId, forget_after: UnixMillis) -> Result<bool, StoreError>;
        fn append_security_event(&self, event: SecurityEvent) -> Result<(), StoreError>;
        fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError>;
        fn refresh_log_head(&self) -> Result<LogHead, StoreError>;
        fn stored_hashes(&self, nodes: Vec<NodeId>) -> Result<HashMap<NodeId, Hash>, StoreError>;
        fn leaves_at(&self, seqs: Vec<u64>) -> Result<HashMap<u64, Option<Vec<u8>>>, StoreError>;
        fn leaves(&self, first: u64, count: u64) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
        fn publisher_lease(&self) -> Result<bool, StoreError>;
        fn save_checkpoint(&self, size: u64, note: String, at: UnixMillis) -> Result<(), StoreError>;
        fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;
        fn checkpoint_at_or_before(&self, at: UnixMillis) -> Result<Option<(u64, String)>, StoreError>;
        fn prune_below(&self, min_index: u64, checkpoint: String, at: UnixMillis) -> Result<u64, StoreError>;
        fn pruned_below(&self) -> Result<Option<(u64, String)>, StoreError>;
        fn save_person_token(&self, token_hash: Digest32, subject: SubjectTag, at: UnixMillis) -> Result<(), StoreError>;
        fn subject_for_token(&self, token_hash: Digest32) -> Result<Option<SubjectTag>, StoreError>;
    }
}

impl<S: NodeStore, P: NodeStore> NodeStore for Backend<S, P> {
    delegate! {
        fn enrol(&self, persons: Vec<EnrolledPerson>) -> Result<(), StoreError>;
        fn code_of(&self, local_id: &LocalPersonId) -> Result<Option<InstitutionCode>, StoreError>;
        fn persons_page(&self, after: Option<LocalPersonId>, limit: u32) -> Result<Vec<EnrolledPerson>, StoreError>;
        fn person_by_code(&self, code: &InstitutionCode) -> Result<Option<LocalPersonId>, StoreError>;
        fn enrolled_among(&self, ids: Vec<LocalPersonId>) -> Result<HashSet<LocalPersonId>, StoreError>;
        fn import_items(&self, items: Vec<ItemValue>) -> Result<usize, StoreError>;
        fn item(&self, local_id: &LocalPersonId, item: &ItemCode, fiscal_year: Option<FiscalYear>) -> Result<Option<ItemValue>, StoreError>;
        fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError>;
        fn records(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<(u64, NodeRecord)>, StoreError>;
        fn recent_provided(&self, since: UnixMillis) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>;
        fn store_notice(&self, local_id: &LocalPersonId, notice: Notice) -> Result<(), StoreError>;
        fn notices(&self, local_id: &LocalPersonId) -> Result<Vec<Notice>, StoreError>;
        fn mark_notice_read(&self, local_id: &LocalPersonId, id: &str, at: UnixMillis) -> Result<bool, StoreError>;
        fn counts(&self) -> Result<NodeCounts, StoreError>;
        fn enqueue_delivery(&self, delivery: OutgoingDelivery) -> Result<Enqueued, StoreError>;
        fn delivery(&self, id: &DeliveryId) -> Result<Option<OutgoingDelivery>, StoreError>;
        fn list_deliveries(&self, status: Option<&'static str>, after: Option<DeliveryId>, limit: u32) -> Result<Vec<OutgoingDelivery>, StoreError>;
        fn due_deliveries(&self, now: UnixMillis, limit: u32) -> Result<Vec<OutgoingDelivery>, StoreError>;
        fn next_delivery_due(&self) -> Result<Option<UnixMillis>, StoreError>;
        fn delivery_attempted(&self, id: &DeliveryId, outcome: AttemptOutcome) -> Result<bool, StoreError>;
        fn delivery_counts(&self) -> Result<(u64, u64, u64), StoreError>;
        fn receive_delivery(&self, delivery: IncomingDelivery) -> Result<(u64, bool), StoreError>;
        fn inbox(&self, after: Option<u64>, limit: u32) -> Result<Vec<(u64, IncomingDelivery)>, StoreError>;
        fn insert_filing(&self, filing: Filing, reports: Vec<FiledReport>) -> Result<FilingInsert, StoreError>;
        fn filing(&self, id: &FilingId) -> Result<Option<(Filing, FilingCounts)>, StoreError>;
        fn pending_filed_reports(&self, limit: u32) -> Result<Vec<FiledReport>, StoreError>;
        fn route_filed_report(&self, filing: &FilingId, line: u32, route: ReportRoute) -> Result<bool, StoreError>;
        fn filed_reports(&self, filing: &FilingId, after: u32, limit: u32) -> Result<Vec<FiledReport>, StoreError>;
    }
}

impl<S: RegistryStore, P: RegistryStore> RegistryStore for Backend<S, P> {
    delegate! {
        fn register(&self, residents: Vec<Resident>) -> Result<(), StoreError>;
        fn by_my_numbers(&self, numbers: Vec<MyNumber>) -> Result<Vec<Option<Resident>>, StoreError>;
        fn by_own_code(&self, code: &InstitutionCode) -> Result<Option<Resident>, StoreError>;
        fn set_own_codes(&self, codes: Vec<(LinkId, InstitutionCode)>) -> Result<(), StoreError>;
        fn without_own_code(&self, limit: u32) -> Result<Vec<LinkId>, StoreError>;
        fn link_ids_page(&self, after: Option<LinkId>, limit: u32) -> Result<Vec<LinkId>, StoreError>;
        fn claim_acquisition_numbers(&self, institution: CorporateNumber, numbers: Vec<AcquisitionNumber>, at: UnixMillis) -> Result<Vec<bool>, StoreError>;
        fn change_address(&self, my_number: MyNumber, new_address: Address, moved_on: BirthDate, at: UnixMillis) -> Result<Option<u64>, StoreError>;
        fn addresses_left(&self, link: LinkId) -> Result<Vec<renkei_registry::AddressPeriod>, StoreError>;
        fn record_death(&self, my_number: MyNumber, date: BirthDate, at: UnixMillis) -> Result<Option<u64>, StoreError>;
        fn resident_by_link(&self, link: LinkId) -> Result<Option<Resident>, StoreError>;
        fn insert_card(&self, card: NewCard, facts: FourFacts) -> Result<(Card, Option<CardId>), StoreError>;
        fn card(&self, id: CardId) -> Result<Option<Card>, StoreError>;
        fn card_by_serial(&self, serial: CardSerial) -> Result<Option<Card>, StoreError>;
        fn cards_of(&self, link: LinkId) -> Result<Vec<Card>, StoreError>;
        fn card_action(&self, id: CardId, action: CardAction, at: UnixMillis) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError>;
        fn add_signing_cert(&self, id: CardId, cert: CardCert, facts: FourFacts) -> Result<Option<Result<Card, CardActionRefusal>>, StoreError>;
        fn card_revocations(&self, profile: CardProfile, purpose: CertPurpose, now: UnixMillis) -> Result<(u64, Vec<RevokedCard>), StoreError>;
        fn events(&self, after_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;
        fn counts(&self) -> Result<RegistryCounts, StoreError>;
        fn append_record(&self, record: NodeRecord) -> Result<u64, StoreError>;
        fn records(&self, after_seq: Option<u64>, limit: u32) -> Result<Vec<(u64, NodeRecord)>, StoreError>;
        fn recent_provided(&self, since: UnixMillis) -> Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>;
    }
}

impl<S: PortalStore, P: PortalStore> PortalStore for Backend<S, P> {
    delegate! {
        fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError>;
        fn challenge(&self, code: &ShortCode) -> Result<Option<Challenge>, StoreError>;
        fn approve_challenge(&self, code: &ShortCode, holder: CardHolder, now: UnixMillis) -> Result<bool, StoreError>;
        fn refuse_challenge(&self, code: &ShortCode, now: UnixMillis) -> Result<bool, StoreError>;
        fn take_challenge(&self, code: &ShortCode, binding: SecretHash, now: UnixMillis) -> Result<Option<CardHolder>, StoreError>;
        fn insert_session(&self, s: Session) -> Result<(), StoreError>;
        fn session(&self, id: SecretHash) -> Result<Option<Session>, StoreError>;
        fn touch_session(&self, id: SecretHash, now: UnixMillis, acting_for: Option<ProxyId>) -> Result<(), StoreError>;
        fn delete_session(&self, id: SecretHash) -> Result<(), StoreError>;
        fn record_login(&self, holder: &CardHolder, now: UnixMillis) -> Result<(), StoreError>;
        fn last_card(&self, person: &LocalPersonId) -> Result<Option<CardHolder>, StoreError>;
        fn insert_pending(&self, p: PendingAction) -> Result<(), StoreError>;
        fn take_pending(&self, id: SecretHash, session: SecretHash) -> Result<Option<PendingAction>, StoreError>;
        fn pending(&self, id: SecretHash) -> Result<Option<PendingAction>, StoreError>;
        fn insert_proxy(&self, p: Proxy) -> Result<Proxy, StoreError>;
        fn proxy(&self, id: ProxyId) -> Result<Option<Proxy>, StoreError>;
        fn proxies_of(&self, person: &LocalPersonId) -> Result<Vec<Proxy>, StoreError>;
        fn update_proxy(&self, p: &Proxy, expected: ProxyStatus) -> Result<bool, StoreError>;
        fn insert_invitation(&self, i: Invitation) -> Result<(), StoreError>;
        fn take_invitation(&self, code: &ShortCode, now: UnixMillis) -> Result<Option<Invitation>, StoreError>;
        fn record_act(&self, act: ProxyAct) -> Result<(), StoreError>;
        fn acts_for(&self, principal: &LocalPersonId, limit: u32) -> Result<Vec<ProxyAct>, StoreError>;
        fn purge(&self, now: UnixMillis, session_max_ms: i64) -> Result<u64, StoreError>;
    }
}

impl<S: ConsentStore, P: ConsentStore> ConsentStore for Backend<S, P> {
    delegate! {
        fn insert_client(&self, client: &ApiClient, event: &ClientEvent) -> Result<(), StoreError>;
        fn client(&self, id: &ClientId) -> Result<Option<ApiClient>, StoreError>;
        fn clients(&self) -> Result<Vec<ApiClient>, StoreError>;
        fn update_client(&self, next: &ApiClient, expected: ClientStatus, event: &ClientEvent) -> Result<bool, StoreError>;
        fn client_events(&self, id: &ClientId) -> Result<Vec<ClientEvent>, StoreError>;
        fn insert_request(&self, r: &PushedRequest) -> Result<(), StoreError>;
        fn request(&self, uri: &SecretDigest, now: UnixMillis) -> Result<Option<PushedRequest>, StoreError>;
        fn insert_grant(&self, request: &SecretDigest, grant: &Grant, code: &CodeRecord) -> Result<bool, StoreError>;
        fn redeem_code(&self, code: &SecretDigest, now: UnixMillis) -> Result<CodeRedemption, StoreError>;
        fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError>;
        fn insert_refresh(&self, t: &TokenRecord) -> Result<(), StoreError>;
        fn redeem_refresh(&self, token: &SecretDigest, jkt: &str) -> Result<RefreshRedemption, StoreError>;
        fn token(&self, token: &SecretDigest) -> Result<Option<TokenRecord>, StoreError>;
        fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError>;
        fn grants_of(&self, person: &LocalPersonId) -> Result<Vec<Grant>, StoreError>;
        fn revoke_grant(&self, id: &GrantId, by: RevokedBy, now: UnixMillis) -> Result<bool, StoreError>;
        fn remember_once(&self, scope: &str, value: &str, until: UnixMillis, now: UnixMillis) -> Result<bool, StoreError>;
        fn record_fetch(&self, f: &FetchRecord) -> Result<(), StoreError>;
        fn fetches_of(&self, grant: &GrantId) -> Result<Vec<FetchRecord>, StoreError>;
        fn claim_delivery(&self, grant: &GrantId, claim: &str, now: UnixMillis, lease_ms: i64) -> Result<DeliveryClaim, StoreError>;
        fn complete_delivery(&self, grant: &GrantId, claim: &str, f: &FetchRecord) -> Result<bool, StoreError>;
        fn release_delivery(&self, grant: &GrantId, claim: &str, f: &FetchRecord) -> Result<(), StoreError>;
        fn insert_alert(&self, a: &ClientAlert) -> Result<(), StoreError>;
        fn alerts(&self, client: Option<&ClientId>, limit: u32) -> Result<Vec<ClientAlert>, StoreError>;
        fn usage(&self, client: &ClientId, since: UnixMillis) -> Result<Usage, StoreError>;
    }
}

impl<S: DeliveryStore, P: DeliveryStore> DeliveryStore for Backend<S, P> {
    delegate! {
        fn insert_sender(&self, s: &Sender, event: &SenderEvent) -> Result<(), StoreError>;
        fn sender(&self, id: &SenderId) -> Result<Option<Sender>, StoreError>;
        fn senders(&self) -> Result<Vec<Sender>, StoreError>;
        fn update_sender(&self, next: &Sender, expected: ClientStatus, event: &SenderEvent) -> Result<bool, StoreError>;
        fn sender_events(&self, id: &SenderId) -> Result<Vec<SenderEvent>, StoreError>;
        fn link(&self, sender: &SenderId, person: &LocalPersonId, handle: &DeliveryHandle, reference: Option<&str>, now: UnixMillis) -> Result<(), StoreError>;
        fn unlink(&self, sender: &SenderId, person: &LocalPersonId, now: UnixMillis) -> Result<bool, StoreError>;
        fn linked_person(&self, sender: &SenderId, handle: &DeliveryHandle) -> Result<Option<LocalPersonId>, StoreError>;
        fn links(&self, person: &LocalPersonId) -> Result<Vec<Link>, StoreError>;
        fn sender_links(&self, sender: &SenderId, since: UnixMillis, limit: u32) -> Result<Vec<Link>, StoreError>;
        fn receipts(&self, sender: &SenderId, since: UnixMillis, limit: u32) -> Result<Vec<Receipt>, StoreError>;
        fn document(&self, sender: &SenderId, document_id: &str) -> Result<Option<MailboxDocument>, StoreError>;
        fn store_document(&self, doc: &MailboxDocument) -> Result<bool, StoreError>;
        fn store_documents(&self, docs: &[MailboxDocument]) -> Result<bool, StoreError>;
        fn void_document(&self, sender: &SenderId, document_id: &str, reason: &str, at: UnixMillis) -> Result<bool, StoreError>;
        fn mailbox(&self, person: &LocalPersonId) -> Result<Vec<MailboxDocument>, StoreError>;
        fn open_document(&self, person: &LocalPersonId, sender: &SenderId, document_id: &str, now: UnixMillis) -> Result<Option<MailboxDocument>, StoreError>;
        fn delete_document(&self, person: &LocalPersonId, sender: &SenderId, document_id: &str, now: UnixMillis) -> Result<bool, StoreError>;
        fn network_cursor(&self, cursor: NetworkCursor) -> Result<u64, StoreError>;
        fn set_network_cursor(&self, cursor: NetworkCursor, after: u64) -> Result<(), StoreError>;
    }
}

impl<S: WitnessStore, P: WitnessStore> WitnessStore for Backend<S, P> {
    delegate! {
        fn known(&self, origin: &str) -> Result<Option<Known>, StoreError>;
        fn advance(&self, origin: &str, expected_size: Option<u64>, next: Known) -> Result<bool, StoreError>;
        fn record_split_view(&self, origin: &str, earlier_note: String, later_note: String) -> Result<(), StoreError>;
        fn split_views(&self) -> Result<Vec<(String, String, String)>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_database_url_chooses_postgres_else_the_sqlite_file() {
        assert_eq!(
            StoreConfig::new(Some("postgres://db/x"), "hub.sqlite".into()),
            StoreConfig::Postgres {
                url: "postgres://db/x".into()
            }
        );
        assert_eq!(
            StoreConfig::new(None, "hub.sqlite".into()),
            StoreConfig::Sqlite {
                path: "hub.sqlite".into(),
                durability: Durability::Full
            }
        );
    }

    #[tokio::test]
    async fn a_configured_store_serves_its_trait() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap();
        let config = StoreConfig::Sqlite {
            path: dir.path().join("w.sqlite"),
            durability: Durability::Normal,
        };
        let store = config.open_witness().await.unwrap();
        assert!(matches!(store, Backend::Sqlite(_)));
        let known = Known {
            size: 1,
            root: [1; 32],
            note: "n".into(),
        };
        assert!(store.advance("o", None, known.clone()).await.unwrap());
        assert_eq!(store.known("o").await.unwrap(), Some(known));
        let refused = StoreConfig::new(Some("mysql://x/y"), PathBuf::new())
            .open_hub()
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("not a PostgreSQL URL"), "{refused}");
    }
}
