//! An optional relay of the registry's outbox to NATS JetStream.
//!
//! The registry records change events (an address changed, a person died)
//! in its store, in the same transaction as the change: that table is the
//! outbox. For fan-out at scale a broker can carry
//! them on; this crate publishes them to a JetStream stream, **at least
//! once, deduplicated, in order**. It is never required: a registry
//! without an `[outbox]` table runs no relay, and a relay that cannot
//! reach NATS only logs and retries — the events wait in the outbox.
//!
//! What is published is [`OutboxEvent`]: seq, kind and time, as the admin
//! API's `/admin/v1/events` shows them. The person never leaves the
//! registry.
//!
//! No HTTP and no SQL here: the relay reads any [`EventSource`];
//! [`RegistryEvents`] adapts a [`renkei_registry::RegistryStore`].

mod relay;
mod settings;
mod source;

pub use relay::{Relay, RelayError, RelayHandle, RelayOptions, RelayStatus, RelayWaker};
pub use settings::{ConfigError, DEFAULT_STREAM, DEFAULT_SUBJECT, OutboxSettings};
pub use source::{EventSource, OutboxEvent, RegistryEvents, message_id, seq_of_message_id};
