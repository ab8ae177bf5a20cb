//! [`Upstream`]: one named pool of primary backends (`[upstreams.NAME]` in docs/configuration.md;
//! the primary path in docs/contract.md): how a backend is picked ([`balance`]), how many requests
//! each has in flight ([`Lease`]), whether it takes requests ([`health`]: active checks and passive
//! ejection), and the pool's own client.

mod backend;
mod balance;
mod client;
mod error;
mod health;
mod lease;

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use prometheus_client::metrics::counter::Counter;
use tokio_util::sync::CancellationToken;

use backend::Backend;
use balance::Balancer;
pub(crate) use balance::Unavailable;
pub(crate) use client::{BackendPool, ClientBodyError, UpstreamBody};
pub use error::UpstreamError;
pub(crate) use lease::Lease;

use crate::metrics::ProxyMetrics;
use crate::settings::{Balance, HealthCheck, UpstreamSettings};
use crate::upgrade::Tunnels;

/// One named pool of backends with its balancing, caps, health and client.
#[derive(Debug)]
pub(crate) struct Upstream {
    name: Arc<str>,
    backends: Box<[Backend]>,
    balancer: Balancer,
    /// Requests in flight per backend at most; 0 is unlimited.
    max_connections: usize,
    timeout: Duration,
    health_check: Option<ActiveCheck>,
    eject_for: Duration,
    unavailable: Counter,
    checks_started: AtomicBool,
    /// Cancelled on drop: the health check and ejection tasks stop.
    stop: CancellationToken,
    /// Where its upgraded connections run (they hold a lease until they close).
    tunnels: Tunnels,
}

/// The active health check, its path parsed once.
#[derive(Debug)]
struct ActiveCheck {
    settings: HealthCheck,
    path: PathAndQuery,
}

/// What the admin API shows of one backend.
#[cfg(test)] // `/stats` reads the same from the metrics (`shadowgate_backend_healthy`)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendStatus<'a> {
    /// Its URL (also its `backend` label).
    pub(crate) url: &'a str,
    /// Its weight under `weighted_round_robin`.
    pub(crate) weight: u32,
    /// Whether it takes requests.
    pub(crate) healthy: bool,
    /// Requests sent to it whose response has not ended.
    pub(crate) in_flight: usize,
}

impl Upstream {
    /// Builds the pool of the settings' (already checked) backend URLs: none listed twice (the
    /// error names the upstream and the URL), metric handles resolved, the health gauges set to 1, the client made. Health checks start
    /// with [`Upstream::start_health_checks`].
    pub(crate) fn new(
        settings: &UpstreamSettings,
        metrics: &ProxyMetrics,
        tunnels: Tunnels,
    ) -> Result<Arc<Upstream>, UpstreamError> {
        let name = settings.name.as_str();
        if settings.backends.is_empty() {
            return Err(UpstreamError::NoBackend {
                upstream: name.to_owned(),
            });
        }
        if let Some(i) = settings.repeated_backends().next() {
            return Err(UpstreamError::DuplicateBackend {
                upstream: name.to_owned(),
                url: settings.backends[i].url.to_string(),
            });
        }
        let tls =
            client::tls_config(settings.tls_skip_verify).map_err(|source| UpstreamError::Tls {
                upstream: name.to_owned(),
                source,
            })?;
        let backends: Vec<Backend> = (settings.backends.iter())
            .map(|b| {
                let pool = client::pool(&b.url, &tls, settings.connect_timeout);
                Backend::new(name, &b.url, b.weight, metrics, pool)
            })
            .collect();
        let health_check = match &settings.health_check {
            None => None,
            Some(check) => Some(ActiveCheck {
                path: HealthCheck::parse_path(&check.path).ok_or_else(|| {
                    UpstreamError::InvalidHealthPath {
                        upstream: name.to_owned(),
                        path: check.path.clone(),
                    }
                })?,
                settings: check.clone(),
            }),
        };
        Ok(Arc::new(Upstream {
            name: name.into(),
            balancer: Balancer::new(settings.balance, &backends),
            backends: backends.into_boxed_slice(),
            max_connections: settings.max_connections,
            timeout: settings.timeout,
            health_check,
            eject_for: settings.eject_for,
            unavailable: metrics.unavailable(name),
            checks_started: AtomicBool::new(false),
            stop: CancellationToken::new(),
            tunnels,
        }))
    }

    /// Where its upgraded connections run.
    pub(crate) fn tunnels(&self) -> &Tunnels {
        &self.tunnels
    }

    /// Its name (the `upstream` label).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether requests must carry the [`shadowgate::ClientAddr`] extension (`ip_hash`).
    pub(crate) fn needs_client_addr(&self) -> bool {
        self.balancer.balance() == Balance::IpHash
    }

    /// At least one backend takes requests (for `/readyz`).
    pub(crate) fn is_ready(&self) -> bool {
        self.backends.iter().any(Backend::is_healthy)
    }

    /// Every backend's state, in configuration order (for the admin API's `/stats`).
    #[cfg(test)]
    pub(crate) fn backends(&self) -> impl Iterator<Item = BackendStatus<'_>> + '_ {
        self.backends.iter().map(|b| BackendStatus {
            url: &b.url,
            weight: b.weight,
            healthy: b.is_healthy(),
            in_flight: b.in_flight(),
        })
    }

    /// How many backends it has (healthy or not).
    pub(crate) fn backend_count(&self) -> usize {
        self.backends.len()
    }

    /// How long a response head may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Picks a backend (never `exclude`) and counts a request in flight on it until the lease
    /// is dropped; `client` is the client's address for `ip_hash`. When none can take it, the
    /// request is counted `unavailable`.
    pub(crate) fn lease(
        self: &Arc<Self>,
        client: Option<IpAddr>,
        exclude: Option<usize>,
    ) -> Result<Lease, Unavailable> {
        let picked = self
            .balancer
            .pick(&self.backends, self.max_connections, client, exclude);
        match picked {
            Ok(index) if index < self.backends.len() => Ok(Lease {
                upstream: Arc::clone(self),
                index,
            }),
            // A balancer picks among the backends it is given: cannot happen.
            Ok(_) => Err(Unavailable::NoHealthy),
            Err(why) => {
                if exclude.is_none() {
                    self.unavailable.inc();
                }
                Err(why)
            }
        }
    }

    fn backend(&self, index: usize) -> Option<&Backend> {
        self.backends.get(index)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_tunnels() -> Tunnels {
        Tunnels::new(std::time::Duration::from_secs(60))
    }
    use crate::settings::BackendSettings;

    fn build(settings: &UpstreamSettings) -> Result<Arc<Upstream>, UpstreamError> {
        let mut registry = prometheus_client::registry::Registry::default();
        Upstream::new(
            settings,
            &ProxyMetrics::register(&mut registry),
            test_tunnels(),
        )
    }

    fn upstream(urls: &[&str]) -> UpstreamSettings {
        UpstreamSettings::new("prod", urls.iter().map(|u| u.parse().unwrap()).collect())
    }

    #[test]
    fn errors_name_the_upstream_and_the_bad_value() {
        let err = build(&upstream(&[])).unwrap_err();
        assert_eq!(err.to_string(), "upstream \"prod\" has no backend");
        let err = build(&upstream(&["http://a:1", "http://b:1", "http://a:1/"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upstream \"prod\": backend \"http://a:1\" is listed twice"
        );
        let mut s = upstream(&["http://a:1"]);
        s.health_check = Some(HealthCheck {
            path: "healthz".to_owned(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        });
        let err = build(&s).unwrap_err();
        assert!(err.to_string().contains("\"healthz\""), "{err}");
    }

    #[test]
    fn leases_count_in_flight_and_readiness_follows_health() {
        let mut s = upstream(&["http://a:1", "https://b:2/base"]);
        s.backends.push(BackendSettings {
            url: "http://c:3".parse().unwrap(),
            weight: 4,
        });
        s.balance = Balance::IpHash;
        let up = build(&s).unwrap();
        assert!(up.needs_client_addr());
        let lease = up.lease(None, None).unwrap();
        let held: Vec<_> = up.backends().filter(|b| b.in_flight == 1).collect();
        assert_eq!(held.len(), 1);
        drop(lease);
        assert!(up.backends().all(|b| b.in_flight == 0));
        let urls: Vec<_> = up.backends().map(|b| (b.url, b.weight)).collect();
        assert_eq!(
            urls,
            [
                ("http://a:1", 1),
                ("https://b:2/base", 1),
                ("http://c:3", 4)
            ]
        );
        assert!(up.is_ready());
        for i in 0..3 {
            up.set_health(i, false, "test");
        }
        assert!(!up.is_ready());
        assert_eq!(up.lease(None, None).unwrap_err(), Unavailable::NoHealthy);
    }
}
