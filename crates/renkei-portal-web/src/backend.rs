//! Everything the portal asks of others: the Digital Agency's node (whose
//! business system it is — and through it the hub and the registry), the
//! hub's public log (with the person's own token) and the registry's card
//! listener (CA certificates and CRLs).

use std::time::Duration;

use renkei_api::card::{CardStatusWire, ResolveCardRequest};
use renkei_api::log::PersonRecordsWire;
use renkei_api::node::CardHolder as NodeCardHolder;
use renkei_api::node::{ItemUpdate, PersonKeyResult, QueryRequest, QueryResult};
use renkei_api::notices::{MarkedRead, NoticeWire};
use renkei_card::CardSerial;
use renkei_ids::{CorporateNumber, LocalPersonId};
use renkei_transport::{ApiFailure, LocalClient, PublicClient};

pub(crate) const OWN_DISCLOSURE: &str = "own_disclosure";

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pub(crate) node: LocalClient,
    pub(crate) log: PublicClient,
    pub(crate) cards: PublicClient,
}

impl Backend {
    pub(crate) fn new(
        node_url: &str,
        node_token: &str,
        log_url: &str,
        card_url: &str,
        ca_pem: &[u8],
    ) -> Result<Self, ApiFailure> {
        Ok(Self {
            node: LocalClient::new(node_url, ca_pem, node_token, Duration::from_secs(30))?,
            log: PublicClient::new(log_url, ca_pem, Duration::from_secs(30))?,
            cards: PublicClient::new(card_url, ca_pem, Duration::from_secs(10))?,
        })
    }

    /// Who holds the card that signed `challenge` (the exact text) with
    /// `signature`, and the person proof asked for.
    pub(crate) async fn resolve_card(
        &self,
        certificate_der: &[u8],
        challenge: &str,
        signature: &[u8],
        proof: Option<renkei_api::net::ProofIssueWire>,
    ) -> Result<NodeCardHolder, ApiFailure> {
        use base64::Engine as _;
        self.node
            .post(
                "/local/v1/cards/resolve",
                &ResolveCardRequest {
                    certificate: renkei_crypto::b64(certificate_der),
                    challenge: challenge.to_owned(),
                    signature: base64::engine::general_purpose::STANDARD.encode(signature),
                    proof,
                },
            )
            .await
    }

    pub(crate) async fn card_status(&self, serial: CardSerial) -> Result<CardStatusWire, ApiFailure> {
        self.node.get(&format!("/local/v1/cards/{serial}/status")).await
    }

    /// A person's own data, on `authority` (their card login, or the
    /// principal's consent to a proxy).
    pub(crate) async fn query(
        &self,
        person: &LocalPersonId,
        provider: CorporateNumber,
        item: &str,
        fiscal_year: Option<u16>,
        authority: &crate::web::Authority,
    ) -> Result<QueryResult, ApiFailure> {
        self.query_for(
            person,
            provider,
            item,
            fiscal_year,
            authority.consent.as_deref(),
            authority.proof.as_deref(),
        )
        .await
    }

    /// A query relaying to a private service under the person's consent:
    /// the hub's provision record (and its log leaf) commits to the
    /// consent, and the consent's person proof shows the hub it is real.
    pub(crate) async fn query_for(
        &self,
        person: &LocalPersonId,
        provider: CorporateNumber,
        item: &str,
        fiscal_year: Option<u16>,
        consent: Option<&str>,
        person_proof: Option<&str>,
    ) -> Result<QueryResult, ApiFailure> {
        self.node
            .post(
                "/local/v1/queries",
                &QueryRequest {
                    local_id: person.to_string(),
                    provider: provider.to_string(),
                    office_work: OWN_DISCLOSURE.to_owned(),
                    item: item.to_owned(),
                    fiscal_year,
                    consent: consent.map(str::to_owned),
                    person_proof: person_proof.map(str::to_owned),
                },
            )
            .await
    }

    /// The person's log key: only on the person's authority.
    pub(crate) async fn person_key(
        &self,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
    ) -> Result<PersonKeyResult, ApiFailure> {
        self.node
            .post(
                &format!("/local/v1/persons/{person}/person-key"),
                &renkei_api::node::PersonKeyAsk {
                    person_proof: authority.proof.clone().unwrap_or_default(),
                    consent: authority.consent.clone(),
                },
            )
            .await
    }

    pub(crate) async fn person_records(&self, token: &str) -> Result<PersonRecordsWire, ApiFailure> {
        self.log.get_json_as_person("/v1/person/records", token).await
    }

    pub(crate) async fn notices(&self, person: &LocalPersonId) -> Result<Vec<NoticeWire>, ApiFailure> {
        self.node
            .get(&format!("/local/v1/persons/{person}/notices"))
            .await
    }

    pub(crate) async fn mark_read(
        &self,
        person: &LocalPersonId,
        notice: &str,
    ) -> Result<MarkedRead, ApiFailure> {
        self.node
            .post(
                &format!("/local/v1/persons/{person}/notices/{notice}/read"),
                &serde_json::json!({}),
            )
            .await
    }

    pub(crate) async fn set_item(
        &self,
        person: &LocalPersonId,
        item: &str,
        value: serde_json::Value,
    ) -> Result<(), ApiFailure> {
        let _: renkei_api::node::ImportResult = self
            .node
            .put(
                &format!("/local/v1/persons/{person}/items/{item}"),
                &ItemUpdate {
                    fiscal_year: None,
                    value,
                },
            )
            .await?;
        Ok(())
    }
}
