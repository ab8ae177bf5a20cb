//! `[upstreams.NAME]` → [`UpstreamSettings`].

use std::collections::BTreeMap;

use super::check::{key_name, Errors};
use crate::config::raw::{RawBackend, RawHealthCheck, RawUpstream};
use crate::settings::{
    BackendSettings, BackendUrl, Balance, HealthCheck, UpstreamSettings, DEFAULT_HEALTHY_THRESHOLD,
    DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_TIMEOUT, DEFAULT_UNHEALTHY_THRESHOLD, MAX_CONNECTIONS,
    MAX_THRESHOLD, MAX_WEIGHT,
};

/// Every upstream, in name order.
pub(super) fn upstreams(
    errs: &mut Errors,
    raw: &BTreeMap<String, RawUpstream>,
) -> Vec<UpstreamSettings> {
    if raw.is_empty() {
        errs.push(
            "upstreams",
            "no upstream: add an [upstreams.NAME] table with backends (or pass --upstream URL)",
        );
    }
    raw.iter()
        .map(|(name, u)| upstream(errs, name, u))
        .collect()
}

fn upstream(errs: &mut Errors, name: &str, raw: &RawUpstream) -> UpstreamSettings {
    let at = format!("upstreams.{}", key_name(name));
    let key = |k: &str| format!("{at}.{k}");
    if name.is_empty() {
        errs.push(&at, "an upstream name cannot be empty");
    }
    let mut u = UpstreamSettings::new(name, Vec::new());
    backends(errs, &key("backends"), &raw.backends, &mut u);
    if let Some(b) = &raw.balance {
        match Balance::parse(b) {
            Some(b) => u.balance = b,
            None => {
                let all: Vec<&str> = Balance::ALL.iter().map(|b| b.as_str()).collect();
                errs.push(
                    key("balance"),
                    format!("{b:?} is not one of {}", all.join(", ")),
                );
            }
        }
    }
    u.connect_timeout = errs.positive_duration(
        &key("connect_timeout"),
        raw.connect_timeout.as_deref(),
        u.connect_timeout,
    );
    u.timeout = errs.positive_duration(&key("timeout"), raw.timeout.as_deref(), u.timeout);
    u.max_connections = errs.count(
        &key("max_connections"),
        raw.max_connections,
        0,
        (0, MAX_CONNECTIONS),
    );
    u.tls_skip_verify = raw.tls_skip_verify.unwrap_or(false);
    u.eject_for = errs.positive_duration(&key("eject_for"), raw.eject_for.as_deref(), u.eject_for);
    u.health_check = raw
        .health_check
        .as_ref()
        .map(|h| health_check(errs, &key("health_check"), h));
    u
}

/// The backends, each URL checked by [`BackendUrl`] and each repeat reported (by the settings'
/// own rule, [`UpstreamSettings::repeated_backends`]).
fn backends(errs: &mut Errors, at: &str, raw: &[RawBackend], u: &mut UpstreamSettings) {
    if raw.is_empty() {
        errs.push(at, "at least one backend URL is required");
    }
    for (i, b) in raw.iter().enumerate() {
        let (url, weight, key) = match b {
            RawBackend::Url(url) => (url, None, format!("{at}[{i}]")),
            RawBackend::Weighted(w) => (&w.url, w.weight, format!("{at}[{i}].url")),
        };
        let weight = errs.count_u32(&format!("{at}[{i}].weight"), weight, 1, (1, MAX_WEIGHT));
        match BackendUrl::parse(url) {
            Ok(parsed) => {
                u.backends.push(BackendSettings {
                    url: parsed,
                    weight,
                });
                let last = u.backends.len() - 1;
                if u.repeated_backends().any(|r| r == last) {
                    errs.push(key, format!("{url:?} is listed more than once"));
                    u.backends.pop();
                }
            }
            Err(e) => errs.push(key, e.to_string()),
        }
    }
}

fn health_check(errs: &mut Errors, at: &str, raw: &RawHealthCheck) -> HealthCheck {
    let key = |k: &str| format!("{at}.{k}");
    let path = raw.path.clone().unwrap_or_else(|| "/".to_owned());
    if HealthCheck::parse_path(&path).is_none() {
        errs.push(
            key("path"),
            format!("{path:?} is not a path (it must start with /)"),
        );
    }
    HealthCheck {
        path,
        interval: errs.positive_duration(
            &key("interval"),
            raw.interval.as_deref(),
            DEFAULT_HEALTH_INTERVAL,
        ),
        timeout: errs.positive_duration(
            &key("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_HEALTH_TIMEOUT,
        ),
        healthy_threshold: errs.count_u32(
            &key("healthy_threshold"),
            raw.healthy_threshold,
            DEFAULT_HEALTHY_THRESHOLD,
            (1, MAX_THRESHOLD),
        ),
        unhealthy_threshold: errs.count_u32(
            &key("unhealthy_threshold"),
            raw.unhealthy_threshold,
            DEFAULT_UNHEALTHY_THRESHOLD,
            (1, MAX_THRESHOLD),
        ),
    }
}
