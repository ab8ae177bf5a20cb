//! Limits on admin logins (docs/operations.md, "Auth"): bcrypt verifications run at most
//! [`BCRYPT_CONCURRENCY`] at a time (a call waits up to [`BCRYPT_WAIT`] for a turn, then gets
//! 503), and a peer (IP) with [`MAX_FAILURES`] failed logins within [`WINDOW`] gets 429 for
//! [`WINDOW`]. The per-peer table holds at most [`MAX_PEERS`] addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many bcrypt verifications may run at once.
pub(crate) const BCRYPT_CONCURRENCY: usize = 4;
/// How long a login waits for a turn before it is refused with 503.
pub(crate) const BCRYPT_WAIT: Duration = Duration::from_secs(2);
/// Failed logins of one peer within [`WINDOW`] that block it.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The failure window, and how long a peer is blocked.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Peers remembered at most (the oldest is forgotten first).
pub(crate) const MAX_PEERS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Peer {
    /// Start of the current window.
    since: Instant,
    failures: u32,
    /// Refused until then.
    blocked_until: Option<Instant>,
}

/// The login limits an admin listener shares.
#[derive(Debug)]
pub(crate) struct Throttle {
    permits: Arc<Semaphore>,
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(BCRYPT_CONCURRENCY)),
            peers: Mutex::new(HashMap::new()),
        }
    }
}

impl Throttle {
    /// A turn to run bcrypt, or `None` after waiting [`BCRYPT_WAIT`] in vain.
    pub(crate) async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(BCRYPT_WAIT, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// How long `ip` is still blocked, if it is.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = peer_key(ip);
        let peers = self.peers();
        let until = peers.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failed login of `ip`; the tenth within a window blocks it for [`WINDOW`].
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let ip = peer_key(ip);
        let mut peers = self.peers();
        if !peers.contains_key(&ip) && peers.len() >= MAX_PEERS {
            // Forget the stale first, then (an address flood) the oldest window.
            peers.retain(|_, p| {
                now.duration_since(p.since) < WINDOW || p.blocked_until.is_some_and(|u| u > now)
            });
            if peers.len() >= MAX_PEERS {
                // Never a blocked peer: a flood of addresses must not lift a block.
                let oldest = (peers.iter())
                    .filter(|(_, p)| !p.blocked_until.is_some_and(|u| u > now))
                    .min_by_key(|(_, p)| p.since)
                    .map(|(ip, _)| *ip);
                match oldest {
                    Some(oldest) => {
                        peers.remove(&oldest);
                    }
                    // Every remembered peer is blocked: this failure is not remembered.
                    None => return,
                }
            }
        }
        let peer = peers.entry(ip).or_insert(Peer {
            since: now,
            failures: 0,
            blocked_until: None,
        });
        if now.duration_since(peer.since) >= WINDOW {
            *peer = Peer {
                since: now,
                failures: 0,
                blocked_until: peer.blocked_until.filter(|u| *u > now),
            };
        }
        peer.failures += 1;
        if peer.failures >= MAX_FAILURES {
            peer.blocked_until = Some(now + WINDOW);
        }
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<IpAddr, Peer>> {
        // Each change is one call on the map: a panic cannot leave it half-changed.
        self.peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.peers().len()
    }
}

/// Who a peer is: its IPv4 address, or the /64 network of its IPv6 address (one host may hold
/// a whole /64 and pick a fresh address for each try).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_in_a_minute_block_for_a_minute() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let start = Instant::now();
        for i in 0..9 {
            t.failed(ip, start + Duration::from_secs(i));
            assert_eq!(t.blocked(ip, start + Duration::from_secs(i)), None);
        }
        let tenth = start + Duration::from_secs(9);
        t.failed(ip, tenth);
        assert_eq!(t.blocked(ip, tenth), Some(WINDOW));
        assert!(t.blocked(ip, tenth + Duration::from_secs(59)).is_some());
        assert_eq!(t.blocked(ip, tenth + WINDOW), None);
        // Failures spread over more than a minute never block.
        let other: IpAddr = "192.0.2.2".parse().unwrap_or(ip);
        for i in 0..30 {
            t.failed(other, start + Duration::from_secs(7 * i));
            assert_eq!(t.blocked(other, start + Duration::from_secs(7 * i)), None);
        }
    }

    /// The fifth concurrent login waits for a turn: it gets one as soon as a check ends within
    /// [`BCRYPT_WAIT`], and none (the caller answers 503) when every check outlasts it.
    #[tokio::test(start_paused = true)]
    async fn a_login_waits_for_a_turn_and_is_refused_when_none_comes() {
        let t = Arc::new(Throttle::default());
        let mut turns = Vec::new();
        for _ in 0..BCRYPT_CONCURRENCY {
            turns.push(t.turn().await.expect("a free turn"));
        }
        let started = tokio::time::Instant::now();
        assert!(t.turn().await.is_none(), "a turn while all are held");
        assert_eq!(started.elapsed(), BCRYPT_WAIT);

        let waiting = tokio::spawn({
            let t = t.clone();
            async move { t.turn().await.is_some() }
        });
        tokio::time::sleep(BCRYPT_WAIT / 2).await;
        drop(turns.pop());
        assert!(
            waiting.await.expect("the waiting login"),
            "no turn after one was freed"
        );
    }

    #[test]
    fn an_ipv6_peer_is_its_64_network() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1)
                .parse()
                .unwrap_or(IpAddr::from([0; 16]));
            t.failed(ip, now);
        }
        let other_host: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 16]));
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 16]));
        assert!(
            t.blocked(other_host, now).is_some(),
            "the same /64 is one peer"
        );
        assert_eq!(t.blocked(other_net, now), None);
    }

    #[test]
    fn a_flood_of_addresses_never_lifts_a_block() {
        let t = Throttle::default();
        let now = Instant::now();
        let blocked = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..MAX_FAILURES {
            t.failed(blocked, now);
        }
        for i in 0..(MAX_PEERS as u32 + 100) {
            t.failed(
                IpAddr::from(((i + 1) << 8).to_be_bytes()),
                now + Duration::from_millis(1),
            );
        }
        assert_eq!(t.len(), MAX_PEERS);
        assert!(t.blocked(blocked, now).is_some(), "the block was lifted");
    }

    #[test]
    fn the_peer_table_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_PEERS as u32 + 100) {
            t.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert_eq!(t.len(), MAX_PEERS);
    }
}
