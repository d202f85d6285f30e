//! Request rate limits per source address and per client (`[rate_limits]`),
//! counted in memory on this node: no database query, no HTTP types
//! (`web::rate_limit` applies them to requests).
//!
//! Each limit is a GCRA (the generic cell rate algorithm, the token bucket
//! kept as one number): per key, the "theoretical arrival time" (TAT) at
//! which the bucket is full again. A request at `now` moves it to
//! `max(TAT, now) + interval`; it is refused when that would put the TAT more
//! than `burst × interval` ahead of `now`, and told to retry when it would
//! fit. A key whose TAT has passed holds no information (its bucket is full),
//! so dropping it is lossless.
//!
//! Memory is bounded: keys are 64-bit keyed hashes (an address, or a client
//! id of any length, costs the same), spread over [`SHARDS`] maps of at most
//! `max_tracked / SHARDS` entries. A full shard first drops the keys whose
//! TAT has passed; if that frees less than a quarter, it keeps the half with
//! the latest TATs (the keys furthest into their allowance) and drops the
//! rest, so a flood of new addresses evicts itself before it evicts a key
//! that is near its limit. The sweep is linear, once per quarter shard of
//! insertions.
//!
//! Time is a monotonic [`Instant`] read here alone; the checks take `now`
//! as nanoseconds since the limiter started, so tests step it.

use crate::config::{RateLimit, RateLimitsConfig};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How many independently locked maps the keys are spread over, so requests
/// on different cores rarely wait for one another.
pub const SHARDS: usize = 16;

const NANOS_PER_MINUTE: u64 = 60_000_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The endpoints that are rate limited, each with its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The token endpoint.
    Token,
    /// The authorization endpoint.
    Authorize,
    /// The hosted sign-in forms.
    Login,
    /// The device authorization endpoint and the user's device page.
    Device,
    /// The pushed authorization request endpoint.
    Par,
    /// The client registration and configuration endpoints (RFC 7591, 7592).
    Register,
}

impl Class {
    /// Every class, for reading the counters.
    pub const ALL: [Class; 6] =
        [Class::Token, Class::Authorize, Class::Login, Class::Device, Class::Par, Class::Register];

    /// The name used in configuration, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Token => "token",
            Class::Authorize => "authorize",
            Class::Login => "login",
            Class::Device => "device",
            Class::Par => "par",
            Class::Register => "register",
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Token => 0,
            Class::Authorize => 1,
            Class::Login => 2,
            Class::Device => 3,
            Class::Par => 4,
            Class::Register => 5,
        }
    }
}

/// What a limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The source address (IPv6 by /64).
    Address,
    /// The client id the request claims.
    Client,
}

impl Scope {
    /// Both scopes, for reading the counters.
    pub const ALL: [Scope; 2] = [Scope::Address, Scope::Client];

    /// The name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Client => "client",
        }
    }

    fn index(self) -> usize {
        match self {
            Scope::Address => 0,
            Scope::Client => 1,
        }
    }
}

/// A refused request: how long until one more would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whole seconds, rounded up, at least 1 (`Retry-After`).
    pub retry_after_secs: u64,
    /// Which limit refused it.
    pub scope: Scope,
}

/// One configured limit in the algorithm's units.
#[derive(Debug, Clone, Copy)]
struct Rule {
    /// Nanoseconds one request uses up.
    interval: u64,
    /// How far ahead of now the TAT may go: `burst × interval`.
    tolerance: u64,
}

impl Rule {
    fn from(limit: RateLimit) -> Option<Rule> {
        if limit.per_minute == 0 || limit.burst == 0 {
            return None;
        }
        let interval = (NANOS_PER_MINUTE / u64::from(limit.per_minute)).max(1);
        Some(Rule { interval, tolerance: interval.saturating_mul(u64::from(limit.burst)) })
    }
}

/// The rate limits of one node; shared by every request.
#[derive(Debug)]
pub struct RateLimiter {
    /// By class and scope; `None` is off.
    rules: [[Option<Rule>; 2]; 6],
    shards: Vec<Mutex<HashMap<u64, u64>>>,
    shard_capacity: usize,
    /// Keyed per process, so nobody can aim keys at one shard or collide them.
    hasher: RandomState,
    started: Instant,
    refusals: [[AtomicU64; 2]; 6],
}

impl RateLimiter {
    /// The limiter `config` describes, with nothing counted yet.
    pub fn new(config: &RateLimitsConfig) -> RateLimiter {
        let off = None;
        let rules = [
            [Rule::from(config.token.per_address), Rule::from(config.token.per_client)],
            [Rule::from(config.authorize.per_address), off],
            [Rule::from(config.login.per_address), off],
            [Rule::from(config.device.per_address), Rule::from(config.device.per_client)],
            [Rule::from(config.par.per_address), Rule::from(config.par.per_client)],
            [Rule::from(config.register.per_address), off],
        ];
        let shard_capacity = (config.max_tracked / SHARDS).max(4);
        RateLimiter {
            rules,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_capacity,
            hasher: RandomState::new(),
            started: Instant::now(),
            refusals: Default::default(),
        }
    }

    /// Counts a request from `addr` (as `web::client_addr` gives it) to
    /// `class`'s endpoint.
    pub fn check_address(&self, class: Class, addr: &str) -> Result<(), Refused> {
        self.check_address_at(class, addr, self.elapsed())
    }

    /// Whether `class`'s endpoint limits each client: when not, the caller
    /// need not find out which client a request names.
    pub fn limits_clients(&self, class: Class) -> bool {
        self.rules[class.index()][Scope::Client.index()].is_some()
    }

    /// Counts a request by the client `client_id` to `class`'s endpoint.
    pub fn check_client(&self, class: Class, client_id: &str) -> Result<(), Refused> {
        self.check_at(class, Scope::Client, client_id, self.elapsed())
    }

    /// How many requests `class`'s `scope` limit has refused since start, for
    /// the metrics (a counter: it only grows).
    pub fn refusals(&self, class: Class, scope: Scope) -> u64 {
        self.refusals[class.index()][scope.index()].load(Ordering::Relaxed)
    }

    /// How many keys are tracked now (bounded by `max_tracked`, rounded up
    /// to a whole number of shards).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map(|m| m.len()).unwrap_or(0)).sum()
    }

    fn elapsed(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn check_address_at(&self, class: Class, addr: &str, now: u64) -> Result<(), Refused> {
        match addr.parse::<IpAddr>() {
            // One host usually holds a whole /64: count it as one address.
            Ok(IpAddr::V6(v6)) => {
                let prefix = u128::from(v6) >> 64;
                self.check_at(class, Scope::Address, prefix, now)
            }
            Ok(v4) => self.check_at(class, Scope::Address, v4, now),
            Err(_) => self.check_at(class, Scope::Address, addr, now),
        }
    }

    fn check_at(&self, class: Class, scope: Scope, key: impl Hash, now: u64) -> Result<(), Refused> {
        let Some(rule) = self.rules[class.index()][scope.index()] else {
            return Ok(());
        };
        let hash = self.hasher.hash_one((class, scope, key));
        let shard = &self.shards[usize::try_from(hash % SHARDS as u64).unwrap_or(0)];
        // A poisoned lock only means another request panicked mid-update of
        // plain numbers; the map is still usable.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let tat = map.get(&hash).copied().unwrap_or(now).max(now);
        let next = tat.saturating_add(rule.interval);
        let ahead = next - now;
        if ahead > rule.tolerance {
            drop(map);
            self.refusals[class.index()][scope.index()].fetch_add(1, Ordering::Relaxed);
            let wait = ahead - rule.tolerance;
            return Err(Refused { retry_after_secs: wait.div_ceil(NANOS_PER_SEC).max(1), scope });
        }
        if map.len() >= self.shard_capacity && !map.contains_key(&hash) {
            evict(&mut map, self.shard_capacity, now);
        }
        map.insert(hash, next);
        Ok(())
    }
}

/// Makes room in a full shard (see the module comment).
fn evict(map: &mut HashMap<u64, u64>, capacity: usize, now: u64) {
    map.retain(|_, tat| *tat > now);
    if map.len() <= capacity - capacity / 4 {
        return;
    }
    let mut tats: Vec<u64> = map.values().copied().collect();
    let keep = capacity / 2;
    let cut_at = tats.len() - keep;
    let (_, cut, _) = tats.select_nth_unstable(cut_at);
    let cut = *cut;
    map.retain(|_, tat| *tat > cut);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{AddressLimits, ClientEndpointLimits};

    const SEC: u64 = NANOS_PER_SEC;

    fn limiter(per_minute: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        let limit = RateLimit { per_minute, burst };
        let both = ClientEndpointLimits { per_address: limit, per_client: limit };
        RateLimiter::new(&RateLimitsConfig {
            max_tracked,
            token: both,
            authorize: AddressLimits { per_address: limit },
            login: AddressLimits { per_address: limit },
            device: both,
            par: both,
            register: AddressLimits { per_address: limit },
        })
    }

    /// A burst is allowed at once, the next request waits one interval, and
    /// the bucket refills at the rate.
    #[test]
    fn burst_then_refill_at_the_rate() {
        let l = limiter(60, 3, 1000);
        for _ in 0..3 {
            assert_eq!(l.check_address_at(Class::Token, "192.0.2.1", 0), Ok(()));
        }
        let refused = l.check_address_at(Class::Token, "192.0.2.1", 0).unwrap_err();
        assert_eq!(refused, Refused { retry_after_secs: 1, scope: Scope::Address });
        assert_eq!(l.refusals(Class::Token, Scope::Address), 1);
        // Half a second later still refused, and told to wait the rest (rounded up).
        assert!(l.check_address_at(Class::Token, "192.0.2.1", SEC / 2).is_err());
        // One second refills one request, not more.
        assert_eq!(l.check_address_at(Class::Token, "192.0.2.1", SEC), Ok(()));
        assert!(l.check_address_at(Class::Token, "192.0.2.1", SEC).is_err());
        // Three quiet seconds refill the whole burst, and no more than it.
        for _ in 0..3 {
            assert_eq!(l.check_address_at(Class::Token, "192.0.2.1", 5 * SEC), Ok(()));
        }
        assert!(l.check_address_at(Class::Token, "192.0.2.1", 5 * SEC).is_err());
    }

    /// Retry-After is the time until one more request fits, in whole seconds.
    #[test]
    fn retry_after_counts_whole_seconds_until_a_request_fits() {
        let l = limiter(6, 1, 1000); // one request every 10 s
        assert_eq!(l.check_client_at(Class::Par, "app", 0), Ok(()));
        assert_eq!(l.check_client_at(Class::Par, "app", SEC / 10).unwrap_err().retry_after_secs, 10);
        assert_eq!(l.check_client_at(Class::Par, "app", 9 * SEC + 1).unwrap_err().retry_after_secs, 1);
        assert_eq!(l.check_client_at(Class::Par, "app", 10 * SEC), Ok(()));
    }

    /// Keys are independent across addresses, clients, scopes and classes;
    /// an IPv6 /64 is one address.
    #[test]
    fn keys_are_counted_apart_and_ipv6_by_prefix() {
        let l = limiter(60, 1, 1000);
        assert_eq!(l.check_address_at(Class::Token, "192.0.2.1", 0), Ok(()));
        assert!(l.check_address_at(Class::Token, "192.0.2.1", 0).is_err());
        assert_eq!(l.check_address_at(Class::Token, "192.0.2.2", 0), Ok(()));
        assert_eq!(l.check_address_at(Class::Login, "192.0.2.1", 0), Ok(()), "another class");
        assert_eq!(l.check_client_at(Class::Token, "192.0.2.1", 0), Ok(()), "a client of the same name");
        assert_eq!(l.check_address_at(Class::Token, "2001:db8::1", 0), Ok(()));
        assert!(l.check_address_at(Class::Token, "2001:db8::ffff", 0).is_err(), "same /64");
        assert_eq!(l.check_address_at(Class::Token, "2001:db8:0:1::1", 0), Ok(()), "next /64");
    }

    /// 0 turns a limit off; browser classes have no per-client limit.
    #[test]
    fn zero_turns_a_limit_off() {
        let l = limiter(0, 5, 1000);
        for _ in 0..1000 {
            assert_eq!(l.check_address_at(Class::Token, "192.0.2.1", 0), Ok(()));
        }
        assert_eq!(l.tracked(), 0, "an unlimited endpoint tracks nothing");
        assert!(!l.limits_clients(Class::Token));
        let l = limiter(60, 1, 1000);
        for _ in 0..10 {
            assert_eq!(l.check_client_at(Class::Login, "app", 0), Ok(()));
        }
        assert!(l.limits_clients(Class::Token) && !l.limits_clients(Class::Login));
    }

    /// A flood of distinct addresses keeps memory bounded by `max_tracked`,
    /// and does not evict an address that is near its limit.
    #[test]
    fn a_flood_of_addresses_stays_within_the_bound() {
        let l = limiter(60, 10, 1024);
        for _ in 0..10 {
            assert_eq!(l.check_address_at(Class::Login, "198.51.100.7", 0), Ok(()));
        }
        for i in 0..200_000u32 {
            let addr = IpAddr::from(i.to_be_bytes()).to_string();
            let _ = l.check_address_at(Class::Login, &addr, 0);
            assert!(l.tracked() <= 1024, "tracked {} after {i}", l.tracked());
        }
        assert!(l.check_address_at(Class::Login, "198.51.100.7", 0).is_err(), "the busy address kept its count");
        // Once the flood's allowances have refilled, the entries go at the next sweep.
        for i in 0..SHARDS as u32 * 64 {
            let _ = l.check_address_at(Class::Login, &format!("10.0.{}.{}", i / 256, i % 256), 3600 * SEC);
        }
        assert!(l.tracked() <= 1024);
    }

    impl RateLimiter {
        fn check_client_at(&self, class: Class, client_id: &str, now: u64) -> Result<(), Refused> {
            self.check_at(class, Scope::Client, client_id, now)
        }
    }
}
