//! The citizen portal (Mynaportal role) over HTTP.
//!
//! Server-rendered pages (askama), Japanese by default with an English
//! switch, usable on a 360-px screen; a little JavaScript only polls for
//! the card's approval. The portal is a business system of the Digital
//! Agency's node: every fact about a person comes through that node (and
//! the hub and the registry behind it), live; what the portal keeps itself
//! — challenges, sessions, proxies — is in its own store
//! ([`renkei_portal::PortalStore`]).
//!
//! * `/login`: a challenge shown as a code and a QR code; the card app
//!   ([`cardapp::CardApp`], `renkei card approve`) signs it; the browser
//!   that asked — and only it — gets a new session.
//! * Sensitive actions (the public-fund account, proxies) are staged and
//!   commit only once the person's card confirms them.
//! * `/api/card/v1/challenges/{code}`: the card app's API.
//! * The admin listener: guardianships, health, metrics.

mod account;
mod admin;
mod backend;
pub mod card_api;
pub mod cardapp;
mod chart;
mod clients;
mod consents;
pub mod deposits;
pub mod i18n;
pub mod mailbox;
mod network_mail;
mod oauth;
mod pages;
mod proxies;
mod qr;
mod routes;
pub mod sender_client;
mod senders;
pub mod settings;
mod ssrf;
mod state;
mod templates;
mod web;

pub use admin::{GuardianRegistered, GuardianRequest, PortalStateView};
pub use clients::{AlertView, ClientActionRequest, ClientView, ClientWithEvents, UsageCounts, UsageView};
pub use senders::{SenderView, SenderWithEvents};

/// What the portal role keeps: its own records and the consent API's.
pub trait Store:
    renkei_portal::PortalStore + renkei_consent::ConsentStore + renkei_delivery::DeliveryStore
{
}

impl<T: renkei_portal::PortalStore + renkei_consent::ConsentStore + renkei_delivery::DeliveryStore> Store
    for T
{
}
pub use settings::{InstitutionName, PortalSettings, Source};
pub use state::{Listener, RunningPortal, start_portal};
