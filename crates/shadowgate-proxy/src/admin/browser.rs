//! Calls from a browser (docs/operations.md, "The admin API and browsers"): a web page must not be
//! able to drive the admin API, neither by a cross-site request (a `POST` with a `text/plain`
//! body needs no preflight) nor by DNS rebinding (a name of the attacker's that resolves to the
//! admin listener). So a request is refused with 403 when
//!
//! - its `Origin` is not the admin listener's own: `http://HOST[:PORT]` with an accepted host
//!   and the expected port (`null` and every `https://` origin are someone else's);
//! - its `Sec-Fetch-Site` is `cross-site` or `same-site`;
//! - its `Host` (or h2 `:authority`) is not an accepted host: the listener's IP (any IP literal
//!   when the listener is on `0.0.0.0` or `[::]`: an IP literal cannot be rebound), `localhost`,
//!   or a name of `admin.allowed_hosts`; with the expected port (the entry's own when it has
//!   one, else the listener's) or none.
//!
//! Tools like curl send no `Origin` and no `Sec-Fetch-Site`, and the `Host` of the address they
//! were given, so they are never refused. The check reads two or three headers and allocates
//! only to refuse.

use std::net::{IpAddr, SocketAddr};

use http::header::{HOST, ORIGIN};
use http::request::Parts;
use http::uri::Authority;
use http::HeaderValue;

/// One `admin.allowed_hosts` entry: a name (lowercase, IPv6 in brackets) and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

/// Why a request was refused (the start of the 403's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Forbidden {
    /// `Origin` names another site.
    Origin(String),
    /// `Sec-Fetch-Site` says another site.
    FetchSite(String),
    /// `Host` names a host that is not the listener's.
    Host(String),
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Forbidden::Origin(v) => write!(
                f,
                "forbidden: Origin {v:?} is not the admin listener's own (cross-site requests are refused)"
            ),
            Forbidden::FetchSite(v) => write!(
                f,
                "forbidden: Sec-Fetch-Site {v:?} (cross-site requests are refused)"
            ),
            Forbidden::Host(v) => write!(
                f,
                "forbidden: Host {v:?} is not the admin listener's address, localhost or a name of admin.allowed_hosts"
            ),
        }
    }
}

/// The admin listener's address and the extra names it answers to.
#[derive(Debug, Clone)]
pub(crate) struct Browsers {
    listener: SocketAddr,
    allowed: Vec<AllowedHost>,
}

impl Browsers {
    /// For the listener bound at `listener` (its real port) and the `admin.allowed_hosts`
    /// entries (already checked by [`check_allowed_host`]; a bad one is left out).
    pub(crate) fn new(listener: SocketAddr, allowed_hosts: &[String]) -> Self {
        let allowed = allowed_hosts
            .iter()
            .filter_map(|h| parse_allowed_host(h).ok())
            .collect();
        Self { listener, allowed }
    }

    /// `Some` when the request must be refused.
    pub(crate) fn refuse(&self, req: &Parts) -> Option<Forbidden> {
        let header = |name| req.headers.get(name).map(HeaderValue::as_bytes);
        if let Some(site) = header("sec-fetch-site") {
            if site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site") {
                return Some(Forbidden::FetchSite(lossy(site)));
            }
        }
        for origin in req.headers.get_all(ORIGIN) {
            if !self.own_origin(origin.as_bytes()) {
                return Some(Forbidden::Origin(lossy(origin.as_bytes())));
            }
        }
        // h2 carries the host in `:authority`; HTTP/1.1 in `Host` (both are checked when both
        // are there).
        if let Some(authority) = req.uri.authority() {
            if !self.accepts(authority.host(), authority.port_u16()) {
                return Some(Forbidden::Host(authority.to_string()));
            }
        }
        for host in req.headers.get_all(HOST) {
            let ok = std::str::from_utf8(host.as_bytes())
                .ok()
                .and_then(|h| h.parse::<Authority>().ok())
                .is_some_and(|a| !a.as_str().contains('@') && self.accepts(a.host(), a.port_u16()));
            if !ok {
                return Some(Forbidden::Host(lossy(host.as_bytes())));
            }
        }
        None
    }

    /// `http://HOST[:PORT]`, nothing after, with an accepted host and port (80 when absent).
    fn own_origin(&self, origin: &[u8]) -> bool {
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let Some(rest) = strip_prefix_ignore_case(origin, "http://") else {
            return false;
        };
        match rest.parse::<Authority>() {
            Ok(a) if !a.as_str().contains('@') => {
                self.accepts(a.host(), Some(a.port_u16().unwrap_or(80)))
            }
            _ => false,
        }
    }

    /// Whether `host` (with `port`, `None` for none given) is the listener's.
    fn accepts(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        let own_port = port.map_or(true, |p| p == self.listener.port());
        if host.eq_ignore_ascii_case("localhost") {
            return own_port;
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let listener = self.listener.ip();
            if own_port && (ip == listener || listener.is_unspecified()) {
                return true;
            }
        }
        self.allowed.iter().any(|a| {
            a.host.eq_ignore_ascii_case(host)
                && match a.port {
                    Some(p) => port.map_or(true, |q| q == p),
                    None => own_port,
                }
        })
    }
}

/// Checks one `admin.allowed_hosts` entry: a host name or IP, optionally with `:PORT`; the error
/// says what is wrong with it.
pub(crate) fn check_allowed_host(entry: &str) -> Result<(), String> {
    parse_allowed_host(entry).map(|_| ())
}

fn parse_allowed_host(entry: &str) -> Result<AllowedHost, String> {
    let bad = |why: &str| format!("{entry:?} {why} (want a host name or IP, optionally :PORT)");
    if entry.is_empty() {
        return Err(bad("is empty"));
    }
    if entry.contains("://") || entry.contains(['/', '@', '?', '#']) || entry.contains(' ') {
        return Err(bad("is not a host"));
    }
    let authority: Authority = entry.parse().map_err(|_| bad("is not a host"))?;
    let port = match entry.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, p)| p),
        None => entry.split_once(':').map(|(_, p)| p),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad("has a bad port"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    Ok(AllowedHost {
        host: host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase(),
        port: authority.port_u16(),
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = http::Request::builder().uri("/targets");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn at(addr: &str, allowed: &[&str]) -> Browsers {
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        Browsers::new(addr.parse().unwrap(), &allowed)
    }

    #[test]
    fn hosts_of_the_listener_localhost_and_allowed_names_pass() {
        let b = at("127.0.0.1:9901", &["admin.example", "ops.example:443"]);
        for host in [
            "127.0.0.1:9901",
            "127.0.0.1",
            "localhost:9901",
            "LOCALHOST",
            "localhost.:9901",
            "admin.example",
            "Admin.Example:9901",
            "ops.example:443",
            "ops.example",
        ] {
            assert_eq!(b.refuse(&parts(&[("host", host)])), None, "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9901",
            "127.0.0.2:9901",
            "127.0.0.1:9902",
            "localhost:80",
            "admin.example:80",
            "ops.example:9901",
            "a@127.0.0.1:9901",
            "",
        ] {
            assert!(
                matches!(
                    b.refuse(&parts(&[("host", host)])),
                    Some(Forbidden::Host(_))
                ),
                "{host}"
            );
        }
    }

    #[test]
    fn an_unspecified_listener_accepts_any_ip_literal_but_no_other_name() {
        let b = at("[::]:9901", &[]);
        for host in ["10.1.2.3:9901", "[::1]:9901", "[fe80::1]"] {
            assert_eq!(b.refuse(&parts(&[("host", host)])), None, "{host}");
        }
        assert!(b.refuse(&parts(&[("host", "evil.example:9901")])).is_some());
        assert!(b.refuse(&parts(&[("host", "10.1.2.3:1")])).is_some());
    }

    #[test]
    fn only_the_listeners_own_origin_passes() {
        let b = at("127.0.0.1:9901", &["admin.example"]);
        for origin in [
            "http://127.0.0.1:9901",
            "http://localhost:9901",
            "HTTP://admin.example:9901",
        ] {
            assert_eq!(b.refuse(&parts(&[("origin", origin)])), None, "{origin}");
        }
        for origin in [
            "http://evil.example",
            "null",
            "https://127.0.0.1:9901",
            "http://127.0.0.1",
            "http://localhost:9902",
            "http://admin.example",
            "http://127.0.0.1:9901/x",
        ] {
            assert!(
                matches!(
                    b.refuse(&parts(&[("origin", origin)])),
                    Some(Forbidden::Origin(_))
                ),
                "{origin}"
            );
        }
    }

    #[test]
    fn fetch_metadata_of_another_site_is_refused() {
        let b = at("127.0.0.1:9901", &[]);
        for site in ["cross-site", "same-site", "Cross-Site"] {
            assert!(matches!(
                b.refuse(&parts(&[("sec-fetch-site", site)])),
                Some(Forbidden::FetchSite(_))
            ));
        }
        for site in ["same-origin", "none"] {
            assert_eq!(b.refuse(&parts(&[("sec-fetch-site", site)])), None);
        }
    }

    #[test]
    fn allowed_host_entries_are_checked() {
        for ok in [
            "admin.example",
            "admin.example:9901",
            "10.0.0.1",
            "[::1]:9901",
        ] {
            assert_eq!(check_allowed_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "http://admin.example",
            "admin.example/x",
            "u@admin.example",
            "admin.example:",
            "admin.example:99999",
            "a b",
        ] {
            let err = check_allowed_host(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
