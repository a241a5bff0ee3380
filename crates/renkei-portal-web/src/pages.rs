//! My Information, the exchange history and the notices.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Redirect, Response};
use renkei_api::log::{RecordCheck, check_person_records};
use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_ids::LocalPersonId;
use renkei_portal::Scope;
use renkei_protocol::UnixMillis;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::chart::{self, Point};
use crate::i18n::Tr;
use crate::routes::{CsrfForm, page_result};
use crate::state::{CachedKey, PortalState};
use crate::templates::{
    ChartRow, HistoryPage, HistoryRow, ItemView, MePage, NoticeView, NoticesPage, Opt, render,
};
use crate::web::{PageError, jst, lang_of};

/// Labels of the fields items carry (unknown ones show their key).
const FIELD_LABELS: &[(&str, &str, &str)] = &[
    ("name", "氏名", "Name"),
    ("kana", "氏名（カナ）", "Name (kana)"),
    ("address", "住所", "Address"),
    ("birth_date", "生年月日", "Date of birth"),
    ("sex", "性別", "Sex"),
    ("deceased_on", "死亡日", "Date of death"),
    ("taxable_income", "課税所得", "Taxable income"),
    ("income_kind", "所得の種類", "Kind of income"),
    ("municipal_tax", "市町村民税", "Municipal tax"),
    ("prefectural_tax", "道府県民税", "Prefectural tax"),
    ("tax_exempt", "非課税", "Exempt"),
    ("household_number", "世帯番号", "Household number"),
    ("relationship", "続柄", "Relationship"),
    ("eligible_children", "対象児童数", "Eligible children"),
    ("monthly_amount", "月額", "Monthly amount"),
    ("status", "状況", "Status"),
    ("records", "接種記録", "Records"),
    ("certificate", "手帳", "Certificate"),
    ("grade", "等級", "Grade"),
    ("kind", "種別", "Kind"),
    ("annual_amount", "年額", "Annual amount"),
    ("insurer_number", "保険者番号", "Insurer number"),
    ("symbol", "記号", "Symbol"),
    ("number", "番号", "Number"),
    ("acquired_on", "資格取得日", "Acquired on"),
    ("examined_on", "受診日", "Examined on"),
    ("height_cm", "身長 (cm)", "Height (cm)"),
    ("weight_kg", "体重 (kg)", "Weight (kg)"),
    ("bmi", "BMI", "BMI"),
    ("systolic_bp", "収縮期血圧", "Systolic BP"),
    ("diastolic_bp", "拡張期血圧", "Diastolic BP"),
    ("hba1c", "HbA1c", "HbA1c"),
    ("ldl_cholesterol", "LDLコレステロール", "LDL cholesterol"),
    ("bank", "金融機関", "Bank"),
    ("bank_code", "金融機関コード", "Bank code"),
    ("branch_code", "支店コード", "Branch code"),
    ("account_type", "預金種目", "Account type"),
    (
        "account_number_last4",
        "口座番号（下4桁）",
        "Account number (last 4)",
    ),
    ("holder_kana", "口座名義（カナ）", "Account holder"),
];

/// Fields never shown in full.
const HIDDEN_FIELDS: &[&str] = &["account_number", "registered_at"];

fn field_label(key: &str, tr: &Tr) -> String {
    FIELD_LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, ja, en)| tr.pick(ja, en).to_owned())
        .unwrap_or_else(|| key.to_owned())
}

fn field_value(key: &str, v: &serde_json::Value, tr: &Tr) -> String {
    use serde_json::Value;
    match (key, v) {
        ("sex", Value::Number(n)) => match n.as_u64() {
            Some(1) => tr.pick("男性", "Male").into(),
            Some(2) => tr.pick("女性", "Female").into(),
            Some(9) => tr.pick("適用不能", "Not applicable").into(),
            _ => tr.pick("不明", "Unknown").into(),
        },
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => tr
            .pick(if *b { "はい" } else { "いいえ" }, if *b { "Yes" } else { "No" })
            .into(),
        (_, Value::Number(n)) => n.to_string(),
        (_, Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::Object(o) => o
                    .values()
                    .map(|v| field_value("", v, tr))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => field_value("", other, tr),
            })
            .collect::<Vec<_>>()
            .join("、"),
        (_, Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k}: {}", field_value(k, v, tr)))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Value::Null) => String::new(),
    }
}

pub(crate) fn fields(value: &serde_json::Value, tr: &Tr) -> Vec<(String, String)> {
    match value {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(k, _)| !HIDDEN_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (field_label(k, tr), field_value(k, v, tr)))
            .collect(),
        other => vec![(String::new(), field_value("", other, tr))],
    }
}

fn date_of(ms: i64) -> String {
    jst(ms).chars().take(10).collect()
}

impl<S: crate::Store> PortalState<S> {
    pub(crate) fn item_name(&self, item: &str, tr: &Tr) -> String {
        ItemCode::parse(item)
            .ok()
            .and_then(|c| self.catalog.item(&c))
            .map(|i| tr.pick(&i.name_ja, &i.name_en).to_owned())
            .unwrap_or_else(|| item.to_owned())
    }

    fn work_name(&self, work: &str, tr: &Tr) -> String {
        OfficeWorkCode::parse(work)
            .ok()
            .and_then(|c| self.catalog.office_work(&c))
            .map(|w| tr.pick(&w.name_ja, &w.name_en).to_owned())
            .unwrap_or_else(|| work.to_owned())
    }

    /// Ask every configured source, concurrently, under the own-disclosure
    /// office work.
    pub(crate) async fn my_information(
        &self,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
        tr: &Tr,
    ) -> Vec<(String, u16, ItemView, Option<serde_json::Value>)>
    where
        S: Clone,
    {
        let mut tasks = tokio::task::JoinSet::new();
        let mut order = 0usize;
        for source in &self.settings.sources {
            let years: Vec<Option<u16>> = if source.fiscal_years.is_empty() {
                vec![None]
            } else {
                source.fiscal_years.iter().rev().map(|y| Some(*y)).collect()
            };
            for fy in years {
                for provider in &source.providers {
                    let backend = self.backend.clone();
                    let (person, item, provider) = (person.clone(), source.item.clone(), *provider);
                    let authority = authority.clone();
                    let n = order;
                    order += 1;
                    tasks.spawn(async move {
                        let r = backend.query(&person, provider, &item, fy, &authority).await;
                        (n, item, provider, fy, r)
                    });
                }
            }
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((n, item, provider, fy, r)) = joined else {
                continue;
            };
            let fetched = jst(UnixMillis::now().0);
            let source = self.institution_name(&provider.to_string(), tr);
            let (status, fields, updated, value) = match r {
                Ok(q) if q.status == "found" => {
                    let value = q.value.unwrap_or(serde_json::Value::Null);
                    (
                        "found",
                        fields(&value, tr),
                        q.updated_at.map(date_of).unwrap_or_default(),
                        Some(value),
                    )
                }
                Ok(_) => ("no_data", Vec::new(), String::new(), None),
                Err(e) => {
                    tracing::warn!(error = %e, %item, %provider, "My Information: a source failed");
                    ("unavailable", Vec::new(), String::new(), None)
                }
            };
            results.push((
                n,
                item.clone(),
                fy.unwrap_or(0),
                ItemView {
                    name: self.item_name(&item, tr),
                    source,
                    fiscal_year: fy,
                    status,
                    fields,
                    updated,
                    fetched,
                },
                value,
            ));
        }
        results.sort_by_key(|r| r.0);
        results
            .into_iter()
            .map(|(_, i, fy, v, val)| (i, fy, v, val))
            .collect()
    }

    /// The person's key for the log, from the cache of this session or
    /// from the hub through the node.
    pub(crate) async fn person_key(
        &self,
        session: &renkei_portal::Session,
        person: &LocalPersonId,
        authority: &crate::web::Authority,
        tr: &Tr,
    ) -> Result<(Zeroizing<[u8; 32]>, Zeroizing<String>, String), PageError> {
        if let Some(k) = self.person_keys.lock().unwrap_or_else(|p| p.into_inner()).get(
            &session.id,
            &self.policy,
            UnixMillis::now(),
        ) && &k.person == person
        {
            return Ok((k.key.clone(), k.token.clone(), k.log_key.clone()));
        }
        let r = self
            .backend
            .person_key(person, authority)
            .await
            .map_err(|e| PageError::backend("person key", e, tr))?;
        let key: [u8; 32] = renkei_crypto::unb64("person key", &r.person_key)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| PageError::backend("person key", "not 32 bytes", tr))?;
        let cached = CachedKey {
            key: Zeroizing::new(key),
            token: Zeroizing::new(r.access_token.clone()),
            log_key: r.log_key.clone(),
            person: person.clone(),
        };
        let out = (cached.key.clone(), cached.token.clone(), cached.log_key.clone());
        self.person_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session, UnixMillis::now(), cached);
        Ok(out)
    }
}

pub(crate) async fn me<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let (subject, proxy) = st.subject(&li, Scope::MyInformation, "my_information").await?;
        let authority = crate::web::Authority::of(&li, proxy.as_ref());
        authority.require(&li.tr)?;
        let results = st.my_information(&subject, &authority, &li.tr).await;
        let mut points: BTreeMap<u16, Point> = BTreeMap::new();
        for (item, fy, _, value) in &results {
            if item == "health_checkup"
                && let Some(v) = value
            {
                points.insert(
                    *fy,
                    Point {
                        year: *fy,
                        systolic: v.get("systolic_bp").and_then(serde_json::Value::as_f64),
                        hba1c: v.get("hba1c").and_then(serde_json::Value::as_f64),
                    },
                );
            }
        }
        let pts: Vec<Point> = points.into_values().collect();
        let chart = chart::svg(&pts, li.tr.s("chart_systolic"), li.tr.s("chart_hba1c"));
        let chart_rows = pts
            .iter()
            .map(|p| ChartRow {
                year: p.year,
                systolic: p.systolic.map(|v| format!("{v:.0}")).unwrap_or_default(),
                hba1c: p.hba1c.map(|v| format!("{v:.1}")).unwrap_or_default(),
            })
            .collect();
        // Periodic items other than the charted checkups: newest year first,
        // and only years with data once any year has data.
        let items = results
            .into_iter()
            .filter(|(item, _, v, _)| item != "health_checkup" || v.status != "found" || chart.is_none())
            .map(|(_, _, v, _)| v)
            .collect();
        Ok(render(&MePage {
            ctx: st.ctx(&li, "me_title", "/me").await,
            items,
            chart,
            chart_rows,
        }))
    }
    .await;
    page_result(&tr, r)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    institution: Option<String>,
    #[serde(default)]
    office_work: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<usize>,
}

const PAGE_SIZE: usize = 100;

fn parse_date(s: &Option<String>) -> Result<Option<time::Date>, ()> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| ()),
    }
}

pub(crate) async fn history<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let tr = li.tr;
        let (subject, proxy) = st.subject(&li, Scope::History, "history").await?;
        let authority = crate::web::Authority::of(&li, proxy.as_ref());
        authority.require(&tr)?;
        let mut error = None;
        let from = parse_date(&q.from).unwrap_or_else(|_| {
            error = Some(format!("{}: {}", tr.s("filter_from"), tr.s("error_bad_input")));
            None
        });
        let to = parse_date(&q.to).unwrap_or_else(|_| {
            error = Some(format!("{}: {}", tr.s("filter_to"), tr.s("error_bad_input")));
            None
        });
        let institution = q.institution.clone().filter(|s| !s.is_empty());
        let work = q.office_work.clone().filter(|s| !s.is_empty());
        let (key, token, log_key) = st.person_key(&li.session, &subject, &authority, &tr).await?;
        let records = st
            .backend
            .person_records(&token)
            .await
            .map_err(|e| PageError::backend("person records", e, &tr))?;
        let verifier =
            renkei_log::NoteVerifier::parse(&log_key).map_err(|e| PageError::backend("log key", e, &tr))?;
        let (cp, checked) = check_person_records(&records, &verifier, &key).map_err(|e| {
            // A checkpoint that does not verify: nothing is shown as verified.
            metrics::counter!("renkei_portal_history_failures_total").increment(1);
            PageError::backend("checkpoint", e, &tr)
        })?;
        metrics::counter!("renkei_portal_history_views_total").increment(1);
        let mut seen_institutions = std::collections::BTreeSet::new();
        let mut seen_works = std::collections::BTreeSet::new();
        let mut rows: Vec<HistoryRow> = Vec::new();
        for c in checked.iter().rev() {
            let (mark, mark_text) = match &c.check {
                RecordCheck::Included => ("verified", tr.s("history_verified").to_owned()),
                RecordCheck::Pending => ("pending", tr.s("history_pending").to_owned()),
                RecordCheck::Failed(why) => {
                    tracing::warn!(index = c.index, %why, "a record failed verification");
                    ("failed", tr.s("history_failed").to_owned())
                }
            };
            let Some(leaf) = &c.leaf else {
                rows.push(HistoryRow {
                    index: c.index,
                    date: String::new(),
                    requester: String::new(),
                    provider: String::new(),
                    work: String::new(),
                    item: String::new(),
                    outcome: String::new(),
                    mark,
                    mark_text,
                    delayed: None,
                });
                continue;
            };
            let (req, prov, w) = (
                leaf.requester.to_string(),
                leaf.provider.to_string(),
                leaf.office_work.to_string(),
            );
            seen_institutions.insert(req.clone());
            seen_institutions.insert(prov.clone());
            seen_works.insert(w.clone());
            if let Some(i) = &institution
                && i != &req
                && i != &prov
            {
                continue;
            }
            if let Some(wk) = &work
                && wk != &w
            {
                continue;
            }
            let day = (leaf.requested_at.to_datetime() + time::Duration::hours(9)).date();
            if from.is_some_and(|f| day < f) || to.is_some_and(|t| day > t) {
                continue;
            }
            let item = match leaf.fiscal_year {
                Some(fy) => format!(
                    "{} ({} {})",
                    st.item_name(&leaf.item.to_string(), &tr),
                    tr.s("fiscal_year"),
                    fy
                ),
                None => st.item_name(&leaf.item.to_string(), &tr),
            };
            rows.push(HistoryRow {
                index: c.index,
                date: jst(leaf.requested_at.0),
                requester: st.institution_name(&req, &tr),
                provider: st.institution_name(&prov, &tr),
                work: st.work_name(&w, &tr),
                item,
                outcome: leaf.outcome.as_str().to_owned(),
                mark,
                mark_text,
                delayed: leaf.hidden_reason.clone(),
            });
        }
        let total = rows.len();
        let page = q.page.unwrap_or(0);
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = page.min(pages - 1);
        let rows: Vec<HistoryRow> = rows.into_iter().skip(page * PAGE_SIZE).take(PAGE_SIZE).collect();
        let link = |p: usize| {
            let mut s = format!("/history?page={p}");
            for (k, v) in [
                ("institution", &institution),
                ("office_work", &work),
                ("from", &q.from),
                ("to", &q.to),
            ] {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    s.push_str(&format!("&{k}={}", crate::templates::encode_component(v)));
                }
            }
            s
        };
        let institutions = seen_institutions
            .into_iter()
            .map(|i| Opt {
                label: st.institution_name(&i, &tr),
                selected: institution.as_deref() == Some(i.as_str()),
                value: i,
            })
            .collect();
        let works = seen_works
            .into_iter()
            .map(|w| Opt {
                label: st.work_name(&w, &tr),
                selected: work.as_deref() == Some(w.as_str()),
                value: w,
            })
            .collect();
        Ok(render(&HistoryPage {
            ctx: st.ctx(&li, "history_title", "/history").await,
            checkpoint_size: cp.size,
            total,
            rows,
            institutions,
            works,
            filtered: institution.is_some()
                || work.is_some()
                || q.from.as_deref().is_some_and(|f| !f.is_empty())
                || q.to.as_deref().is_some_and(|t| !t.is_empty()),
            from: q.from.clone().unwrap_or_default(),
            to: q.to.clone().unwrap_or_default(),
            prev: (page > 0).then(|| link(page - 1)),
            next: (page + 1 < pages).then(|| link(page + 1)),
            error,
        }))
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn notices<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        let (subject, _) = st.subject(&li, Scope::Notices, "notices").await?;
        let list = st
            .backend
            .notices(&subject)
            .await
            .map_err(|e| PageError::backend("notices", e, &li.tr))?;
        let tr = li.tr;
        let notices = list
            .into_iter()
            .map(|n| NoticeView {
                title: match (&n.title_en, tr.lang) {
                    (Some(en), crate::i18n::Lang::En) => en.clone(),
                    _ => n.title_ja.clone(),
                },
                body: match (&n.body_en, tr.lang) {
                    (Some(en), crate::i18n::Lang::En) => en.clone(),
                    _ => n.body_ja.clone(),
                },
                from: st.institution_name(&n.sender, &tr),
                sent: jst(n.sent_at),
                unread: n.read_at.is_none(),
                id: n.id,
            })
            .collect();
        Ok(render(&NoticesPage {
            ctx: st.ctx(&li, "notices_title", "/notices").await,
            notices,
        }))
    }
    .await;
    page_result(&tr, r)
}

pub(crate) async fn mark_read<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let (subject, _) = st.subject(&li, Scope::Notices, "notice_read").await?;
        if id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(PageError::bad(li.tr.s("error_bad_input")));
        }
        match st.backend.mark_read(&subject, &id).await {
            Ok(_) => Ok(axum::response::IntoResponse::into_response(Redirect::to(
                "/notices",
            ))),
            Err(renkei_transport::ApiFailure::Rejected { status: 404, .. }) => Err(PageError::show(
                axum::http::StatusCode::NOT_FOUND,
                li.tr.s("error_not_found"),
            )),
            Err(e) => Err(PageError::backend("mark read", e, &li.tr)),
        }
    }
    .await;
    page_result(&tr, r)
}
