//! A labelled service for testing verdicts (docs/verdicts.md): version 1 with noisy fields, a
//! second instance of version 1 to be the control, and a version 2 with regressions of known
//! kind and rate ([`INJECTED`]). Responses are built in-process, deterministic for a seed, so a
//! test can compare thousands of pairs in a moment and check what is found against the truth.
//!
//! Noise, in every version, and different in every instance and every response:
//! - `generatedAt`: a time within a second of now (RFC 3339);
//! - `requestId`: a random UUID;
//! - `counter`: the instance's own request counter, from a random start;
//! - `tags`: one set of tags in a random order;
//! - `score`: a value with jitter up to ±0.0005;
//! - `source`: `"db"` in 0.1% of the answers at random, else `"cache"`: rare noise (a
//!   fallback, a retry), which differs in about 0.2% of any two instances' pairs: the case
//!   Diffy's bare thresholds flag;
//! - the `date` and `x-runtime` headers.
//!
//! The rest of each response follows from the request alone. Version 2 differs as
//! [`INJECTED`] says, each at its rate over the requests of its endpoint, chosen by the
//! request's number so that the rate is exact over any whole hundred requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The primary's version.
    V1,
    /// Version 2, with the regressions of [`INJECTED`].
    V2,
}

/// One regression of version 2: where, what kind (as `shadowgate::compare::Kind::as_str`
/// names it), and in what share of the endpoint's responses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Injected {
    /// The endpoint, as `shadowgate::compare::endpoint` names it.
    pub endpoint: &'static str,
    /// The field (a pointer with `*` for indices).
    pub field: &'static str,
    /// The kind of difference.
    pub kind: &'static str,
    /// The share of the endpoint's responses that show it.
    pub rate: f64,
}

/// The field latency is judged under (`shadowgate::compare::LATENCY_FIELD`).
pub const LATENCY: &str = "/latency";

/// Version 2's regressions. The two at [`LATENCY`] are in [`Instance::delay`], so only a
/// comparison over real sockets sees them.
pub const INJECTED: [Injected; 13] = [
    // A field renamed: gone under its old name, there under the new one.
    Injected {
        endpoint: "/api/users/{}",
        field: "/body/plan",
        kind: "missing",
        rate: 1.0,
    },
    Injected {
        endpoint: "/api/users/{}",
        field: "/body/tier",
        kind: "extra",
        rate: 1.0,
    },
    // A value changed in 20% of the users.
    Injected {
        endpoint: "/api/users/{}",
        field: "/body/name",
        kind: "value",
        rate: 0.20,
    },
    // An int became a string.
    Injected {
        endpoint: "/api/users/{}",
        field: "/body/points",
        kind: "type",
        rate: 1.0,
    },
    // A header dropped.
    Injected {
        endpoint: "/api/users/{}",
        field: "/headers/x-cache",
        kind: "missing",
        rate: 1.0,
    },
    // 2xx -> 5xx in 10% of the orders.
    Injected {
        endpoint: "/api/orders/{}",
        field: "/status",
        kind: "value",
        rate: 0.10,
    },
    // 2xx -> 5xx in 2% of the items.
    Injected {
        endpoint: "/api/items/{}",
        field: "/status",
        kind: "value",
        rate: 0.02,
    },
    // +50 ms on 15% of the items: their p90 is 50 ms later.
    Injected {
        endpoint: "/api/items/{}",
        field: LATENCY,
        kind: "slower",
        rate: 0.15,
    },
    // A tail: 3% of the searches take 1.5 s more.
    Injected {
        endpoint: "/api/search",
        field: LATENCY,
        kind: "slower",
        rate: 0.03,
    },
    // A value changed in 5% of the searches.
    Injected {
        endpoint: "/api/search",
        field: "/body/total",
        kind: "value",
        rate: 0.05,
    },
    // A value changed in 1% of the items.
    Injected {
        endpoint: "/api/items/{}",
        field: "/body/price",
        kind: "value",
        rate: 0.01,
    },
    // Steps whose order matters, reordered in 20%.
    Injected {
        endpoint: "/api/items/{}",
        field: "/body/steps",
        kind: "order",
        rate: 0.20,
    },
    // Numeric drift beyond the tolerance in 20% of the searches.
    Injected {
        endpoint: "/api/search",
        field: "/body/score",
        kind: "value",
        rate: 0.20,
    },
];

/// The fields that change between any two responses: never a regression with a control.
pub const NOISY: [&str; 8] = [
    "/body/source",
    "/body/generatedAt",
    "/body/requestId",
    "/body/counter",
    "/body/tags",
    "/body/score",
    "/headers/date",
    "/headers/x-runtime",
];

/// Whether a regression found at (`endpoint`, `field`, `kind`) follows from an injected one
/// rather than being one itself: a 5xx replaces its whole body, so every body field of an
/// endpoint with an injected status change may go `missing` (the noisy ones too) and the
/// error's `error` come `extra`.
pub fn is_consequence(endpoint: &str, field: &str, kind: &str) -> bool {
    let status_changed = INJECTED
        .iter()
        .any(|i| i.endpoint == endpoint && i.field == "/status");
    status_changed
        && ((field.starts_with("/body/") && kind == "missing")
            || (field == "/body/error" && kind == "extra"))
}

/// A response: status, headers and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The status.
    pub status: u16,
    /// The headers, lower-case names.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON).
    pub body: String,
}

/// One instance of the service: its own noise.
#[derive(Debug)]
pub struct Instance {
    version: Version,
    rng: fastrand::Rng,
    counter: u64,
}

/// The path of request number `n`: users, orders, searches and items, in turn.
pub fn path_of(n: u64) -> String {
    let id = 1000 + n % 997;
    match n % 4 {
        0 => format!("/api/users/{id}"),
        1 => format!("/api/orders/{id}"),
        2 => format!("/api/search?q=term{}", n % 50),
        _ => format!("/api/items/{id}"),
    }
}

/// Whether request `n` of its endpoint is among the `rate` share that shows a regression:
/// the endpoint's own request number's last two digits, spread by a fixed permutation so that
/// two regressions of one endpoint do not always fall on the same requests.
fn chosen(n: u64, rate: f64, salt: u64) -> bool {
    let k = (n / 4 + salt * 37) % 100;
    ((k * 61) % 100) < (rate * 100.0).round() as u64
}

impl Instance {
    /// An instance of `version` whose noise comes from `seed`.
    pub fn new(version: Version, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let counter = rng.u64(1..1_000_000);
        Self {
            version,
            rng,
            counter,
        }
    }

    /// How long this instance waits before answering request `n`: nothing for version 1; for
    /// version 2 the [`LATENCY`] regressions of [`INJECTED`].
    pub fn delay(&self, n: u64) -> Duration {
        if self.version != Version::V2 {
            return Duration::ZERO;
        }
        match n % 4 {
            3 if chosen(n, 0.15, 6) => Duration::from_millis(50),
            2 if chosen(n, 0.03, 7) => Duration::from_millis(1500),
            _ => Duration::ZERO,
        }
    }

    /// The answer to request number `n` ([`path_of`]).
    pub fn respond(&mut self, n: u64) -> Generated {
        self.counter += 1;
        let v2 = self.version == Version::V2;
        let id = 1000 + n % 997;
        let now = SystemTime::now() + Duration::from_millis(self.rng.u64(0..1000));
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("date", http_date(now)),
            ("x-runtime", format!("0.{:03}", self.rng.u32(1..999))),
        ];
        let (request_id, tags, counter) = (self.uuid(), self.tags(), self.counter);
        let source = if self.rng.f64() < 0.001 {
            "db"
        } else {
            "cache"
        };
        let noise = format!(
            r#""generatedAt": "{}", "requestId": "{request_id}", "counter": {counter}, "tags": {tags}, "source": "{source}""#,
            rfc3339(now),
        );
        let (status, body) = match n % 4 {
            0 => {
                if !v2 {
                    headers.push(("x-cache", "HIT".to_owned()));
                }
                let name = if v2 && chosen(n, 0.20, 8) {
                    format!("User {id}")
                } else {
                    format!("user{id}")
                };
                let (plan_key, points) = if v2 {
                    ("tier", format!("\"{}\"", id * 3))
                } else {
                    ("plan", (id * 3).to_string())
                };
                (
                    200,
                    format!(
                        r#"{{"id": {id}, "name": "{name}", "{plan_key}": "pro", "points": {points}, {noise}}}"#
                    ),
                )
            }
            1 if v2 && chosen(n, 0.10, 1) => (500, r#"{"error": "internal"}"#.to_owned()),
            1 => (
                200,
                format!(
                    r#"{{"id": {id}, "items": [{{"sku": "a{id}", "qty": 2}}], "total": {}, {noise}}}"#,
                    id * 7
                ),
            ),
            2 => {
                let total = if v2 && chosen(n, 0.05, 2) {
                    n % 50 + 1
                } else {
                    n % 50
                };
                let drift = if v2 && chosen(n, 0.20, 3) { 0.01 } else { 0.0 };
                let jitter = (self.rng.f64() - 0.5) * 0.001;
                (
                    200,
                    format!(
                        r#"{{"query": "term{}", "total": {total}, "score": {:.6}, {noise}}}"#,
                        n % 50,
                        0.75 + drift + jitter
                    ),
                )
            }
            3 if v2 && chosen(n, 0.02, 9) => (503, r#"{"error": "unavailable"}"#.to_owned()),
            _ => {
                let price = if v2 && chosen(n, 0.01, 4) { id + 1 } else { id };
                let steps = if v2 && chosen(n, 0.20, 5) {
                    r#"["pay", "pick", "pack", "ship"]"#
                } else {
                    r#"["pick", "pack", "pay", "ship"]"#
                };
                (
                    200,
                    format!(r#"{{"id": {id}, "price": {price}, "steps": {steps}, {noise}}}"#),
                )
            }
        };
        Generated {
            status,
            headers,
            body,
        }
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.u128(..);
        let h = format!("{a:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn tags(&mut self) -> String {
        let mut tags = ["new", "sale", "eco", "gift"];
        self.rng.shuffle(&mut tags);
        format!("[\"{}\"]", tags.join("\", \""))
    }
}

/// `2026-12-02T14:00:00.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = (d.as_secs() / 86_400, d.as_secs() % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        d.subsec_millis()
    )
}

/// An IMF-fixdate's shape, enough for a `date` header that changes every second.
fn http_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, m, day) = civil_from_days((d.as_secs() / 86_400) as i64);
    let secs = d.as_secs() % 86_400;
    format!(
        "{day:02} {m:02} {y} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_and_the_rates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
        for (rate, salt) in [
            (0.01, 4),
            (0.02, 9),
            (0.03, 7),
            (0.05, 2),
            (0.10, 1),
            (0.15, 6),
            (0.20, 5),
        ] {
            let hits = (0..400u64).filter(|n| chosen(n * 4, rate, salt)).count();
            assert_eq!(hits as f64, rate * 400.0, "{rate}");
        }
    }

    #[test]
    fn version_1_instances_differ_only_in_noise() {
        let (mut a, mut b) = (Instance::new(Version::V1, 1), Instance::new(Version::V1, 2));
        let (x, y) = (a.respond(0), b.respond(0));
        assert_eq!(x.status, y.status);
        assert_ne!(x.body, y.body, "noise");
        assert!(x.body.contains(r#""plan": "pro""#), "{}", x.body);
        let v2 = Instance::new(Version::V2, 3).respond(0);
        assert!(v2.body.contains(r#""tier": "pro""#), "{}", v2.body);
    }
}
