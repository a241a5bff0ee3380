use std::future::Future;

use renkei_ids::LocalPersonId;
use renkei_protocol::{StoreError, UnixMillis};

use crate::{
    CardHolder, Challenge, Invitation, Proxy, ProxyAct, ProxyId, ProxyStatus, SecretHash, Session, ShortCode,
};

/// An action a session staged and that commits only once the person's
/// card has confirmed it (re-authentication at commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAction {
    pub id: SecretHash,
    pub session: SecretHash,
    /// The confirmation challenge's code.
    pub challenge: ShortCode,
    /// What to do, as the web layer encodes it (JSON).
    pub action: String,
    pub created_at: UnixMillis,
}

/// What the portal keeps. Implementations: `renkei-store-sqlite`.
pub trait PortalStore: Send + Sync + 'static {
    fn insert_challenge(&self, c: Challenge) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn challenge(
        &self,
        code: &ShortCode,
    ) -> impl Future<Output = Result<Option<Challenge>, StoreError>> + Send;

    /// Pending → Approved, only if still pending and not expired at `now`;
    /// `false` otherwise (already approved: a replayed signature).
    fn approve_challenge(
        &self,
        code: &ShortCode,
        holder: CardHolder,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Pending → Refused (a card signed another number than the page
    /// showed), only if still pending and not expired at `now`; `false`
    /// otherwise.
    fn refuse_challenge(
        &self,
        code: &ShortCode,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Approved → Used for the browser holding `binding`; the holder, once.
    fn take_challenge(
        &self,
        code: &ShortCode,
        binding: SecretHash,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<CardHolder>, StoreError>> + Send;

    fn insert_session(&self, s: Session) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn session(&self, id: SecretHash) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    fn touch_session(
        &self,
        id: SecretHash,
        now: UnixMillis,
        acting_for: Option<ProxyId>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn delete_session(&self, id: SecretHash) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remember the card a person last logged in with.
    fn record_login(
        &self,
        holder: &CardHolder,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The card a person last logged in with.
    fn last_card(
        &self,
        person: &LocalPersonId,
    ) -> impl Future<Output = Result<Option<CardHolder>, StoreError>> + Send;

    fn insert_pending(&self, p: PendingAction) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remove and return a staged action of `session`.
    fn take_pending(
        &self,
        id: SecretHash,
        session: SecretHash,
    ) -> impl Future<Output = Result<Option<PendingAction>, StoreError>> + Send;

    fn pending(
        &self,
        id: SecretHash,
    ) -> impl Future<Output = Result<Option<PendingAction>, StoreError>> + Send;

    /// Store a new proxy (its id is assigned here).
    fn insert_proxy(&self, p: Proxy) -> impl Future<Output = Result<Proxy, StoreError>> + Send;

    fn proxy(&self, id: ProxyId) -> impl Future<Output = Result<Option<Proxy>, StoreError>> + Send;

    /// Proxies where the person is principal or representative.
    fn proxies_of(
        &self,
        person: &LocalPersonId,
    ) -> impl Future<Output = Result<Vec<Proxy>, StoreError>> + Send;

    /// Replace status, cards and confirmation time, if the proxy is still
    /// in `expected` status (`false` if it changed meanwhile).
    fn update_proxy(
        &self,
        p: &Proxy,
        expected: ProxyStatus,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn insert_invitation(&self, i: Invitation) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remove and return an unexpired invitation.
    fn take_invitation(
        &self,
        code: &ShortCode,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<Invitation>, StoreError>> + Send;

    fn record_act(&self, act: ProxyAct) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Acts done for `principal`, newest first.
    fn acts_for(
        &self,
        principal: &LocalPersonId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ProxyAct>, StoreError>> + Send;

    /// Drop what has lapsed at `now`: challenges and invitations past
    /// their expiry, sessions and staged actions older than
    /// `session_max_ms` (an idle session stays until then, so that its
    /// browser is told it expired; it is refused all the same). How many
    /// rows in all.
    fn purge(
        &self,
        now: UnixMillis,
        session_max_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
