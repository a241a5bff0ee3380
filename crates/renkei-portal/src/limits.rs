//! Bounds on what an anonymous visitor makes the portal keep: every
//! `GET /login` stores a challenge, so the challenges a client may hold at
//! once are counted per network address and in total, and each counts
//! until it expires.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use renkei_protocol::UnixMillis;

/// How many unexpired login challenges the portal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeLimits {
    /// From one address (an IPv6 client: from one /64, what one
    /// subscriber is usually given).
    pub per_address: usize,
    /// From everyone together: the most the store holds.
    pub total: usize,
}

/// Why a challenge was refused, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefused {
    #[error("too many login challenges from this address; retry in {retry_after_secs} s")]
    Address { retry_after_secs: u64 },
    #[error("too many login challenges outstanding; retry in {retry_after_secs} s")]
    Total { retry_after_secs: u64 },
}

impl ChallengeRefused {
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Address { retry_after_secs } | Self::Total { retry_after_secs } => *retry_after_secs,
        }
    }

    /// `address` or `total`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Address { .. } => "address",
            Self::Total { .. } => "total",
        }
    }
}

/// The key an address is counted under: an IPv4 address (or an IPv4
/// address mapped into IPv6) whole, an IPv6 address by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl AddressKey {
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Self::V4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let o = a.octets();
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&o[..8]);
                    Self::V6Prefix(prefix)
                }
            },
        }
    }
}

/// The outstanding login challenges, by expiry. Memory is bounded by
/// `limits.total` entries whatever the clients do: an address is only
/// remembered while it holds a counted challenge.
#[derive(Debug)]
pub struct ChallengeLimiter {
    limits: ChallengeLimits,
    /// Expiry of each outstanding challenge, oldest first.
    all: VecDeque<(UnixMillis, AddressKey)>,
    /// Expiries of each address's outstanding challenges, oldest first.
    by_address: HashMap<AddressKey, VecDeque<UnixMillis>>,
}

fn secs_until(at: UnixMillis, now: UnixMillis) -> u64 {
    // Rounded up, at least one second.
    u64::try_from((at.0 - now.0).max(0)).map_or(1, |ms| ms.div_ceil(1000).max(1))
}

impl ChallengeLimiter {
    pub fn new(limits: ChallengeLimits) -> Self {
        Self {
            limits,
            all: VecDeque::new(),
            by_address: HashMap::new(),
        }
    }

    pub fn limits(&self) -> ChallengeLimits {
        self.limits
    }

    /// Count a new challenge from `addr`, expiring at `expires_at`, or say
    /// why not (nothing is counted then).
    pub fn admit(
        &mut self,
        addr: IpAddr,
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), ChallengeRefused> {
        self.expire(now);
        let key = AddressKey::of(addr);
        if let Some(held) = self.by_address.get(&key)
            && held.len() >= self.limits.per_address
        {
            let oldest = held.front().copied().unwrap_or(now);
            return Err(ChallengeRefused::Address {
                retry_after_secs: secs_until(oldest, now),
            });
        }
        if self.all.len() >= self.limits.total {
            let oldest = self.all.front().map_or(now, |(at, _)| *at);
            return Err(ChallengeRefused::Total {
                retry_after_secs: secs_until(oldest, now),
            });
        }
        self.all.push_back((expires_at, key));
        self.by_address.entry(key).or_default().push_back(expires_at);
        Ok(())
    }

    /// Forget the challenges expired at `now`.
    pub fn expire(&mut self, now: UnixMillis) {
        while let Some((at, key)) = self.all.front().copied() {
            if at.0 > now.0 {
                break;
            }
            self.all.pop_front();
            if let Some(held) = self.by_address.get_mut(&key) {
                held.pop_front();
                if held.is_empty() {
                    self.by_address.remove(&key);
                }
            }
        }
    }

    /// Challenges counted and not yet expired.
    pub fn outstanding(&self) -> usize {
        self.all.len()
    }

    /// Addresses holding at least one of them.
    pub fn addresses(&self) -> usize {
        self.by_address.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn challenges_are_bounded_per_address_and_in_total_until_they_expire() {
        let mut l = ChallengeLimiter::new(ChallengeLimits {
            per_address: 3,
            total: 5,
        });
        let t = |ms: i64| UnixMillis(1_000_000 + ms);
        for i in 0..3 {
            l.admit(v4(1), t(i), t(i + 300_000)).unwrap();
        }
        // The fourth from the same address: refused until its oldest expires.
        assert_eq!(
            l.admit(v4(1), t(10), t(300_010)),
            Err(ChallengeRefused::Address {
                retry_after_secs: 300
            })
        );
        // Others still may, up to the total.
        l.admit(v4(2), t(11), t(300_011)).unwrap();
        l.admit(v4(3), t(12), t(300_012)).unwrap();
        let refused = l.admit(v4(4), t(13), t(300_013)).unwrap_err();
        assert!(matches!(refused, ChallengeRefused::Total { .. }), "{refused:?}");
        assert_eq!(refused.retry_after_secs(), 300);
        assert_eq!((l.outstanding(), l.addresses()), (5, 3));
        // Refusals counted nothing; expiry frees the slots.
        l.admit(v4(4), t(300_000), t(600_000)).unwrap();
        assert_eq!(l.outstanding(), 5);
        l.expire(t(300_013));
        assert_eq!((l.outstanding(), l.addresses()), (1, 1));
        for i in 0..3 {
            l.admit(v4(1), t(300_100 + i), t(600_100 + i)).unwrap();
        }
    }

    #[test]
    fn an_ipv6_subscriber_is_one_address_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(AddressKey::of(mapped), AddressKey::of(v4(1)));
        assert_ne!(
            AddressKey::of(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            AddressKey::of(v4(1))
        );
        let mut l = ChallengeLimiter::new(ChallengeLimits {
            per_address: 2,
            total: 100,
        });
        let now = UnixMillis(0);
        l.admit(a, now, UnixMillis(1000)).unwrap();
        l.admit(b, now, UnixMillis(1000)).unwrap();
        assert!(matches!(
            l.admit("2001:db8:1:2::99".parse().unwrap(), now, UnixMillis(1000)),
            Err(ChallengeRefused::Address { retry_after_secs: 1 })
        ));
        l.admit(c, now, UnixMillis(1000)).unwrap();
    }

    #[test]
    fn memory_stays_within_the_total_whatever_the_addresses() {
        let mut l = ChallengeLimiter::new(ChallengeLimits {
            per_address: 1,
            total: 100,
        });
        let now = UnixMillis(0);
        let mut admitted = 0;
        for i in 0..10_000u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            admitted += usize::from(l.admit(addr, now, UnixMillis(1000)).is_ok());
        }
        assert_eq!(admitted, 100);
        assert_eq!((l.outstanding(), l.addresses()), (100, 100));
    }
}
