use std::future::Future;

use renkei_ids::{AcquisitionNumber, Address, BirthDate, CorporateNumber, InstitutionCode, LinkId, MyNumber};
use renkei_protocol::{NodeRecord, StoreError, UnixMillis};

use crate::model::{Resident, StoredEvent};

/// What the registry keeps. Implementations: `renkei-store-sqlite`.
pub trait RegistryStore: Send + Sync + 'static {
    /// Insert all or none. `Err(Conflict)` if a My Number or resident
    /// record code is already taken (the caller draws new ones).
    fn register(&self, residents: Vec<Resident>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Residents by My Number, in the order asked (`None` if unknown).
    fn by_my_numbers(
        &self,
        numbers: Vec<MyNumber>,
    ) -> impl Future<Output = Result<Vec<Option<Resident>>, StoreError>> + Send;

    fn by_own_code(
        &self,
        code: &InstitutionCode,
    ) -> impl Future<Output = Result<Option<Resident>, StoreError>> + Send;

    fn set_own_codes(
        &self,
        codes: Vec<(LinkId, InstitutionCode)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Link ids of up to `limit` residents that have no own code yet.
    fn without_own_code(&self, limit: u32) -> impl Future<Output = Result<Vec<LinkId>, StoreError>> + Send;

    /// Link ids in order after `after`, to re-issue own codes after a
    /// code-key rotation.
    fn link_ids_page(
        &self,
        after: Option<LinkId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LinkId>, StoreError>> + Send;

    /// Claim acquisition numbers for an institution; `false` for each one
    /// it had already used. One-off numbers are what make a delivered code
    /// impossible to pair with anything else.
    fn claim_acquisition_numbers(
        &self,
        institution: CorporateNumber,
        numbers: Vec<AcquisitionNumber>,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Change the address and record the event in one transaction;
    /// `Ok(None)` if no resident has this number.
    fn change_address(
        &self,
        my_number: MyNumber,
        new_address: Address,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    fn record_death(
        &self,
        my_number: MyNumber,
        date: BirthDate,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    fn events(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    fn counts(&self) -> impl Future<Output = Result<RegistryCounts, StoreError>> + Send;

    /// The registry's own provision record as a provider; durable before
    /// it returns.
    fn append_record(&self, record: NodeRecord) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn records(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(u64, NodeRecord)>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    pub residents: u64,
    pub events: u64,
    pub acquisitions: u64,
}
