//! The public-fund account, and the confirmation of staged actions with
//! the card at commit (re-authentication) that it and the proxies use.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_ids::LocalPersonId;
use renkei_portal::{
    AccountKind, Challenge, ChallengePurpose, ChallengeState, FundAccount, PendingAction, Scope, Secret,
};
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::i18n::Tr;
use crate::routes::page_result;
use crate::state::PortalState;
use crate::templates::{AccountForm, AccountPage, ConfirmPage, FieldError, Opt, render};
use crate::web::{ClientAddr, LoggedIn, PageError, lang_of};

/// What a session staged, committed once the card confirms it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Staged {
    RegisterAccount {
        subject: String,
        proxy: Option<u64>,
        bank_code: String,
        branch_code: String,
        account_kind: String,
        number: String,
        holder_kana: String,
    },
    Invite {
        scopes: String,
        valid_from: String,
        valid_until: String,
        principal_name: String,
        /// The principal's consent to be represented, which the card
        /// confirms (and the hub's proof of it).
        grant_id: String,
    },
    Accept {
        code: String,
        representative_name: String,
    },
    ConfirmProxy {
        proxy: u64,
        grant_id: String,
    },
    LinkSender {
        subject: String,
        proxy: Option<u64>,
        sender: String,
        reference: Option<String>,
    },
    Consent {
        client_id: String,
        request_uri: String,
        preview_digest: String,
        /// Chosen when the person agrees, so that the card's confirmation
        /// names it (and the hub's proof of it is for this consent only).
        grant_id: String,
    },
}

impl<S: crate::Store> PortalState<S> {
    /// Stage `action` for this session and send the browser to confirm it
    /// with the card; `text` is what the card app shows.
    pub(crate) async fn stage(
        &self,
        li: &LoggedIn,
        browser: std::net::IpAddr,
        action: Staged,
        text: String,
    ) -> Result<Response, PageError> {
        let tr = &li.tr;
        let now = UnixMillis::now();
        let grant = match &action {
            Staged::Consent { grant_id, .. }
            | Staged::Invite { grant_id, .. }
            | Staged::ConfirmProxy { grant_id, .. } => Some(grant_id.clone()),
            _ => None,
        };
        let challenge = Challenge::new(
            ChallengePurpose::Confirm { action: text, grant },
            &li.secret,
            browser,
            now,
            self.settings.challenge_secs as i64 * 1000,
        );
        let code = challenge.code.clone();
        self.store
            .insert_challenge(challenge)
            .await
            .map_err(|e| PageError::store(e, tr))?;
        let id = Secret::random();
        self.store
            .insert_pending(PendingAction {
                id: id.hash(),
                session: li.session.id,
                challenge: code,
                action: serde_json::to_string(&action).map_err(|e| PageError::backend("stage", e, tr))?,
                created_at: now,
            })
            .await
            .map_err(|e| PageError::store(e, tr))?;
        Ok(Redirect::to(&format!("/confirm/{}", id.expose())).into_response())
    }

    /// The registered reading of a person's name, from their own four
    /// facts through the hub.
    pub(crate) async fn four_facts(
        &self,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
        tr: &Tr,
    ) -> Result<serde_json::Value, PageError> {
        let registry = self
            .settings
            .sources
            .iter()
            .find(|s| s.item == "four_facts")
            .and_then(|s| s.providers.first().copied())
            .ok_or_else(|| PageError::backend("four facts", "no source configured for four_facts", tr))?;
        let q = self
            .backend
            .query(person, registry, "four_facts", None, authority)
            .await
            .map_err(|e| PageError::backend("four facts", e, tr))?;
        q.value
            .filter(|_| q.status == "found")
            .ok_or_else(|| PageError::backend("four facts", "the registry has no facts for the person", tr))
    }

    pub(crate) async fn own_name(
        &self,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
        tr: &Tr,
    ) -> Result<String, PageError> {
        let facts = self.four_facts(person, authority, tr).await?;
        Ok(facts
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned())
    }

    async fn current_account(
        &self,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
        tr: &Tr,
    ) -> Result<Option<Vec<(String, String)>>, PageError> {
        let Some(provider) = self
            .settings
            .sources
            .iter()
            .find(|s| s.item == "public_fund_account")
            .and_then(|s| s.providers.first().copied())
        else {
            return Ok(None);
        };
        let q = self
            .backend
            .query(person, provider, "public_fund_account", None, authority)
            .await
            .map_err(|e| PageError::backend("account", e, tr))?;
        Ok(q.value
            .filter(|_| q.status == "found")
            .map(|v| crate::pages::fields(&v, tr)))
    }
}

fn kinds(tr: &Tr, selected: &str) -> Vec<Opt> {
    [
        (AccountKind::Ordinary, "kind_ordinary"),
        (AccountKind::Current, "kind_current"),
        (AccountKind::Savings, "kind_savings"),
    ]
    .into_iter()
    .map(|(k, key)| Opt {
        value: k.as_str().to_owned(),
        label: tr.s(key).to_owned(),
        selected: selected == k.as_str(),
    })
    .collect()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub(crate) async fn page<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let (subject, proxy) = st.subject(&li, Scope::Account, "account_view").await?;
        let authority = crate::web::Authority::of(&li, proxy.as_ref());
        authority.require(&li.tr)?;
        let current = st.current_account(&subject, &authority, &li.tr).await?;
        let flash = q.done.map(|_| li.tr.s("account_saved").to_owned());
        Ok(render(&AccountPage {
            ctx: st.ctx(&li, "account_title", "/account").await.with_flash(flash),
            current,
            form: AccountForm {
                kind: "ordinary".into(),
                ..Default::default()
            },
            kinds: kinds(&li.tr, "ordinary"),
            errors: Vec::new(),
            error: None,
        }))
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountSubmit {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bank_code: String,
    #[serde(default)]
    branch_code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    holder_kana: String,
}

/// Check the form, and the holder against the registered reading; stage
/// the registration for confirmation with the card. Nothing is stored yet.
pub(crate) async fn submit<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AccountSubmit>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &f.csrf)?;
        let tr = li.tr;
        let (subject, proxy) = st.subject(&li, Scope::Account, "account_submit").await?;
        let authority = crate::web::Authority::of(&li, proxy.as_ref());
        authority.require(&tr)?;
        let form = AccountForm {
            bank_code: f.bank_code.clone(),
            branch_code: f.branch_code.clone(),
            kind: f.kind.clone(),
            number: f.number.clone(),
            holder_kana: f.holder_kana.clone(),
        };
        let again = |errors: Vec<FieldError>, error: Option<String>, current| {
            let form = form.clone();
            let st = st.clone();
            let li = &li;
            async move {
                let mut resp = render(&AccountPage {
                    ctx: st.ctx(li, "account_title", "/account").await,
                    current,
                    kinds: kinds(&tr, &form.kind),
                    form,
                    errors,
                    error,
                });
                *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                resp
            }
        };
        let account = match FundAccount::parse(&f.bank_code, &f.branch_code, &f.kind, &f.number, &f.holder_kana) {
            Ok(a) => a,
            Err(errs) => {
                let errors = errs
                    .into_iter()
                    .map(|e| FieldError {
                        field: e.field,
                        message: tr.s(&format!("err_{}", e.problem)).to_owned(),
                    })
                    .collect();
                let current = st.current_account(&subject, &authority, &tr).await?;
                return Ok(again(errors, Some(tr.s("err_form").to_owned()), current).await);
            }
        };
        let facts = st.four_facts(&subject, &authority, &tr).await?;
        let registered = facts.get("kana").and_then(|v| v.as_str()).unwrap_or_default();
        if let Err(m) = account.check_holder(registered) {
            metrics::counter!("renkei_portal_account_kana_mismatches_total").increment(1);
            let message = match tr.lang {
                crate::i18n::Lang::Ja => format!(
                    "口座名義（カナ）「{}」が、住民票に登録されている読み「{}」と一致しません。ご本人名義の口座のみ登録できます。",
                    m.entered, m.registered
                ),
                crate::i18n::Lang::En => format!(
                    "The account holder \"{}\" does not match your registered reading \"{}\". Only an account in your own name can be registered.",
                    m.entered, m.registered
                ),
            };
            let current = st.current_account(&subject, &authority, &tr).await?;
            let errors = vec![FieldError {
                field: "holder_kana",
                message: message.clone(),
            }];
            return Ok(again(errors, Some(message), current).await);
        }
        let text = format!(
            "{}: {} {} {} ****{} {}",
            tr.s("account_title"),
            account.bank_name(),
            account.branch_code,
            account.kind.label_ja(),
            account.last4(),
            account.holder_kana
        );
        st.stage(
            &li,
            addr,
            Staged::RegisterAccount {
                subject: subject.to_string(),
                proxy: proxy.map(|p| p.id.0),
                bank_code: account.bank_code.clone(),
                branch_code: account.branch_code.clone(),
                account_kind: account.kind.as_str().to_owned(),
                number: account.number.clone(),
                holder_kana: account.holder_kana.clone(),
            },
            text,
        )
        .await
    }
    .await;
    page_result(&tr, r)
}

fn pending_id(s: &str, tr: &Tr) -> Result<Secret, PageError> {
    Secret::parse(s).ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("confirm_gone")))
}

impl<S: crate::Store> PortalState<S> {
    async fn confirm_view(
        &self,
        li: &LoggedIn,
        id: &str,
        message: Option<String>,
    ) -> Result<Response, PageError> {
        let tr = &li.tr;
        let secret = pending_id(id, tr)?;
        let gone = || PageError::show(StatusCode::GONE, tr.s("confirm_gone"));
        let pending = self
            .store
            .pending(secret.hash())
            .await
            .map_err(|e| PageError::store(e, tr))?
            .filter(|p| p.session == li.session.id)
            .ok_or_else(gone)?;
        let challenge = self
            .store
            .challenge(&pending.challenge)
            .await
            .map_err(|e| PageError::store(e, tr))?
            .ok_or_else(gone)?;
        if challenge.is_expired(UnixMillis::now()) {
            return Err(gone());
        }
        let action = match &challenge.purpose {
            ChallengePurpose::Confirm { action, .. } => action.clone(),
            ChallengePurpose::Login => String::new(),
        };
        let cancel = match renkei_protocol::strict_json::from_str::<Staged>(&pending.action) {
            Ok(Staged::RegisterAccount { .. }) => "/account",
            Ok(Staged::Consent { .. }) => "/",
            Ok(Staged::LinkSender { .. }) => "/mailbox",
            _ => "/proxies",
        };
        let mut resp = render(&ConfirmPage {
            ctx: self.ctx(li, "confirm_title", &format!("/confirm/{id}")).await,
            id: id.to_owned(),
            qr_svg: crate::qr::svg(&format!(
                "{}/api/card/v1/challenges/{}",
                self.origin,
                challenge.code.as_str()
            )),
            cli: self.card_cli(&challenge.code),
            code: challenge.code.to_string(),
            action,
            message: message.clone(),
            cancel: cancel.to_owned(),
        });
        if message.is_some() {
            *resp.status_mut() = StatusCode::CONFLICT;
        }
        Ok(resp)
    }
}

pub(crate) async fn confirm_page<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.confirm_view(&li, &id, None).await
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn confirm_status<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Ok(li) = st.logged_in(&headers).await else {
        return crate::routes::state_json(None, UnixMillis::now()).into_response();
    };
    let Some(secret) = Secret::parse(&id) else {
        return crate::routes::state_json(None, UnixMillis::now()).into_response();
    };
    let pending = st
        .store
        .pending(secret.hash())
        .await
        .ok()
        .flatten()
        .filter(|p| p.session == li.session.id);
    let challenge = match pending {
        Some(p) => st.store.challenge(&p.challenge).await.ok().flatten(),
        None => None,
    };
    crate::routes::state_json(challenge.as_ref(), UnixMillis::now()).into_response()
}

/// Commit a staged action once the logged-in person's own card approved it.
pub(crate) async fn commit<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<crate::routes::CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let tr = li.tr;
        let secret = pending_id(&id, &tr)?;
        let gone = || PageError::show(StatusCode::GONE, tr.s("confirm_gone"));
        let pending = st
            .store
            .pending(secret.hash())
            .await
            .map_err(|e| PageError::store(e, &tr))?
            .filter(|p| p.session == li.session.id)
            .ok_or_else(gone)?;
        let now = UnixMillis::now();
        let holder = st
            .store
            .take_challenge(&pending.challenge, li.secret.hash(), now)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        let Some(holder) = holder else {
            let c = st
                .store
                .challenge(&pending.challenge)
                .await
                .map_err(|e| PageError::store(e, &tr))?;
            return match c {
                Some(c) if c.state == ChallengeState::Pending && !c.is_expired(now) => {
                    st.confirm_view(&li, &id, Some(tr.s("confirm_not_yet").to_owned()))
                        .await
                }
                _ => Err(gone()),
            };
        };
        // Consumed either way from here: a confirmation is used once.
        st.store
            .take_pending(secret.hash(), li.session.id)
            .await
            .map_err(|e| PageError::store(e, &tr))?;
        if holder.person != li.session.holder.person {
            metrics::counter!("renkei_portal_confirm_wrong_card_total").increment(1);
            return Err(PageError::forbidden(tr.s("confirm_wrong_card")));
        }
        let staged: Staged = renkei_protocol::strict_json::from_str(&pending.action)
            .map_err(|e| PageError::backend("staged action", e, &tr))?;
        metrics::counter!("renkei_portal_confirmed_actions_total").increment(1);
        match staged {
            Staged::RegisterAccount {
                subject,
                bank_code,
                branch_code,
                account_kind,
                number,
                holder_kana,
                ..
            } => {
                // The proxy (if any) must still hold at the moment of commit.
                let (now_subject, _) = st.subject(&li, Scope::Account, "account_register").await?;
                if now_subject.as_str() != subject {
                    return Err(PageError::forbidden(tr.s("error_forbidden")));
                }
                let account =
                    FundAccount::parse(&bank_code, &branch_code, &account_kind, &number, &holder_kana)
                        .map_err(|_| PageError::bad(tr.s("error_bad_input")))?;
                let value = serde_json::json!({
                    "bank_code": account.bank_code,
                    "bank": account.bank_name(),
                    "branch_code": account.branch_code,
                    "account_type": account.kind.label_ja(),
                    "account_number": account.number,
                    "account_number_last4": account.last4(),
                    "holder_kana": account.holder_kana,
                    "registered_at": now.0,
                });
                st.backend
                    .set_item(&now_subject, "public_fund_account", value)
                    .await
                    .map_err(|e| PageError::backend("account registration", e, &tr))?;
                tracing::info!(
                    acting = li.session.acting_for.is_some(),
                    "public-fund account registered"
                );
                Ok(Redirect::to("/account?done=1").into_response())
            }
            Staged::Consent {
                client_id,
                request_uri,
                preview_digest,
                grant_id,
            } => {
                crate::oauth::commit_consent(
                    &st,
                    &li,
                    crate::oauth::ConsentCommit {
                        client_id: &client_id,
                        request_uri: &request_uri,
                        preview: &preview_digest,
                        grant_id: &grant_id,
                        person_proof: holder.person_proof,
                    },
                )
                .await
            }
            Staged::LinkSender {
                subject,
                sender,
                reference,
                ..
            } => crate::mailbox::commit_link(&st, &li, &subject, &sender, reference.as_deref()).await,
            other => crate::proxies::commit_staged(&st, &li, other, holder.person_proof).await,
        }
    }
    .await;
    page_result(&tr, r)
}
