use std::future::Future;

use renkei_ids::{CorporateNumber, MessageId};
use renkei_protocol::{StoreError, UnixMillis};

use crate::institution::{Institution, InstitutionStatus};
use crate::record::{ProvisionRecord, RecordFilter, SecurityEvent};

/// What the hub keeps. Implementations: `renkei-store-sqlite` (embedded).
///
/// `append_record` must return only once the record is durable: the HTTP
/// layer answers the requester after it returns, and the law (and the
/// transparency log after it) requires that no acknowledged exchange is
/// ever missing from the records. Sequence numbers are dense from 0.
pub trait HubStore: Send + Sync + 'static {
    fn institutions(&self) -> impl Future<Output = Result<Vec<Institution>, StoreError>> + Send;

    fn upsert_institution(
        &self,
        institution: &Institution,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `Ok(false)` if there is no such institution.
    fn set_institution_status(
        &self,
        id: CorporateNumber,
        status: InstitutionStatus,
        at: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn append_record(&self, record: ProvisionRecord) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn records(
        &self,
        filter: RecordFilter,
    ) -> impl Future<Output = Result<Vec<(u64, ProvisionRecord)>, StoreError>> + Send;

    /// (requester, message id, requested at) of records requested at or
    /// after `since`, to rebuild the replay guard after a restart.
    fn recent_message_ids(
        &self,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>> + Send;

    fn append_security_event(
        &self,
        event: SecurityEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn security_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SecurityEvent>, StoreError>> + Send;
}
