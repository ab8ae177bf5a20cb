//! The admin listener (docs/operations.md): `/targets` (list, add, remove runtime targets),
//! `/compare` (the verdicts, docs/admin-api.md),
//! `/metrics`, `/healthz`, `/readyz` and `/stats`, behind HTTP Basic auth when a users file is set
//! (`/healthz` is always open). It runs on its own address, so the proxy listener never answers
//! admin paths.

mod auth;
mod browser;
mod compare;
mod guard;
pub(crate) mod query;
mod state;
mod stats;
mod targets;
mod throttle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::ACCEPT;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use prometheus_client::registry::Registry;

use shadowgate::MirrorMetrics;

use crate::answer::Answer;
use crate::metrics::ProxyMetrics;

pub use auth::AuthFileError;
pub(crate) use auth::Users;
pub(crate) use browser::check_allowed_host;
pub(crate) use browser::Browsers;
pub(crate) use guard::AuthMetrics;
use query::TargetsQuery;
pub(crate) use state::StateFile;
pub use state::StateFileError;
pub(crate) use targets::RuntimeTargets;

const JSON: &str = "application/json";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether the proxy is ready to serve (`/readyz`): listeners up and every upstream with a
/// healthy backend. Supplied by the app.
pub(crate) type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// What every admin connection shares.
pub(crate) struct Admin {
    pub(crate) registry: Arc<Registry>,
    /// The handles `/stats` reads (`/metrics` encodes the registry they are registered in).
    pub(crate) proxy_metrics: ProxyMetrics,
    pub(crate) mirror_metrics: MirrorMetrics,
    pub(crate) targets: Arc<RuntimeTargets>,
    pub(crate) users: Option<Users>,
    pub(crate) auth_metrics: AuthMetrics,
    pub(crate) ready: Readiness,
    /// Who may call from a browser (`Origin`, `Sec-Fetch-Site`, `Host`).
    pub(crate) browsers: Browsers,
    /// Login limits: bcrypt checks at a time, failures per peer.
    pub(crate) throttle: throttle::Throttle,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("targets", &self.targets)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// The admin service; one per connection.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    admin: Arc<Admin>,
    peer: SocketAddr,
}

impl AdminService {
    pub(crate) fn new(admin: Arc<Admin>, peer: SocketAddr) -> Self {
        Self { admin, peer }
    }
}

impl Admin {
    async fn answer(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Answer {
        // No admin call has a body: parameters are in the query.
        let (req, _body) = req.into_parts();
        let req = &req;
        let path = req.uri.path();
        if path == "/healthz" {
            return only_get(req).unwrap_or_else(|| Answer::text(StatusCode::OK, "ok"));
        }
        // Before auth, so a page of another site costs no password check.
        if let Some(forbidden) = self.browsers.refuse(req) {
            tracing::warn!(%peer, method = %req.method, path, reason = %forbidden, "admin request from a browser refused");
            return Answer::text(StatusCode::FORBIDDEN, format!("{forbidden}\n"));
        }
        if let Some(refused) = self.authenticate(req, peer).await {
            return refused;
        }
        match path {
            "/targets" => self.targets(req).await,
            p if p == "/compare" || p.starts_with("/compare/") => {
                compare::answer(&self.targets, req).await
            }
            "/metrics" => only_get(req).unwrap_or_else(|| self.metrics()),
            "/readyz" => only_get(req).unwrap_or_else(|| {
                if (self.ready)() {
                    Answer::text(StatusCode::OK, "ready\n")
                } else {
                    Answer::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                }
            }),
            "/stats" => only_get(req).unwrap_or_else(|| {
                let series = [
                    self.auth_metrics.series(),
                    self.proxy_metrics.series(),
                    self.mirror_metrics.series(),
                ];
                let stats = stats::stats_json(&self.targets.listing(), series.concat());
                Answer::json(StatusCode::OK, &stats)
            }),
            _ => Answer::text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    async fn targets(&self, req: &Parts) -> Answer {
        let method = req.method.clone();
        if method == Method::GET || method == Method::HEAD {
            let listing = self.targets.listing();
            let wants_json = req
                .headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(JSON));
            if wants_json {
                let all: Vec<_> = listing.iter().map(stats::target_json).collect();
                return Answer::json(StatusCode::OK, &serde_json::Value::Array(all));
            }
            let mut body = String::new();
            for t in &listing {
                body.push_str(&t.stats.url);
                body.push('\n');
            }
            return Answer::text(StatusCode::OK, body);
        }
        if !matches!(method, Method::PUT | Method::POST | Method::DELETE) {
            return not_allowed("GET, HEAD, PUT, POST, DELETE");
        }
        let q = match TargetsQuery::parse(req.uri.query()) {
            Ok(q) => q,
            Err(message) => {
                return Answer::text(
                    StatusCode::BAD_REQUEST,
                    format!("{message}; nothing changed\n"),
                )
            }
        };
        if method == Method::DELETE {
            if q.persistent.is_some() || q.sample.is_some() {
                return Answer::text(
                    StatusCode::BAD_REQUEST,
                    "DELETE takes only url parameters; nothing was removed\n",
                );
            }
            return match self.targets.remove(&q.urls).await {
                Ok(removed) => Answer::text(
                    StatusCode::OK,
                    removed
                        .iter()
                        .map(|u| format!("removed {u}\n"))
                        .collect::<String>(),
                ),
                Err(refused) => Answer::text(refused.status, format!("{}\n", refused.message)),
            };
        }
        let persistent = q.persistent.unwrap_or(false);
        match self.targets.add(&q.urls, persistent, q.sample).await {
            Ok(asked) => {
                let body: String = asked
                    .iter()
                    .map(|(u, added)| {
                        if *added {
                            format!("added {u}\n")
                        } else {
                            format!("unchanged {u} (already a target)\n")
                        }
                    })
                    .collect();
                Answer::text(StatusCode::OK, body)
            }
            Err(refused) => {
                let message = if refused.status == StatusCode::BAD_REQUEST {
                    format!("{}; nothing was added\n", refused.message)
                } else {
                    format!("{}\n", refused.message)
                };
                Answer::text(refused.status, message)
            }
        }
    }

    fn metrics(&self) -> Answer {
        let mut body = String::with_capacity(16 * 1024);
        match prometheus_client::encoding::text::encode(&mut body, &self.registry) {
            Ok(()) => Answer::typed(StatusCode::OK, OPENMETRICS, Bytes::from(body)),
            Err(_) => Answer::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics could not be encoded\n",
            ),
        }
    }
}

/// `None` for GET and HEAD; a 405 otherwise.
fn only_get(req: &Parts) -> Option<Answer> {
    (!matches!(req.method, Method::GET | Method::HEAD)).then(|| not_allowed("GET, HEAD"))
}

fn not_allowed(allow: &'static str) -> Answer {
    Answer::not_allowed("method not allowed\n", allow)
}

impl hyper::service::Service<Request<Incoming>> for AdminService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let admin = self.admin.clone();
        let peer = self.peer;
        Box::pin(async move { Ok(admin.answer(req, peer).await.into_response()) })
    }
}
