//! [`to_toml`]: settings written back as a config file (`shadowgate check`), every default
//! filled in and secrets redacted.

use std::collections::BTreeMap;

use http::header::{HeaderName, HeaderValue};
use shadowgate::compare::Comparison;
use shadowgate::{Control, HostMode, SampleBy, TargetConfig};

use super::duration::format as dur;
use super::raw::{
    RawAdmin, RawArrayRule, RawBackend, RawCircuit, RawCompare, RawConfig, RawHealthCheck,
    RawLimits, RawMirror, RawMirrorHeaders, RawNumberRule, RawRedirect, RawRoute, RawTls,
    RawUpstream, RawWeighted,
};
use super::validate::PLACEHOLDER_URL;
use crate::settings::{PathMatch, RouteAction, RouteSettings, Settings, UpstreamSettings};

/// What a secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Whether a header's value is a secret to hide when printing: `authorization`,
/// `proxy-authorization`, `cookie`, or a name containing `token`, `secret`, `key` or
/// `password` (any case).
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || ["token", "secret", "key", "password"]
        .iter()
        .any(|w| name.contains(w))
}

/// The settings as TOML that `shadowgate -c` accepts, with every default written out. Secret
/// header values and URL user info are replaced by [`REDACTED`]. `--mirror` flag targets
/// (unrouted, named by URL) have no place in the file and are listed in a leading comment.
pub fn to_toml(settings: &Settings) -> Result<String, toml::ser::Error> {
    let raw = raw(settings)?;
    let mut out = String::new();
    for m in settings.mirrors.iter().filter(|m| !m.routed()) {
        let compared = if m.compare().is_some() {
            ", compared"
        } else {
            ""
        };
        out.push_str(&format!(
            "# --mirror {} (sample {}{compared}): a flag target, not part of the file\n",
            redact_url(m.url()),
            m.sample()
        ));
    }
    out.push_str(&toml::to_string(&raw)?);
    Ok(out)
}

fn raw(s: &Settings) -> Result<RawConfig, toml::ser::Error> {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let mut defaults = s
        .mirror_defaults
        .clone()
        .url(PLACEHOLDER_URL)
        .build()
        .ok()
        .map(|t| mirror(&t, None))
        .transpose()?;
    if let Some(circuit) = defaults.as_mut().and_then(|d| d.circuit.as_mut()) {
        circuit.remove_after = s.remove_after.map(dur);
    }
    if let Some(d) = defaults.as_mut() {
        d.trust_mirror_marks = Some(s.trust_mirror_marks);
    }
    Ok(RawConfig {
        listen: Some(s.listen.to_string()),
        tls: s.tls.as_ref().map(|t| RawTls {
            cert: Some(t.cert.display().to_string()),
            key: Some(t.key.display().to_string()),
        }),
        admin: Some(RawAdmin {
            listen: Some(s.admin.map_or_else(|| "off".to_owned(), |a| a.to_string())),
            auth_file: path(&s.admin_auth),
            state_file: path(&s.state_file),
            allowed_hosts: Some(s.admin_allowed_hosts.clone()),
            max_runtime_targets: Some(int(s.max_runtime_targets)),
        }),
        limits: Some(RawLimits {
            header_read_timeout: Some(dur(s.limits.header_read_timeout)),
            idle_timeout: Some(dur(s.limits.idle_timeout)),
            max_header_bytes: Some(int(s.limits.max_header_bytes)),
            mirror_memory_bytes: Some(int(s.limits.mirror_memory_bytes)),
            shutdown_timeout: Some(dur(s.limits.shutdown_timeout)),
            send_timeout: Some(dur(s.limits.send_timeout)),
        }),
        upstreams: s
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), upstream(u)))
            .collect(),
        mirror_defaults: defaults,
        mirrors: s
            .mirrors
            .iter()
            .filter(|m| m.routed())
            .map(|m| Ok((m.name().to_owned(), mirror(m, Some(redact_url(m.url())))?)))
            .collect::<Result<_, toml::ser::Error>>()?,
        routes: s.routes.iter().map(route).collect(),
    })
}

fn int<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn upstream(u: &UpstreamSettings) -> RawUpstream {
    RawUpstream {
        backends: u
            .backends
            .iter()
            .map(|b| {
                RawBackend::Weighted(RawWeighted {
                    // Written without a trailing `/`; a backend URL has no user info.
                    url: b.url.to_string(),
                    weight: Some(b.weight.into()),
                })
            })
            .collect(),
        balance: Some(u.balance.as_str().to_owned()),
        connect_timeout: Some(dur(u.connect_timeout)),
        timeout: Some(dur(u.timeout)),
        max_connections: Some(int(u.max_connections)),
        tls_skip_verify: Some(u.tls_skip_verify),
        eject_for: Some(dur(u.eject_for)),
        health_check: u.health_check.as_ref().map(|h| RawHealthCheck {
            path: Some(h.path.clone()),
            interval: Some(dur(h.interval)),
            timeout: Some(dur(h.timeout)),
            healthy_threshold: Some(h.healthy_threshold.into()),
            unhealthy_threshold: Some(h.unhealthy_threshold.into()),
        }),
    }
}

fn mirror(t: &TargetConfig, url: Option<String>) -> Result<RawMirror, toml::ser::Error> {
    let add = t
        .add_headers()
        .iter()
        .map(|(n, v)| printed_header(n, v))
        .collect();
    Ok(RawMirror {
        url,
        sample: Some(t.sample()),
        sample_by: t.sample_by().map(sample_by),
        rate_limit: Some(t.rate_limit().into()),
        workers: Some(int(t.workers())),
        queue: Some(int(t.queue())),
        timeout: Some(dur(t.timeout())),
        max_body_bytes: Some(int(t.max_body_bytes())),
        body: Some(t.body()),
        host: Some(match t.host() {
            HostMode::Original => "original".to_owned(),
            HostMode::Target => "target".to_owned(),
            HostMode::Literal(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            other => format!("{other:?}"),
        }),
        headers: Some(RawMirrorHeaders {
            add,
            // A table's removals include its `[mirror_defaults]` ones; once each, so that the
            // printed config, read and printed again, gives the same text.
            remove: t.remove_headers().iter().fold(Vec::new(), |mut names, n| {
                if !names.iter().any(|m: &String| m == n.as_str()) {
                    names.push(n.as_str().to_owned());
                }
                names
            }),
        }),
        methods: Some(t.methods().iter().map(|m| m.as_str().to_owned()).collect()),
        circuit: Some(RawCircuit {
            failures: Some(t.circuit_failures().into()),
            retry_after: Some(dur(t.circuit_retry_after())),
            remove_after: None,
        }),
        compare: t.compare().map(compare).transpose()?,
        trust_mirror_marks: None,
    })
}

/// A comparison as its `compare` table, every default written out.
fn compare(c: &Comparison) -> Result<RawCompare, toml::ser::Error> {
    let given = c.config();
    let arrays = (given.array_rules().into_iter())
        .map(|(path, mode, key)| RawArrayRule {
            path: Some(path.to_owned()),
            mode: Some(mode.to_owned()),
            key: key.map(str::to_owned),
        })
        .collect();
    let numbers = (given.number_rules().iter())
        .map(|(path, abs, rel)| RawNumberRule {
            path: Some(path.clone()),
            abs: Some(*abs),
            rel: Some(*rel),
        })
        .collect();
    Ok(RawCompare {
        sample: Some(c.sample()),
        methods: Some(c.methods().iter().map(|m| m.as_str().to_owned()).collect()),
        max_body_bytes: Some(int(c.max_body_bytes())),
        control: c.control().map(|control| match control {
            Control::Primary => "primary".to_owned(),
            Control::Target(name) => name.clone(),
        }),
        ignore: given.ignores().to_vec(),
        arrays,
        numbers,
        endpoints: given.endpoints().to_vec(),
        max_per_second: Some(c.max_per_second().into()),
    })
}

fn sample_by(by: &SampleBy) -> String {
    match by {
        SampleBy::Header(name) => format!("header:{name}"),
        SampleBy::Cookie(name) => format!("cookie:{name}"),
        SampleBy::Query(name) => format!("query:{name}"),
        SampleBy::ClientIp => "client_ip".to_owned(),
        other => format!("{other:?}"),
    }
}

fn route(r: &RouteSettings) -> RawRoute {
    let mut raw = RawRoute {
        name: Some(r.name.clone()),
        host: r.host.clone(),
        methods: Some(r.methods.iter().map(|m| m.as_str().to_owned()).collect()),
        headers: r
            .headers
            .iter()
            .map(|(n, v)| printed_header(n, v))
            .collect::<BTreeMap<_, _>>(),
        ..RawRoute::default()
    };
    match &r.path {
        PathMatch::Any => {}
        PathMatch::Exact(p) => raw.path = Some(p.clone()),
        PathMatch::Prefix(p) => raw.path_prefix = Some(p.clone()),
        PathMatch::Regex(re) => raw.path_regex = Some(re.as_str().to_owned()),
    }
    match &r.action {
        RouteAction::Proxy {
            upstream,
            mirrors,
            strip_prefix,
            rewrite,
        } => {
            raw.upstream = Some(upstream.clone());
            raw.mirrors = Some(mirrors.clone());
            raw.strip_prefix = Some(*strip_prefix);
            raw.rewrite = Some(rewrite.clone().unwrap_or_default());
        }
        RouteAction::Redirect { to, status } => {
            raw.redirect = Some(RawRedirect {
                to: Some(redact_url(&String::from_utf8_lossy(to.as_bytes()))),
                status: Some(status.as_u16().into()),
            });
        }
    }
    raw
}

/// A header as printed: its name, and its value unless the name says it is a secret.
fn printed_header(name: &HeaderName, value: &HeaderValue) -> (String, String) {
    let value = if is_secret_header(name.as_str()) {
        REDACTED.to_owned()
    } else {
        String::from_utf8_lossy(value.as_bytes()).into_owned()
    };
    (name.as_str().to_owned(), value)
}

/// `url` with any user info (`user:pass@`) replaced by [`REDACTED`].
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_header_names() {
        for n in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "X-Api-Key",
            "x-auth-token",
            "X-Secret",
            "db-password",
        ] {
            assert!(is_secret_header(n), "{n}");
        }
        for n in ["X-Mirror", "Accept", "X-User-Id", "Host"] {
            assert!(!is_secret_header(n), "{n}");
        }
    }

    #[test]
    fn url_user_info_is_redacted() {
        assert_eq!(
            redact_url("http://u:p@h:1/x@y"),
            "http://<redacted>@h:1/x@y"
        );
        assert_eq!(redact_url("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_url("/relative"), "/relative");
    }
}
