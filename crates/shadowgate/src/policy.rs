//! Which requests are copied to a target: methods, the sample ratio and consistent sampling.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::header::{HeaderName, COOKIE};
use http::request::Parts;
use http::Method;

use crate::error::InvalidValue;
use crate::header::parse_header_name;

/// A share of requests in `0..=1`: the one owner of that range (the builder, the proxy's config,
/// flags and admin API all go through [`SampleRatio::new`] or [`SampleRatio::parse`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRatio {
    ratio: f64,
    /// `ratio` scaled to the `u64` range: a draw below it is sampled.
    threshold: u64,
}

impl SampleRatio {
    /// Never.
    pub const NEVER: SampleRatio = SampleRatio {
        ratio: 0.0,
        threshold: 0,
    };
    /// Always.
    pub const ALWAYS: SampleRatio = SampleRatio {
        ratio: 1.0,
        threshold: u64::MAX,
    };

    /// A ratio; outside `0..=1` (or NaN) is an error naming the value: `1.5 is outside 0..=1`.
    pub fn new(ratio: f64) -> Result<Self, InvalidValue> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(InvalidValue::new(ratio.to_string(), "is outside 0..=1"));
        }
        if ratio == 1.0 {
            return Ok(Self::ALWAYS);
        }
        // Exact for the ratios people write (0.5, 0.1); `as` saturates, and ratio < 1 here.
        let threshold = (ratio * 18_446_744_073_709_551_616.0) as u64;
        Ok(Self { ratio, threshold })
    }

    /// A ratio written as text (`0.25`): not a number, or outside `0..=1`, is an error naming
    /// the value.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ratio = s
            .parse::<f64>()
            .map_err(|_| InvalidValue::quoted(s, "is not a number (expected a ratio in 0..=1)"))?;
        Self::new(ratio)
    }

    /// The ratio.
    pub fn get(self) -> f64 {
        self.ratio
    }

    fn admits(self, draw: u64) -> bool {
        self.threshold == u64::MAX || draw < self.threshold
    }
}

impl FromStr for SampleRatio {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What consistent sampling keys on. Requests with the same key value get the same decision,
/// across requests, processes and restarts; a request without the key is sampled at random.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SampleBy {
    /// A request header's value.
    Header(HeaderName),
    /// A cookie's value.
    Cookie(String),
    /// A query parameter's raw value.
    Query(String),
    /// The client's IP address, from the [`ClientAddr`] request extension.
    ClientIp,
}

impl SampleBy {
    /// Parses the config form: `header:NAME`, `cookie:NAME`, `query:NAME` or `client_ip`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        const FORMS: &str = "is not header:NAME, cookie:NAME, query:NAME or client_ip";
        if s == "client_ip" {
            return Ok(SampleBy::ClientIp);
        }
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| InvalidValue::quoted(s, FORMS))?;
        if name.is_empty() {
            return Err(InvalidValue::quoted(s, "has an empty name"));
        }
        match kind {
            "header" => parse_header_name(name).map(SampleBy::Header),
            "cookie" => Ok(SampleBy::Cookie(name.to_owned())),
            "query" => Ok(SampleBy::Query(name.to_owned())),
            _ => Err(InvalidValue::quoted(s, FORMS)),
        }
    }

    /// Hashes the key's value in this request, if it has one.
    fn key_hash(&self, req: &Parts) -> Option<u64> {
        match self {
            SampleBy::Header(name) => req.headers.get(name).map(|v| stable_hash(v.as_bytes())),
            SampleBy::Cookie(name) => req
                .headers
                .get_all(COOKIE)
                .iter()
                .find_map(|v| cookie_value(v.as_bytes(), name.as_bytes()))
                .map(stable_hash),
            SampleBy::Query(name) => req
                .uri
                .query()
                .and_then(|q| query_value(q.as_bytes(), name.as_bytes()))
                .map(stable_hash),
            SampleBy::ClientIp => req.extensions.get::<ClientAddr>().map(|a| match a.0.ip() {
                IpAddr::V4(ip) => stable_hash(&ip.octets()),
                IpAddr::V6(ip) => stable_hash(&ip.octets()),
            }),
        }
    }
}

/// The client's address, as a request extension. Servers insert it so that
/// [`SampleBy::ClientIp`] can key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The per-target decision: methods, then the ratio (by key or at random).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) sample: SampleRatio,
    pub(crate) sample_by: Option<SampleBy>,
    pub(crate) methods: Vec<Method>,
}

impl Policy {
    /// Whether this request is copied to the target. Allocates nothing.
    pub(crate) fn admits(&self, req: &Parts) -> bool {
        if self.sample.threshold == 0 {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.contains(&req.method) {
            return false;
        }
        if self.sample.threshold == u64::MAX {
            return true;
        }
        let draw = self
            .sample_by
            .as_ref()
            .and_then(|by| by.key_hash(req))
            .unwrap_or_else(|| fastrand::u64(..));
        self.sample.admits(draw)
    }
}

/// FNV-1a, then a SplitMix64 finaliser so that the high bits are well mixed. Stable across
/// builds and platforms, unlike `std`'s hasher, so the same key gets the same decision everywhere.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn cookie_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|b| *b == b'=')?;
        (pair[..eq].trim_ascii() == name).then(|| pair[eq + 1..].trim_ascii())
    })
}

fn query_value<'a>(query: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    query.split(|b| *b == b'&').find_map(|pair| {
        let eq = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
        (&pair[..eq] == name).then(|| pair.get(eq + 1..).unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn policy(ratio: f64, by: Option<SampleBy>) -> Policy {
        Policy {
            sample: SampleRatio::new(ratio).unwrap(),
            sample_by: by,
            methods: vec![],
        }
    }

    #[test]
    fn never_and_always() {
        let req = parts("/", &[]);
        assert!((0..1000).all(|_| !policy(0.0, None).admits(&req)));
        assert!((0..1000).all(|_| policy(1.0, None).admits(&req)));
    }

    #[test]
    fn half_is_about_half() {
        let req = parts("/", &[]);
        let n = (0..10_000)
            .filter(|_| policy(0.5, None).admits(&req))
            .count();
        assert!((4_500..5_500).contains(&n), "{n}");
    }

    #[test]
    fn consistent_by_header_cookie_query_and_ip() {
        let by_header = policy(0.5, Some(SampleBy::parse("header:X-User").unwrap()));
        let by_cookie = policy(0.5, Some(SampleBy::parse("cookie:uid").unwrap()));
        let by_query = policy(0.5, Some(SampleBy::parse("query:u").unwrap()));
        let by_ip = policy(0.5, Some(SampleBy::ClientIp));
        let mut admitted = [0usize; 4];
        for user in 0..2_000 {
            let u = user.to_string();
            let cookie = format!("a=1; uid={u}; b=2");
            let mut req = parts(
                &format!("/p?x=1&u={u}"),
                &[("x-user", &u), ("cookie", &cookie)],
            );
            req.extensions.insert(ClientAddr(SocketAddr::from((
                [10, 0, (user / 256) as u8, user as u8],
                1,
            ))));
            for (i, p) in [&by_header, &by_cookie, &by_query, &by_ip]
                .into_iter()
                .enumerate()
            {
                let first = p.admits(&req);
                assert!(
                    (0..5).all(|_| p.admits(&req) == first),
                    "key {i} user {u} flipped"
                );
                admitted[i] += usize::from(first);
            }
        }
        for n in admitted {
            assert!((800..1_200).contains(&n), "{admitted:?}");
        }
    }

    #[test]
    fn methods_filter() {
        let p = Policy {
            methods: vec![Method::POST],
            ..policy(1.0, None)
        };
        assert!(!p.admits(&parts("/", &[])));
        let mut post = parts("/", &[]);
        post.method = Method::POST;
        assert!(p.admits(&post));
    }

    #[test]
    fn parse_rejects_bad_keys() {
        for (s, want) in [
            ("user", "\"user\" is not header:NAME"),
            ("header:", "\"header:\" has an empty name"),
            ("header:bad name", "\"bad name\" is not a valid header name"),
            ("form:x", "\"form:x\" is not header:NAME"),
        ] {
            let err = SampleBy::parse(s).unwrap_err().to_string();
            assert!(err.starts_with(want), "{s}: {err}");
        }
    }

    #[test]
    fn sample_ratio_is_checked_once_for_numbers_and_text() {
        for r in [0.0, 0.5, 1.0] {
            assert_eq!(SampleRatio::new(r).unwrap().get(), r);
        }
        for r in [-0.1, 1.5, f64::NAN] {
            let err = SampleRatio::new(r).unwrap_err();
            assert_eq!(err.to_string(), format!("{r} is outside 0..=1"));
        }
        assert_eq!("0.25".parse::<SampleRatio>().unwrap().get(), 0.25);
        assert_eq!(
            SampleRatio::parse("2").unwrap_err().to_string(),
            "2 is outside 0..=1"
        );
        assert_eq!(
            SampleRatio::parse("lots").unwrap_err().to_string(),
            "\"lots\" is not a number (expected a ratio in 0..=1)"
        );
    }

    #[test]
    fn cookie_and_query_values() {
        assert_eq!(cookie_value(b"a=1; uid=42", b"uid"), Some(&b"42"[..]));
        assert_eq!(cookie_value(b"xuid=1", b"uid"), None);
        assert_eq!(query_value(b"a=1&u=7", b"u"), Some(&b"7"[..]));
        assert_eq!(query_value(b"u", b"u"), Some(&b""[..]));
        assert_eq!(query_value(b"uu=1", b"u"), None);
    }
}
