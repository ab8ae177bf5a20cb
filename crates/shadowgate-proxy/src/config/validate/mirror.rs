//! `[mirror_defaults]` and `[mirrors.NAME]` → a [`TargetBuilder`] template and built
//! [`TargetConfig`]s. The keys are read into the builder as they are; the library's
//! [`TargetBuilder::build`] checks them all and tags each problem with its [`Field`], which is
//! mapped back to its key path here.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use shadowgate::compare::{DEFAULT_COMPARE_BODY_BYTES, DEFAULT_COMPARE_PER_SECOND};
use shadowgate::{
    CompareConfig, Control, Field, SampleBy, TargetBuilder, TargetConfig, TargetError,
};

use super::check::{key_name, Errors};
use crate::config::duration;
use crate::config::raw::{RawCompare, RawMirror};

/// Any count the field's type holds: what a target setting may be is the builder's to check
/// (`TargetBuilder::build`, which owns the bounds in docs/configuration.md).
const ANY: (usize, usize) = (0, usize::MAX);
/// [`ANY`] for a `u32` setting.
const ANY_U32: (u32, u32) = (0, u32::MAX);

/// A URL that makes a template buildable, to read its settings back.
pub(crate) const PLACEHOLDER_URL: &str = "http://mirror-defaults.invalid";

/// `[mirror_defaults]`: the template of the `[mirrors.NAME]` tables (its URL is set per
/// target), `circuit.remove_after`, and `compare`, which is not part of the template: it is for
/// `--mirror` and runtime targets only. A `compare.control` must be `"primary"` or one of
/// `targets`.
pub(super) fn defaults(
    errs: &mut Errors,
    raw: Option<&RawMirror>,
    targets: &BTreeMap<String, RawMirror>,
) -> (TargetBuilder, Option<Duration>, Option<CompareConfig>) {
    let template = TargetConfig::builder("");
    let Some(raw) = raw else {
        return (template, None, None);
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
    let built = apply(errs, "mirror_defaults", raw, template.clone(), circuit);
    let compare =
        (raw.compare.as_ref()).map(|c| self::compare(errs, "mirror_defaults", c, targets));
    let mut whole = built.clone().url(PLACEHOLDER_URL);
    if let Some(c) = &compare {
        whole = whole.compare(c.clone());
    }
    match whole.build() {
        Ok(_) => (built, remove_after, compare),
        Err(e) => {
            let only_compare = (e.problems.iter()).all(|p| matches!(p.field, Field::Compare(_)));
            report(errs, "mirror_defaults", raw, 0, e);
            // The mirrors are checked against the plain defaults, so as not to repeat these.
            let template = if only_compare { built } else { template };
            (template, remove_after, None)
        }
    }
}

/// Every `[mirrors.NAME]`, in name order, routed and named by its table.
pub(super) fn mirrors(
    errs: &mut Errors,
    raw: &BTreeMap<String, RawMirror>,
    defaults: &TargetBuilder,
) -> Vec<TargetConfig> {
    // The template's circuit, for a table that sets only one of its keys, and its removed
    // headers, which come before the table's own.
    let (circuit, template_removes) = defaults
        .clone()
        .url(PLACEHOLDER_URL)
        .build()
        .map(|t| {
            let circuit = (t.circuit_failures(), t.circuit_retry_after());
            (circuit, t.remove_headers().len())
        })
        .unwrap_or((
            (
                shadowgate::DEFAULT_CIRCUIT_FAILURES,
                shadowgate::DEFAULT_CIRCUIT_RETRY_AFTER,
            ),
            0,
        ));
    let mut out = Vec::with_capacity(raw.len());
    for (name, m) in raw {
        let at = format!("mirrors.{}", key_name(name));
        if name.is_empty() {
            errs.push(&at, "a mirror name cannot be empty");
        }
        let before = errs.len();
        if let Some(v) = m.trust_mirror_marks {
            errs.push(
                format!("{at}.trust_mirror_marks"),
                format!("{v}: a proxy-wide switch, set in [mirror_defaults] only"),
            );
        }
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
        let builder = defaults.clone().url(url).name(name.as_str()).routed(true);
        let mut builder = apply(errs, &at, m, builder, circuit);
        if let Some(c) = &m.compare {
            builder = builder.compare(compare(errs, &at, c, raw));
        }
        match builder.build() {
            Ok(target) if errs.len() == before => out.push(target),
            Ok(_) => {}
            Err(e) => report(errs, &at, m, template_removes, e),
        }
    }
    out
}

/// Each of the builder's problems at its key path under `at`. `removes_before` is how many
/// removed headers came before the table's own (the template's).
fn report(errs: &mut Errors, at: &str, raw: &RawMirror, removes_before: usize, e: TargetError) {
    for p in e.problems {
        let retry_after = raw.circuit.as_ref().and_then(|c| c.retry_after.as_ref());
        let message = match (&p.field, &raw.timeout, retry_after) {
            // The duration as written ("0s"), not as the builder prints it.
            (Field::Timeout, Some(t), _) | (Field::CircuitRetryAfter, _, Some(t)) => {
                format!("{t:?} {}", p.error.reason())
            }
            _ => p.error.to_string(),
        };
        let key = match &p.field {
            Field::Url => format!("{at}.url"),
            Field::Sample => format!("{at}.sample"),
            Field::Workers => format!("{at}.workers"),
            Field::Queue => format!("{at}.queue"),
            Field::Timeout => format!("{at}.timeout"),
            Field::Host => format!("{at}.host"),
            Field::MaxBodyBytes => format!("{at}.max_body_bytes"),
            Field::RateLimit => format!("{at}.rate_limit"),
            Field::CircuitFailures => format!("{at}.circuit.failures"),
            Field::CircuitRetryAfter => format!("{at}.circuit.retry_after"),
            Field::AddHeader(name) => format!("{at}.headers.add.{}", key_name(name)),
            Field::RemoveHeader(i) => {
                format!("{at}.headers.remove[{}]", i.saturating_sub(removes_before))
            }
            Field::Compare(key) => format!("{at}.compare.{key}"),
            _ => at.to_owned(),
        };
        errs.push(key, message);
    }
}

/// Reads every key `raw` sets (all but `url`) into `b`, converting the file's types (a duration's
/// text, an integer's range); what the values may be is [`TargetBuilder::build`]'s to check.
fn apply(
    errs: &mut Errors,
    at: &str,
    raw: &RawMirror,
    mut b: TargetBuilder,
    (base_failures, base_retry_after): (u32, Duration),
) -> TargetBuilder {
    let key = |k: &str| format!("{at}.{k}");
    if let Some(r) = raw.sample {
        b = b.sample(r);
    }
    if let Some(s) = &raw.sample_by {
        match SampleBy::parse(s) {
            Ok(by) => b = b.sample_by(by),
            Err(e) => errs.push(key("sample_by"), e.to_string()),
        }
    }
    if raw.rate_limit.is_some() {
        b = b.rate_limit(errs.count_u32(&key("rate_limit"), raw.rate_limit, 0, ANY_U32));
    }
    if raw.workers.is_some() {
        b = b.workers(errs.count(
            &key("workers"),
            raw.workers,
            shadowgate::DEFAULT_WORKERS,
            ANY,
        ));
    }
    if raw.queue.is_some() {
        b = b.queue(errs.count(&key("queue"), raw.queue, shadowgate::DEFAULT_QUEUE, ANY));
    }
    if let Some(t) = &raw.timeout {
        match duration::parse(t) {
            Ok(t) => b = b.timeout(t),
            Err(e) => errs.push(key("timeout"), e),
        }
    }
    if raw.max_body_bytes.is_some() {
        let n = errs.count(&key("max_body_bytes"), raw.max_body_bytes, 0, ANY);
        b = b.max_body_bytes(n);
    }
    if let Some(on) = raw.body {
        b = b.body(on);
    }
    if let Some(h) = &raw.host {
        b = b.host(h.as_str());
    }
    if let Some(headers) = &raw.headers {
        for (name, value) in &headers.add {
            b = b.add_header(name.as_str(), value.as_str());
        }
        for name in &headers.remove {
            b = b.remove_header(name.as_str());
        }
    }
    if let Some(methods) = &raw.methods {
        b = b.methods(self::methods(errs, &key("methods"), methods));
    }
    if let Some(c) = &raw.circuit {
        let failures = errs.count_u32(&key("circuit.failures"), c.failures, base_failures, ANY_U32);
        let retry_after = errs.positive_duration(
            &key("circuit.retry_after"),
            c.retry_after.as_deref(),
            base_retry_after,
        );
        b = b.circuit(failures, retry_after);
    }
    b
}

/// `compare` of the table at `at`, read into a [`CompareConfig`] as it is: what the values may
/// be is [`TargetBuilder::build`]'s to check, but for what only the file knows: `control` must
/// be `"primary"` or name one of `targets`, and an array's `key` goes with `mode = "keyed"`
/// only. A rule the file gets wrong is still passed on (as a placeholder) so that the builder's
/// indices stay the file's.
fn compare(
    errs: &mut Errors,
    at: &str,
    raw: &RawCompare,
    targets: &BTreeMap<String, RawMirror>,
) -> CompareConfig {
    let key = |k: &str| format!("{at}.compare.{k}");
    let mut c = CompareConfig::new();
    if let Some(r) = raw.sample {
        c = c.sample(r);
    }
    if let Some(m) = &raw.methods {
        c = c.methods(methods(errs, &key("methods"), m));
    }
    if raw.max_body_bytes.is_some() {
        let n = errs.count(
            &key("max_body_bytes"),
            raw.max_body_bytes,
            DEFAULT_COMPARE_BODY_BYTES,
            ANY,
        );
        c = c.max_body_bytes(n);
    }
    match raw.control.as_deref() {
        None => {}
        Some(name) if name == "primary" || targets.contains_key(name) => {
            c = c.control(Control::parse(name));
        }
        Some(name) => {
            let known = targets.keys().map(|k| key_name(k)).collect::<Vec<_>>();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            errs.push(
                key("control"),
                format!("{name:?} is not a [mirrors] target (there are: {known}) or \"primary\""),
            );
        }
    }
    for glob in &raw.ignore {
        c = c.ignore(glob.as_str());
    }
    for (i, rule) in raw.arrays.iter().enumerate() {
        let path = errs.required(&key(&format!("arrays[{i}].path")), rule.path.as_deref());
        let mode = rule.mode.as_deref().unwrap_or("ordered");
        // The builder reads `keyed:POINTER` as a keyed mode; the file says it with `key`.
        let mode = if mode.contains(':') {
            errs.push(
                key(&format!("arrays[{i}].mode")),
                format!("{mode:?} is not an array mode (ordered, set or keyed)"),
            );
            "ordered"
        } else {
            mode
        };
        let array_key = match (mode, rule.key.as_deref()) {
            ("keyed", k) => k,
            (_, None) => None,
            (mode, Some(k)) => {
                errs.push(
                    key(&format!("arrays[{i}].key")),
                    format!("{k:?}: only a keyed array has a key (this one is {mode:?})"),
                );
                None
            }
        };
        c = c.array(path.unwrap_or_default(), mode, array_key);
    }
    for (i, rule) in raw.numbers.iter().enumerate() {
        let path = errs.required(&key(&format!("numbers[{i}].path")), rule.path.as_deref());
        if rule.abs.is_none() && rule.rel.is_none() {
            errs.push(
                key(&format!("numbers[{i}]")),
                "sets neither abs nor rel (a tolerance is one or both)",
            );
        }
        let (abs, rel) = (rule.abs.unwrap_or(0.0), rule.rel.unwrap_or(0.0));
        c = c.number(path.unwrap_or_default(), abs, rel);
    }
    for template in &raw.endpoints {
        c = c.endpoint(template.as_str());
    }
    if raw.max_per_second.is_some() {
        let n = errs.count_u32(
            &key("max_per_second"),
            raw.max_per_second,
            DEFAULT_COMPARE_PER_SECOND,
            ANY_U32,
        );
        c = c.max_per_second(n);
    }
    c
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors(tables: &str) -> Vec<String> {
        let text = format!("[upstreams.p]\nbackends = [\"http://a:1\"]\n{tables}");
        let raw = crate::config::parse(&text, "test.toml").unwrap();
        let mut e: Vec<String> = super::super::validate(&raw, Path::new("."))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        e.sort();
        e
    }

    #[test]
    fn a_tables_removed_header_is_named_by_its_own_index() {
        let e = errors(
            "[mirror_defaults.headers]\nremove = [\"x-a\", \"x-b\"]\n\
             [mirrors.m]\nurl = \"http://m:1\"\nheaders = { remove = [\"x-c\", \"bad name\"] }\n",
        );
        assert_eq!(
            e,
            ["mirrors.m.headers.remove[1]: \"bad name\" is not a valid header name"]
        );
    }

    #[test]
    fn a_bad_default_compare_is_reported_once_and_is_no_base_of_the_mirrors() {
        let e = errors(
            "[mirror_defaults]\nworkers = 3\n[mirror_defaults.compare]\nsample = 2.0\n\
             ignore = [\"x\"]\n[mirrors.m]\nurl = \"http://m:1\"\n\
             [mirrors.n]\nurl = \"http://n:1\"\ncompare = { control = \"m\", ignore = [\"/a\", \"b\"] }\n",
        );
        assert_eq!(
            e,
            [
                "mirror_defaults.compare.ignore[0]: \"x\" is not a pointer glob (it starts with '/', as /body/**/id does)",
                "mirror_defaults.compare.sample: 2 is outside 0..=1",
                "mirrors.n.compare.ignore[1]: \"b\" is not a pointer glob (it starts with '/', as /body/**/id does)",
            ]
        );
    }

    #[test]
    fn a_bad_default_is_reported_once_at_mirror_defaults() {
        let e = errors(
            "[mirror_defaults]\nworkers = 0\nhost = \"a b\"\n[mirrors.m]\nurl = \"http://m:1\"\n\
             [mirrors.n]\nurl = \"http://n:1\"\nqueue = 0\n",
        );
        assert_eq!(
            e,
            [
                "mirror_defaults.host: \"a b\" is not original, target or a host[:port]",
                "mirror_defaults.workers: 0 must be at least 1",
                "mirrors.n.queue: 0 must be at least 1",
            ]
        );
    }
}
