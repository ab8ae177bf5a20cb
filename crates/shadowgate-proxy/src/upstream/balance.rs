//! [`Balancer`]: picks a backend for a request by the upstream's [`Balance`], skipping backends
//! that are unhealthy or at `max_connections`, and counts the request in flight on it.
//!
//! - `round_robin`: each backend in turn (an atomic counter).
//! - `weighted_round_robin`: nginx's smooth weighted round robin: every eligible backend's
//!   current weight grows by its weight, the largest is picked and loses the total. Weights
//!   5:1:1 give `a a b a c a a`. The weights sit behind a tiny mutex, held for one pass.
//! - `least_connections`: the fewest requests in flight; ties go round robin.
//! - `random_two_choices`: two distinct backends at random, the one with fewer in flight.
//! - `ip_hash`: FNV-1a of the client's whole address (the 4 octets of IPv4, the 16 of IPv6; an
//!   IPv4-mapped IPv6 address hashes as its IPv4 address), so one client keeps its backend. Unlike
//!   nginx (the first 3 octets of IPv4), clients of one /24 spread. When that backend cannot take
//!   the request, the next one after it (in configuration order) that can does: deterministic, so
//!   the client stays put while the outage lasts. Without a client address, round robin.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::backend::Backend;
use crate::settings::Balance;

/// Why no backend can take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Every backend (but the excluded one) is unhealthy.
    NoHealthy,
    /// Every healthy backend has `max_connections` requests in flight.
    AtCapacity,
}

/// The balancing state of one upstream.
#[derive(Debug)]
pub(crate) struct Balancer {
    balance: Balance,
    next: AtomicUsize,
    /// Smooth WRR's current weights (`weighted_round_robin` only).
    current: Option<Mutex<Box<[i64]>>>,
}

/// What a pick looks at: the backends, the cap, and the one to leave out (a retry's first try).
struct Pool<'a> {
    backends: &'a [Backend],
    max: usize,
    exclude: Option<usize>,
}

impl Pool<'_> {
    fn eligible(&self, i: usize) -> bool {
        self.exclude != Some(i)
            && self
                .backends
                .get(i)
                .is_some_and(|b| b.is_healthy() && b.has_room(self.max))
    }

    fn acquire(&self, i: usize) -> bool {
        self.backends
            .get(i)
            .is_some_and(|b| b.try_acquire(self.max))
    }

    fn in_flight(&self, i: usize) -> usize {
        self.backends.get(i).map_or(usize::MAX, Backend::in_flight)
    }

    /// The first backend from `start` on (wrapping) that takes the request.
    fn scan_from(&self, start: usize) -> Result<usize, Unavailable> {
        let n = self.backends.len();
        let mut healthy = false;
        for k in 0..n {
            let i = (start + k) % n;
            if self.exclude == Some(i) {
                continue;
            }
            let Some(backend) = self.backends.get(i) else {
                continue;
            };
            if !backend.is_healthy() {
                continue;
            }
            healthy = true;
            if backend.try_acquire(self.max) {
                return Ok(i);
            }
        }
        Err(if healthy {
            Unavailable::AtCapacity
        } else {
            Unavailable::NoHealthy
        })
    }

    /// `i` if it takes the request (it was eligible a moment ago), else the scan from it.
    fn take_or_scan(&self, i: usize) -> Result<usize, Unavailable> {
        if self.acquire(i) {
            Ok(i)
        } else {
            self.scan_from(i)
        }
    }
}

impl Balancer {
    pub(crate) fn new(balance: Balance, backends: &[Backend]) -> Self {
        let current = (balance == Balance::WeightedRoundRobin)
            .then(|| Mutex::new(vec![0; backends.len()].into_boxed_slice()));
        Self {
            balance,
            next: AtomicUsize::new(0),
            current,
        }
    }

    /// The algorithm.
    pub(crate) fn balance(&self) -> Balance {
        self.balance
    }

    /// Picks a backend other than `exclude` and counts a request in flight on it (the caller
    /// releases it); `client` is the client's address for `ip_hash`.
    pub(crate) fn pick(
        &self,
        backends: &[Backend],
        max: usize,
        client: Option<IpAddr>,
        exclude: Option<usize>,
    ) -> Result<usize, Unavailable> {
        let pool = Pool {
            backends,
            max,
            exclude,
        };
        if backends.len() <= 1 {
            return pool.scan_from(0);
        }
        match (self.balance, client) {
            (Balance::RoundRobin, _) | (Balance::IpHash, None) => {
                pool.scan_from(self.turn(backends.len()))
            }
            (Balance::IpHash, Some(ip)) => pool.scan_from(ip_slot(ip, backends.len())),
            (Balance::WeightedRoundRobin, _) => self.weighted(&pool),
            (Balance::LeastConnections, _) => self.least(&pool),
            (Balance::RandomTwoChoices, _) => self.two_choices(&pool),
        }
    }

    fn turn(&self, n: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % n
    }

    fn weighted(&self, pool: &Pool<'_>) -> Result<usize, Unavailable> {
        let Some(current) = &self.current else {
            return pool.scan_from(self.turn(pool.backends.len()));
        };
        let best = {
            let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
            smooth_pick(&mut current, pool)
        };
        match best {
            Some(i) => pool.take_or_scan(i),
            None => pool.scan_from(0),
        }
    }

    fn least(&self, pool: &Pool<'_>) -> Result<usize, Unavailable> {
        let n = pool.backends.len();
        let start = self.turn(n);
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !pool.eligible(i) {
                continue;
            }
            let load = pool.in_flight(i);
            if !matches!(best, Some((_, least)) if least <= load) {
                best = Some((i, load));
            }
        }
        match best {
            Some((i, _)) => pool.take_or_scan(i),
            None => pool.scan_from(start),
        }
    }

    fn two_choices(&self, pool: &Pool<'_>) -> Result<usize, Unavailable> {
        let n = pool.backends.len();
        let a = fastrand::usize(..n);
        let b = (a + 1 + fastrand::usize(..n - 1)) % n;
        let pick = match (pool.eligible(a), pool.eligible(b)) {
            (true, true) if pool.in_flight(b) < pool.in_flight(a) => b,
            (true, _) => a,
            (false, true) => b,
            (false, false) => return self.least(pool),
        };
        pool.take_or_scan(pick)
    }
}

/// One round of smooth weighted round robin over the eligible backends.
fn smooth_pick(current: &mut [i64], pool: &Pool<'_>) -> Option<usize> {
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for (i, backend) in pool.backends.iter().enumerate() {
        if !pool.eligible(i) {
            continue;
        }
        let Some(weight) = current.get_mut(i) else {
            continue;
        };
        let w = i64::from(backend.weight);
        *weight += w;
        total += w;
        if !matches!(best, Some(b) if current.get(b) >= current.get(i)) {
            best = Some(i);
        }
    }
    if let Some(w) = best.and_then(|b| current.get_mut(b)) {
        *w -= total;
    }
    best
}

/// The backend slot of a client address: FNV-1a over its octets, modulo `n`.
pub(crate) fn ip_slot(ip: IpAddr, n: usize) -> usize {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = |octets: &[u8]| {
        octets
            .iter()
            .fold(OFFSET, |h, &o| (h ^ u64::from(o)).wrapping_mul(PRIME))
    };
    let h = match ip.to_canonical() {
        IpAddr::V4(v4) => hash(&v4.octets()),
        IpAddr::V6(v6) => hash(&v6.octets()),
    };
    (h % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ProxyMetrics;

    fn backends(weights: &[u32]) -> Vec<Backend> {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = ProxyMetrics::register(&mut registry);
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Backend::for_test(&format!("http://b{i}:80"), w, &metrics))
            .collect()
    }

    /// Picks `n` times, releasing each at once.
    fn picks(balancer: &Balancer, backends: &[Backend], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let i = balancer.pick(backends, 0, None, None).unwrap();
                backends[i].release();
                i
            })
            .collect()
    }

    #[test]
    fn smooth_weighted_round_robin_interleaves_like_nginx() {
        let b = backends(&[5, 1, 1]);
        let balancer = Balancer::new(Balance::WeightedRoundRobin, &b);
        assert_eq!(picks(&balancer, &b, 14), [0, 0, 1, 0, 2, 0, 0].repeat(2));
        let b = backends(&[1, 3]);
        let balancer = Balancer::new(Balance::WeightedRoundRobin, &b);
        assert_eq!(picks(&balancer, &b, 8), [1, 0, 1, 1].repeat(2));
    }

    #[test]
    fn weighted_round_robin_skips_an_unhealthy_backend() {
        let b = backends(&[5, 1, 1]);
        b[0].set_healthy(false);
        let balancer = Balancer::new(Balance::WeightedRoundRobin, &b);
        assert_eq!(picks(&balancer, &b, 4), [1, 2, 1, 2]);
    }

    #[test]
    fn round_robin_visits_every_backend_in_turn_and_skips_the_unhealthy() {
        let b = backends(&[1, 1, 1]);
        let balancer = Balancer::new(Balance::RoundRobin, &b);
        assert_eq!(picks(&balancer, &b, 6), [0, 1, 2, 0, 1, 2]);
        b[1].set_healthy(false);
        assert!(!picks(&balancer, &b, 6).contains(&1));
    }

    #[test]
    fn least_connections_prefers_the_idlest_and_breaks_ties_in_turn() {
        let b = backends(&[1, 1, 1]);
        let balancer = Balancer::new(Balance::LeastConnections, &b);
        assert!(b[0].try_acquire(0) && b[1].try_acquire(0));
        assert_eq!(picks(&balancer, &b, 3), [2, 2, 2]);
        b[0].release();
        b[1].release();
        let mut seen = picks(&balancer, &b, 3);
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn two_choices_never_picks_the_busier_of_two() {
        let b = backends(&[1, 1]);
        let balancer = Balancer::new(Balance::RandomTwoChoices, &b);
        assert!(b[0].try_acquire(0));
        assert_eq!(picks(&balancer, &b, 50), vec![1; 50]);
    }

    #[test]
    fn capacity_and_health_give_distinct_reasons() {
        let b = backends(&[1, 1]);
        let balancer = Balancer::new(Balance::RoundRobin, &b);
        assert_eq!(balancer.pick(&b, 1, None, None), Ok(0));
        assert_eq!(balancer.pick(&b, 1, None, None), Ok(1));
        assert_eq!(
            balancer.pick(&b, 1, None, None),
            Err(Unavailable::AtCapacity)
        );
        b[0].set_healthy(false);
        b[1].set_healthy(false);
        assert_eq!(
            balancer.pick(&b, 1, None, None),
            Err(Unavailable::NoHealthy)
        );
    }

    #[test]
    fn exclusion_never_returns_the_excluded_backend() {
        let b = backends(&[1, 1, 1]);
        for balance in Balance::ALL {
            let balancer = Balancer::new(balance, &b);
            for _ in 0..30 {
                let i = balancer.pick(&b, 0, None, Some(1)).unwrap();
                b[i].release();
                assert_ne!(i, 1, "{balance}");
            }
        }
        let one = backends(&[1]);
        let balancer = Balancer::new(Balance::RoundRobin, &one);
        assert_eq!(
            balancer.pick(&one, 0, None, Some(0)),
            Err(Unavailable::NoHealthy)
        );
    }

    #[test]
    fn ip_hash_is_consistent_for_v4_and_v6_and_moves_on_deterministically() {
        let b = backends(&[1, 1, 1, 1]);
        let balancer = Balancer::new(Balance::IpHash, &b);
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_slot(v4, 4), ip_slot(mapped, 4));
        for ip in [v4, v6] {
            let first = balancer.pick(&b, 0, Some(ip), None).unwrap();
            b[first].release();
            for _ in 0..20 {
                let i = balancer.pick(&b, 0, Some(ip), None).unwrap();
                b[i].release();
                assert_eq!(i, first, "{ip}");
            }
            b[first].set_healthy(false);
            let moved = balancer.pick(&b, 0, Some(ip), None).unwrap();
            b[moved].release();
            assert_eq!(moved, (first + 1) % 4, "{ip}");
            b[first].set_healthy(true);
        }
        // Many v6 clients spread over every backend (the whole address is hashed).
        let mut seen = [false; 4];
        for i in 0..64u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i]);
            seen[ip_slot(ip, 4)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
