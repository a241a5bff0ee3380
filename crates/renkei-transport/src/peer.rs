use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_server::tls::TlsInfo;
use renkei_ids::CorporateNumber;
use renkei_pki::{NetworkIdentity, PeerCertificate, Role};

use crate::error::ApiError;
use crate::server::TrustState;

/// The verified peer of a mutual-TLS request.
#[derive(Debug, Clone)]
pub struct Peer {
    pub identity: NetworkIdentity,
    pub fingerprint: [u8; 32],
    pub serial: String,
}

impl Peer {
    /// The peer's institution, if its role is one of `roles`.
    pub fn institution_as(&self, roles: &[Role]) -> Result<CorporateNumber, ApiError> {
        match (roles.contains(&self.identity.role), self.identity.institution) {
            (true, Some(i)) => Ok(i),
            _ => Err(ApiError::forbidden(
                "unauthenticated",
                format!(
                    "a {} certificate cannot call this endpoint",
                    self.identity.role.as_str()
                ),
            )),
        }
    }

    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        if self.identity.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "unauthenticated",
                format!("only the {} may call this endpoint", role.as_str()),
            ))
        }
    }
}

/// Middleware of every mutual-TLS router: reads the client certificate the
/// handshake verified, refuses it if it was revoked or expired since the
/// connection opened, and hands the [`Peer`] to the handlers.
pub async fn require_peer(State(trust): State<Arc<TrustState>>, mut req: Request, next: Next) -> Response {
    let cert = req
        .extensions()
        .get::<Arc<TlsInfo>>()
        .and_then(|i| i.peer_certificates.first())
        .map(|der| PeerCertificate::parse(der));
    let refuse = |req, e| crate::error::refuse_unread(req, e);
    let cert = match cert {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            return refuse(
                req,
                ApiError::unauthorized(format!("client certificate not usable: {e}")),
            )
            .await;
        }
        None => return refuse(req, ApiError::unauthorized("a client certificate is required")).await,
    };
    if trust.is_revoked(&cert) {
        metrics::counter!("renkei_revoked_peer_total").increment(1);
        let e = ApiError::forbidden("certificate_revoked", "the client certificate has been revoked");
        return refuse(req, e).await;
    }
    if cert.not_after < time_now() {
        let e = ApiError::forbidden("certificate_expired", "the client certificate has expired");
        return refuse(req, e).await;
    }
    req.extensions_mut().insert(Peer {
        identity: cert.identity,
        fingerprint: cert.fingerprint,
        serial: cert.serial.clone(),
    });
    next.run(req).await
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
