//! The pages, as askama templates (`templates/`): server-rendered, no
//! script needed to use them (a small script only polls for approval).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::i18n::Tr;

/// A link of the main menu.
#[derive(Debug, Clone)]
pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) label: String,
    pub(crate) current: bool,
}

/// What every page's frame needs.
#[derive(Debug, Clone)]
pub(crate) struct PageCtx {
    pub(crate) tr: Tr,
    pub(crate) title: String,
    /// The session's form token (empty when logged out).
    pub(crate) csrf: String,
    pub(crate) logged_in: bool,
    /// Where the language switch comes back to (already encoded).
    pub(crate) back: String,
    pub(crate) nav: Vec<NavItem>,
    /// Whose data is shown when acting as a proxy.
    pub(crate) acting: Option<String>,
    /// A success message.
    pub(crate) flash: Option<String>,
}

const NAV: [(&str, &str); 8] = [
    ("/", "nav_home"),
    ("/me", "nav_me"),
    ("/history", "nav_history"),
    ("/notices", "nav_notices"),
    ("/mailbox", "nav_mailbox"),
    ("/account", "nav_account"),
    ("/proxies", "nav_proxies"),
    ("/consents", "nav_consents"),
];

/// Percent-encode a path for a query parameter.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl PageCtx {
    pub(crate) fn anonymous(tr: Tr, title: &str, path: &str) -> Self {
        Self {
            tr,
            title: title.to_owned(),
            csrf: String::new(),
            logged_in: false,
            back: encode_component(path),
            nav: Vec::new(),
            acting: None,
            flash: None,
        }
    }

    pub(crate) fn member(tr: Tr, title: &str, path: &str, csrf: String, acting: Option<String>) -> Self {
        let section = NAV
            .iter()
            .filter(|(href, _)| *href != "/" && path.starts_with(href))
            .map(|(href, _)| *href)
            .next()
            .unwrap_or("/");
        Self {
            tr,
            title: title.to_owned(),
            csrf,
            logged_in: true,
            back: encode_component(path),
            nav: NAV
                .iter()
                .map(|(href, key)| NavItem {
                    href,
                    label: tr.s(key).to_owned(),
                    current: *href == section,
                })
                .collect(),
            acting,
            flash: None,
        }
    }

    pub(crate) fn with_flash(mut self, flash: Option<String>) -> Self {
        self.flash = flash;
        self
    }
}

pub(crate) fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Opt {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub(crate) struct LandingPage {
    pub(crate) ctx: PageCtx,
    pub(crate) message: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) ctx: PageCtx,
    pub(crate) code: String,
    /// The number the person enters on the card app.
    pub(crate) match_value: String,
    /// This browser's address as the portal saw it, and when it asked
    /// (what the card app shows too).
    pub(crate) browser: String,
    pub(crate) requested: String,
    pub(crate) qr_svg: String,
    pub(crate) cli: String,
    pub(crate) message: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ActFor {
    pub(crate) proxy: u64,
    pub(crate) name: String,
    pub(crate) scopes: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) ctx: PageCtx,
    pub(crate) unread: usize,
    pub(crate) profile: String,
    pub(crate) act_for: Vec<ActFor>,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemView {
    pub(crate) name: String,
    pub(crate) source: String,
    pub(crate) fiscal_year: Option<u16>,
    /// found | no_data | unavailable
    pub(crate) status: &'static str,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) updated: String,
    pub(crate) fetched: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ChartRow {
    pub(crate) year: u16,
    pub(crate) systolic: String,
    pub(crate) hba1c: String,
}

#[derive(Template)]
#[template(path = "me.html")]
pub(crate) struct MePage {
    pub(crate) ctx: PageCtx,
    pub(crate) items: Vec<ItemView>,
    pub(crate) chart: Option<String>,
    pub(crate) chart_rows: Vec<ChartRow>,
}

#[derive(Debug, Clone)]
pub(crate) struct HistoryRow {
    pub(crate) index: u64,
    pub(crate) date: String,
    pub(crate) requester: String,
    pub(crate) provider: String,
    pub(crate) work: String,
    pub(crate) item: String,
    pub(crate) outcome: String,
    /// verified | pending | failed
    pub(crate) mark: &'static str,
    pub(crate) mark_text: String,
    pub(crate) delayed: Option<String>,
}

#[derive(Template)]
#[template(path = "history.html")]
pub(crate) struct HistoryPage {
    pub(crate) ctx: PageCtx,
    pub(crate) checkpoint_size: u64,
    pub(crate) total: usize,
    pub(crate) rows: Vec<HistoryRow>,
    pub(crate) institutions: Vec<Opt>,
    pub(crate) works: Vec<Opt>,
    pub(crate) from: String,
    pub(crate) to: String,
    /// Any filter set: the filter form is shown open.
    pub(crate) filtered: bool,
    pub(crate) prev: Option<String>,
    pub(crate) next: Option<String>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct NoticeView {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) from: String,
    pub(crate) sent: String,
    pub(crate) unread: bool,
}

#[derive(Template)]
#[template(path = "notices.html")]
pub(crate) struct NoticesPage {
    pub(crate) ctx: PageCtx,
    pub(crate) notices: Vec<NoticeView>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AccountForm {
    pub(crate) bank_code: String,
    pub(crate) branch_code: String,
    pub(crate) kind: String,
    pub(crate) number: String,
    pub(crate) holder_kana: String,
}

#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    pub(crate) ctx: PageCtx,
    /// Bank, branch, type, masked number, holder.
    pub(crate) current: Option<Vec<(String, String)>>,
    pub(crate) form: AccountForm,
    pub(crate) kinds: Vec<Opt>,
    pub(crate) errors: Vec<FieldError>,
    pub(crate) error: Option<String>,
}

impl AccountPage {
    pub(crate) fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub(crate) ctx: PageCtx,
    pub(crate) id: String,
    pub(crate) code: String,
    pub(crate) qr_svg: String,
    pub(crate) action: String,
    pub(crate) cli: String,
    pub(crate) message: Option<String>,
    pub(crate) cancel: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ProxyView {
    pub(crate) id: u64,
    pub(crate) person: String,
    pub(crate) scopes: String,
    pub(crate) period: String,
    pub(crate) status: String,
    pub(crate) status_class: &'static str,
    pub(crate) basis: String,
    pub(crate) can_revoke: bool,
    pub(crate) can_confirm: bool,
    pub(crate) can_act: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ActView {
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) action: String,
}

#[derive(Template)]
#[template(path = "proxies.html")]
pub(crate) struct ProxiesPage {
    pub(crate) ctx: PageCtx,
    pub(crate) mine: Vec<ProxyView>,
    pub(crate) theirs: Vec<ProxyView>,
    pub(crate) acts: Vec<ActView>,
    pub(crate) scopes: Vec<Opt>,
    pub(crate) invitation: Option<String>,
    pub(crate) today: String,
    pub(crate) until: String,
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) ctx: PageCtx,
    pub(crate) message: String,
}

/// One item on the consent page: exactly what would be sent.
#[derive(Debug, Clone)]
pub(crate) struct ConsentItem {
    pub(crate) name: String,
    pub(crate) year: Option<String>,
    pub(crate) source: String,
    pub(crate) fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage {
    pub(crate) ctx: PageCtx,
    pub(crate) client_name: String,
    pub(crate) corporate_number: String,
    pub(crate) client_purpose: String,
    pub(crate) purpose: String,
    pub(crate) data_life_days: u32,
    pub(crate) periodic: bool,
    pub(crate) duration_days: u32,
    pub(crate) items: Vec<ConsentItem>,
    pub(crate) client_id: String,
    pub(crate) request_uri: String,
    pub(crate) preview_digest: String,
}

#[derive(Debug, Clone)]
pub(crate) struct FetchView {
    pub(crate) at: String,
    pub(crate) text: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsentView {
    pub(crate) id: String,
    pub(crate) client: String,
    pub(crate) items: String,
    pub(crate) purpose: String,
    pub(crate) data_life_days: u32,
    pub(crate) given: String,
    pub(crate) until: String,
    pub(crate) status: String,
    pub(crate) active: bool,
    pub(crate) fetches: Vec<FetchView>,
}

#[derive(Template)]
#[template(path = "consents.html")]
pub(crate) struct ConsentsPage {
    pub(crate) ctx: PageCtx,
    pub(crate) consents: Vec<ConsentView>,
}

#[derive(Debug, Clone)]
pub(crate) struct MailboxItem {
    pub(crate) href: String,
    pub(crate) sender: String,
    pub(crate) type_label: String,
    pub(crate) tax_year: u16,
    pub(crate) deposited: String,
    pub(crate) versions: usize,
    pub(crate) unread: bool,
    pub(crate) voided: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct LinkView {
    pub(crate) sender_id: String,
    pub(crate) sender: String,
    pub(crate) reference: String,
    pub(crate) since: String,
    pub(crate) active: bool,
}

#[derive(Template)]
#[template(path = "mailbox.html")]
pub(crate) struct MailboxPage {
    pub(crate) ctx: PageCtx,
    pub(crate) items: Vec<MailboxItem>,
    pub(crate) years: Vec<Opt>,
    pub(crate) types: Vec<Opt>,
    pub(crate) links: Vec<LinkView>,
    pub(crate) linkable: Vec<Opt>,
    pub(crate) draft_year: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct VersionView {
    pub(crate) href: String,
    pub(crate) version: u32,
    pub(crate) document_id: String,
    pub(crate) deposited: String,
    pub(crate) current: bool,
    pub(crate) voided: bool,
}

#[derive(Template)]
#[template(path = "mailbox_document.html")]
pub(crate) struct DocumentPage {
    pub(crate) ctx: PageCtx,
    pub(crate) sender: String,
    pub(crate) corporate_number: String,
    pub(crate) type_label: String,
    pub(crate) document_id: String,
    pub(crate) version: u32,
    pub(crate) tax_year: u16,
    pub(crate) deposited: String,
    pub(crate) opened: String,
    pub(crate) superseded: bool,
    pub(crate) voided: Option<String>,
    pub(crate) signature: String,
    pub(crate) signature_ok: bool,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) versions: Vec<VersionView>,
    /// The document's own path, for download and delete.
    pub(crate) base: String,
}

#[derive(Debug, Clone)]
pub(crate) struct DraftLineView {
    pub(crate) figure: String,
    pub(crate) label: String,
    pub(crate) amount: String,
    pub(crate) rule: String,
    pub(crate) note: String,
    pub(crate) documents: Vec<String>,
}

#[derive(Template)]
#[template(path = "draft.html")]
pub(crate) struct DraftPage {
    pub(crate) ctx: PageCtx,
    pub(crate) year: u16,
    pub(crate) lines: Vec<DraftLineView>,
    pub(crate) notes: Vec<String>,
    pub(crate) error: Option<String>,
}
