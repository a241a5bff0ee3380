//! The resident registry as pure logic.
//!
//! The registry is the only role that holds My Numbers together with
//! people. It issues them, keeps the four basic facts, and — when an
//! institution asks for a person's institution code — checks the facts the
//! institution has on file **exactly**, address included, before the hub's code service is asked for the code.

pub mod at_rest;
mod card;
mod model;
mod residence;
mod store;
mod throttle;

pub use card::{
    Card, CardAction, CardActionRefusal, CardCert, CardId, CardStatus, CertEffect, CertStanding, NewCard,
    apply_effect, plan_action, plan_reissue,
};
pub use model::{
    CodeRequestEntry, HouseholdId, IssuanceRefusal, NewResident, Resident, ResidentEvent, ResidentStatus,
    StatedFacts, StoredEvent, check_identity, four_facts_value,
};
pub use residence::{
    AddressPeriod, DirectoryError, Municipality, MunicipalityDirectory, RESIDENCE_ITEM, RESIDENCE_YEARS,
    address_on, residence_value,
};
pub use store::{RegistryCounts, RegistryStore};
pub use throttle::{MismatchPolicy, MismatchThrottle, Throttled};
