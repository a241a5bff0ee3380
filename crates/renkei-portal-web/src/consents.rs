//! The person's consents: who may receive what, what each service received
//! and when, and revocation — which stops further fetches at once.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use renkei_consent::{FetchOutcome, GrantId, RevokedBy};
use renkei_protocol::UnixMillis;

use crate::i18n::Tr;
use crate::routes::{CsrfForm, page_result};
use crate::state::PortalState;
use crate::templates::{ConsentView, ConsentsPage, FetchView, render};
use crate::web::{PageError, jst, lang_of};

pub(crate) async fn page<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        if li.session.acting_for.is_some() {
            return Err(PageError::forbidden(tr.s("consent_not_as_proxy")));
        }
        let now = UnixMillis::now();
        let grants = st
            .store
            .grants_of(&li.session.holder.person)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let mut consents = Vec::new();
        for g in grants {
            let client = st
                .store
                .client(&g.client)
                .await
                .map_err(|e| PageError::store(e, &tr))?;
            let client_name = client
                .as_ref()
                .map(|c| crate::oauth::client_name(c, &tr))
                .unwrap_or_else(|| g.client.to_string());
            let item_names: Vec<String> = g
                .details
                .items
                .iter()
                .map(|i| st.item_name(i.as_str(), &tr))
                .collect();
            let year = g.details.tax_year.map(|y| format!(" ({y})")).unwrap_or_default();
            let fetches = st
                .store
                .fetches_of(&g.id)
                .await
                .map_err(|e| PageError::store(e, &tr))?
                .into_iter()
                .map(|f| FetchView {
                    at: jst(f.at.0),
                    text: match f.outcome {
                        FetchOutcome::Delivered => format!(
                            "{client_name} {} {}{year} — {}",
                            tr.s("consents_received"),
                            item_names.join("、"),
                            g.details.purpose
                        ),
                        FetchOutcome::Refused => format!("{client_name} {}", tr.s("consents_refused")),
                        FetchOutcome::Failed => format!("{client_name} {}", tr.s("consents_failed")),
                    },
                })
                .collect();
            consents.push(ConsentView {
                id: g.id.to_string(),
                client: client_name,
                items: format!("{}{year}", item_names.join("、")),
                purpose: g.details.purpose.clone(),
                data_life_days: g.details.data_life_days,
                given: jst(g.created_at.0),
                until: jst(g.expires_at.0),
                status: tr.s(&format!("consent_status_{}", g.status(now))).to_owned(),
                active: g.is_active(now),
                fetches,
            });
        }
        Ok(render(&ConsentsPage {
            ctx: st.ctx(&li, "consents_title", "/consents").await,
            consents,
        }))
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn revoke<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let tr = li.tr;
        let not_found = || PageError::show(axum::http::StatusCode::NOT_FOUND, tr.s("error_not_found"));
        let gid = GrantId::parse(&id).ok_or_else(not_found)?;
        let grant = st
            .store
            .grant(&gid)
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .filter(|g| g.person == li.session.holder.person && li.session.acting_for.is_none())
            .ok_or_else(not_found)?;
        st.store
            .revoke_grant(&grant.id, RevokedBy::Person, UnixMillis::now())
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        metrics::counter!("renkei_consent_revocations_total", "by" => "person").increment(1);
        tracing::info!(grant = %grant.id, "consent revoked by the person");
        Ok(Redirect::to("/consents").into_response())
    }
    .await;
    page_result(&tr, r)
}
