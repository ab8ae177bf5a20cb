//! `GET /stats` and the JSON listing of `GET /targets`: the same counters as `/metrics`, as JSON.
//! `/stats` is built from the registry's own text encoding, so it can never disagree with it.

use prometheus_client::registry::Registry;
use serde_json::{json, Map, Value};

use super::targets::Listed;

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

/// `{"targets": [...], "metrics": {NAME: [{"labels": {...}, "value": N}]}}`.
pub(crate) fn stats_json(
    registry: &Registry,
    targets: &[Listed],
) -> Result<Value, std::fmt::Error> {
    let mut text = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    let mut metrics = Map::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        let entry = metrics
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(samples) = entry {
            samples.push(json!({ "labels": labels, "value": value }));
        }
    }
    Ok(json!({
        "targets": targets.iter().map(target_json).collect::<Vec<_>>(),
        "metrics": metrics,
    }))
}

/// `name{a="x",b="y"} 1.5` → `(name, {a: x, b: y}, 1.5)`.
fn parse_sample(line: &str) -> Option<(&str, Map<String, Value>, f64)> {
    let mut labels = Map::new();
    let (name, rest) = match line.find('{') {
        Some(open) => {
            let (name, mut rest) = (&line[..open], &line[open + 1..]);
            loop {
                rest = rest.trim_start_matches(',');
                if let Some(after) = rest.strip_prefix('}') {
                    break (name, after);
                }
                let eq = rest.find("=\"")?;
                let key = &rest[..eq];
                let (value, after) = label_value(&rest[eq + 2..])?;
                labels.insert(key.to_owned(), Value::String(value));
                rest = after;
            }
        }
        None => line.split_once(' ')?,
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((name, labels, value))
}

/// A quoted label value up to its closing `"`, unescaped; and the rest after the quote.
fn label_value(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let (name, labels, value) =
            parse_sample(r#"shadowgate_x_total{target="http://a:1/\"q\"",outcome="ok"} 3"#)
                .unwrap();
        assert_eq!(name, "shadowgate_x_total");
        assert_eq!(labels["target"], "http://a:1/\"q\"");
        assert_eq!(labels["outcome"], "ok");
        assert_eq!(value, 3.0);
        let (name, labels, value) = parse_sample("shadowgate_up 1").unwrap();
        assert_eq!((name, labels.len(), value), ("shadowgate_up", 0, 1.0));
        let (_, labels, value) = parse_sample(r#"h_bucket{le="+Inf"} 2"#).unwrap();
        assert_eq!((labels["le"].as_str(), value), (Some("+Inf"), 2.0));
    }
}
