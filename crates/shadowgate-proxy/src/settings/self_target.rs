//! The one rule against mirror loops by configuration (docs/operations.md, "Loops"): a shadow
//! target must not point at one of the proxy's own listeners, the admin listener included. A
//! copy sent there would come back as a request and be copied again. Checked for
//! `[mirrors.NAME] url`, `--mirror` and the admin API's targets.

use std::net::{IpAddr, SocketAddr};

use shadowgate::TargetUrl;

/// The listener of `listeners` that `url` points at, if any: a target on the same port whose
/// host is the listener's own IP, or any loopback or unspecified form (`127.0.0.0/8`,
/// `localhost`, `0.0.0.0`, `[::1]`, `[::]`, their IPv4-mapped forms). A URL that does not parse
/// points nowhere (its build refuses it).
pub fn self_target(url: &str, listeners: &[SocketAddr]) -> Option<SocketAddr> {
    let url = TargetUrl::parse(url).ok()?;
    let authority = url.authority();
    let default_port = if url.scheme().as_str() == "https" {
        443
    } else {
        80
    };
    let port = authority.port_u16().unwrap_or(default_port);
    let host = authority.host();
    let host = host.strip_suffix('.').unwrap_or(host);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    let local_form = host.eq_ignore_ascii_case("localhost")
        || ip.is_some_and(|ip| ip.is_loopback() || ip.is_unspecified());
    listeners
        .iter()
        .find(|l| l.port() == port && (local_form || ip == Some(l.ip().to_canonical())))
        .copied()
}

/// The error for a target that points at `listener`.
pub(crate) fn self_target_message(url: &str, listener: SocketAddr) -> String {
    format!("{url:?} points at the proxy's own listener {listener} (copies would come back as requests and be copied again: a loop)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_local_form_on_a_listeners_port_is_the_listener() {
        let listeners: Vec<SocketAddr> = vec![
            "10.0.0.5:8080".parse().unwrap(),
            "127.0.0.1:9901".parse().unwrap(),
        ];
        for url in [
            "http://10.0.0.5:8080",
            "http://127.0.0.1:8080/x",
            "http://127.8.9.10:8080",
            "http://localhost:8080",
            "http://LOCALHOST.:8080",
            "http://0.0.0.0:8080",
            "http://[::1]:8080",
            "http://[::]:8080",
            "http://[::ffff:127.0.0.1]:8080",
            "https://localhost:9901",
            "http://127.0.0.1:9901",
        ] {
            assert!(self_target(url, &listeners).is_some(), "{url}");
        }
        for url in [
            "http://10.0.0.5:8081",
            "http://10.0.0.6:8080",
            "http://localhost:9000",
            "http://canary:8080",
            "http://localhost",
            "not a url",
        ] {
            assert_eq!(self_target(url, &listeners), None, "{url}");
        }
        let default_port: Vec<SocketAddr> = vec!["0.0.0.0:80".parse().unwrap()];
        assert!(self_target("http://localhost", &default_port).is_some());
    }
}
