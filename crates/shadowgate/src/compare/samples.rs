//! The kept sample pairs of one target: a store capped by bytes (the oldest go first), each
//! sample built with credentials redacted and bodies cut (docs/verdicts.md, "Samples").

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;

use super::diff::Difference;
use super::pairing::Answer;
use super::report::{rfc3339, Sample, SampleDifference, SampleRequest, SampleSide};
use crate::copy::CopyHead;

/// The bytes of kept samples per target, at most (estimated as their JSON).
pub const SAMPLE_STORE_BYTES: usize = 2 * 1024 * 1024;
/// The most body bytes a sample keeps per side.
pub const SAMPLE_BODY_BYTES: usize = 8 * 1024;
/// The most differences a sample keeps per side.
const SAMPLE_DIFFERENCES: usize = 64;
/// A difference's value longer than this (as JSON) is cut in a sample.
const SAMPLE_VALUE_BYTES: usize = 512;
/// Samples kept per (endpoint, field, kind).
pub const SAMPLES_PER_FIELD: usize = 3;

/// Header names whose values are replaced by `[redacted]` in samples.
pub const REDACTED_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-amz-security-token",
];

/// Query parameters whose values are replaced by `[redacted]`: a name containing one of these.
const REDACTED_PARAMS: [&str; 7] = [
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "signature",
    "auth",
];

const REDACTED: &str = "[redacted]";

/// One target's samples.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    kept: VecDeque<(Arc<Sample>, usize)>,
    bytes: usize,
}

impl Samples {
    /// Keeps `sample`, letting the oldest go until the store fits.
    pub(crate) fn keep(&mut self, sample: Sample) {
        let size = serde_json::to_vec(&sample).map_or(SAMPLE_STORE_BYTES, |v| v.len());
        if size > SAMPLE_STORE_BYTES {
            return;
        }
        while self.bytes + size > SAMPLE_STORE_BYTES {
            let Some((_, n)) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= n;
        }
        self.bytes += size;
        self.kept.push_back((Arc::new(sample), size));
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<Sample>> {
        // Ids grow with time, so the store is sorted by id.
        let i = self.kept.binary_search_by_key(&id, |(s, _)| s.id).ok()?;
        Some(self.kept[i].0.clone())
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.kept.binary_search_by_key(&id, |(s, _)| s.id).is_ok()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Sample>> {
        self.kept.iter().map(|(s, _)| s.clone()).collect()
    }
}

/// What a sample is built from.
pub(crate) struct Parts<'a> {
    pub(crate) id: u64,
    pub(crate) target: &'a str,
    pub(crate) endpoint: &'a str,
    pub(crate) head: &'a CopyHead,
    pub(crate) primary: (&'a Answer, &'a [u8]),
    pub(crate) shadow: (&'a Answer, &'a [u8]),
    pub(crate) control: Option<(&'a Answer, &'a [u8])>,
    pub(crate) differences: &'a [Difference],
    pub(crate) control_differences: &'a [Difference],
}

pub(crate) fn build(p: Parts<'_>) -> Sample {
    Sample {
        id: p.id,
        target: p.target.to_owned(),
        endpoint: p.endpoint.to_owned(),
        at: rfc3339(SystemTime::now()),
        request: SampleRequest {
            method: p.head.method().as_str().to_owned(),
            path: redact_query(p.head.path_and_query().as_str()),
            request_id: String::from_utf8_lossy(p.head.request_id.as_bytes()).into_owned(),
            headers: headers(p.head.headers()),
        },
        primary: side(p.primary),
        shadow: side(p.shadow),
        control: p.control.map(side),
        differences: differences(p.differences),
        control_differences: differences(p.control_differences),
    }
}

fn side((answer, body): (&Answer, &[u8])) -> SampleSide {
    let cut = body.len().min(SAMPLE_BODY_BYTES);
    SampleSide {
        status: answer.status.as_u16(),
        headers: headers(&answer.headers),
        body: String::from_utf8_lossy(&body[..cut]).into_owned(),
        body_bytes: body.len(),
        truncated: cut < body.len(),
        elapsed_ms: (answer.elapsed.as_secs_f64() * 1e6).round() / 1e3,
    }
}

/// Every header, values of several fields joined with `, `, credentials redacted.
pub(crate) fn headers(map: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in map.keys() {
        let value = if REDACTED_HEADERS.contains(&name.as_str()) {
            REDACTED.to_owned()
        } else {
            (map.get_all(name).iter())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.insert(name.as_str().to_owned(), value);
    }
    out
}

/// The path and query with the values of credential-like parameters redacted.
pub(crate) fn redact_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let params: Vec<String> = (query.split('&'))
        .map(|param| match param.split_once('=') {
            Some((name, _)) if secret_param(name) => format!("{name}={REDACTED}"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

fn secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    REDACTED_PARAMS.iter().any(|p| name.contains(p))
}

fn differences(ds: &[Difference]) -> Vec<SampleDifference> {
    (ds.iter().take(SAMPLE_DIFFERENCES))
        .map(|d| {
            let secret = (d.pointer.strip_prefix("/headers/"))
                .is_some_and(|name| REDACTED_HEADERS.contains(&name));
            let value = |v: &Option<serde_json::Value>| {
                v.as_ref().map(|v| match secret {
                    true => serde_json::Value::String(REDACTED.to_owned()),
                    false => cut_value(v),
                })
            };
            SampleDifference {
                pointer: d.pointer.clone(),
                field: d.field.clone(),
                kind: d.kind.as_str(),
                primary: value(&d.primary),
                shadow: value(&d.shadow),
            }
        })
        .collect()
}

/// A scalar as it is; an object or an array, or a value whose JSON is longer than
/// [`SAMPLE_VALUE_BYTES`], as a string of its JSON, cut. A nested value kept as a tree can take
/// a hundred times its JSON in memory (a map node per level); as text it takes its length.
fn cut_value(v: &serde_json::Value) -> serde_json::Value {
    let text = v.to_string();
    let nested = v.is_object() || v.is_array();
    if text.len() <= SAMPLE_VALUE_BYTES && !nested {
        return v.clone();
    }
    if text.len() <= SAMPLE_VALUE_BYTES {
        return serde_json::Value::String(text);
    }
    let mut end = SAMPLE_VALUE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::Value::String(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_query("/a?id=1&access_token=abc&apiKey=k&x=2"),
            "/a?id=1&access_token=[redacted]&apiKey=[redacted]&x=2"
        );
        assert_eq!(redact_query("/plain"), "/plain");
        let mut map = HeaderMap::new();
        map.insert("authorization", "Bearer s3cret".parse().unwrap());
        map.append("cookie", "a=1".parse().unwrap());
        map.insert("accept", "*/*".parse().unwrap());
        let h = headers(&map);
        assert_eq!(h["authorization"], REDACTED);
        assert_eq!(h["cookie"], REDACTED);
        assert_eq!(h["accept"], "*/*");
        let d = Difference {
            pointer: "/headers/set-cookie".into(),
            field: "/headers/set-cookie".into(),
            kind: super::super::diff::Kind::Value,
            primary: Some("sid=1".into()),
            shadow: Some("sid=2".into()),
        };
        let out = differences(&[d]);
        assert_eq!(out[0].primary, Some(REDACTED.into()));
        assert_eq!(out[0].shadow, Some(REDACTED.into()));
    }

    #[test]
    fn nested_values_are_kept_as_their_json_text() {
        let nested: serde_json::Value = serde_json::from_str(r#"{"":{"":{"":[1,2]}}}"#).unwrap();
        assert_eq!(
            cut_value(&nested),
            serde_json::Value::String(nested.to_string())
        );
        assert_eq!(cut_value(&serde_json::json!(3)), serde_json::json!(3));
        assert_eq!(cut_value(&serde_json::json!("s")), serde_json::json!("s"));
    }

    #[test]
    fn long_values_are_cut() {
        let long = serde_json::Value::String("é".repeat(1000));
        let cut = cut_value(&long);
        let text = cut.as_str().unwrap();
        assert!(text.len() <= SAMPLE_VALUE_BYTES + 4, "{}", text.len());
        assert!(text.ends_with('…'));
    }
}
