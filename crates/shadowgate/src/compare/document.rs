//! A response as the document `{status, headers, body}` (docs/verdicts.md, "What is compared"),
//! and the comparison of two of them.
//!
//! - `/status`: the status code, a number.
//! - `/headers/NAME`: each header by its lower-case name, several values joined with `, `; the
//!   volatile ones ([`VOLATILE`]) are left out.
//! - `/body`: a JSON body (`application/json`, `*/*+json`) that parses on both sides is compared
//!   field by field; a text body (`text/*`, or any body that is valid UTF-8 on both sides when
//!   neither is JSON) by lines, one `text` difference naming the first line that differs; any
//!   other body by length and hash, one `bytes` difference.

use std::hash::{Hash, Hasher};

use http::header::{HeaderMap, CONTENT_TYPE};
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::diff::{diff, Difference, Kind, Rules};

/// Headers never compared: they differ between any two responses (`date`, `age`,
/// `server-timing`, the request id), describe one connection (the hop-by-hop ones), or follow
/// from the body, which is compared itself (`content-length`).
pub const VOLATILE: [&str; 12] = [
    "date",
    "age",
    "server-timing",
    "x-request-id",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// One side of a pair: a response's status, headers and (decoded) body.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body, whole.
    pub body: &'a [u8],
}

impl Side<'_> {
    fn headers_document(&self) -> Value {
        let mut out = Map::new();
        for name in self.headers.keys() {
            let name = name.as_str();
            if VOLATILE.contains(&name) {
                continue;
            }
            let values: Vec<String> = (self.headers.get_all(name).iter())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            out.insert(name.to_owned(), Value::String(values.join(", ")));
        }
        Value::Object(out)
    }

    fn content_type(&self) -> &str {
        (self.headers.get(CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .map_or("", |v| v.split(';').next().unwrap_or("").trim())
    }

    fn is_json(&self) -> bool {
        let t = self.content_type().to_ascii_lowercase();
        t == "application/json" || t.ends_with("+json")
    }

    fn is_text(&self) -> bool {
        self.content_type()
            .to_ascii_lowercase()
            .starts_with("text/")
    }
}

/// Compares `primary` with `shadow` under `rules`, appending each difference to `out`.
pub fn compare(primary: &Side<'_>, shadow: &Side<'_>, rules: &Rules, out: &mut Vec<Difference>) {
    diff(
        &json!(primary.status.as_u16()),
        &json!(shadow.status.as_u16()),
        rules,
        "/status",
        "/status",
        out,
    );
    diff(
        &primary.headers_document(),
        &shadow.headers_document(),
        rules,
        "/headers",
        "/headers",
        out,
    );
    compare_bodies(primary, shadow, rules, out);
}

fn compare_bodies(primary: &Side<'_>, shadow: &Side<'_>, rules: &Rules, out: &mut Vec<Difference>) {
    if primary.is_json() && shadow.is_json() {
        if let (Ok(p), Ok(s)) = (
            serde_json::from_slice::<Value>(primary.body),
            serde_json::from_slice::<Value>(shadow.body),
        ) {
            diff(&p, &s, rules, "/body", "/body", out);
            return;
        }
    }
    if primary.body == shadow.body {
        return;
    }
    let texts = (
        std::str::from_utf8(primary.body),
        std::str::from_utf8(shadow.body),
    );
    let as_text =
        (primary.is_text() && shadow.is_text()) || !(primary.is_json() || shadow.is_json());
    match texts {
        (Ok(p), Ok(s)) if as_text => {
            let (mut pl, mut sl) = (p.lines(), s.lines());
            let mut line = 1;
            loop {
                match (pl.next(), sl.next()) {
                    (Some(a), Some(b)) if a == b => line += 1,
                    (None, None) => return, // only line endings differ
                    (a, b) => {
                        out.push(Difference {
                            pointer: "/body".to_owned(),
                            field: "/body".to_owned(),
                            kind: Kind::Text,
                            primary: Some(json!({"line": line, "text": a})),
                            shadow: Some(json!({"line": line, "text": b})),
                        });
                        return;
                    }
                }
            }
        }
        _ => out.push(Difference {
            pointer: "/body".to_owned(),
            field: "/body".to_owned(),
            kind: Kind::Bytes,
            primary: Some(bytes_summary(primary.body)),
            shadow: Some(bytes_summary(shadow.body)),
        }),
    }
}

/// `{length, hash}` of a body (the hash is SipHash with fixed keys, in hex: the same bytes give
/// the same hash in every process).
fn bytes_summary(body: &[u8]) -> Value {
    #[allow(deprecated)] // SipHasher: fixed keys on purpose, for a stable hash.
    let mut h = std::hash::SipHasher::new();
    body.hash(&mut h);
    json!({"length": body.len(), "hash": format!("{:016x}", h.finish())})
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::compare::Glob;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    fn kinds(p: Side<'_>, s: Side<'_>, rules: &Rules) -> Vec<(String, Kind)> {
        let mut out = Vec::new();
        compare(&p, &s, rules, &mut out);
        out.into_iter().map(|d| (d.pointer, d.kind)).collect()
    }

    #[test]
    fn status_headers_and_json_bodies() {
        let ph = headers(&[
            ("content-type", "application/json"),
            ("date", "a"),
            ("x-v", "1"),
            ("x-gone", "1"),
        ]);
        let sh = headers(&[
            ("content-type", "application/problem+json"),
            ("date", "b"),
            ("x-v", "2"),
        ]);
        let p = Side {
            status: StatusCode::OK,
            headers: &ph,
            body: br#"{"user": {"plan": "pro"}}"#,
        };
        let s = Side {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            headers: &sh,
            body: br#"{"user": {"tier": "pro"}}"#,
        };
        let mut got = kinds(p, s, &Rules::default());
        got.sort();
        let mut want = vec![
            ("/status".to_owned(), Kind::Value),
            ("/headers/content-type".to_owned(), Kind::Value),
            ("/headers/x-v".to_owned(), Kind::Value),
            ("/headers/x-gone".to_owned(), Kind::Missing),
            ("/body/user/plan".to_owned(), Kind::Missing),
            ("/body/user/tier".to_owned(), Kind::Extra),
        ];
        want.sort();
        assert_eq!(got, want);
        let rules = Rules {
            ignore: vec![Glob::new("/headers/**")],
            ..Rules::default()
        };
        assert_eq!(kinds(p, s, &rules).len(), 3, "headers ignored");
    }

    #[test]
    fn text_by_lines_and_bytes_by_length_and_hash() {
        let th = headers(&[("content-type", "text/plain")]);
        let p = Side {
            status: StatusCode::OK,
            headers: &th,
            body: b"a\nb\nc\n",
        };
        let s = Side {
            status: StatusCode::OK,
            headers: &th,
            body: b"a\nB\nc\n",
        };
        let mut out = Vec::new();
        compare(&p, &s, &Rules::default(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Text);
        assert_eq!(out[0].primary, Some(json!({"line": 2, "text": "b"})));
        // Line endings alone are no difference.
        let crlf = Side {
            body: b"a\r\nb\r\nc\r\n",
            ..p
        };
        assert!(kinds(p, crlf, &Rules::default()).is_empty());

        let bh = headers(&[("content-type", "image/png")]);
        let p = Side {
            status: StatusCode::OK,
            headers: &bh,
            body: &[0xff, 0, 1],
        };
        let s = Side {
            status: StatusCode::OK,
            headers: &bh,
            body: &[0xff, 0, 2],
        };
        let mut out = Vec::new();
        compare(&p, &s, &Rules::default(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Bytes);
        assert_eq!(out[0].primary.as_ref().unwrap()["length"], 3);
        assert_ne!(out[0].primary, out[0].shadow);
        assert!(kinds(p, p, &Rules::default()).is_empty());
    }

    #[test]
    fn json_that_does_not_parse_is_compared_as_bytes() {
        let jh = headers(&[("content-type", "application/json")]);
        let p = Side {
            status: StatusCode::OK,
            headers: &jh,
            body: b"{\"a\": 1}",
        };
        let s = Side {
            status: StatusCode::OK,
            headers: &jh,
            body: b"{\"a\": ",
        };
        assert_eq!(
            kinds(p, s, &Rules::default()),
            [("/body".to_owned(), Kind::Bytes)]
        );
    }
}
