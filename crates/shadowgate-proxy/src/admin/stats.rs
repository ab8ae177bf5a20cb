//! `GET /stats` and the JSON listing of `GET /targets`: the targets, and every series of
//! `/metrics` as JSON (see docs/operations.md). The numbers are read from the metric handles
//! themselves ([`Series`]), the same ones the registry encodes for `/metrics`.

use serde_json::{json, Map, Value};
use shadowgate::{Series, SeriesValue};

use super::targets::Listed;
use crate::metrics::PREFIX;

/// `{url, name, source, persistent, state, sample, sent, dropped, failed, ...}` for one target.
/// `sent` counts copies dispatched to the queue, `dropped` every copy dropped or skipped before
/// any I/O, `failed` the transport failures and timeouts.
pub(crate) fn target_json(t: &Listed) -> Value {
    use shadowgate::Outcome;
    let s = &t.stats;
    let outcomes: Map<String, Value> = s
        .outcomes
        .iter()
        .map(|(o, n)| (o.as_str().to_owned(), json!(n)))
        .collect();
    json!({
        "url": s.url,
        "name": s.name,
        "source": if t.runtime { "runtime" } else { "config" },
        "persistent": t.persistent,
        "state": s.circuit.as_str(),
        "sample": s.sample,
        "sent": s.get(Outcome::Dispatched),
        "dropped": s.dropped(),
        "failed": s.get(Outcome::Failed) + s.get(Outcome::TimedOut),
        "failing_for_seconds": s.failing_for.map(|d| d.as_secs_f64()),
        "outcomes": outcomes,
    })
}

/// `{"targets": [...], "metrics": {NAME: [{"labels": {...}, "value": N}]}}`, NAME as the text
/// exposition writes it: prefixed, a counter's with `_total`, a histogram as its `_bucket` (with
/// `le`), `_sum` and `_count`.
pub(crate) fn stats_json(targets: &[Listed], series: Vec<Series>) -> Value {
    let mut metrics = Metrics::default();
    for s in series {
        let name = format!("{PREFIX}_{}", s.name);
        let labels: Map<String, Value> = s
            .labels
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        match s.value {
            SeriesValue::Counter(n) => metrics.push(format!("{name}_total"), labels, n as f64),
            SeriesValue::Gauge(v) => metrics.push(name, labels, v as f64),
            SeriesValue::Histogram(h) => {
                for (bound, n) in &h.buckets {
                    let le = if bound.is_finite() {
                        bound.to_string()
                    } else {
                        "+Inf".to_owned()
                    };
                    let mut labels = labels.clone();
                    labels.insert("le".to_owned(), Value::String(le));
                    metrics.push(format!("{name}_bucket"), labels, *n as f64);
                }
                metrics.push(format!("{name}_sum"), labels.clone(), h.sum);
                metrics.push(format!("{name}_count"), labels, h.count as f64);
            }
            // A kind this version does not know is left out rather than guessed at.
            _ => {}
        }
    }
    json!({
        "targets": targets.iter().map(target_json).collect::<Vec<_>>(),
        "metrics": metrics.0,
    })
}

/// The samples by name.
#[derive(Default)]
struct Metrics(Map<String, Value>);

impl Metrics {
    fn push(&mut self, name: String, labels: Map<String, Value>, value: f64) {
        let entry = self
            .0
            .entry(name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(samples) = entry {
            samples.push(json!({ "labels": labels, "value": value }));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use http::StatusCode;
    use prometheus_client::registry::Registry;
    use shadowgate::{MirrorLayer, MirrorMetrics, TargetConfig};

    use super::*;
    use crate::admin::AuthMetrics;
    use crate::metrics::{ProxyMetrics, UpstreamOutcome};

    /// `/metrics` read back: the samples of the text exposition by name, each with its labels.
    fn parse_text(text: &str) -> Map<String, Value> {
        let mut metrics = Metrics::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels: Map<String, Value> = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap();
                    (k.to_owned(), Value::String(v.trim_matches('"').to_owned()))
                })
                .collect();
            metrics.push(name.to_owned(), labels, value.parse().unwrap());
        }
        metrics.0
    }

    /// Each name's samples in one order (the registry's families have none).
    fn sorted(mut metrics: Map<String, Value>) -> Map<String, Value> {
        for samples in metrics.values_mut() {
            if let Value::Array(samples) = samples {
                samples.sort_by_key(|s| s["labels"].to_string());
            }
        }
        metrics
    }

    #[tokio::test]
    async fn stats_has_every_sample_of_the_text_exposition_with_its_value() {
        let mut registry = Registry::with_prefix(PREFIX);
        let auth = AuthMetrics::register(&mut registry);
        let proxy = ProxyMetrics::register(&mut registry);
        let mirror_metrics = MirrorMetrics::register(&mut registry);
        let target = TargetConfig::builder("http://127.0.0.1:9/")
            .name("canary")
            .build()
            .unwrap();
        let mirror = MirrorLayer::builder()
            .metrics(mirror_metrics.clone())
            .target(target)
            .build()
            .unwrap();
        let route = proxy.route("api");
        route.response(StatusCode::OK);
        route.response(StatusCode::BAD_GATEWAY);
        route.duration.observe(Duration::from_millis(3));
        route.duration.observe(Duration::from_secs(60));
        let backend = proxy.backend("prod", "http://a:1");
        backend.count(UpstreamOutcome::Timeout);
        backend.set_healthy(false);
        proxy.unavailable("prod").inc();
        proxy.unavailable("prod").inc();

        let series = [auth.series(), proxy.series(), mirror_metrics.series()].concat();
        let stats = stats_json(&[], series);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let expected = sorted(parse_text(&text));
        assert_eq!(
            sorted(stats["metrics"].as_object().unwrap().clone()),
            expected
        );
        let bucket = &expected["shadowgate_request_duration_seconds_bucket"];
        assert!(bucket.as_array().unwrap().len() > 2, "{bucket}");
        assert!(expected.contains_key("shadowgate_mirror_queue_depth"));
        mirror.shutdown(Duration::ZERO).await;
    }
}
