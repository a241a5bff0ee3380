//! The web surface's plumbing: cookies, the visitor (language, session),
//! CSRF, security headers, page errors.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use renkei_ids::LocalPersonId;
use renkei_portal::{Proxy, ProxyAct, Scope, Secret, Session};
use renkei_protocol::UnixMillis;

use crate::i18n::{Lang, Tr};
use crate::state::PortalState;
use crate::templates::{ErrorPage, PageCtx, render};

pub(crate) const SESSION_COOKIE: &str = "__Host-renkei-session";
pub(crate) const LOGIN_COOKIE: &str = "__Host-renkei-login";
pub(crate) const LANG_COOKIE: &str = "renkei-lang";

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` for a secret: host-only, HTTPS-only (browsers count
/// `http://localhost` as secure), not readable by scripts, never sent on
/// cross-site requests.
pub(crate) fn secret_cookie(name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    ))
    .expect("cookie text is ASCII")
}

pub(crate) fn clear_cookie(name: &str) -> HeaderValue {
    secret_cookie(name, "", 0)
}

pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .unwrap_or_default()
}

/// Japan time: the date proxies' periods are in.
pub(crate) fn today_jst(now: UnixMillis) -> time::Date {
    (now.to_datetime() + time::Duration::hours(9)).date()
}

pub(crate) fn jst(ms: i64) -> String {
    let t = UnixMillis(ms).to_datetime() + time::Duration::hours(9);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// What a page handler ends with when it does not render its page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Go there (after a 303).
    Redirect(String),
    /// Show the error page with this status and message.
    Show { status: StatusCode, message: String },
}

impl PageError {
    pub(crate) fn show(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Show {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::show(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::show(StatusCode::BAD_REQUEST, message)
    }

    /// A backend failure: logged in full, shown as "try later".
    pub(crate) fn backend(context: &str, e: impl std::fmt::Display, tr: &Tr) -> Self {
        tracing::error!(error = %e, context, "portal backend call failed");
        Self::show(StatusCode::SERVICE_UNAVAILABLE, tr.s("error_unavailable"))
    }

    pub(crate) fn store(e: renkei_protocol::StoreError, tr: &Tr) -> Self {
        Self::backend("portal store", e, tr)
    }

    pub(crate) fn into_response(self, tr: &Tr) -> Response {
        match self {
            Self::Redirect(to) => Redirect::to(&to).into_response(),
            Self::Show { status, message } => {
                let page = ErrorPage {
                    ctx: PageCtx::anonymous(*tr, tr.s("error_title"), "/"),
                    message,
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

/// The client's address as the portal's listener saw it: the TCP peer
/// (behind a reverse proxy that would be the proxy). IPv4 clients of a
/// dual-stack listener are shown as IPv4. Without connection information
/// (a router served without it) every client is `0.0.0.0`, one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip().to_canonical()),
        ))
    }
}

/// A logged-in request: the session and the secret that names it.
pub(crate) struct LoggedIn {
    pub(crate) session: Session,
    pub(crate) secret: Secret,
    pub(crate) tr: Tr,
}

/// On whose authority the portal asks the network for a person's data:
/// the person's own card login (the session's person proof), or — acting
/// as a proxy — the principal's card-confirmed consent to the proxy. The
/// portal's credential alone opens no one's data: the node and the hub
/// check the proof on every request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Authority {
    pub(crate) proof: Option<String>,
    pub(crate) consent: Option<String>,
}

impl Authority {
    pub(crate) fn own(li: &LoggedIn) -> Self {
        Self {
            proof: li.session.holder.person_proof.clone(),
            consent: None,
        }
    }

    /// Refuse, with what to do about it, before anything is asked of the
    /// network on no authority (a session from before person proofs, or a
    /// guardianship no card of the principal confirmed).
    pub(crate) fn require(&self, tr: &Tr) -> Result<(), PageError> {
        match (&self.proof, &self.consent) {
            (Some(_), _) => Ok(()),
            (None, None) => Err(PageError::forbidden(tr.s("proof_login_again"))),
            (None, Some(_)) => Err(PageError::forbidden(tr.s("proof_proxy_unconfirmed"))),
        }
    }

    /// For the subject [`PortalState::subject`] chose.
    pub(crate) fn of(li: &LoggedIn, proxy: Option<&Proxy>) -> Self {
        match proxy {
            None => Self::own(li),
            Some(p) => match &p.authority {
                Some(a) => Self {
                    proof: Some(a.proof.clone()),
                    consent: Some(a.grant.clone()),
                },
                // A guardianship registered by an administrator: no card of
                // the principal confirmed it, so the network has nothing to
                // check and refuses.
                None => Self {
                    proof: None,
                    consent: Some(String::new()),
                },
            },
        }
    }
}

impl<S: crate::Store> PortalState<S> {
    /// The live session of this request, touched; or where to go instead.
    pub(crate) async fn logged_in(&self, headers: &HeaderMap) -> Result<LoggedIn, PageError> {
        let tr = Tr::new(lang_of(headers));
        let Some(secret) = cookie(headers, SESSION_COOKIE).and_then(|v| Secret::parse(&v)) else {
            return Err(PageError::Redirect("/login".into()));
        };
        let now = UnixMillis::now();
        let session = self
            .store
            .session(secret.hash())
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let Some(session) = session else {
            // Swept, or ended elsewhere: nothing of it stays in memory.
            self.person_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&secret.hash());
            return Err(PageError::Redirect("/login".into()));
        };
        if !self.policy.is_live(&session, now) {
            self.forget_session(&session).await;
            return Err(PageError::Redirect("/login?expired=1".into()));
        }
        self.store
            .touch_session(session.id, now, session.acting_for)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        self.person_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch(&session.id, now);
        Ok(LoggedIn { session, secret, tr })
    }

    pub(crate) async fn forget_session(&self, session: &Session) {
        self.person_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&session.id);
        if let Err(e) = self.store.delete_session(session.id).await {
            tracing::warn!(error = %e, "cannot delete an ended session");
        }
    }

    /// A state-changing form: its token must be the session's, and if the
    /// browser says where it comes from, that must be here.
    pub(crate) fn check_form(&self, li: &LoggedIn, headers: &HeaderMap, csrf: &str) -> Result<(), PageError> {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
            && origin != self.origin
        {
            metrics::counter!("renkei_portal_csrf_refusals_total").increment(1);
            return Err(PageError::forbidden(li.tr.s("error_csrf")));
        }
        if !li.session.csrf.matches(csrf) {
            metrics::counter!("renkei_portal_csrf_refusals_total").increment(1);
            return Err(PageError::forbidden(li.tr.s("error_csrf")));
        }
        Ok(())
    }

    /// Whose data this request is about: the person, or — when acting as a
    /// proxy — the principal, after the proxy is checked for this `scope`
    /// today and both cards are checked with the registry; the act is
    /// recorded with both actor and principal.
    pub(crate) async fn subject(
        &self,
        li: &LoggedIn,
        scope: Scope,
        action: &str,
    ) -> Result<(LocalPersonId, Option<Proxy>), PageError> {
        let me = &li.session.holder.person;
        let Some(pid) = li.session.acting_for else {
            return Ok((me.clone(), None));
        };
        let tr = &li.tr;
        let proxy = self
            .store
            .proxy(pid)
            .await
            .map_err(|e| PageError::store(e, tr))?
            .ok_or_else(|| PageError::forbidden(tr.s("error_forbidden")))?;
        let now = UnixMillis::now();
        let checked = match proxy.may_act(me, scope, today_jst(now)) {
            Ok(()) => self.hold_if_cards_changed(&proxy, Some(&li.session), tr).await,
            Err(r) => Err(PageError::forbidden(crate::routes::proxy_refusal_text(&r, tr))),
        };
        if let Err(e) = checked {
            // A proxy that is over (revoked, on hold, out of its period) ends
            // the acting; a page out of its scope only is refused.
            let out_of_scope_only = matches!(
                proxy.may_act(me, scope, today_jst(now)),
                Err(renkei_portal::ProxyRefusal::OutsideScope { .. })
            );
            if !out_of_scope_only {
                self.store
                    .touch_session(li.session.id, now, None)
                    .await
                    .map_err(|e| PageError::store(e, tr))?;
            }
            return Err(e);
        }
        self.store
            .record_act(ProxyAct {
                proxy: proxy.id,
                actor: me.clone(),
                principal: proxy.principal.clone(),
                action: action.to_owned(),
                at: now,
            })
            .await
            .map_err(|e| PageError::store(e, tr))?;
        metrics::counter!("renkei_portal_proxy_acts_total").increment(1);
        Ok((proxy.principal.clone(), Some(proxy)))
    }

    /// Ask the registry about both parties' cards; put the proxy on hold
    /// (and refuse) if either changed since the principal confirmed it.
    pub(crate) async fn hold_if_cards_changed(
        &self,
        proxy: &Proxy,
        session: Option<&Session>,
        tr: &Tr,
    ) -> Result<(), PageError> {
        let view = |serial| async move {
            match self.backend.card_status(serial).await {
                Ok(s) => Ok(Some(renkei_portal::CardView {
                    serial,
                    good: s.standing == "good",
                    status_since: s.status_since,
                })),
                Err(renkei_transport::ApiFailure::Rejected { status: 404, .. }) => Ok(None),
                Err(e) => Err(PageError::backend("card status", e, tr)),
            }
        };
        // The principal's card: the one they last logged in with, else the
        // one they held when the proxy was made.
        let principal_serial = self
            .store
            .last_card(&proxy.principal)
            .await
            .map_err(|e| PageError::store(e, tr))?
            .map(|h| h.serial)
            .or(proxy.principal_card);
        let principal_view = match principal_serial {
            Some(s) => view(s).await?,
            None => None,
        };
        // The representative: the card of this session if it is theirs,
        // else the one they last logged in with.
        let rep_serial = match session {
            Some(s) if s.holder.person == proxy.representative => Some(s.holder.serial),
            _ => self
                .store
                .last_card(&proxy.representative)
                .await
                .map_err(|e| PageError::store(e, tr))?
                .map(|h| h.serial)
                .or(proxy.representative_card),
        };
        let rep_view = match rep_serial {
            Some(s) => view(s).await?,
            None => None,
        };
        if let Some(reason) = proxy.hold_needed(principal_view, rep_view) {
            let mut held = proxy.clone();
            held.status = renkei_portal::ProxyStatus::OnHold {
                since: UnixMillis::now(),
                reason,
            };
            self.store
                .update_proxy(&held, proxy.status)
                .await
                .map_err(|e| PageError::store(e, tr))?;
            metrics::counter!("renkei_portal_proxies_held_total").increment(1);
            tracing::info!(proxy = %proxy.id, reason = reason.as_str(), "proxy put on hold");
            return Err(PageError::forbidden(crate::routes::proxy_refusal_text(
                &renkei_portal::ProxyRefusal::OnHold { reason },
                tr,
            )));
        }
        Ok(())
    }

    pub(crate) fn institution_name(&self, id: &str, tr: &Tr) -> String {
        renkei_ids::CorporateNumber::parse(id)
            .ok()
            .and_then(|c| self.names.get(&c))
            .map(|(ja, en)| tr.pick(ja, en).to_owned())
            .unwrap_or_else(|| id.to_owned())
    }
}

/// Headers every response of the web surface carries.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
