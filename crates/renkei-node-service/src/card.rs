//! A node's card services for its business systems — in practice the
//! portal, a business system of the Digital Agency's node: resolve a card's
//! authentication certificate into the person enrolled here (enrolling
//! them under the code the registry obtained, if new), and a card's status.

use renkei_api::card::{CardStatusWire, ResolveCardRequest, ResolvedCard};
use renkei_api::node::CardHolder;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_card::CardSerial;
use renkei_ids::{AcquisitionNumber, LocalPersonId};
use renkei_node::{EnrolledPerson, NodeStore};
use renkei_pki::Role;
use renkei_protocol::{CodeDelivery, UnixMillis};

use crate::node::{NodeState, upstream};
use renkei_transport::Expect;
use renkei_transport::{ApiError, JsonBody};

pub(crate) fn local_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new()
        .route("/local/v1/cards/resolve", post(resolve::<S>))
        .route("/local/v1/cards/{serial}/status", get(status::<S>))
}

fn bad_gateway(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "registry_error", m)
}

pub(crate) fn new_local_id() -> LocalPersonId {
    let hex: String = renkei_ids::random_bytes::<8>()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    LocalPersonId::parse(&format!("C-{hex}")).expect("C- and 16 hex digits is a valid local id")
}

async fn resolve<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<ResolveCardRequest>,
) -> Result<Json<CardHolder>, ApiError> {
    let resolved: ResolvedCard = st
        .client
        .post(
            &format!("{}/v1/cards/resolve", st.registry_url),
            &body,
            Expect::Role(Role::Registry),
            None,
        )
        .await
        .map_err(|f| upstream(f, "registry"))?;
    let acq = AcquisitionNumber::parse(&resolved.acquisition_number)
        .map_err(|e| bad_gateway(format!("acquisition number: {e}")))?;
    let delivery = CodeDelivery::try_from(&resolved.delivery).map_err(|e| bad_gateway(e.to_string()))?;
    if delivery.institution != st.provider.identity.institution {
        return Err(bad_gateway("the code delivery is for another institution"));
    }
    let code = delivery
        .open(&st.provider.identity.sealing, &[acq])
        .map_err(|e| bad_gateway(format!("the code delivery does not open: {e}")))?
        .into_iter()
        .find(|c| c.acquisition_number == acq)
        .ok_or_else(|| bad_gateway("the delivery holds no code for the number asked"))?
        .code;
    let person_proof = match (&body.proof, &resolved.delivery.proof) {
        (None, _) => None,
        (Some(_), None) => return Err(bad_gateway("the registry returned no person proof")),
        (Some(asked), Some(sealed)) => {
            let envelope =
                renkei_crypto::Envelope::try_from(sealed).map_err(|e| bad_gateway(e.to_string()))?;
            let identity = &st.provider.identity;
            let proof = renkei_protocol::SignedPersonProof::open(
                &envelope,
                &identity.sealing,
                &identity.institution,
                &acq,
            )
            .map_err(|e| bad_gateway(e.to_string()))?;
            let purpose = asked.purpose().map_err(|e| ApiError::malformed(e.to_string()))?;
            let consent = match &purpose {
                renkei_protocol::ProofPurpose::Consent(c) => Some(c),
                renkei_protocol::ProofPurpose::Session => None,
            };
            proof
                .verify(&st.hub_key, &identity.institution, consent, UnixMillis::now())
                .map_err(|e| bad_gateway(e.to_string()))?;
            if proof.proof.subject != code || proof.proof.purpose != purpose {
                return Err(bad_gateway("the person proof is for another person or purpose"));
            }
            Some(proof.to_text())
        }
    };
    let (local_id, enrolled_now) = match st.store.person_by_code(&code).await? {
        Some(id) => (id, false),
        None => {
            let id = new_local_id();
            st.store
                .enrol(vec![EnrolledPerson {
                    local_id: id.clone(),
                    code,
                    enrolled_at: UnixMillis::now(),
                }])
                .await?;
            metrics::counter!("renkei_node_enrolled_by_card_total").increment(1);
            (id, true)
        }
    };
    Ok(Json(CardHolder {
        local_id: local_id.to_string(),
        enrolled_now,
        card: resolved.card,
        person_proof,
    }))
}

async fn status<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(serial): Path<String>,
) -> Result<Json<CardStatusWire>, ApiError> {
    let serial: CardSerial = serial
        .parse()
        .map_err(|e: renkei_card::BadSerial| ApiError::malformed(e.to_string()))?;
    let wire: CardStatusWire = st
        .client
        .get(
            &format!("{}/v1/cards/{serial}/status", st.registry_url),
            Expect::Role(Role::Registry),
        )
        .await
        .map_err(|f| upstream(f, "registry"))?;
    Ok(Json(wire))
}
