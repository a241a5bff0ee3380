//! The web surface: routes, login and logout, the language switch, home,
//! and the pieces every page shares.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use renkei_portal::{
    Challenge, ChallengePurpose, ChallengeState, ProxyRefusal, ProxyStatus, Scope, Secret, Session, ShortCode,
};
use renkei_protocol::UnixMillis;
use serde::Deserialize;

use crate::i18n::Tr;
use crate::state::PortalState;
use crate::templates::{ActFor, HomePage, LandingPage, LoginPage, PageCtx, render};
use crate::web::{
    ClientAddr, LOGIN_COOKIE, LoggedIn, PageError, SESSION_COOKIE, clear_cookie, cookie, lang_of,
    secret_cookie,
};

pub(crate) fn web_router<S: crate::Store + Clone>(st: Arc<PortalState<S>>) -> Router {
    Router::new()
        .route("/", get(home::<S>))
        .route("/login", get(login_page::<S>))
        .route("/login/status", get(login_status::<S>))
        .route("/login/complete", post(login_complete::<S>))
        .route("/logout", post(logout::<S>))
        .route("/lang", get(switch_lang))
        .route("/me", get(crate::pages::me::<S>))
        .route("/history", get(crate::pages::history::<S>))
        .route("/notices", get(crate::pages::notices::<S>))
        .route("/notices/{id}/read", post(crate::pages::mark_read::<S>))
        .route(
            "/account",
            get(crate::account::page::<S>).post(crate::account::submit::<S>),
        )
        .route(
            "/confirm/{id}",
            get(crate::account::confirm_page::<S>).post(crate::account::commit::<S>),
        )
        .route("/confirm/{id}/status", get(crate::account::confirm_status::<S>))
        .route("/proxies", get(crate::proxies::page::<S>))
        .route("/proxies/invite", post(crate::proxies::invite::<S>))
        .route("/proxies/accept", post(crate::proxies::accept::<S>))
        .route("/proxies/{id}/revoke", post(crate::proxies::revoke::<S>))
        .route("/proxies/{id}/confirm", post(crate::proxies::confirm::<S>))
        .route("/acting", post(crate::proxies::act::<S>))
        .route("/acting/stop", post(crate::proxies::stop_acting::<S>))
        .route(
            "/api/card/v1/challenges/{code}",
            get(crate::card_api::show::<S>).post(crate::card_api::approve::<S>),
        )
        .merge(crate::oauth::routes::<S>())
        .merge(crate::deposits::routes::<S>())
        .route("/mailbox", get(crate::mailbox::page::<S>))
        .route("/mailbox/link", post(crate::mailbox::link::<S>))
        .route("/mailbox/senders/{id}/unlink", post(crate::mailbox::unlink::<S>))
        .route("/mailbox/export", get(crate::mailbox::export::<S>))
        .route("/mailbox/draft", get(crate::mailbox::draft::<S>))
        .route("/mailbox/draft.json", get(crate::mailbox::draft_json::<S>))
        .route(
            "/mailbox/documents/{sender}/{id}",
            get(crate::mailbox::document::<S>),
        )
        .route(
            "/mailbox/documents/{sender}/{id}/download",
            get(crate::mailbox::download::<S>),
        )
        .route(
            "/mailbox/documents/{sender}/{id}/delete",
            post(crate::mailbox::delete::<S>),
        )
        .route("/consents", get(crate::consents::page::<S>))
        .route("/consents/{id}/revoke", post(crate::consents::revoke::<S>))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .route("/health", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn(crate::web::security_headers))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("portal", r, n)
        }))
        .with_state(st)
}

async fn not_found(headers: HeaderMap) -> Response {
    let tr = Tr::new(lang_of(&headers));
    PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")).into_response(&tr)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/portal.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/portal.js"),
    )
        .into_response()
}

/// A page of a logged-in person: run `f`, or turn its error into a page.
pub(crate) fn page_result(tr: &Tr, r: Result<Response, PageError>) -> Response {
    match r {
        Ok(resp) => resp,
        Err(e) => e.into_response(tr),
    }
}

pub(crate) fn proxy_refusal_text(r: &ProxyRefusal, tr: &Tr) -> String {
    match r {
        ProxyRefusal::OutsideScope { scope } => format!(
            "{} ({})",
            tr.pick("代理の範囲外の操作です。", "This is outside the proxy's scope."),
            tr.s(scope_key(*scope))
        ),
        ProxyRefusal::OutsidePeriod { from, until } => format!(
            "{} {from} – {until}",
            tr.pick("代理の期間外です。期間:", "Outside the proxy's period:")
        ),
        ProxyRefusal::OnHold { .. } => tr.s("status_on_hold").to_owned(),
        ProxyRefusal::Revoked => tr.s("status_revoked").to_owned(),
        ProxyRefusal::NotPrincipal => tr
            .pick("ご本人だけができる操作です。", "Only the principal can do this.")
            .to_owned(),
        ProxyRefusal::NotRepresentative | ProxyRefusal::NotOnHold => tr.s("error_forbidden").to_owned(),
    }
}

pub(crate) fn scope_key(s: Scope) -> &'static str {
    match s {
        Scope::MyInformation => "scope_my_information",
        Scope::History => "scope_history",
        Scope::Notices => "scope_notices",
        Scope::Account => "scope_account",
    }
}

impl<S: crate::Store> PortalState<S> {
    /// The frame of a logged-in page (with the acting banner).
    pub(crate) async fn ctx(&self, li: &LoggedIn, title_key: &str, path: &str) -> PageCtx {
        let acting = match li.session.acting_for {
            Some(pid) => match self.store.proxy(pid).await {
                Ok(Some(p)) => Some(p.principal_name),
                _ => None,
            },
            None => None,
        };
        PageCtx::member(li.tr, li.tr.s(title_key), path, li.session.csrf.expose(), acting)
    }

    pub(crate) fn card_cli(&self, code: &ShortCode) -> String {
        format!(
            "renkei card approve {code} --portal {} --card <card directory>",
            self.origin
        )
    }

    /// The login page of a pending login challenge: its code and QR code,
    /// the number to enter on the card app, and this browser's address
    /// and time as the card app will show them.
    pub(crate) fn login_page_of(&self, c: &Challenge, tr: Tr, message: Option<String>) -> LoginPage {
        LoginPage {
            ctx: PageCtx::anonymous(tr, tr.s("login_title"), "/login"),
            qr_svg: crate::qr::svg(&format!(
                "{}/api/card/v1/challenges/{}",
                self.origin,
                c.code.as_str()
            )),
            cli: self.card_cli(&c.code),
            code: c.code.to_string(),
            match_value: c.match_value.map(|m| m.to_string()).unwrap_or_default(),
            browser: c.browser.to_string(),
            requested: crate::web::jst(c.created_at.0),
            message,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LandingQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    bye: Option<String>,
}

async fn home<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<LandingQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let li = match st.logged_in(&headers).await {
        Ok(li) => li,
        Err(PageError::Redirect(_)) => {
            let message = if q.expired.is_some() {
                Some(tr.s("session_expired").to_owned())
            } else if q.bye.is_some() {
                Some(tr.s("logged_out").to_owned())
            } else {
                None
            };
            return render(&LandingPage {
                ctx: PageCtx::anonymous(tr, tr.s("portal_name"), "/"),
                message,
            });
        }
        Err(e) => return e.into_response(&tr),
    };
    let r = async {
        let me = &li.session.holder.person;
        let unread = st
            .backend
            .notices(me)
            .await
            .map(|n| n.iter().filter(|n| n.read_at.is_none()).count())
            .unwrap_or(0);
        let today = crate::web::today_jst(UnixMillis::now());
        let act_for = st
            .store
            .proxies_of(me)
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .into_iter()
            .filter(|p| &p.representative == me && p.status == ProxyStatus::Active)
            .filter(|p| today >= p.valid_from && today <= p.valid_until)
            .map(|p| ActFor {
                proxy: p.id.0,
                name: p.principal_name.clone(),
                scopes: p
                    .scopes
                    .iter()
                    .map(|s| tr.s(scope_key(s)))
                    .collect::<Vec<_>>()
                    .join("、"),
            })
            .collect();
        Ok(render(&HomePage {
            ctx: st.ctx(&li, "home_title", "/").await,
            unread,
            profile: li.session.holder.profile.label().to_owned(),
            act_for,
        }))
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
}

/// Start a login: a fresh challenge bound to a fresh cookie of this
/// browser, shown as a code and a QR code.
async fn login_page<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let binding = Secret::random();
    let now = UnixMillis::now();
    let challenge = Challenge::new(
        ChallengePurpose::Login,
        &binding,
        addr,
        now,
        st.settings.challenge_secs as i64 * 1000,
    );
    // Anonymous: counted per address and in total before anything is
    // stored, so no client can fill the store.
    let admitted =
        st.login_limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(addr, now, challenge.expires_at);
    if let Err(refused) = admitted {
        metrics::counter!("renkei_portal_login_refusals_total", "limit" => refused.kind()).increment(1);
        tracing::info!(
            limit = refused.kind(),
            "login challenge refused: too many outstanding"
        );
        let mut resp =
            PageError::show(StatusCode::TOO_MANY_REQUESTS, tr.s("login_too_many")).into_response(&tr);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(refused.retry_after_secs()));
        return resp;
    }
    let page = st.login_page_of(
        &challenge,
        tr,
        q.expired.map(|_| tr.s("session_expired").to_owned()),
    );
    if let Err(e) = st.store.insert_challenge(challenge).await {
        return PageError::store(e, &tr).into_response(&tr);
    }
    metrics::counter!("renkei_portal_login_challenges_total").increment(1);
    let mut resp = render(&page);
    resp.headers_mut().insert(
        header::SET_COOKIE,
        secret_cookie(LOGIN_COOKIE, &binding.expose(), st.settings.challenge_secs + 60),
    );
    resp
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeQuery {
    code: String,
}

/// Where a challenge stands, for this browser's poll.
pub(crate) fn state_json(c: Option<&Challenge>, now: UnixMillis) -> Json<serde_json::Value> {
    let state = match c {
        None => "unknown",
        Some(c) if c.is_expired(now) => "expired",
        Some(c) => match c.state {
            ChallengeState::Pending => "pending",
            ChallengeState::Approved(_) => "approved",
            ChallengeState::Used => "used",
            ChallengeState::Refused => "refused",
        },
    };
    Json(serde_json::json!({ "state": state }))
}

async fn login_status<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let binding = cookie(&headers, LOGIN_COOKIE).and_then(|v| Secret::parse(&v));
    let (Some(code), Some(binding)) = (ShortCode::parse(&q.code), binding) else {
        return state_json(None, UnixMillis::now()).into_response();
    };
    match st.store.challenge(&code).await {
        // Another browser learns nothing about this challenge.
        Ok(Some(c)) if c.binding == binding.hash() => state_json(Some(&c), UnixMillis::now()).into_response(),
        Ok(_) => state_json(None, UnixMillis::now()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "challenge status");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompleteForm {
    code: String,
}

/// The browser takes the approved login: a new session (never the id of
/// any cookie it already had: no fixation), the login cookie cleared.
async fn login_complete<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Form(form): Form<CompleteForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let binding = cookie(&headers, LOGIN_COOKIE).and_then(|v| Secret::parse(&v));
    let code = ShortCode::parse(&form.code);
    let (Some(binding), Some(code)) = (binding, code) else {
        return Redirect::to("/login").into_response();
    };
    let now = UnixMillis::now();
    let holder = match st.store.take_challenge(&code, binding.hash(), now).await {
        Ok(h) => h,
        Err(e) => return PageError::store(e, &tr).into_response(&tr),
    };
    let Some(holder) = holder else {
        // Not approved yet (or expired, or not this browser's): show the
        // same code again if it is still pending for this browser.
        let c = st.store.challenge(&code).await.ok().flatten();
        let mine = c.filter(|c| c.binding == binding.hash());
        return match mine {
            Some(c) if !c.is_expired(now) && c.state == ChallengeState::Pending => {
                render(&st.login_page_of(&c, tr, Some(tr.s("login_not_yet").to_owned())))
            }
            // A card signed another number: tell this browser (it may be
            // the person's own, whose code was used by someone else).
            Some(c) if c.state == ChallengeState::Refused => {
                let mut resp =
                    PageError::show(StatusCode::FORBIDDEN, tr.s("login_match_refused")).into_response(&tr);
                resp.headers_mut()
                    .append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE));
                resp
            }
            _ => PageError::show(StatusCode::BAD_REQUEST, tr.s("login_expired")).into_response(&tr),
        };
    };
    let id = Secret::random();
    let session = Session {
        id: id.hash(),
        holder: holder.clone(),
        csrf: Secret::random(),
        created_at: now,
        last_seen: now,
        acting_for: None,
    };
    if let Err(e) = st.store.insert_session(session).await {
        return PageError::store(e, &tr).into_response(&tr);
    }
    if let Err(e) = st.store.record_login(&holder, now).await {
        return PageError::store(e, &tr).into_response(&tr);
    }
    // An old session cookie this browser still had is ended too.
    if let Some(old) = cookie(&headers, SESSION_COOKIE).and_then(|v| Secret::parse(&v))
        && let Ok(Some(s)) = st.store.session(old.hash()).await
    {
        st.forget_session(&s).await;
    }
    metrics::counter!("renkei_portal_logins_total", "profile" => holder.profile.as_str()).increment(1);
    tracing::info!(profile = %holder.profile, "card login");
    let next = crate::oauth::next_after_login(&headers);
    let mut resp = Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        secret_cookie(SESSION_COOKIE, &id.expose(), st.settings.session_max_secs),
    );
    if next.is_some() {
        h.append(header::SET_COOKIE, clear_cookie(crate::oauth::NEXT_COOKIE));
    }
    h.append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE));
    resp
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

async fn logout<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        st.forget_session(&li.session).await;
        let mut resp = Redirect::to("/?bye=1").into_response();
        resp.headers_mut()
            .insert(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
        Ok(resp)
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LangQuery {
    to: String,
    #[serde(default)]
    back: Option<String>,
}

/// The pages a return parameter (`/lang?back=`) may name. An allow-list
/// rather than a parser: no spelling of another host (TAB or CR/LF that
/// browsers strip, `//`, backslashes, encodings of either) can get
/// through a list of eight exact strings.
pub(crate) const RETURN_PAGES: &[&str] = &[
    "/",
    "/me",
    "/history",
    "/notices",
    "/account",
    "/proxies",
    "/consents",
    "/login",
];

/// Where a return parameter leads: the page it names exactly if it is
/// one of [`RETURN_PAGES`], else home.
pub(crate) fn return_page(back: Option<&str>) -> &'static str {
    back.and_then(|b| RETURN_PAGES.iter().copied().find(|p| *p == b))
        .unwrap_or("/")
}

/// Switch language and come back; only to a page of this site.
async fn switch_lang(Query(q): Query<LangQuery>) -> Response {
    let Some(lang) = crate::i18n::Lang::parse(&q.to) else {
        return (StatusCode::BAD_REQUEST, "to must be ja or en").into_response();
    };
    let back = return_page(q.back.as_deref());
    if q.back.as_deref().is_some_and(|b| b != back) {
        metrics::counter!("renkei_portal_return_refusals_total").increment(1);
    }
    let mut resp = Redirect::to(back).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{}={}; Path=/; Secure; SameSite=Lax; Max-Age=31536000",
            crate::web::LANG_COOKIE,
            lang.code()
        ))
        .expect("ASCII"),
    );
    resp
}

/// A path parameter that must be a number.
pub(crate) fn number(s: &str, tr: &Tr) -> Result<u64, PageError> {
    s.parse().map_err(|_| PageError::bad(tr.s("error_bad_input")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decoded return paths that lead off the site in some browser.
    pub(crate) const OFF_SITE: &[&str] = &[
        "/\t/evil.example",
        "\t//evil.example",
        "/\r\n/evil.example",
        "/\n/evil.example",
        "/\0/evil.example",
        "/ /evil.example",
        " //evil.example",
        "/\u{3000}/evil.example",
        "//evil.example",
        "///evil.example",
        "/%2F/evil.example",
        "/%2fevil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/.//evil.example",
        "/me/..//evil.example",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        "/me\t",
        "/me/",
        "/ME",
        "/me?x=1",
    ];

    #[test]
    fn return_pages_are_the_portals_own_and_nothing_else() {
        for p in RETURN_PAGES {
            assert_eq!(return_page(Some(p)), *p);
        }
        assert_eq!(return_page(None), "/");
        for v in OFF_SITE {
            assert_eq!(return_page(Some(v)), "/", "{v:?}");
        }
    }
}
