use std::future::Future;

use renkei_protocol::StoreError;

use crate::{ApiClient, ClientEvent, ClientId, ClientStatus};

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
}
