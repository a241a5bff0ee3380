//! The behavioural suite every backend runs, from its own test binary: one
//! check per store trait (and encryption at rest), generic over the store
//! traits and over a [`Backend`] that opens fresh stores.
//!
//! A backend's test binary implements [`Backend`] and writes
//! `renkei_store_sql::behavioural_suite!(TheBackend);`, which expands to one
//! `#[tokio::test]` per check. A backend that cannot run here (PostgreSQL
//! without `RENKEI_TEST_DATABASE_URL`) returns no place, and its checks
//! pass without running, saying so on stderr.
//!
//! Architecture invariant: a store backend changes no behaviour. A check
//! that fails on one backend only is a bug in that backend.

// The kit is test code: a failure stops the test with its backtrace, and
// a skipped backend says so.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

pub mod at_rest;
pub mod consent;
pub mod delivery;
pub mod hub;
pub mod node;
pub mod portal;
pub mod registry;
pub mod witness;

use std::future::Future;
use std::sync::Arc;

use renkei_consent::ConsentStore;
use renkei_crypto::{DataKey, DataKeyProblem};
use renkei_delivery::DeliveryStore;
use renkei_hub::HubStore;
use renkei_ids::CorporateNumber;
use renkei_node::NodeStore;
use renkei_portal::PortalStore;
use renkei_registry::RegistryStore;
use renkei_witness::WitnessStore;

/// A backend under test: where a fresh store goes, and how each store is
/// opened there.
pub trait Backend: Sized + Send + Sync + 'static {
    type Hub: HubStore + Clone + std::fmt::Debug;
    type Node: NodeStore + Clone + std::fmt::Debug;
    type Registry: RegistryStore + Clone + std::fmt::Debug;
    type Portal: PortalStore + ConsentStore + DeliveryStore + std::fmt::Debug;
    type Witness: WitnessStore + std::fmt::Debug;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether racing writers must all succeed or be refused for a reason
    /// of their own (PostgreSQL, where rows lock). SQLite may refuse a
    /// racing writer with "busy".
    const STRICT_RACES: bool;

    /// A fresh place for one store of the test `test` (a new private
    /// directory; a new schema), or `None` when this backend cannot run
    /// here.
    fn place(test: &str) -> impl Future<Output = Option<Self>> + Send;

    /// As [`place`](Backend::place), for checks that were written for
    /// stores that wait for the disk on every commit.
    fn durable_place(test: &str) -> impl Future<Output = Option<Self>> + Send {
        Self::place(test)
    }

    fn hub(&self) -> impl Future<Output = Result<Self::Hub, Self::Error>> + Send;
    fn node(&self, key: Option<&DataKey>) -> impl Future<Output = Result<Self::Node, Self::Error>> + Send;
    fn registry(
        &self,
        key: Option<&DataKey>,
    ) -> impl Future<Output = Result<Self::Registry, Self::Error>> + Send;
    fn portal(&self) -> impl Future<Output = Result<Self::Portal, Self::Error>> + Send;
    fn witness(&self) -> impl Future<Output = Result<Self::Witness, Self::Error>> + Send;

    /// The data-key problem an open was refused for, after checking what
    /// else the backend's error must say.
    fn key_problem(e: &Self::Error) -> Option<DataKeyProblem>;

    /// Run `sql` (statements separated by `;`) on this place's database,
    /// beside its store.
    fn execute(&self, sql: &str) -> impl Future<Output = ()> + Send;

    /// Everything this place holds, as bytes (the file and its WAL; every
    /// row of every table as text).
    fn bytes(&self) -> impl Future<Output = Vec<u8>> + Send;

    /// What only this backend refuses, checked on a node store after the
    /// node suite (which it must leave as it was).
    fn node_refusals(_: &Self::Node) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A fresh place, or `None` after saying why the check does not run.
pub(crate) async fn place<B: Backend>(test: &str) -> Option<B> {
    let p = B::place(test).await;
    if p.is_none() {
        eprintln!("{test}: this backend is not available here; not run");
    }
    p
}

pub(crate) fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

/// Run `n` copies of `f` at once; what each returned.
pub(crate) async fn race<S, T, F, Fut>(s: &Arc<S>, n: usize, f: F) -> Vec<T>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(Arc<S>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let fut = f(s.clone());
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// One `#[tokio::test]` per check of the suite, on `$backend` (a
/// [`Backend`]).
#[macro_export]
macro_rules! behavioural_suite {
    ($backend:ty) => {
        $crate::behavioural_suite!(@tests $backend;
            witness_store_behaves => witness::behaves,
            hub_store_behaves => hub::behaves,
            hub_records_are_dense_durable_and_round_trip => hub::records_are_dense_durable_and_round_trip,
            hub_institutions_round_trip_and_status_changes => hub::institutions_round_trip_and_status_changes,
            the_log_grows_with_the_records_and_survives_a_reopen => hub::the_log_grows_with_the_records_and_survives_a_reopen,
            node_store_behaves => node::behaves,
            node_store_encrypted_behaves => node::encrypted_behaves,
            node_enrolment_items_and_records => node::enrolment_items_and_records,
            registry_store_behaves => registry::behaves,
            registry_store_encrypted_behaves => registry::encrypted_behaves,
            registry_residents_codes_acquisitions_and_events => registry::residents_codes_acquisitions_and_events,
            portal_store_behaves => portal::behaves,
            out_of_range_proxy_ids_are_refused => portal::out_of_range_proxy_ids_are_refused,
            consent_store_behaves => consent::behaves,
            delivery_store_behaves => delivery::behaves,
            an_encrypted_registry_and_node_hold_nothing_personal_in_clear => at_rest::nothing_personal_in_clear,
            a_sealed_value_moved_to_another_row_does_not_open => at_rest::moved_values_do_not_open,
            a_store_opens_only_with_the_key_it_was_made_with => at_rest::opens_only_with_its_key,
        );
        $crate::behavioural_suite!(@racing $backend;
            portal_single_use_under_concurrency => portal::single_use_under_concurrency,
            consent_single_use_under_concurrency => consent::single_use_under_concurrency,
            node_outbox_and_inbox => node::outbox_and_inbox_behave,
            node_filings => node::filings_behave,
        );
    };
    (@tests $backend:ty; $($name:ident => $module:ident::$check:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::testkit::$module::$check::<$backend>().await;
            }
        )*
    };
    (@racing $backend:ty; $($name:ident => $module:ident::$check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::$module::$check::<$backend>().await;
            }
        )*
    };
}
