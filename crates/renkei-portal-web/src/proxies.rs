//! Proxies: appointing one by invitation, accepting, revoking, confirming
//! after a hold, and acting for a principal.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_portal::{
    Invitation, PrincipalAuthority, Proxy, ProxyBasis, ProxyId, ProxyStatus, Scope, ScopeSet, ShortCode,
};
use renkei_protocol::UnixMillis;
use serde::Deserialize;

use crate::account::Staged;
use crate::i18n::Tr;
use crate::routes::{CsrfForm, number, page_result, proxy_refusal_text, scope_key};
use crate::state::PortalState;
use crate::templates::{ActView, Opt, ProxiesPage, ProxyView, render};
use crate::web::{Authority, ClientAddr, LoggedIn, PageError, jst, lang_of, today_jst};

const INVITATION_DAYS: i64 = 7;

fn scopes_text(s: ScopeSet, tr: &Tr) -> String {
    s.iter()
        .map(|x| tr.s(scope_key(x)))
        .collect::<Vec<_>>()
        .join("、")
}

fn view(p: &Proxy, me: &renkei_ids::LocalPersonId, tr: &Tr, today: time::Date) -> ProxyView {
    let mine = &p.principal == me;
    let (status, class) = match p.status {
        ProxyStatus::Active => (tr.s("status_active"), "active"),
        ProxyStatus::OnHold { .. } => (tr.s("status_on_hold"), "on_hold"),
        ProxyStatus::Revoked { .. } => (tr.s("status_revoked"), "revoked"),
    };
    ProxyView {
        id: p.id.0,
        person: if mine {
            p.representative_name.clone()
        } else {
            p.principal_name.clone()
        },
        scopes: scopes_text(p.scopes, tr),
        period: format!("{} – {}", p.valid_from, p.valid_until),
        status: status.to_owned(),
        status_class: class,
        basis: match &p.basis {
            ProxyBasis::Principal => tr.s("proxy_basis_principal").to_owned(),
            ProxyBasis::Guardianship { reference } => format!("{} {reference}", tr.s("proxy_basis_guardian")),
        },
        can_revoke: mine && !matches!(p.status, ProxyStatus::Revoked { .. }),
        can_confirm: mine && matches!(p.status, ProxyStatus::OnHold { .. }),
        can_act: !mine && p.status == ProxyStatus::Active && today >= p.valid_from && today <= p.valid_until,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProxiesQuery {
    #[serde(default)]
    invited: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

impl<S: crate::Store> PortalState<S> {
    async fn proxies_page(
        &self,
        li: &LoggedIn,
        invitation: Option<String>,
        flash: Option<String>,
        error: Option<String>,
    ) -> Result<Response, PageError> {
        let tr = li.tr;
        let me = &li.session.holder.person;
        let now = UnixMillis::now();
        let today = today_jst(now);
        let all = self
            .store
            .proxies_of(me)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let mine = all
            .iter()
            .filter(|p| &p.principal == me)
            .map(|p| view(p, me, &tr, today))
            .collect();
        let theirs = all
            .iter()
            .filter(|p| &p.representative == me)
            .map(|p| view(p, me, &tr, today))
            .collect();
        let names: std::collections::HashMap<_, _> = all
            .iter()
            .map(|p| (p.id, p.representative_name.clone()))
            .collect();
        let acts = self
            .store
            .acts_for(me, 50)
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .into_iter()
            .map(|a| ActView {
                at: jst(a.at.0),
                actor: names
                    .get(&a.proxy)
                    .cloned()
                    .unwrap_or_else(|| a.actor.to_string()),
                action: a.action,
            })
            .collect();
        let status = if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let mut resp = render(&ProxiesPage {
            ctx: self.ctx(li, "proxies_title", "/proxies").await.with_flash(flash),
            mine,
            theirs,
            acts,
            scopes: Scope::ALL
                .iter()
                .map(|s| Opt {
                    value: s.as_str().to_owned(),
                    label: tr.s(scope_key(*s)).to_owned(),
                    selected: matches!(s, Scope::MyInformation | Scope::Notices),
                })
                .collect(),
            invitation,
            today: today.to_string(),
            until: today.replace_year(today.year() + 1).unwrap_or(today).to_string(),
            error,
        });
        *resp.status_mut() = status;
        Ok(resp)
    }

    /// Proxy pages are about the person themself: not while acting.
    fn not_acting(&self, li: &LoggedIn) -> Result<(), PageError> {
        if li.session.acting_for.is_some() {
            return Err(PageError::forbidden(li.tr.s("error_forbidden")));
        }
        Ok(())
    }
}

pub(crate) async fn page<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<ProxiesQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.not_acting(&li)?;
        let invitation = q
            .invited
            .and_then(|c| ShortCode::parse(&c))
            .map(|c| c.to_string());
        let flash = q.done.as_deref().map(|d| {
            li.tr
                .s(match d {
                    "accepted" => "proxy_accepted",
                    "revoked" => "proxy_revoked",
                    _ => "proxy_confirmed",
                })
                .to_owned()
        });
        st.proxies_page(&li, invitation, flash, None).await
    }
    .await;
    page_result(&tr, r)
}

/// Forms with repeated `scope` fields arrive as a list of pairs.
type Pairs = Vec<(String, String)>;

fn field<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn date(s: &str) -> Option<time::Date> {
    time::Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

pub(crate) async fn invite<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(pairs): Form<Pairs>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, field(&pairs, "csrf"))?;
        st.not_acting(&li)?;
        let tr = li.tr;
        let scopes: Option<Vec<Scope>> = pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| Scope::parse(v))
            .collect();
        let scopes = scopes.map(ScopeSet::new).filter(|s| !s.is_empty());
        let (from, until) = (
            date(field(&pairs, "valid_from")),
            date(field(&pairs, "valid_until")),
        );
        let today = today_jst(UnixMillis::now());
        let problem = match (scopes, from, until) {
            (None, _, _) => Some(tr.pick("範囲を一つ以上選んでください。", "Choose at least one scope.")),
            (_, None, _) | (_, _, None) => {
                Some(tr.pick("期間を日付で入力してください。", "Enter the period as dates."))
            }
            (_, Some(f), Some(u)) if u < f || u < today => Some(tr.pick(
                "期間の終わりは始まりと今日より後にしてください。",
                "The period must end after it starts and after today.",
            )),
            (_, Some(f), Some(u)) if u > f.replace_year(f.year() + 5).unwrap_or(f) => {
                Some(tr.pick("期間は5年までです。", "The period can be at most 5 years."))
            }
            _ => None,
        };
        if let Some(p) = problem {
            return st.proxies_page(&li, None, None, Some(p.to_owned())).await;
        }
        let (scopes, from, until) = (
            scopes.unwrap_or_default(),
            from.unwrap_or(today),
            until.unwrap_or(today),
        );
        let principal_name = st
            .own_name(&li.session.holder.person, &Authority::own(&li), &tr)
            .await?;
        let text = format!(
            "{}: {} / {} – {}",
            tr.s("proxy_invite_title"),
            scopes_text(scopes, &tr),
            from,
            until
        );
        st.stage(
            &li,
            addr,
            Staged::Invite {
                scopes: scopes.to_text(),
                valid_from: from.to_string(),
                valid_until: until.to_string(),
                principal_name,
                // The principal's card confirms this consent to be
                // represented: the hub's proof of it is what lets the
                // representative read the principal's data.
                grant_id: new_proxy_grant(),
            },
            text,
        )
        .await
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub(crate) async fn accept<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AcceptForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        st.not_acting(&li)?;
        let tr = li.tr;
        let Some(code) = ShortCode::parse(&f.code) else {
            return st
                .proxies_page(
                    &li,
                    None,
                    None,
                    Some(
                        tr.pick(
                            "招待コードの形式が正しくありません。",
                            "That is not an invitation code.",
                        )
                        .to_owned(),
                    ),
                )
                .await;
        };
        let representative_name = st
            .own_name(&li.session.holder.person, &Authority::own(&li), &tr)
            .await?;
        st.stage(
            &li,
            addr,
            Staged::Accept {
                code: code.as_str().to_owned(),
                representative_name,
            },
            format!("{}: {code}", tr.s("proxy_accept_title")),
        )
        .await
    }
    .await;
    page_result(&tr, r)
}

async fn own_proxy<S: crate::Store>(
    st: &PortalState<S>,
    li: &LoggedIn,
    id: &str,
) -> Result<Proxy, PageError> {
    let id = ProxyId(number(id, &li.tr)?);
    st.store
        .proxy(id)
        .await
        .map_err(|e| PageError::store(e, &li.tr))?
        // Somebody else's proxy is "not found", not "forbidden": its
        // existence is not theirs to learn.
        .filter(|p| p.principal == li.session.holder.person || p.representative == li.session.holder.person)
        .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, li.tr.s("error_not_found")))
}

pub(crate) async fn revoke<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        st.not_acting(&li)?;
        let mut p = own_proxy(&st, &li, &id).await?;
        let before = p.status;
        p.revoke(&li.session.holder.person, UnixMillis::now())
            .map_err(|r| PageError::forbidden(proxy_refusal_text(&r, &li.tr)))?;
        if !st
            .store
            .update_proxy(&p, before)
            .await
            .map_err(|e| PageError::store(e, &li.tr))?
        {
            return Err(PageError::show(StatusCode::CONFLICT, li.tr.s("confirm_gone")));
        }
        tracing::info!(proxy = %p.id, "proxy revoked by the principal");
        Ok(Redirect::to("/proxies?done=revoked").into_response())
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn confirm<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        st.not_acting(&li)?;
        let p = own_proxy(&st, &li, &id).await?;
        if p.principal != li.session.holder.person {
            return Err(PageError::forbidden(proxy_refusal_text(
                &renkei_portal::ProxyRefusal::NotPrincipal,
                &li.tr,
            )));
        }
        if !matches!(p.status, ProxyStatus::OnHold { .. }) {
            return Err(PageError::show(StatusCode::CONFLICT, li.tr.s("error_forbidden")));
        }
        let text = format!(
            "{}: {} ({})",
            li.tr.s("proxy_confirm"),
            p.representative_name,
            scopes_text(p.scopes, &li.tr)
        );
        let grant_id = p
            .authority
            .as_ref()
            .map_or_else(new_proxy_grant, |a| a.grant.clone());
        st.stage(
            &li,
            addr,
            Staged::ConfirmProxy {
                proxy: p.id.0,
                grant_id,
            },
            text,
        )
        .await
    }
    .await;
    page_result(&tr, r)
}

/// Commit a staged proxy action (the card has confirmed it).
/// A consent reference for an appointment: `proxy-` and 24 hex digits.
fn new_proxy_grant() -> String {
    let hex: String = renkei_ids::random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("proxy-{hex}")
}

/// The principal's authority from a card confirmation of `grant`.
fn authority(grant: String, proof: Option<String>) -> Option<PrincipalAuthority> {
    proof.map(|proof| PrincipalAuthority { grant, proof })
}

/// `proof` is the person proof the card's confirmation yielded (for a
/// staged action that gives a consent: an invitation, a re-confirmation).
pub(crate) async fn commit_staged<S: crate::Store>(
    st: &PortalState<S>,
    li: &LoggedIn,
    staged: Staged,
    proof: Option<String>,
) -> Result<Response, PageError> {
    let tr = li.tr;
    let me = &li.session.holder.person;
    let now = UnixMillis::now();
    match staged {
        Staged::Invite {
            scopes,
            valid_from,
            valid_until,
            principal_name,
            grant_id,
        } => {
            let scopes =
                ScopeSet::from_text(&scopes).ok_or_else(|| PageError::bad(tr.s("error_bad_input")))?;
            let (Some(from), Some(until)) = (date(&valid_from), date(&valid_until)) else {
                return Err(PageError::bad(tr.s("error_bad_input")));
            };
            let code = ShortCode::random();
            st.store
                .insert_invitation(Invitation {
                    code: code.clone(),
                    principal: me.clone(),
                    principal_name,
                    principal_card: li.session.holder.serial,
                    scopes,
                    valid_from: from,
                    valid_until: until,
                    created_at: now,
                    expires_at: now.plus_ms(INVITATION_DAYS * 86_400_000),
                    authority: authority(grant_id, proof),
                })
                .await
                .map_err(|e| PageError::store(e, &tr))?;
            Ok(Redirect::to(&format!("/proxies?invited={}", code.as_str())).into_response())
        }
        Staged::Accept {
            code,
            representative_name,
        } => {
            let code = ShortCode::parse(&code).ok_or_else(|| PageError::bad(tr.s("error_bad_input")))?;
            let Some(inv) = st
                .store
                .take_invitation(&code, now)
                .await
                .map_err(|e| PageError::store(e, &tr))?
            else {
                return st
                    .proxies_page(
                        li,
                        None,
                        None,
                        Some(
                            tr.pick(
                                "この招待コードは無効か、期限切れです。",
                                "This invitation code is not valid or has expired.",
                            )
                            .to_owned(),
                        ),
                    )
                    .await;
            };
            if &inv.principal == me {
                return st
                    .proxies_page(
                        li,
                        None,
                        None,
                        Some(
                            tr.pick("ご自身の代理人にはなれません。", "You cannot be your own proxy.")
                                .to_owned(),
                        ),
                    )
                    .await;
            }
            let p = st
                .store
                .insert_proxy(Proxy {
                    id: ProxyId(0),
                    principal: inv.principal,
                    representative: me.clone(),
                    principal_name: inv.principal_name,
                    representative_name,
                    scopes: inv.scopes,
                    valid_from: inv.valid_from,
                    valid_until: inv.valid_until,
                    basis: ProxyBasis::Principal,
                    status: ProxyStatus::Active,
                    principal_card: Some(inv.principal_card),
                    representative_card: Some(li.session.holder.serial),
                    confirmed_at: now,
                    created_at: now,
                    authority: inv.authority,
                })
                .await
                .map_err(|e| PageError::store(e, &tr))?;
            tracing::info!(proxy = %p.id, "proxy appointed");
            Ok(Redirect::to("/proxies?done=accepted").into_response())
        }
        Staged::ConfirmProxy { proxy, grant_id } => {
            let mut p = st
                .store
                .proxy(ProxyId(proxy))
                .await
                .map_err(|e| PageError::store(e, &tr))?
                .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
            let before = p.status;
            let rep_card = st
                .store
                .last_card(&p.representative)
                .await
                .map_err(|e| PageError::store(e, &tr))?
                .map(|h| h.serial);
            p.confirm(me, li.session.holder.serial, rep_card, now)
                .map_err(|r| PageError::forbidden(proxy_refusal_text(&r, &tr)))?;
            // The principal's card confirmed the proxy again: a fresh proof.
            if let Some(a) = authority(grant_id, proof) {
                p.authority = Some(a);
            }
            if !st
                .store
                .update_proxy(&p, before)
                .await
                .map_err(|e| PageError::store(e, &tr))?
            {
                return Err(PageError::show(StatusCode::CONFLICT, tr.s("confirm_gone")));
            }
            tracing::info!(proxy = %p.id, "proxy confirmed again by the principal");
            Ok(Redirect::to("/proxies?done=confirmed").into_response())
        }
        Staged::RegisterAccount { .. } | Staged::Consent { .. } | Staged::LinkSender { .. } => {
            Err(PageError::bad(tr.s("error_bad_input")))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    proxy: String,
}

/// Start acting for a principal: the proxy must be this person's, active,
/// in its period, and both cards unchanged.
pub(crate) async fn act<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Form(f): Form<ActForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        let p = own_proxy(&st, &li, &f.proxy).await?;
        let now = UnixMillis::now();
        let me = &li.session.holder.person;
        // Any scope it has: the page visited next is checked for its own.
        let scope = p.scopes.iter().next().unwrap_or(Scope::MyInformation);
        p.may_act(me, scope, today_jst(now))
            .map_err(|r| PageError::forbidden(proxy_refusal_text(&r, &li.tr)))?;
        st.hold_if_cards_changed(&p, Some(&li.session), &li.tr).await?;
        st.store
            .touch_session(li.session.id, now, Some(p.id))
            .await
            .map_err(|e| PageError::store(e, &li.tr))?;
        let first = match scope {
            Scope::MyInformation => "/me",
            Scope::History => "/history",
            Scope::Notices => "/notices",
            Scope::Account => "/account",
        };
        Ok(Redirect::to(first).into_response())
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn stop_acting<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        st.store
            .touch_session(li.session.id, UnixMillis::now(), None)
            .await
            .map_err(|e| PageError::store(e, &li.tr))?;
        Ok(Redirect::to("/").into_response())
    }
    .await;
    page_result(&tr, r)
}
