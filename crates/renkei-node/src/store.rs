use std::collections::HashSet;
use std::future::Future;

use renkei_catalog::ItemCode;
use renkei_ids::{CorporateNumber, InstitutionCode, LocalPersonId, MessageId};
use renkei_protocol::{FiscalYear, StoreError};

use renkei_protocol::NodeRecord;

use crate::deliveries::{AttemptOutcome, DeliveryId, Enqueued, IncomingDelivery, OutgoingDelivery};
use crate::filings::{FiledReport, Filing, FilingCounts, FilingId, FilingInsert, ReportRoute};
use crate::model::{EnrolledPerson, ItemValue, Notice};
use renkei_protocol::UnixMillis;

/// What a node keeps. Implementations: `renkei-store-sqlite`.
pub trait NodeStore: Send + Sync + 'static {
    /// Insert or replace enrolments (a re-enrolment after a code-key
    /// rotation replaces the code).
    fn enrol(&self, persons: Vec<EnrolledPerson>) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn code_of(
        &self,
        local_id: &LocalPersonId,
    ) -> impl Future<Output = Result<Option<InstitutionCode>, StoreError>> + Send;

    /// Enrolled persons in local-id order after `after`, for code refresh.
    fn persons_page(
        &self,
        after: Option<LocalPersonId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EnrolledPerson>, StoreError>> + Send;

    fn person_by_code(
        &self,
        code: &InstitutionCode,
    ) -> impl Future<Output = Result<Option<LocalPersonId>, StoreError>> + Send;

    /// Which of `ids` are enrolled.
    fn enrolled_among(
        &self,
        ids: Vec<LocalPersonId>,
    ) -> impl Future<Output = Result<HashSet<LocalPersonId>, StoreError>> + Send;

    /// Insert or replace all `items` in one transaction: all or nothing.
    fn import_items(&self, items: Vec<ItemValue>) -> impl Future<Output = Result<usize, StoreError>> + Send;

    fn item(
        &self,
        local_id: &LocalPersonId,
        item: &ItemCode,
        fiscal_year: Option<FiscalYear>,
    ) -> impl Future<Output = Result<Option<ItemValue>, StoreError>> + Send;

    /// Durable before it returns; returns the record's sequence number.
    fn append_record(&self, record: NodeRecord) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(u64, NodeRecord)>, StoreError>> + Send;

    /// The requests answered as a provider whose records completed at or
    /// after `since`: (requester, message id, completion time). A provider
    /// re-arms its once-only check from these after a restart.
    fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>> + Send;

    /// Keep a notice for a person (idempotent by notice id).
    fn store_notice(
        &self,
        local_id: &LocalPersonId,
        notice: Notice,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A person's notices, newest first.
    fn notices(
        &self,
        local_id: &LocalPersonId,
    ) -> impl Future<Output = Result<Vec<Notice>, StoreError>> + Send;

    /// Mark read; `false` if the person has no such notice.
    fn mark_notice_read(
        &self,
        local_id: &LocalPersonId,
        id: &str,
        at: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn counts(&self) -> impl Future<Output = Result<NodeCounts, StoreError>> + Send;

    /// Keep a new delivery in the outbox, durably, in one transaction —
    /// unless one with its id is there already, which is returned as it
    /// stands (the caller compares the content).
    fn enqueue_delivery(
        &self,
        delivery: OutgoingDelivery,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send;

    fn delivery(
        &self,
        id: &DeliveryId,
    ) -> impl Future<Output = Result<Option<OutgoingDelivery>, StoreError>> + Send;

    /// Deliveries in delivery-id order after `after`, of one status
    /// (`pending`, `delivered`, `refused`) or all.
    fn list_deliveries(
        &self,
        status: Option<&'static str>,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutgoingDelivery>, StoreError>> + Send;

    /// Pending deliveries due at `now`, the longest due first.
    fn due_deliveries(
        &self,
        now: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutgoingDelivery>, StoreError>> + Send;

    /// When the next pending delivery is due, if any is pending.
    fn next_delivery_due(&self) -> impl Future<Output = Result<Option<UnixMillis>, StoreError>> + Send;

    /// Count one more attempt of a pending delivery and keep its outcome;
    /// `false` if no pending delivery has this id (it was settled).
    fn delivery_attempted(
        &self,
        id: &DeliveryId,
        outcome: AttemptOutcome,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deliveries by status: (pending, delivered, refused).
    fn delivery_counts(&self) -> impl Future<Output = Result<(u64, u64, u64), StoreError>> + Send;

    /// Keep a received delivery in the inbox once per (sender, delivery
    /// id): its sequence number, and whether it is new (an existing one is
    /// left as it was).
    fn receive_delivery(
        &self,
        delivery: IncomingDelivery,
    ) -> impl Future<Output = Result<(u64, bool), StoreError>> + Send;

    /// The inbox after sequence number `after`, in order.
    fn inbox(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(u64, IncomingDelivery)>, StoreError>> + Send;

    /// Keep a filing and its reports in one transaction — unless a filing
    /// with its id is there already, which is returned as it stands.
    fn insert_filing(
        &self,
        filing: Filing,
        reports: Vec<FiledReport>,
    ) -> impl Future<Output = Result<FilingInsert, StoreError>> + Send;

    /// A filing and its reports counted by route.
    fn filing(
        &self,
        id: &FilingId,
    ) -> impl Future<Output = Result<Option<(Filing, FilingCounts)>, StoreError>> + Send;

    /// Up to `limit` reports still to route, by filing and line.
    fn pending_filed_reports(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FiledReport>, StoreError>> + Send;

    /// Settle a pending report's route; `false` if it is not pending.
    fn route_filed_report(
        &self,
        filing: &FilingId,
        line: u32,
        route: ReportRoute,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A filing's reports after line `after`, in line order.
    fn filed_reports(
        &self,
        filing: &FilingId,
        after: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FiledReport>, StoreError>> + Send;
}

/// Sizes, for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub persons: u64,
    pub items: u64,
    pub records: u64,
}
