//! The self-information API as pure logic.
//!
//! A private service applies as an [`ApiClient`], is screened by an
//! administrator and may later be suspended, revoked or transferred to a
//! successor corporation; every change is a [`ClientEvent`]. What it asks
//! a person for is a Rich Authorization Request of type
//! `self_information` ([`SelfInformation`]), checked against what it was
//! approved for. Nothing here does I/O: [`ConsentStore`] is what the portal
//! keeps, implemented by `renkei-store-sqlite`.

mod client;
mod flow;
mod grant;
#[doc(hidden)]
pub mod ids;
mod monitor;
mod rar;
mod records;
mod store;

pub use client::{
    Actor, ApiClient, Application, ApplicationError, ApplicationForm, ClientAction, ClientApplication,
    ClientAuth, ClientEvent, ClientId, ClientKeys, ClientStatus, MAX_DATA_LIFE_DAYS, Screened,
    ScreeningEvent, TransitionError, apply, check_redirect_uri, checked_organisation, checked_text,
    screening_transition,
};
pub use flow::{
    ACCESS_TOKEN_TTL_MS, ASSERTION_MAX_LIFETIME_MS, AssertionOk, AuthorizationRequest, CLIENT_ASSERTION_TYPE,
    CODE_TTL_MS, DPOP_MAX_AGE_MS, DpopOk, OAuthError, Params, REQUEST_URI_PREFIX, REQUEST_URI_TTL_MS,
    SKEW_MS, check_assertion, check_dpop, check_par, check_pkce,
};
pub use grant::{Grant, GrantId, ONE_TIME_VALIDITY_MS, RevokedBy, artefact_claims};
pub use monitor::{Admission, Alert, ClientWatch, MonitorPolicy};
pub use rar::{
    Frequency, MAX_PERIOD_YEARS, MAX_PERIODIC_DAYS, RarError, SELF_INFORMATION, SelfInformation, parse_days,
};
pub use records::{
    ClientAlert, CodeRecord, CodeRedemption, DELIVERY_LEASE_MS, DeliveryClaim, FetchOutcome, FetchRecord,
    PushedRequest, RefreshRedemption, SecretDigest, TokenRecord, Usage,
};
pub use store::ConsentStore;

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod tests;
