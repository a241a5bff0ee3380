//! A resident at the portal, without a browser: cookies by hand and no
//! redirects followed (the demo links its residents' senders this way, and
//! the tests' client shares the page reading). Every step is the one a
//! person takes: log in with the card, fill in a form, confirm with the
//! card.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use renkei_card::{CardSecret, SoftwareCard};
use renkei_portal_web::cardapp::CardApp;

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The text of the element with this id (first match, tags stripped).
    pub fn id_text(&self, id: &str) -> Option<String> {
        let start = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[start..];
        let open_end = rest.find('>')? + 1;
        let rest = &rest[open_end..];
        let mut depth = 0usize;
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '<' {
                let tag = &rest[i..];
                if tag.starts_with("</") {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if !tag.starts_with("<br") && !tag.starts_with("<input") {
                    depth += 1;
                }
                for (_, c2) in chars.by_ref() {
                    if c2 == '>' {
                        break;
                    }
                }
                continue;
            }
            out.push(c);
        }
        Some(out.trim().to_owned())
    }

    /// The value of a hidden input.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let start = self.body.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &self.body[start + name.len() + 15..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

pub fn encode_form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Cookie` header for `jar`.
pub fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Keep what `Set-Cookie` headers set; drop what they clear.
pub fn absorb_cookies(jar: &mut BTreeMap<String, String>, set_cookies: &[String]) {
    for c in set_cookies {
        let Some((k, v)) = c.split(';').next().and_then(|f| f.split_once('=')) else {
            continue;
        };
        if v.is_empty() || c.contains("Max-Age=0") {
            jar.remove(k);
        } else {
            jar.insert(k.to_owned(), v.to_owned());
        }
    }
}

/// The page a response is; the cookies it sets are kept in `jar`.
pub async fn read_page(resp: reqwest::Response, jar: &mut BTreeMap<String, String>) -> Page {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let set_cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    absorb_cookies(jar, &set_cookies);
    let body = resp.text().await.unwrap_or_default();
    Page {
        status,
        location,
        set_cookies,
        body,
    }
}

/// A logged-in resident.
#[derive(Debug)]
pub struct Resident {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Resident {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<Page> {
        let resp = req
            .header("cookie", cookie_header(&self.cookies))
            .send()
            .await
            .context("the portal cannot be reached")?;
        Ok(read_page(resp, &mut self.cookies).await)
    }

    pub async fn get(&mut self, path: &str) -> Result<Page> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A download: the status and the bytes as they came.
    pub async fn get_bytes(&mut self, path: &str) -> Result<(u16, Vec<u8>)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie_header(&self.cookies))
            .send()
            .await
            .context("the portal cannot be reached")?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Result<Page> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form));
        self.send(req).await
    }

    /// Log in with the card: the code and the matching number the login
    /// page shows, approved in the card app.
    pub async fn login(portal: &str, card: &SoftwareCard, pin: &CardSecret) -> Result<Self> {
        let mut me = Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()?,
            base: portal.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
        };
        let page = me.get("/login").await?;
        let code = page
            .id_text("login-code")
            .context("the login page shows no code")?;
        let shown = page
            .id_text("login-match")
            .context("the login page shows no number")?;
        CardApp::new(portal, None)?
            .approve(&code, Some(&shown), card, pin)
            .await?;
        let done = me.post("/login/complete", &[("code", &code)]).await?;
        if done.status != 303 {
            bail!("the login did not complete ({}): {}", done.status, done.body);
        }
        Ok(me)
    }

    /// Link a sender from the mailbox, with the number the sender knows
    /// the person by, and confirm it with the card.
    pub async fn link_sender(
        &mut self,
        portal: &str,
        sender_id: &str,
        reference: &str,
        card: &SoftwareCard,
        pin: &CardSecret,
    ) -> Result<()> {
        let page = self.get("/mailbox").await?;
        let csrf = page.input_value("csrf").context("the mailbox page has no form")?;
        let staged = self
            .post(
                "/mailbox/link",
                &[("csrf", &csrf), ("sender", sender_id), ("reference", reference)],
            )
            .await?;
        let confirm = match (staged.status, staged.location) {
            (303, Some(l)) if l.starts_with("/confirm/") => l,
            (status, _) => bail!("linking {sender_id} was refused ({status}): {}", staged.body),
        };
        let page = self.get(&confirm).await?;
        let code = page
            .id_text("confirm-code")
            .context("the confirm page shows no code")?;
        CardApp::new(portal, None)?
            .approve(&code, None, card, pin)
            .await?;
        let done = self.post(&confirm, &[("csrf", &csrf)]).await?;
        if done.status != 303 {
            bail!("the link was not confirmed ({}): {}", done.status, done.body);
        }
        Ok(())
    }
}
