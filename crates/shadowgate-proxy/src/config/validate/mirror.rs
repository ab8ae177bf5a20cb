//! `[mirror_defaults]` and `[mirrors.NAME]` → a [`TargetBuilder`] template and built
//! [`TargetConfig`]s. Each key is checked here so that every problem is reported; the library's
//! own [`TargetBuilder::build`] then checks the URL.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::Authority;
use http::Method;
use shadowgate::{SampleBy, TargetBuilder, TargetConfig};

use super::check::{key_name, Errors};
use crate::config::raw::RawMirror;

/// A URL that makes a template buildable, to read its settings back.
pub(crate) const PLACEHOLDER_URL: &str = "http://mirror-defaults.invalid";

/// `[mirror_defaults]`: the template (its URL is set per target) and `circuit.remove_after`.
pub(super) fn defaults(
    errs: &mut Errors,
    raw: Option<&RawMirror>,
) -> (TargetBuilder, Option<Duration>) {
    let template = TargetConfig::builder("");
    let Some(raw) = raw else {
        return (template, None);
    };
    if let Some(url) = &raw.url {
        errs.push(
            "mirror_defaults.url",
            format!("{url:?}: [mirror_defaults] has no url (each target has its own)"),
        );
    }
    let remove_after = raw
        .circuit
        .as_ref()
        .and_then(|c| c.remove_after.as_deref())
        .map(|v| {
            errs.positive_duration(
                "mirror_defaults.circuit.remove_after",
                Some(v),
                Duration::ZERO,
            )
        });
    let circuit = (
        shadowgate::DEFAULT_CIRCUIT_FAILURES,
        shadowgate::DEFAULT_CIRCUIT_RETRY_AFTER,
    );
    (
        apply(errs, "mirror_defaults", raw, template, circuit),
        remove_after,
    )
}

/// Every `[mirrors.NAME]`, in name order, routed and named by its table.
pub(super) fn mirrors(
    errs: &mut Errors,
    raw: &BTreeMap<String, RawMirror>,
    defaults: &TargetBuilder,
) -> Vec<TargetConfig> {
    // The template's circuit, for a table that sets only one of its keys.
    let circuit = defaults
        .clone()
        .url(PLACEHOLDER_URL)
        .build()
        .map(|t| (t.circuit_failures(), t.circuit_retry_after()))
        .unwrap_or((
            shadowgate::DEFAULT_CIRCUIT_FAILURES,
            shadowgate::DEFAULT_CIRCUIT_RETRY_AFTER,
        ));
    let mut out = Vec::with_capacity(raw.len());
    for (name, m) in raw {
        let at = format!("mirrors.{}", key_name(name));
        if name.is_empty() {
            errs.push(&at, "a mirror name cannot be empty");
        }
        let before = errs.len();
        let Some(url) = errs.required(&format!("{at}.url"), m.url.as_deref()) else {
            continue;
        };
        if let Some(v) = m.circuit.as_ref().and_then(|c| c.remove_after.as_deref()) {
            // Only runtime-added targets are ever removed; checked for symmetry.
            errs.positive_duration(
                &format!("{at}.circuit.remove_after"),
                Some(v),
                Duration::ZERO,
            );
        }
        // The URL alone (the other settings are checked key by key below).
        if let Err(e) = TargetConfig::builder(url).build() {
            let message = match e {
                shadowgate::BuildError::InvalidUrl { url, reason } => format!("{url:?}: {reason}"),
                e => e.to_string(),
            };
            errs.push(format!("{at}.url"), message);
        }
        let builder = defaults.clone().url(url).name(name.as_str()).routed(true);
        let builder = apply(errs, &at, m, builder, circuit);
        if errs.len() > before {
            continue;
        }
        match builder.build() {
            Ok(target) => out.push(target),
            Err(e) => errs.push(at, e.to_string()),
        }
    }
    out
}

/// Checks and applies every key `raw` sets (all but `url`) onto `b`.
fn apply(
    errs: &mut Errors,
    at: &str,
    raw: &RawMirror,
    mut b: TargetBuilder,
    (base_failures, base_retry_after): (u32, Duration),
) -> TargetBuilder {
    let key = |k: &str| format!("{at}.{k}");
    if let Some(r) = raw.sample {
        if (0.0..=1.0).contains(&r) {
            b = b.sample(r);
        } else {
            errs.push(key("sample"), format!("{r} is outside 0..=1"));
        }
    }
    if let Some(s) = &raw.sample_by {
        match SampleBy::parse(s) {
            Ok(by) => b = b.sample_by(by),
            Err(e) => errs.push(key("sample_by"), e),
        }
    }
    if raw.rate_limit.is_some() {
        b = b.rate_limit(errs.count_u32(&key("rate_limit"), raw.rate_limit, 0, 0));
    }
    if raw.workers.is_some() {
        b = b.workers(errs.count(&key("workers"), raw.workers, 1, 1));
    }
    if raw.queue.is_some() {
        b = b.queue(errs.count(&key("queue"), raw.queue, 1, 1));
    }
    if let Some(t) = &raw.timeout {
        b = b.timeout(errs.positive_duration(
            &key("timeout"),
            Some(t),
            shadowgate::DEFAULT_TIMEOUT,
        ));
    }
    if raw.max_body_bytes.is_some() {
        let n = errs.count(&key("max_body_bytes"), raw.max_body_bytes, 0, 0);
        b = b.max_body_bytes(n);
    }
    if let Some(on) = raw.body {
        b = b.body(on);
    }
    if let Some(h) = &raw.host {
        b = match h.as_str() {
            "original" => b.host_original(),
            "target" => b.host_target(),
            literal
                if literal.parse::<Authority>().is_ok()
                    && HeaderValue::from_str(literal).is_ok() =>
            {
                b.host_literal(literal)
            }
            _ => {
                errs.push(
                    key("host"),
                    format!("{h:?} is not original, target or a host[:port]"),
                );
                b
            }
        };
    }
    if let Some(headers) = &raw.headers {
        for (name, value) in &headers.add {
            let at = format!("{}.{}", key("headers.add"), key_name(name));
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                errs.push(at, format!("{name:?} is not a valid header name"));
            } else if HeaderValue::from_str(value).is_err() {
                errs.push(at, "the value has characters a header cannot carry");
            } else {
                b = b.add_header(name.as_str(), value.as_str());
            }
        }
        for (i, name) in headers.remove.iter().enumerate() {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                errs.push(
                    format!("{}[{i}]", key("headers.remove")),
                    format!("{name:?} is not a valid header name"),
                );
            } else {
                b = b.remove_header(name.as_str());
            }
        }
    }
    if let Some(methods) = &raw.methods {
        b = b.methods(self::methods(errs, &key("methods"), methods));
    }
    if let Some(c) = &raw.circuit {
        let failures = errs.count_u32(&key("circuit.failures"), c.failures, base_failures, 0);
        let retry_after = errs.positive_duration(
            &key("circuit.retry_after"),
            c.retry_after.as_deref(),
            base_retry_after,
        );
        b = b.circuit(failures, retry_after);
    }
    b
}

/// Upper-case method names (`GET`, `POST`, or an extension method such as `PURGE`).
pub(super) fn methods(errs: &mut Errors, at: &str, raw: &[String]) -> Vec<Method> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        match Method::from_bytes(m.as_bytes()) {
            Ok(method) if *m == m.to_ascii_uppercase() => out.push(method),
            _ => errs.push(
                format!("{at}[{i}]"),
                format!("{m:?} is not an upper-case HTTP method (GET, POST, ...)"),
            ),
        }
    }
    out
}
