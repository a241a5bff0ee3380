//! Several hubs behind one address: a TCP (layer 4) balancer.
//!
//! TLS passes through untouched, so mutual TLS stays end to end between a
//! node and the hub that serves it (every hub process of a network holds the
//! same hub identity). New connections go round robin to the backends; a
//! backend that refuses a connection is skipped for [`COOL_DOWN`], so a
//! killed hub stops receiving connections at once and is tried again after
//! it may have restarted. Connections already open to a killed hub break,
//! as they would behind any load balancer; the callers' requests on them
//! fail unacknowledged and nothing acknowledged is lost (the log is shared).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::listener::{ConnLimiter, ListenerLimits};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How long a backend that refused a connection is left out.
pub const COOL_DOWN: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running balancer; dropping it does not stop it, [`Balancer::stop`] does.
#[derive(Debug)]
pub struct Balancer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Backends {
    addrs: Vec<SocketAddr>,
    next: AtomicUsize,
    down_until: Mutex<Vec<Option<Instant>>>,
}

impl Backends {
    /// Connect to the next backend that accepts, round robin.
    async fn connect(&self) -> Option<(SocketAddr, TcpStream)> {
        let n = self.addrs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // Two passes: first skip cooling backends, then try them too (all
        // may be cooling after a restart of every hub).
        for pass in 0..2 {
            for k in 0..n {
                let i = (start + k) % n;
                if pass == 0 {
                    let down = self.down_until.lock().await[i];
                    if down.is_some_and(|t| Instant::now() < t) {
                        continue;
                    }
                }
                let addr = self.addrs[i];
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => {
                        self.down_until.lock().await[i] = None;
                        return Some((addr, s));
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(backend = %addr, error = %e, "backend refused; leaving it out for a while");
                        self.down_until.lock().await[i] = Some(Instant::now() + COOL_DOWN);
                    }
                    Err(_) => {
                        tracing::warn!(backend = %addr, "backend did not accept in time");
                        self.down_until.lock().await[i] = Some(Instant::now() + COOL_DOWN);
                    }
                }
            }
        }
        None
    }
}

impl Balancer {
    /// Listen on `listen` and spread connections over `backends`, with the
    /// default connection caps.
    pub async fn start(listen: SocketAddr, backends: Vec<SocketAddr>) -> std::io::Result<Self> {
        Self::start_limited(listen, backends, &ListenerLimits::default()).await
    }

    /// The same with `limits`' connection caps, per client address and in
    /// total, enforced here: behind a layer-4 balancer the hubs see only the
    /// balancer's address, so the per-address cap can only be applied here
    /// (give the hubs `max_connections_per_address = max_connections`). The
    /// deadlines stay the hubs' (TLS passes through).
    pub async fn start_limited(
        listen: SocketAddr,
        backends: Vec<SocketAddr>,
        limits: &ListenerLimits,
    ) -> std::io::Result<Self> {
        limits
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let limiter = ConnLimiter::new(limits);
        if backends.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a balancer needs at least one backend",
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let backends = Arc::new(Backends {
            down_until: Mutex::new(vec![None; backends.len()]),
            addrs: backends,
            next: AtomicUsize::new(0),
        });
        let task = tokio::spawn(async move {
            loop {
                let (mut client, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let permit = match limiter.acquire(peer.ip()) {
                    Ok(p) => p,
                    Err(reason) => {
                        metrics::counter!("renkei_http_connections_refused_total", "reason" => reason)
                            .increment(1);
                        drop(client);
                        continue;
                    }
                };
                let backends = backends.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let Some((backend, mut server)) = backends.connect().await else {
                        tracing::error!(%peer, "no backend accepts; dropping the connection");
                        metrics::counter!("renkei_balancer_unserved_total").increment(1);
                        return;
                    };
                    metrics::counter!("renkei_balancer_connections_total", "backend" => backend.to_string())
                        .increment(1);
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
                        tracing::debug!(%peer, %backend, error = %e, "connection ended with an error");
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers every connection with its own name.
    async fn named(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                s.write_all(name.as_bytes()).await.unwrap();
            }
        });
        (addr, task)
    }

    async fn ask(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn spreads_connections_and_skips_a_dead_backend() {
        let (a, ta) = named("a").await;
        let (b, _tb) = named("b").await;
        let lb = Balancer::start("127.0.0.1:0".parse().unwrap(), vec![a, b])
            .await
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(ask(lb.addr).await);
        }
        seen.sort();
        assert_eq!(seen, ["a", "a", "b", "b"]);
        // Kill a: every connection now reaches b.
        ta.abort();
        let _ = ta.await;
        for _ in 0..4 {
            assert_eq!(ask(lb.addr).await, "b");
        }
        lb.stop();
    }

    /// One client address cannot take more than its share of the
    /// balancer's connections; another still gets through.
    #[tokio::test]
    async fn connections_over_the_per_address_cap_are_closed_at_once() {
        // A backend that greets and then holds every connection open.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = l.local_addr().unwrap();
        let _holder = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                s.write_all(b"hi").await.unwrap();
                held.push(s);
            }
        });
        let limits = ListenerLimits {
            max_connections_per_address: 2,
            max_connections: 10,
            ..ListenerLimits::default()
        };
        let lb = Balancer::start_limited("127.0.0.1:0".parse().unwrap(), vec![backend], &limits)
            .await
            .unwrap();
        let from = |ip: &str| {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(ip, 0)).unwrap();
                socket.connect(lb.addr).await.unwrap()
            }
        };
        let greeting = |mut s: TcpStream| async move {
            let mut buf = [0u8; 2];
            match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                Ok(Ok(2)) => (Some(s), true),
                _ => (None, false),
            }
        };
        let (a1, ok1) = greeting(from("127.0.0.1").await).await;
        let (a2, ok2) = greeting(from("127.0.0.1").await).await;
        assert!(ok1 && ok2);
        let (_, ok3) = greeting(from("127.0.0.1").await).await;
        assert!(!ok3, "a third connection from the same address got through");
        let (_b1, okb) = greeting(from("127.0.0.2").await).await;
        assert!(okb, "another address is served");
        drop((a1, a2));
        lb.stop();
    }

    #[tokio::test]
    async fn no_backend_at_all_is_refused() {
        let err = Balancer::start("127.0.0.1:0".parse().unwrap(), vec![])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("at least one backend"));
    }
}
