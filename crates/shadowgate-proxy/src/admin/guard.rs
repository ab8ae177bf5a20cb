//! The HTTP side of admin auth: checking each request against the users file, refusing with 401
//! and the Basic challenge, logging and counting every refusal.

use std::net::SocketAddr;
use std::time::Instant;

use http::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use shadowgate::{Series, SeriesValue};

use super::auth::{Refusal, CHALLENGE};
use super::Admin;
use crate::answer::Answer;

/// The family's name, registered under the registry's prefix.
const FAILURES: &str = "admin_auth_failures";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// `shadowgate_admin_auth_failures_total{reason}`: refused admin requests, by why.
#[derive(Clone, Debug)]
pub(crate) struct AuthMetrics {
    failures: Family<ReasonLabels, Counter>,
}

impl AuthMetrics {
    /// Registers the family (every reason starts at 0).
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            FAILURES,
            "Admin API requests refused by auth, by reason",
            failures.clone(),
        );
        for r in Refusal::ALL {
            let _ = failures.get_or_create(&ReasonLabels { reason: r.as_str() });
        }
        Self { failures }
    }

    /// The family's series, read from the handles (every reason has one).
    pub(crate) fn series(&self) -> Vec<Series> {
        Refusal::ALL
            .iter()
            .map(|r| {
                let counter = self
                    .failures
                    .get_or_create(&ReasonLabels { reason: r.as_str() });
                let labels = vec![("reason", r.as_str().to_owned())];
                Series::new(FAILURES, labels, SeriesValue::Counter(counter.get()))
            })
            .collect()
    }

    fn count(&self, r: Refusal) {
        self.failures
            .get_or_create(&ReasonLabels { reason: r.as_str() })
            .inc();
    }
}

impl Admin {
    /// The 429 for a peer blocked for its failed logins, if it is.
    fn refuse_blocked(&self, peer: SocketAddr, req: &Parts) -> Option<Answer> {
        let left = self.throttle.blocked(peer.ip(), Instant::now())?;
        tracing::debug!(%peer, method = %req.method, path = req.uri.path(), "admin request of a blocked peer refused");
        let secs = left.as_secs().max(1);
        Some(
            Answer::text(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins from {}; try again in {secs} s\n",
                    peer.ip()
                ),
            )
            .header(RETRY_AFTER, HeaderValue::from(secs)),
        )
    }

    /// `None` when the request may go on; otherwise the 401.
    pub(super) async fn authenticate(&self, req: &Parts, peer: SocketAddr) -> Option<Answer> {
        let users = self.users.as_ref()?;
        let method = &req.method;
        let path = req.uri.path();
        if let Some(blocked) = self.refuse_blocked(peer, req) {
            return Some(blocked);
        }
        let header = req.headers.get(AUTHORIZATION).cloned();
        let checked = if users.has_bcrypt() && header.is_some() {
            let turn = self.throttle.turn().await;
            // Again after the wait: guesses sent in parallel all pass the first check, and
            // the ones that fail while these wait must block the rest.
            if let Some(blocked) = self.refuse_blocked(peer, req) {
                return Some(blocked);
            }
            let Some(turn) = turn else {
                tracing::warn!(%peer, %method, path, "admin login refused: bcrypt checks are all busy");
                return Some(
                    Answer::text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many logins being checked; try again\n",
                    )
                    .header(RETRY_AFTER, HeaderValue::from_static("1")),
                );
            };
            let users = users.clone();
            // The turn comes back with the answer and is let go only once a failure is
            // counted: a login waiting for it then sees the block this failure may have set.
            tokio::task::spawn_blocking(move || (users.check(header.as_ref()), Some(turn)))
                .await
                .unwrap_or((Err((Refusal::Malformed, None)), None))
        } else {
            (users.check(header.as_ref()), None)
        };
        let (checked, turn) = checked;
        let (refusal, user) = match checked {
            Ok(_) => return None,
            Err(refused) => refused,
        };
        if refusal != Refusal::Missing {
            self.throttle.failed(peer.ip(), Instant::now());
        }
        drop(turn);
        self.auth_metrics.count(refusal);
        match refusal {
            Refusal::Missing => {
                tracing::debug!(%peer, %method, path, "admin request without credentials refused")
            }
            _ => tracing::warn!(
                %peer,
                %method,
                path,
                user = user.as_deref().unwrap_or(""),
                reason = refusal.as_str(),
                "admin login failed"
            ),
        }
        Some(
            Answer::text(StatusCode::UNAUTHORIZED, "unauthorized\n")
                .header(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE)),
        )
    }
}
