//! A browser without a browser: cookies by hand, no redirects followed, so
//! that every cookie and status the portal sends can be asserted.

use std::collections::BTreeMap;

pub use renkei_demo::resident::{Page, encode_form};
use renkei_demo::resident::{cookie_header, read_page};

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    pub lang: Option<&'static str>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self::from_address(base, None)
    }

    /// A client whose connections come from `local` (another loopback
    /// address plays another network).
    pub fn from_address(base: &str, local: Option<std::net::IpAddr>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .local_address(local)
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
            lang: None,
        }
    }

    fn cookie_header(&self) -> String {
        cookie_header(&self.cookies)
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        read_page(resp, &mut self.cookies).await
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header());
        if let Some(l) = self.lang {
            req = req.header("cookie", format!("renkei-lang={l}"));
        }
        let resp = req.send().await.unwrap();
        self.finish(resp).await
    }

    /// GET a download: the status and the bytes as they came.
    pub async fn get_bytes(&mut self, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap_or_default().to_vec())
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form))
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// POST with extra headers (a forged `Origin`).
    pub async fn post_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.finish(resp).await
    }

    /// Follow one redirect if there is one.
    pub async fn follow(&mut self, page: Page) -> Page {
        match page.location.clone() {
            Some(l) if (300..400).contains(&page.status) => self.get(&l).await,
            _ => page,
        }
    }
}
