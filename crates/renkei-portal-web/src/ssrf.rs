//! Fetching what an API client names (`jwks_uri`) without letting it point
//! the portal at its own network: loopback, private, link-local, shared,
//! documentation, multicast and every other non-public address is refused —
//! at registration for addresses written in the URI, and at every fetch for
//! the addresses the name resolves to, which are then the only ones
//! connected to (a name re-bound to 127.0.0.1 between check and connect
//! cannot slip through). Loopback is allowed only with the portal's
//! `jwks_uri_allow_loopback` setting, for the demo and tests.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Whether an address may be fetched from.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local (cloud metadata)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [hi, lo] = [s[6], s[7]];
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    // Only global unicast (2000::/3), less documentation (2001:db8::/32),
    // Teredo (2001::/32) and 6to4 (2002::/16), whose real targets hide in
    // the address.
    (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0)) && s[0] != 0x2002
}

/// Whether `ip` may be fetched from under the policy.
pub(crate) fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && ip.is_loopback())
}

/// A URL's host: an address, or a (lower-case) name.
enum Host {
    Ip(IpAddr),
    Name(String),
}

fn host_of(url: &reqwest::Url) -> Result<Host, String> {
    let h = url.host_str().ok_or("has no host")?;
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    Ok(match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(h.trim_end_matches('.').to_ascii_lowercase()),
    })
}

/// The registration check of a `jwks_uri`: an address in it must be
/// public (or loopback when allowed); a `localhost` name is refused unless
/// loopback is allowed. Names are checked again at every fetch.
pub(crate) fn check_uri(uri: &str, allow_loopback: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("is not a URL ({e})"))?;
    match host_of(&url)? {
        Host::Ip(ip) if !allowed(ip, allow_loopback) => Err(format!(
            "points at {ip}, a loopback, private, link-local or otherwise non-public address"
        )),
        Host::Name(n) if !allow_loopback && (n == "localhost" || n.ends_with(".localhost")) => {
            Err(format!("points at {n}, this machine"))
        }
        _ => Ok(()),
    }
}

/// A resolver for the fetching client that answers only with allowed
/// addresses, and refuses a name with any other (a re-bound name, or one
/// that resolves to the portal's own networks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublicOnly {
    pub(crate) allow_loopback: bool,
}

type Resolved = Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        let fut: Pin<Box<dyn Future<Output = Resolved> + Send>> = Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} does not resolve").into());
            }
            if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip(), allow_loopback)) {
                return Err(format!(
                    "{host} resolves to {}, a loopback, private, link-local or otherwise non-public address",
                    bad.ip()
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        });
        fut
    }
}

/// The HTTP client that fetches clients' JWKS: no redirects, no proxy, and
/// the resolver above.
pub(crate) fn fetching_client(allow_loopback: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(5))
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
        .build()
}

/// Before a fetch: an address written in the URI does not go through the
/// resolver, so it is checked here.
pub(crate) fn check_before_fetch(uri: &str, allow_loopback: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("is not a URL ({e})"))?;
    match host_of(&url)? {
        Host::Ip(ip) if !allowed(ip, allow_loopback) => Err(format!(
            "points at {ip}, a loopback, private, link-local or otherwise non-public address"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "133.1.2.3",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true));
        assert!(
            !allowed("10.0.0.1".parse().unwrap(), true),
            "only loopback is allowed for tests"
        );
    }

    #[test]
    fn registration_refuses_addresses_and_localhost() {
        for uri in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/jwks",
            "https://[::1]/jwks",
            "https://[fd00::1]:8443/jwks",
            "https://localhost/jwks",
            "https://jwks.localhost/jwks",
        ] {
            assert!(check_uri(uri, false).is_err(), "{uri}");
        }
        assert!(check_uri("https://bank.example/jwks.json", false).is_ok());
        assert!(check_uri("http://127.0.0.1:8080/jwks", true).is_ok());
        assert!(check_uri("https://10.0.0.5/jwks", true).is_err());
    }

    /// DNS rebinding: a name that passed registration but resolves to this
    /// machine now (here `localhost`, standing in for an attacker's name
    /// re-pointed at 127.0.0.1) is never connected to.
    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_not_fetched() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { "{\"keys\": []}" }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let by_name = format!("http://localhost:{port}/jwks");
        let by_ip = format!("http://127.0.0.1:{port}/jwks");

        let strict = fetching_client(false).unwrap();
        let e = strict.get(&by_name).send().await.unwrap_err();
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            chain.push_str(&format!(": {s}"));
            src = s.source();
        }
        assert!(chain.contains("non-public"), "{chain}");
        assert!(check_before_fetch(&by_ip, false).is_err());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        // Allowed for the demo: fetched.
        let demo = fetching_client(true).unwrap();
        assert!(check_before_fetch(&by_ip, true).is_ok());
        let r = demo.get(&by_name).send().await.unwrap();
        assert!(r.status().is_success());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
