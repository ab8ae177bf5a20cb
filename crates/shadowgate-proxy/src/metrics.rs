//! The proxy's own metrics (the catalogue in docs/operations.md): requests per route and status
//! class, their duration, upstream requests per backend and outcome, and each backend's health.
//! Every handle is resolved when the app is built; the request path only bumps atomics (no lock, no
//! label formatting).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shadowgate::{DurationHistogram, Series, SeriesValue};
#[cfg(test)]
use std::time::Duration;

/// The prefix of every metric name (the registry's).
pub(crate) const PREFIX: &str = "shadowgate";

// The family names, registered under the prefix.
const REQUESTS: &str = "requests";
const DURATION: &str = "request_duration_seconds";
const UPSTREAM: &str = "upstream_requests";
const HEALTHY: &str = "backend_healthy";

/// The `backend` label of requests no backend could take (`outcome="unavailable"`).
pub(crate) const NO_BACKEND: &str = "none";

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatusLabels {
    route: String,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    backend: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    upstream: String,
    backend: String,
}

/// How one upstream request ended: the `outcome` label of `shadowgate_upstream_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamOutcome {
    /// The upstream answered with a response head (any status).
    Ok,
    /// Connecting failed: refused, unreachable, or the connect timeout passed.
    ConnectError,
    /// The response head did not arrive within the upstream timeout.
    Timeout,
    /// Any other failure: reset, protocol error, a request the proxy could not send.
    Error,
    /// No backend could take the request (none healthy, or every healthy one at
    /// `max_connections`): answered 503 without sending. Counted with `backend="none"`.
    Unavailable,
}

impl UpstreamOutcome {
    /// The outcomes a request to a chosen backend can have (`Unavailable` has no backend).
    const PER_BACKEND: [UpstreamOutcome; 4] = [
        UpstreamOutcome::Ok,
        UpstreamOutcome::ConnectError,
        UpstreamOutcome::Timeout,
        UpstreamOutcome::Error,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            UpstreamOutcome::Ok => "ok",
            UpstreamOutcome::ConnectError => "connect_error",
            UpstreamOutcome::Timeout => "timeout",
            UpstreamOutcome::Error => "error",
            UpstreamOutcome::Unavailable => "unavailable",
        }
    }
}

/// The proxy's metric families.
#[derive(Clone, Debug)]
pub(crate) struct ProxyMetrics {
    requests: Family<RouteStatusLabels, Counter>,
    duration: Family<RouteLabels, DurationHistogram>,
    upstream: Family<UpstreamLabels, Counter>,
    healthy: Family<BackendLabels, Gauge>,
    /// Every handle given out, to read them back ([`ProxyMetrics::series`]). Like the families,
    /// it keeps the series of routes and backends a reload dropped. Written only when a stack
    /// is built.
    handles: Arc<Mutex<Handles>>,
}

/// The handles given out, by their labels.
#[derive(Debug, Default)]
struct Handles {
    routes: BTreeMap<String, RouteMetrics>,
    /// By `(upstream, backend)`.
    backends: BTreeMap<(String, String), BackendMetrics>,
    /// By upstream.
    unavailable: BTreeMap<String, Counter>,
}

impl ProxyMetrics {
    /// Registers the families in `registry` (built with the `shadowgate` prefix).
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            duration: Family::default(),
            upstream: Family::default(),
            healthy: Family::default(),
            handles: Arc::default(),
        };
        registry.register(
            REQUESTS,
            "Requests answered by the proxy, per route and status class",
            m.requests.clone(),
        );
        registry.register(
            DURATION,
            "From the request head to the end of the response body, per route",
            m.duration.clone(),
        );
        registry.register(
            UPSTREAM,
            "Requests sent to primary backends, per upstream, backend and outcome",
            m.upstream.clone(),
        );
        registry.register(
            HEALTHY,
            "1 while a primary backend takes requests, 0 while it is out (health check or ejection)",
            m.healthy.clone(),
        );
        m
    }

    /// The handles of one route.
    pub(crate) fn route(&self, route: &str) -> RouteMetrics {
        let class = |status_class| {
            self.requests
                .get_or_create(&RouteStatusLabels {
                    route: route.to_owned(),
                    status_class,
                })
                .clone()
        };
        let handles = RouteMetrics {
            statuses: Arc::new(STATUS_CLASSES.map(class)),
            duration: self
                .duration
                .get_or_create(&RouteLabels {
                    route: route.to_owned(),
                })
                .clone(),
        };
        self.handles()
            .routes
            .insert(route.to_owned(), handles.clone());
        handles
    }

    fn handles(&self) -> std::sync::MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handles of one backend of an upstream (its health gauge starts at 1).
    pub(crate) fn backend(&self, upstream: &str, backend: &str) -> BackendMetrics {
        let outcome = |o: UpstreamOutcome| {
            self.upstream
                .get_or_create(&UpstreamLabels {
                    upstream: upstream.to_owned(),
                    backend: backend.to_owned(),
                    outcome: o.as_str(),
                })
                .clone()
        };
        let healthy = self
            .healthy
            .get_or_create(&BackendLabels {
                upstream: upstream.to_owned(),
                backend: backend.to_owned(),
            })
            .clone();
        healthy.set(1);
        let handles = BackendMetrics {
            outcomes: Arc::new(UpstreamOutcome::PER_BACKEND.map(outcome)),
            healthy,
        };
        self.handles()
            .backends
            .insert((upstream.to_owned(), backend.to_owned()), handles.clone());
        handles
    }

    /// The counter of requests an upstream could give to no backend (`outcome="unavailable"`,
    /// `backend="none"`).
    pub(crate) fn unavailable(&self, upstream: &str) -> Counter {
        let counter = self
            .upstream
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
                backend: NO_BACKEND.to_owned(),
                outcome: UpstreamOutcome::Unavailable.as_str(),
            })
            .clone();
        self.handles()
            .unavailable
            .insert(upstream.to_owned(), counter.clone());
        counter
    }

    /// Every series of the families, read from the handles: the same numbers `/metrics` shows.
    pub(crate) fn series(&self) -> Vec<Series> {
        let handles = self.handles();
        let mut all = Vec::new();
        for (route, m) in &handles.routes {
            for (class, counter) in STATUS_CLASSES.iter().zip(m.statuses.iter()) {
                let labels = vec![
                    ("route", route.clone()),
                    ("status_class", (*class).to_owned()),
                ];
                all.push(Series::new(
                    REQUESTS,
                    labels,
                    SeriesValue::Counter(counter.get()),
                ));
            }
            let duration = SeriesValue::Histogram(m.duration.snapshot());
            all.push(Series::new(
                DURATION,
                vec![("route", route.clone())],
                duration,
            ));
        }
        let upstream = |upstream: &str, backend: &str, outcome: UpstreamOutcome, n: u64| {
            let labels = vec![
                ("upstream", upstream.to_owned()),
                ("backend", backend.to_owned()),
                ("outcome", outcome.as_str().to_owned()),
            ];
            Series::new(UPSTREAM, labels, SeriesValue::Counter(n))
        };
        for ((up, backend), m) in &handles.backends {
            for (outcome, counter) in UpstreamOutcome::PER_BACKEND.iter().zip(m.outcomes.iter()) {
                all.push(upstream(up, backend, *outcome, counter.get()));
            }
            let labels = vec![("upstream", up.clone()), ("backend", backend.clone())];
            all.push(Series::new(
                HEALTHY,
                labels,
                SeriesValue::Gauge(m.healthy.get()),
            ));
        }
        for (up, counter) in &handles.unavailable {
            all.push(upstream(
                up,
                NO_BACKEND,
                UpstreamOutcome::Unavailable,
                counter.get(),
            ));
        }
        all
    }
}

/// One route's handles.
#[derive(Clone, Debug)]
pub(crate) struct RouteMetrics {
    statuses: Arc<[Counter; 5]>,
    pub(crate) duration: DurationHistogram,
}

impl RouteMetrics {
    /// Counts a response by its status class.
    pub(crate) fn response(&self, status: StatusCode) {
        let index = usize::from((status.as_u16() / 100).clamp(1, 5)) - 1;
        self.statuses[index].inc();
    }
}

/// One backend's handles.
#[derive(Clone, Debug)]
pub(crate) struct BackendMetrics {
    outcomes: Arc<[Counter; 4]>,
    healthy: Gauge,
}

impl BackendMetrics {
    /// Counts one request's outcome (`Unavailable` is counted per upstream, with
    /// `backend="none"`, so a backend has no series for it).
    pub(crate) fn count(&self, outcome: UpstreamOutcome) {
        if let Some(counter) = self.outcomes.get(outcome as usize) {
            counter.inc();
        }
    }

    /// Sets the `shadowgate_backend_healthy` gauge.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.set(i64::from(healthy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_text() {
        let mut registry = Registry::with_prefix("shadowgate");
        let m = ProxyMetrics::register(&mut registry);
        let route = m.route("default");
        route.duration.observe(Duration::from_micros(50));
        route.duration.observe(Duration::from_millis(3));
        route.duration.observe(Duration::from_secs(60));
        route.response(StatusCode::OK);
        route.response(StatusCode::BAD_GATEWAY);
        let backend = m.backend("prod", "http://a");
        backend.count(UpstreamOutcome::Timeout);
        backend.set_healthy(false);
        m.unavailable("prod").inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("shadowgate_request_duration_seconds_count{route=\"default\"} 3"),
            "{text}"
        );
        let bucket = |le: &str, n: u64| {
            format!(
                "shadowgate_request_duration_seconds_bucket{{le=\"{le}\",route=\"default\"}} {n}"
            )
        };
        assert!(text.contains(&bucket("0.0001", 1)), "{text}");
        assert!(text.contains(&bucket("0.0032", 2)), "{text}");
        assert!(text.contains(&bucket("13.1072", 2)), "{text}");
        assert!(text.contains(&bucket("+Inf", 3)), "{text}");
        assert!(
            text.contains("shadowgate_requests_total{route=\"default\",status_class=\"5xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("shadowgate_upstream_requests_total{upstream=\"prod\",backend=\"http://a\",outcome=\"timeout\"} 1"), "{text}");
        assert!(text.contains("shadowgate_upstream_requests_total{upstream=\"prod\",backend=\"none\",outcome=\"unavailable\"} 1"), "{text}");
        // A backend has no `unavailable` series: that outcome has no backend.
        assert!(
            !text.contains("backend=\"http://a\",outcome=\"unavailable\""),
            "{text}"
        );
        assert!(
            text.contains("shadowgate_backend_healthy{upstream=\"prod\",backend=\"http://a\"} 0"),
            "{text}"
        );
    }
}
