//! [`TargetUrl`]: an absolute `http://` or `https://` URL with an optional base path, the one
//! parser for shadow target URLs (and, in the proxy, for backend URLs), and the one place a
//! request's path is joined onto a base path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

use crate::error::InvalidValue;

/// Characters a target URL must not hold (besides whitespace and control characters).
const FORBIDDEN: &[char] = &['"', '\\', '{', '}'];

/// An absolute `http://` or `https://` URL with a host, no user info and no query; its path,
/// if any, is a base path that every request's path is appended to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    scheme: Scheme,
    authority: Authority,
    /// The URL's path without a trailing `/` ("" for the root).
    base_path: Box<str>,
}

impl TargetUrl {
    /// Parses `url`; the error quotes it and says what is wrong, for example
    /// `"ftp://x" is not an http:// or https:// URL`.
    pub fn parse(url: &str) -> Result<Self, InvalidValue> {
        let bad = |reason: &'static str| InvalidValue::quoted(url, reason);
        // Such a URL would be a broken or forged label in the text exposition of the metrics
        // (a target is named by its URL), so it is refused even where `http` would take it.
        if let Some(c) = url
            .chars()
            .find(|c| FORBIDDEN.contains(c) || c.is_whitespace() || c.is_control())
        {
            return Err(InvalidValue::quoted(
                url,
                format!("must not contain {c:?} (no quotes, backslashes, braces, whitespace or control characters)"),
            ));
        }
        let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        let scheme = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
            Some(_) => return Err(bad("is not an http:// or https:// URL")),
            None => return Err(bad("is not an absolute http:// or https:// URL")),
        };
        let authority = match uri.authority() {
            Some(a) if a.as_str().contains('@') => {
                return Err(bad("must not carry user info"));
            }
            Some(a) if !a.host().is_empty() => a.clone(),
            _ => return Err(bad("has no host")),
        };
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        Ok(Self {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').into(),
        })
    }

    /// The one form of this endpoint: scheme and host in lower case, an IP host in its usual
    /// shortest form (`[::1]`), the scheme's default port (80, 443) left out, no trailing `/`
    /// (the base path is kept as it is, case and all). Two URLs of one endpoint have one
    /// canonical form, and the canonical form of a canonical form is itself.
    pub fn canonical(&self) -> TargetUrl {
        let host = self.authority.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let mut text = match bare.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            Ok(IpAddr::V4(ip)) => ip.to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        let default_port = if self.scheme == Scheme::HTTPS {
            443
        } else {
            80
        };
        match self.authority.port_u16() {
            Some(port) if port != default_port => text.push_str(&format!(":{port}")),
            _ => {}
        }
        Self {
            scheme: self.scheme.clone(),
            // Made of a host and a port that parsed already; the fallback cannot be taken.
            authority: Authority::try_from(text.as_str())
                .unwrap_or_else(|_| self.authority.clone()),
            base_path: self.base_path.clone(),
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The path without a trailing `/` (`""` for the root).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The URI of a request for `path_and_query` (`/` when absent) at this URL: the raw path and
    /// query unchanged, after the base path. Only a base path allocates.
    pub fn join(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(self.joined(path_and_query)?)
            .build()
    }

    /// The same request-target in origin form (`/base/path?query`, no scheme or authority), as
    /// an HTTP/1.1 request to an origin server carries it.
    pub fn origin_form(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        Ok(Uri::from(self.joined(path_and_query)?))
    }

    fn joined(&self, path_and_query: Option<&PathAndQuery>) -> Result<PathAndQuery, http::Error> {
        Ok(match path_and_query {
            Some(pq) if self.base_path.is_empty() => pq.clone(),
            None if self.base_path.is_empty() => PathAndQuery::from_static("/"),
            pq => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{}{pq}", self.base_path))?
            }
        })
    }
}

impl FromStr for TargetUrl {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `SCHEME://AUTHORITY[/BASE]`, without a trailing `/`.
impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_is_trimmed_and_display_is_normalised() {
        let u = TargetUrl::parse("http://canary:8080/base/").unwrap();
        assert_eq!(u.base_path(), "/base");
        assert_eq!(u.authority().as_str(), "canary:8080");
        assert_eq!(u.to_string(), "http://canary:8080/base");
        let u: TargetUrl = "https://canary".parse().unwrap();
        assert_eq!(u.base_path(), "");
        assert_eq!(*u.scheme(), Scheme::HTTPS);
        assert_eq!(u, TargetUrl::parse("https://canary/").unwrap());
    }

    #[test]
    fn each_rule_names_the_url_and_the_reason() {
        for (url, why) in [
            ("not a url", "\"not a url\" must not contain ' '"),
            ("http://[x", "\"http://[x\" is not a URL"),
            ("ftp://x", "\"ftp://x\" is not an http:// or https:// URL"),
            ("canary:8080", "is not an absolute http:// or https:// URL"),
            ("/path", "is not an absolute http:// or https:// URL"),
            ("http://u@a", "\"http://u@a\" must not carry user info"),
            ("http://a/?q=1", "\"http://a/?q=1\" must not have a query"),
        ] {
            let err = TargetUrl::parse(url).unwrap_err();
            assert!(err.to_string().contains(why), "{url}: {err}");
            assert_eq!(err.value(), format!("{url:?}"));
        }
    }

    #[test]
    fn one_endpoint_has_one_canonical_form() {
        for (given, canonical) in [
            ("HTTP://Canary", "http://canary"),
            ("http://canary/", "http://canary"),
            ("http://canary//", "http://canary"),
            ("http://CANARY:80/", "http://canary"),
            ("https://canary:443", "https://canary"),
            ("https://canary:80", "https://canary:80"),
            ("http://canary:8080/Base/", "http://canary:8080/Base"),
            ("http://[0:0::1]:9000", "http://[::1]:9000"),
            ("http://127.0.0.1:08080", "http://127.0.0.1:8080"),
        ] {
            let c = TargetUrl::parse(given).unwrap().canonical();
            assert_eq!(c.to_string(), canonical, "{given}");
            let again = TargetUrl::parse(&c.to_string()).unwrap().canonical();
            assert_eq!(again, c, "{given}: not idempotent");
        }
    }

    #[test]
    fn characters_that_would_break_a_metric_label_are_refused() {
        for (url, c) in [
            ("http://a/\"x", "'\"'"),
            ("http://a/x\\", "'\\\\'"),
            ("http://a/{x}", "'{'"),
            ("http://a/x}", "'}'"),
            ("http://a/x y", "' '"),
            ("http://a/x\ty", "'\\t'"),
            ("http://a/x\u{7f}", "'\\u{7f}'"),
        ] {
            let err = TargetUrl::parse(url).unwrap_err().to_string();
            assert!(
                err.contains(&format!("must not contain {c}")),
                "{url:?}: {err}"
            );
        }
    }

    #[test]
    fn join_keeps_the_raw_path_and_query_after_the_base_path() {
        let pq = PathAndQuery::from_static("/a/%2F..//b?x=%20&y");
        let root = TargetUrl::parse("http://a:1").unwrap();
        assert_eq!(
            root.join(Some(&pq)).unwrap().to_string(),
            "http://a:1/a/%2F..//b?x=%20&y"
        );
        assert_eq!(root.join(None).unwrap().to_string(), "http://a:1/");
        let based = TargetUrl::parse("https://a:1/base/").unwrap();
        assert_eq!(
            based.join(Some(&pq)).unwrap().to_string(),
            "https://a:1/base/a/%2F..//b?x=%20&y"
        );
        assert_eq!(based.join(None).unwrap().to_string(), "https://a:1/base/");
    }

    /// One endpoint: a scheme, a host (a name, an IPv4 or an IPv6 address), a port and a base
    /// path, as its canonical form must read.
    #[derive(Debug, Clone)]
    struct Endpoint {
        https: bool,
        host: Host,
        port: u16,
        base: Vec<String>,
    }

    #[derive(Debug, Clone)]
    enum Host {
        Name(String),
        V4([u8; 4]),
        V6([u16; 8]),
    }

    /// How one spelling of an endpoint differs from another: letter case, the default port
    /// written out, an IPv6 address in full with leading zeros, trailing slashes.
    #[derive(Debug, Clone)]
    struct Spelling {
        upper_scheme: bool,
        upper_host: Vec<bool>,
        explicit_default_port: bool,
        long_v6: bool,
        trailing_slashes: usize,
    }

    impl Endpoint {
        fn default_port(&self) -> u16 {
            if self.https {
                443
            } else {
                80
            }
        }

        /// The canonical form, written by hand from the documented rule.
        fn expected(&self) -> String {
            let scheme = if self.https { "https" } else { "http" };
            let host = match &self.host {
                Host::Name(n) => n.clone(),
                Host::V4(o) => std::net::Ipv4Addr::from(*o).to_string(),
                Host::V6(s) => format!("[{}]", std::net::Ipv6Addr::from(*s)),
            };
            let port = if self.port == self.default_port() {
                String::new()
            } else {
                format!(":{}", self.port)
            };
            let base: String = self.base.iter().map(|s| format!("/{s}")).collect();
            format!("{scheme}://{host}{port}{base}")
        }

        fn spell(&self, how: &Spelling) -> String {
            let cased = |text: &str| -> String {
                text.chars()
                    .zip(how.upper_host.iter().cycle())
                    .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect()
            };
            let scheme = match (self.https, how.upper_scheme) {
                (true, true) => "HTTPS",
                (true, false) => "https",
                (false, true) => "HTTP",
                (false, false) => "http",
            };
            let host = match &self.host {
                Host::Name(n) => cased(n),
                Host::V4(o) => std::net::Ipv4Addr::from(*o).to_string(),
                Host::V6(s) if how.long_v6 => {
                    let groups: Vec<String> = s.iter().map(|g| format!("{g:04x}")).collect();
                    format!("[{}]", cased(&groups.join(":")))
                }
                Host::V6(s) => format!("[{}]", std::net::Ipv6Addr::from(*s)),
            };
            let port = if self.port != self.default_port() || how.explicit_default_port {
                format!(":{}", self.port)
            } else {
                String::new()
            };
            let base: String = self.base.iter().map(|s| format!("/{s}")).collect();
            format!(
                "{scheme}://{host}{port}{base}{}",
                "/".repeat(how.trailing_slashes)
            )
        }
    }

    fn endpoint() -> impl proptest::strategy::Strategy<Value = Endpoint> {
        use proptest::prelude::*;
        let host = prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,2}".prop_map(Host::Name),
            any::<[u8; 4]>().prop_map(Host::V4),
            any::<[u16; 8]>().prop_map(Host::V6),
        ];
        let port = prop_oneof![Just(80u16), Just(443u16), 1u16..];
        let base = proptest::collection::vec("[A-Za-z0-9_.~-]{1,6}", 0..3)
            .prop_filter("no dot segments", |b| {
                b.iter().all(|s| s != "." && s != "..")
            });
        (any::<bool>(), host, port, base).prop_map(|(https, host, port, base)| Endpoint {
            https,
            host,
            port,
            base,
        })
    }

    fn spelling() -> impl proptest::strategy::Strategy<Value = Spelling> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            proptest::collection::vec(any::<bool>(), 1..8),
            any::<bool>(),
            any::<bool>(),
            0usize..3,
        )
            .prop_map(
                |(upper_scheme, upper_host, explicit_default_port, long_v6, trailing_slashes)| {
                    Spelling {
                        upper_scheme,
                        upper_host,
                        explicit_default_port,
                        long_v6,
                        trailing_slashes,
                    }
                },
            )
    }

    proptest::proptest! {
        /// Every spelling of one endpoint has the one canonical form the documented rule gives,
        /// and canonicalising that form again changes nothing.
        #[test]
        fn one_endpoint_has_one_canonical_form_and_it_is_a_fixed_point(
            e in endpoint(),
            a in spelling(),
            b in spelling(),
        ) {
            let (first, second) = (e.spell(&a), e.spell(&b));
            let one = TargetUrl::parse(&first).unwrap().canonical();
            let other = TargetUrl::parse(&second).unwrap().canonical();
            proptest::prop_assert_eq!(one.to_string(), e.expected(), "{}", first);
            proptest::prop_assert_eq!(&one, &other, "{} and {}", first, second);
            let again = TargetUrl::parse(&one.to_string()).unwrap();
            proptest::prop_assert_eq!(again.canonical(), again.clone());
            proptest::prop_assert_eq!(again, one);
        }

        /// Two endpoints that differ (in scheme, host, port or base path) keep different forms.
        #[test]
        fn different_endpoints_keep_different_forms(e in endpoint(), f in endpoint()) {
            let (one, other) = (e.expected(), f.expected());
            let same = TargetUrl::parse(&one).unwrap().canonical()
                == TargetUrl::parse(&other).unwrap().canonical();
            proptest::prop_assert_eq!(same, one == other, "{} and {}", one, other);
        }
    }
}
