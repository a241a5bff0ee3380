use std::future::Future;

use renkei_protocol::StoreError;

use renkei_ids::LocalPersonId;
use renkei_protocol::UnixMillis;

use crate::records::{
    ClientAlert, CodeRecord, CodeRedemption, DeliveryClaim, FetchRecord, PushedRequest, RefreshRedemption,
    SecretDigest, TokenRecord, Usage,
};
use crate::{ApiClient, ClientEvent, ClientId, ClientStatus, Grant, GrantId, RevokedBy};

/// What the consent API keeps. Implementations: `renkei-store-sqlite`.
pub trait ConsentStore: Send + Sync + 'static {
    /// A new application and its `applied` event, together.
    fn insert_client(
        &self,
        client: &ApiClient,
        event: &ClientEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<ApiClient>, StoreError>> + Send;

    fn clients(&self) -> impl Future<Output = Result<Vec<ApiClient>, StoreError>> + Send;

    /// Store `next` and its event, only if the client is still in status
    /// `expected` (two administrators acting at once cannot both win);
    /// `false` if it was not.
    fn update_client(
        &self,
        next: &ApiClient,
        expected: ClientStatus,
        event: &ClientEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every change of a client, oldest first.
    fn client_events(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Vec<ClientEvent>, StoreError>> + Send;

    fn insert_request(&self, r: &PushedRequest) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A pushed request still unused and unexpired at `now`.
    fn request(
        &self,
        uri: &SecretDigest,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<PushedRequest>, StoreError>> + Send;

    /// Store the consent, its code, and mark the request used — together,
    /// and only if the request was still unused (`false` otherwise).
    fn insert_grant(
        &self,
        request: &SecretDigest,
        grant: &Grant,
        code: &CodeRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Spend a code. A second use answers `Replayed`; the caller revokes.
    fn redeem_code(
        &self,
        code: &SecretDigest,
        now: UnixMillis,
    ) -> impl Future<Output = Result<CodeRedemption, StoreError>> + Send;

    fn insert_token(&self, t: &TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A refresh token (periodic consents): bound like the access token.
    fn insert_refresh(&self, t: &TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spend a refresh token presented with the DPoP key `jkt` (they
    /// rotate). A second use answers `Replayed`; the caller revokes the
    /// grant.
    fn redeem_refresh(
        &self,
        token: &SecretDigest,
        jkt: &str,
    ) -> impl Future<Output = Result<RefreshRedemption, StoreError>> + Send;

    /// An unrevoked token.
    fn token(
        &self,
        token: &SecretDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    fn grant(&self, id: &GrantId) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;

    /// A person's consents, newest first.
    fn grants_of(
        &self,
        person: &LocalPersonId,
    ) -> impl Future<Output = Result<Vec<Grant>, StoreError>> + Send;

    /// End a consent and every token issued under it; `false` if it had
    /// ended already.
    fn revoke_grant(
        &self,
        id: &GrantId,
        by: RevokedBy,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Remember a one-time value (a `jti`) in `scope` until `until`;
    /// `false` if it was seen before (a replay).
    fn remember_once(
        &self,
        scope: &str,
        value: &str,
        until: UnixMillis,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn record_fetch(&self, f: &FetchRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Fetches under a grant, oldest first.
    fn fetches_of(
        &self,
        grant: &GrantId,
    ) -> impl Future<Output = Result<Vec<FetchRecord>, StoreError>> + Send;

    /// Claim the single delivery of a one-time consent before gathering
    /// anything, under `claim` (a random value of the caller's): atomic,
    /// so of concurrent callers exactly one is answered `Claimed`. A claim
    /// older than `lease_ms` at `now` (its holder died) may be taken over.
    fn claim_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> impl Future<Output = Result<DeliveryClaim, StoreError>> + Send;

    /// Mark the delivery done and record the fetch `f`, together — only
    /// if `claim` still holds it; `false` (nothing changed) if it does not,
    /// and then the caller must not deliver.
    fn complete_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        f: &FetchRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gathering failed: give the claim up (if `claim` still holds it) so
    /// that the client can try again, and record the fetch `f`, together.
    fn release_delivery(
        &self,
        grant: &GrantId,
        claim: &str,
        f: &FetchRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn insert_alert(&self, a: &ClientAlert) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Alerts, newest first; of one client when given.
    fn alerts(
        &self,
        client: Option<&ClientId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ClientAlert>, StoreError>> + Send;

    /// A client's fetches by outcome since `since`.
    fn usage(
        &self,
        client: &ClientId,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Usage, StoreError>> + Send;
}
