use std::future::Future;

use std::collections::HashMap;

use renkei_crypto::Digest32;
use renkei_ids::{CorporateNumber, MessageId};
use renkei_log::hash::Hash;
use renkei_log::tree::NodeId;
use renkei_protocol::{StoreError, UnixMillis};

use crate::institution::{Institution, InstitutionStatus};
use crate::log::LogHead;
use crate::record::{ProvisionRecord, RecordFilter, SecurityEvent, SubjectTag};

/// What the hub keeps. Implementations: `renkei-store-sqlite` (embedded,
/// one hub process) and `renkei-store-postgres` (several hub processes on
/// one database serving one log).
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

    /// Claim a request's message id for every hub process sharing this
    /// store, until `forget_after` (inclusive: the last instant its
    /// timestamp is accepted); `Ok(false)` if it was already claimed (a
    /// replay sent to another hub, or before a restart). Claims are kept in
    /// the store, so a replay is caught after a restart too; the core's
    /// in-memory guard runs first and catches most replays without I/O.
    fn claim_message(
        &self,
        requester: CorporateNumber,
        id: MessageId,
        forget_after: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn append_security_event(
        &self,
        event: SecurityEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn security_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SecurityEvent>, StoreError>> + Send;

    // ---- the transparency log

    /// Size and root after the last durable append (in memory, no I/O).
    /// With several hub processes on one store, other hubs' appends show
    /// here after a short delay (the store follows them).
    fn log_head(&self) -> LogHead;

    /// The head as the store holds it now, other processes' appends
    /// included (for checks that must not race them).
    fn refresh_log_head(&self) -> impl Future<Output = Result<LogHead, StoreError>> + Send {
        async { Ok(self.log_head()) }
    }

    /// Stored node hashes (leaves and levels that are multiples of
    /// [`crate::log::STORED_STRIDE`]); missing ones are absent.
    fn stored_hashes(
        &self,
        nodes: Vec<NodeId>,
    ) -> impl Future<Output = Result<HashMap<NodeId, Hash>, StoreError>> + Send;

    /// Leaf bytes of the given entries (which must exist); `None` where pruned.
    fn leaves_at(
        &self,
        seqs: Vec<u64>,
    ) -> impl Future<Output = Result<HashMap<u64, Option<Vec<u8>>>, StoreError>> + Send;

    /// Leaf bytes of `count` entries from `first`; `None` where pruned.
    fn leaves(
        &self,
        first: u64,
        count: u64,
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, StoreError>> + Send;

    /// Whether this process should sign and publish checkpoints now. With
    /// several hubs on one store exactly one holds the lease at a time (and
    /// it passes on when that process dies); a store only one process uses
    /// always answers `true`.
    fn publisher_lease(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(true) }
    }

    /// Keep a signed checkpoint (replacing the note of that size, e.g. to
    /// add cosignatures).
    fn save_checkpoint(
        &self,
        size: u64,
        note: String,
        at: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn latest_checkpoint(&self) -> impl Future<Output = Result<Option<(u64, String)>, StoreError>> + Send;

    /// The newest checkpoint (size, note) saved at or before `at`: the
    /// proof that the entries below its size existed by then.
    fn checkpoint_at_or_before(
        &self,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<(u64, String)>, StoreError>> + Send;

    /// Prune by index: delete the leaf data and queryable record rows of
    /// every entry below `min_index` (a multiple of the entry-bundle width,
    /// at most the log's size); tree hashes stay. `checkpoint` is the
    /// signed checkpoint of size ≥ `min_index`, older than the retention
    /// period, that auditors check the age of the pruned entries by; it is
    /// published with `min_index`. The minimum index never decreases (a
    /// lower one changes nothing). Returns how many leaves lost their data.
    fn prune_below(
        &self,
        min_index: u64,
        checkpoint: String,
        at: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The minimum index and its checkpoint, once anything was pruned.
    fn pruned_below(&self) -> impl Future<Output = Result<Option<(u64, String)>, StoreError>> + Send;

    fn save_person_token(
        &self,
        token_hash: Digest32,
        subject: SubjectTag,
        at: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn subject_for_token(
        &self,
        token_hash: Digest32,
    ) -> impl Future<Output = Result<Option<SubjectTag>, StoreError>> + Send;
}
