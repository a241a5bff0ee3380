//! What every listener does about slow and greedy clients: deadlines for the
//! TLS handshake, the request headers and idleness, caps on connections per
//! client address and in total, and HTTP/2 limits. One set of numbers per
//! role (`[limits]` in its configuration), with defaults for a public
//! service.
//!
//! * A connection over a cap is closed as soon as it is accepted, before
//!   any TLS work; connections already established are not touched.
//! * The handshake must finish within `tls_handshake_ms`; the first request
//!   (HTTP/1 headers, or the HTTP/2 preface and first headers) within
//!   `header_read_ms` after it. For HTTP/1 the same deadline applies to
//!   each later request's headers, which also bounds how long a kept-alive
//!   connection may sit idle between requests.
//! * A connection on which no byte moves either way for `idle_ms` is closed
//!   (a stalled body, a peer that stopped reading our answer, an idle
//!   HTTP/2 connection).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Limits of a role's listeners (`[limits]` in its configuration; every
/// field has a default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerLimits {
    /// The TLS handshake must complete within this many milliseconds.
    pub tls_handshake_ms: u64,
    /// Request headers must arrive within this many milliseconds (the first
    /// request after the handshake, and with HTTP/1 each later one: the
    /// longest a kept-alive connection waits for its next request).
    pub header_read_ms: u64,
    /// A connection on which nothing is read or written for this many
    /// milliseconds is closed.
    pub idle_ms: u64,
    /// Open connections from one client address (an IPv4 address, or an
    /// IPv6 /64), per listener.
    pub max_connections_per_address: usize,
    /// Open connections in total, per listener.
    pub max_connections: usize,
    /// HTTP/2: streams one connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// The largest request head accepted: HTTP/1's header buffer, HTTP/2's
    /// header list (bytes). Beyond it: 431, or the stream is refused.
    pub max_header_bytes: u32,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            tls_handshake_ms: 10_000,
            header_read_ms: 10_000,
            idle_ms: 120_000,
            max_connections_per_address: 256,
            max_connections: 4096,
            http2_max_concurrent_streams: 64,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl ListenerLimits {
    /// Every limit must be set: a zero would refuse everything.
    pub fn validate(&self) -> Result<(), String> {
        let zero = [
            ("tls_handshake_ms", self.tls_handshake_ms == 0),
            ("header_read_ms", self.header_read_ms == 0),
            ("idle_ms", self.idle_ms == 0),
            (
                "max_connections_per_address",
                self.max_connections_per_address == 0,
            ),
            ("max_connections", self.max_connections == 0),
            (
                "http2_max_concurrent_streams",
                self.http2_max_concurrent_streams == 0,
            ),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, z)| *z) {
            return Err(format!("limits.{name} must be greater than 0"));
        }
        if self.max_header_bytes < 8192 {
            return Err("limits.max_header_bytes must be at least 8192".into());
        }
        if self.max_connections_per_address > self.max_connections {
            return Err("limits.max_connections_per_address cannot exceed limits.max_connections".into());
        }
        Ok(())
    }

    pub(crate) fn handshake(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_ms)
    }

    pub(crate) fn header_read(&self) -> Duration {
        Duration::from_millis(self.header_read_ms)
    }

    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
}

/// Whose connections count together: an IPv4 address, or an IPv6 /64 (one
/// subscriber's network; a client holding one has 2^64 addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

fn client_key(ip: IpAddr) -> ClientKey {
    match ip {
        IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientKey::V4(u32::from(v4)),
            None => ClientKey::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

/// Counts a listener's open connections.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    max_total: usize,
    max_per_client: usize,
    total: AtomicUsize,
    per_client: Mutex<HashMap<ClientKey, usize>>,
}

impl ConnLimiter {
    pub(crate) fn new(limits: &ListenerLimits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections,
            max_per_client: limits.max_connections_per_address,
            total: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more connection from `ip`, or why not.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, &'static str> {
        let key = client_key(ip);
        let mut per = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per.get(&key).copied().unwrap_or(0);
        if mine >= self.max_per_client {
            return Err("per_address");
        }
        if self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .is_err()
        {
            return Err("total");
        }
        per.insert(key, mine + 1);
        Ok(ConnPermit {
            limiter: self.clone(),
            key,
        })
    }
}

/// One open connection; dropping it (the connection closed) frees its
/// place.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    key: ClientKey,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut per = self.limiter.per_client.lock().unwrap_or_else(|p| p.into_inner());
        match per.get_mut(&self.key) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                per.remove(&self.key);
            }
        }
        self.limiter.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The acceptor every listener starts with: it counts the connection
/// against the caps (closing it at once when over) and wraps it in the
/// idle deadline. TLS, when there is TLS, runs on top of it.
#[derive(Debug, Clone)]
pub(crate) struct LimitAcceptor {
    limiter: Arc<ConnLimiter>,
    idle: Duration,
}

impl LimitAcceptor {
    pub(crate) fn new(limits: &ListenerLimits) -> Self {
        Self {
            limiter: ConnLimiter::new(limits),
            idle: limits.idle(),
        }
    }
}

impl<S> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = Limited;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Limited, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ip = match stream.peer_addr() {
            Ok(a) => a.ip(),
            Err(e) => return std::future::ready(Err(e)),
        };
        match self.limiter.acquire(ip) {
            Ok(permit) => std::future::ready(Ok((Limited::new(stream, permit, self.idle), service))),
            Err(reason) => {
                metrics::counter!("renkei_http_connections_refused_total", "reason" => reason).increment(1);
                tracing::debug!(%ip, reason, "connection over the limit; closed");
                // Dropping the stream closes it.
                std::future::ready(Err(io::Error::other("connection limit reached")))
            }
        }
    }
}

/// An accepted connection holding its place under the caps and closing
/// itself once idle.
#[derive(Debug)]
pub(crate) struct Limited {
    inner: TcpStream,
    _permit: ConnPermit,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Limited {
    fn new(inner: TcpStream, permit: ConnPermit, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            _permit: permit,
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Whether the connection has been idle too long; if not, the timer is
    /// armed for when it would be (so the task is woken then).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last + self.idle;
            if due <= Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }

    fn idle_error() -> io::Error {
        metrics::counter!("renkei_http_connections_idle_closed_total").increment(1);
        io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long")
    }
}

impl AsyncRead for Limited {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(Self::idle_error())),
            other => other,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(Self::idle_error())),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(Self::idle_error())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The HTTP side of the limits, on a server's builder.
pub(crate) fn configure<A>(
    server: axum_server::Server<SocketAddr, A>,
    limits: &ListenerLimits,
) -> axum_server::Server<SocketAddr, A> {
    let mut server = server.first_request_timeout(limits.header_read());
    let builder = server.http_builder();
    builder
        .http1()
        .header_read_timeout(limits.header_read())
        .max_buf_size(limits.max_header_bytes as usize);
    builder
        .http2()
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(limits.max_header_bytes);
    server
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn caps_count_per_address_and_in_total_and_free_on_drop() {
        let limits = ListenerLimits {
            max_connections_per_address: 2,
            max_connections: 3,
            ..ListenerLimits::default()
        };
        let l = ConnLimiter::new(&limits);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = l.acquire(a).unwrap();
        let _a2 = l.acquire(a).unwrap();
        assert_eq!(l.acquire(a).unwrap_err(), "per_address");
        let _b1 = l.acquire(b).unwrap();
        assert_eq!(l.acquire(b).unwrap_err(), "total");
        drop(a1);
        let _b2 = l.acquire(b).unwrap();
        assert_eq!(l.acquire("192.0.2.3".parse().unwrap()).unwrap_err(), "total");
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let limits = ListenerLimits {
            max_connections_per_address: 1,
            ..ListenerLimits::default()
        };
        let l = ConnLimiter::new(&limits);
        let _p = l.acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(l.acquire("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert!(l.acquire("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // An IPv4-mapped address is that IPv4 address.
        let _q = l.acquire("192.0.2.7".parse().unwrap()).unwrap();
        assert!(l.acquire("::ffff:192.0.2.7".parse().unwrap()).is_err());
    }

    /// A connection on which nothing moves is closed after `idle`; bytes
    /// either way start the wait again.
    #[tokio::test]
    async fn an_idle_connection_is_closed_and_activity_keeps_it_open() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let permit = ConnLimiter::new(&ListenerLimits::default())
            .acquire(peer.ip())
            .unwrap();
        let idle = Duration::from_millis(300);
        let mut server = Limited::new(server, permit, idle);
        let mut buf = [0u8; 16];
        // Activity every 150 ms for 900 ms: never idle for 300 ms.
        let talker = tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        let started = std::time::Instant::now();
        for _ in 0..6 {
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        }
        let _client = talker.await.unwrap();
        // Then silence: the read fails once 300 ms have passed.
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1100), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(ListenerLimits::default().validate().is_ok());
        let bad = ListenerLimits {
            header_read_ms: 0,
            ..ListenerLimits::default()
        };
        assert!(bad.validate().unwrap_err().contains("header_read_ms"));
    }
}
