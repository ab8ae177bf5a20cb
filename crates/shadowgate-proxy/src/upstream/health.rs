//! Backend health: active checks and passive ejection.
//!
//! - **Active** (`[upstreams.NAME.health_check]`): one task per backend sends `GET path` every
//!   `interval`; an answer of 2xx or 3xx within `timeout` passes. `unhealthy_threshold` failures
//!   in a row take a healthy backend out, `healthy_threshold` passes in a row bring it back.
//! - **Passive**: a connect failure on a real request takes the backend out at once. With an
//!   active check it comes back only through the check; without one, after `eject_for`. As in
//!   nginx, the only backend of a pool is never ejected passively (there is nowhere else to
//!   send; ejecting it would only turn one failed connect into `eject_for` of 503s).
//!
//! Every change is logged at WARN (upstream, backend, why) and sets
//! `shadowgate_backend_healthy`. The tasks hold only a `Weak` and stop when the [`Upstream`] is
//! dropped (its cancellation token fires).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use http::header::{HeaderValue, USER_AGENT};
use http::{Method, Request};
use http_body_util::BodyExt;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Upstream, UpstreamBody};
use crate::chain::ErrorChain;

impl Upstream {
    /// Starts one active health check task per backend (once; later calls do nothing, and so
    /// does an upstream without a health check). Must run inside a Tokio runtime.
    pub(crate) fn start_health_checks(self: &Arc<Self>) {
        if self.health_check.is_none() || self.checks_started.swap(true, Ordering::AcqRel) {
            return;
        }
        for index in 0..self.backends.len() {
            tokio::spawn(check_loop(Arc::downgrade(self), self.stop.clone(), index));
        }
    }

    /// Marks backend `index` healthy or not; logs and sets the gauge when that is a change,
    /// and says whether it was.
    pub(crate) fn set_health(&self, index: usize, healthy: bool, why: &str) -> bool {
        let Some(backend) = self.backend(index) else {
            return false;
        };
        if !backend.set_healthy(healthy) {
            return false;
        }
        if healthy {
            tracing::warn!(upstream = %self.name, backend = %backend.url, why, "backend is healthy again");
        } else {
            tracing::warn!(upstream = %self.name, backend = %backend.url, why, "backend is unhealthy");
        }
        true
    }

    /// A real request could not connect to backend `index`: it is out at once; without an
    /// active check it is back after `eject_for`. The only backend of a pool stays in.
    pub(crate) fn connect_failed(self: &Arc<Self>, index: usize) {
        if self.backends.len() <= 1 {
            return;
        }
        if self.health_check.is_some() {
            self.set_health(
                index,
                false,
                "connecting failed; back when the health check passes",
            );
            return;
        }
        // The timer needs a runtime; requests are always polled on one, but rather than eject
        // a backend for good, leave it in when there is none.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Only the failure that took it out starts the timer.
        if !self.set_health(index, false, "connecting failed; back after eject_for") {
            return;
        }
        let upstream = Arc::downgrade(self);
        let stop = self.stop.clone();
        let eject_for = self.eject_for;
        runtime.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(eject_for) => {
                    if let Some(upstream) = upstream.upgrade() {
                        upstream.set_health(index, true, "the eject_for period passed");
                    }
                }
            }
        });
    }
}

/// Checks one backend every interval until the upstream is gone.
async fn check_loop(upstream: Weak<Upstream>, stop: CancellationToken, index: usize) {
    let Some(interval) = upstream
        .upgrade()
        .and_then(|u| u.health_check.as_ref().map(|c| c.settings.interval))
    else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut streak = Streak::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(up) = upstream.upgrade() else {
            return;
        };
        let Some(check) = up.health_check.as_ref() else {
            return;
        };
        let (healthy_threshold, unhealthy_threshold) = (
            check.settings.healthy_threshold,
            check.settings.unhealthy_threshold,
        );
        let probe = probe(&up, index);
        // Do not keep the upstream alive while waiting on the backend.
        drop(up);
        let result = tokio::select! {
            () = stop.cancelled() => return,
            result = probe => result,
        };
        let Some(up) = upstream.upgrade() else {
            return;
        };
        let Some(healthy) = up.backend(index).map(|b| b.is_healthy()) else {
            return;
        };
        match streak.record(healthy, result.is_ok()) {
            Some(n) if !healthy && n >= healthy_threshold.max(1) => {
                let why = format!("the health check passed {n} times in a row");
                up.set_health(index, true, &why);
            }
            Some(n) if healthy && n >= unhealthy_threshold.max(1) => {
                let why = match result {
                    Err(why) => format!("the health check failed {n} times in a row: {why}"),
                    Ok(()) => format!("the health check failed {n} times in a row"),
                };
                up.set_health(index, false, &why);
            }
            _ => {}
        }
    }
}

/// The results in a row that count toward a change of state.
#[derive(Debug, Default)]
struct Streak {
    /// The state the streak is about (a change resets it).
    healthy: Option<bool>,
    /// Results in a row that disagree with `healthy`.
    against: u32,
}

impl Streak {
    /// Records one result for a backend now `healthy`; returns how many results in a row now
    /// argue for the other state, or `None` when this one agrees with the current state.
    fn record(&mut self, healthy: bool, passed: bool) -> Option<u32> {
        if self.healthy != Some(healthy) {
            self.healthy = Some(healthy);
            self.against = 0;
        }
        if passed == healthy {
            self.against = 0;
            return None;
        }
        self.against = self.against.saturating_add(1);
        Some(self.against)
    }
}

/// One check of backend `index`: the future owns what it needs (not the upstream).
fn probe(
    up: &Upstream,
    index: usize,
) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
    let check = match (up.backend(index), up.health_check.as_ref()) {
        (Some(b), Some(check)) => Some((
            b.uri_for(Some(&check.path)),
            b.pool.clone(),
            check.settings.timeout,
        )),
        _ => None,
    };
    async move {
        let Some((uri, pool, timeout)) = check else {
            return Err(String::from("no such backend or check"));
        };
        let uri = uri.map_err(|e| format!("the check URL is invalid: {e}"))?;
        let mut request = Request::new(UpstreamBody::Empty);
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
        request.headers_mut().insert(
            USER_AGENT,
            HeaderValue::from_static("shadowgate-health-check"),
        );
        let exchange = async move {
            let (response, conn) = pool
                .send(request)
                .await
                .map_err(|e| ErrorChain(&e).to_string())?;
            let status = response.status();
            // Read the (small) body so the connection can be reused.
            if response.into_body().collect().await.is_ok() {
                conn.release();
            }
            if status.is_success() || status.is_redirection() {
                Ok(())
            } else {
                Err(format!("it answered {status}"))
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ProxyMetrics;
    use crate::settings::{HealthCheck, UpstreamSettings};
    use shadowgate_test_support::RecordingServer;
    use std::time::Duration;

    /// An upstream of one recording backend, checked at `/health` every `interval` (one
    /// answer either way flips a backend).
    async fn checked_upstream(interval: Duration) -> (RecordingServer, std::sync::Arc<Upstream>) {
        let server = RecordingServer::start().await.unwrap();
        let mut settings = UpstreamSettings::new("prod", vec![server.url().parse().unwrap()]);
        settings.health_check = Some(HealthCheck {
            path: "/health".to_owned(),
            interval,
            timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        });
        let mut registry = prometheus_client::registry::Registry::default();
        let up = Upstream::new(
            &settings,
            &ProxyMetrics::register(&mut registry),
            crate::upgrade::Tunnels::new(Duration::from_secs(60)),
        )
        .unwrap();
        (server, up)
    }

    #[tokio::test]
    async fn health_checks_stop_when_the_upstream_is_dropped() {
        let (server, up) = checked_upstream(Duration::from_millis(10)).await;
        up.start_health_checks();
        let checks = server.wait_for(3, Duration::from_secs(10)).await;
        assert!(checks.len() >= 3);
        assert!(checks.iter().all(|r| r.uri.path() == "/health"));
        assert_eq!(checks[0].headers["user-agent"], "shadowgate-health-check");

        drop(up);
        // The checkers hold only a `Weak`: with the upstream gone, its client (the only one the
        // checks use) goes too, and so does its pooled connection. Once no connection is open,
        // no check can ever be sent again; a checker that kept the upstream alive would keep
        // checking over its keep-alive connection.
        shadowgate_test_support::eventually("the checks' connection to close", || {
            shadowgate_test_support::exactly(server.open_connections(), 0)
        })
        .await;
    }

    #[tokio::test]
    async fn starting_twice_runs_one_checker_per_backend() {
        let interval = Duration::from_millis(40);
        let (server, up) = checked_upstream(interval).await;

        let started = std::time::Instant::now();
        up.start_health_checks();
        up.start_health_checks();
        let checks = server.wait_for(4, Duration::from_secs(10)).await;

        // One checker ticks at its start and then once per interval (never early), so its k-th
        // probe cannot arrive before k intervals have passed; a second checker's first probe
        // would arrive with the first one's.
        assert!(checks.len() >= 4, "{} probes", checks.len());
        for (k, check) in checks.iter().enumerate() {
            let earliest = started + interval * u32::try_from(k).unwrap();
            assert!(
                check.received_at >= earliest,
                "probe {k} came {:?} after the start, before {k} intervals of {interval:?}",
                check.received_at - started
            );
        }
    }

    #[test]
    fn a_streak_counts_results_against_the_state_and_resets_on_change() {
        let mut s = Streak::default();
        assert_eq!(s.record(true, true), None);
        assert_eq!(s.record(true, false), Some(1));
        assert_eq!(s.record(true, true), None);
        assert_eq!(s.record(true, false), Some(1));
        assert_eq!(s.record(true, false), Some(2));
        // Taken out (by the check or by ejection): the count starts again.
        assert_eq!(s.record(false, true), Some(1));
        assert_eq!(s.record(false, false), None);
        assert_eq!(s.record(false, true), Some(1));
        assert_eq!(s.record(false, true), Some(2));
    }
}
