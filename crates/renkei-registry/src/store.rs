use std::future::Future;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevokedCard};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CorporateNumber, FourFacts, InstitutionCode, LinkId, MessageId,
    MyNumber,
};
use renkei_protocol::{NodeRecord, StoreError, UnixMillis};

use crate::card::{Card, CardAction, CardActionRefusal, CardCert, CardId, NewCard};
use crate::model::{Resident, StoredEvent};
use crate::residence::AddressPeriod;

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

    /// Change the address and record the event in one transaction, in
    /// which the signing certificates of the person's cards are revoked
    /// (the address is one of the facts they certify); `Ok(None)` if no
    /// resident has this number.
    /// The event records the day of the move and the address left with
    /// its own start (the residence history, see [`RegistryStore::addresses_left`]).
    fn change_address(
        &self,
        my_number: MyNumber,
        new_address: Address,
        moved_on: BirthDate,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The addresses the person left, oldest first, from their address
    /// changes (events recorded before the register kept the address left
    /// add nothing).
    fn addresses_left(
        &self,
        link: LinkId,
    ) -> impl Future<Output = Result<Vec<AddressPeriod>, StoreError>> + Send;

    /// Record a death: the event, and the person's cards ceased with all
    /// their certificates revoked, in one transaction.
    fn record_death(
        &self,
        my_number: MyNumber,
        date: BirthDate,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    fn resident_by_link(
        &self,
        link: LinkId,
    ) -> impl Future<Output = Result<Option<Resident>, StoreError>> + Send;

    /// Store a new card for the person, provided their facts are still
    /// `facts` (what the signing certificate certifies). An earlier card of
    /// the person that is not final is marked reissued and its certificates
    /// superseded, in the same transaction; its id is returned with the new
    /// card. `Err(Conflict)` if the facts changed meanwhile or a serial is
    /// taken (the caller issues again).
    fn insert_card(
        &self,
        card: NewCard,
        facts: FourFacts,
    ) -> impl Future<Output = Result<(Card, Option<CardId>), StoreError>> + Send;

    fn card(&self, id: CardId) -> impl Future<Output = Result<Option<Card>, StoreError>> + Send;

    /// The card holding the certificate with this serial.
    fn card_by_serial(
        &self,
        serial: CardSerial,
    ) -> impl Future<Output = Result<Option<Card>, StoreError>> + Send;

    /// The person's cards, newest first.
    fn cards_of(&self, link: LinkId) -> impl Future<Output = Result<Vec<Card>, StoreError>> + Send;

    /// Suspend, resume or report lost; `Ok(None)` if there is no such card.
    fn card_action(
        &self,
        id: CardId,
        action: CardAction,
        at: UnixMillis,
    ) -> impl Future<Output = Result<Option<Result<Card, CardActionRefusal>>, StoreError>> + Send;

    /// Add a signing certificate to an active card whose holder's facts are
    /// still `facts`; the previous signing certificate, if still good, is
    /// superseded. `Err(Conflict)` as for [`RegistryStore::insert_card`].
    fn add_signing_cert(
        &self,
        id: CardId,
        cert: CardCert,
        facts: FourFacts,
    ) -> impl Future<Output = Result<Option<Result<Card, CardActionRefusal>>, StoreError>> + Send;

    /// What the CRL of one card CA lists (certificates that have not
    /// expired before `now`), and the list's version, which grows with
    /// every change to it (the CRL publisher re-signs when it moves).
    fn card_revocations(
        &self,
        profile: CardProfile,
        purpose: CertPurpose,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(u64, Vec<RevokedCard>), StoreError>> + Send;

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

    /// The requests answered as a provider whose records completed at or
    /// after `since`: (requester, message id, completion time). A provider
    /// re-arms its once-only check from these after a restart.
    fn recent_provided(
        &self,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Vec<(CorporateNumber, MessageId, UnixMillis)>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    pub residents: u64,
    pub events: u64,
    pub acquisitions: u64,
    pub cards: u64,
}
