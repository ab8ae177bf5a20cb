//! `[[routes]]` → [`RouteSettings`], cross-checked against the upstreams and mirrors.

use std::collections::HashSet;

use http::header::HeaderValue;
use http::StatusCode;

use super::check::{key_name, Errors};
use super::mirror::methods;
use crate::config::raw::{RawConfig, RawRoute};
use crate::settings::{PathMatch, RouteAction, RouteSettings, UpstreamSettings};

/// The statuses a redirect may have.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
/// A redirect's status when the table does not say.
pub(crate) const DEFAULT_REDIRECT_STATUS: u16 = 302;

/// Every route, in file order; with none, checks that there is exactly one upstream.
pub(super) fn routes(
    errs: &mut Errors,
    raw: &RawConfig,
    upstreams: &[UpstreamSettings],
) -> Vec<RouteSettings> {
    if raw.routes.is_empty() && upstreams.len() > 1 {
        errs.push(
            "routes",
            format!(
                "there are no [[routes]], so everything goes to the only upstream, but there are {} ({}): add routes that name them",
                upstreams.len(),
                names(upstreams.iter().map(|u| u.name.as_str())),
            ),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.routes.len());
    for (i, r) in raw.routes.iter().enumerate() {
        let route = route(errs, i, r, raw, upstreams);
        if !seen.insert(route.name.clone()) {
            errs.push(
                format!("routes[{i}].name"),
                format!("{:?} is the name of an earlier route", route.name),
            );
        }
        out.push(route);
    }
    out
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(key_name).collect::<Vec<_>>().join(", ")
}

fn route(
    errs: &mut Errors,
    i: usize,
    raw: &RawRoute,
    file: &RawConfig,
    upstreams: &[UpstreamSettings],
) -> RouteSettings {
    let at = format!("routes[{i}]");
    let key = |k: &str| format!("{at}.{k}");
    let name = match &raw.name {
        Some(n) if n.is_empty() => {
            errs.push(key("name"), "\"\" is not a route name");
            format!("route{i}")
        }
        Some(n) => n.clone(),
        None => format!("route{i}"),
    };
    let path = path(errs, &at, raw);
    let host = raw.host.as_ref().and_then(|h| host(errs, &key("host"), h));
    let methods = raw
        .methods
        .as_ref()
        .map(|m| methods(errs, &key("methods"), m))
        .unwrap_or_default();
    let mut headers = Vec::with_capacity(raw.headers.len());
    for (n, v) in &raw.headers {
        let at = format!("{}.{}", key("headers"), key_name(n));
        match shadowgate::parse_header(n, v) {
            Ok(header) => headers.push(header),
            Err(e) => errs.push(at, e.to_string()),
        }
    }
    let action = match &raw.redirect {
        Some(redirect) => {
            let mut also = Vec::new();
            for (k, set) in [
                ("upstream", raw.upstream.is_some()),
                ("mirrors", raw.mirrors.is_some()),
                ("strip_prefix", raw.strip_prefix.is_some()),
                ("rewrite", raw.rewrite.is_some()),
            ] {
                if set {
                    also.push(k);
                }
            }
            if !also.is_empty() {
                errs.push(
                    key("redirect"),
                    format!(
                        "a redirect route is not proxied, so it cannot also set {}",
                        also.join(", ")
                    ),
                );
            }
            let to = errs
                .required(&key("redirect.to"), redirect.to.as_deref())
                .and_then(|to| match HeaderValue::from_str(to) {
                    Ok(v) if !to.is_empty() => Some(v),
                    _ => {
                        errs.push(
                            key("redirect.to"),
                            format!("{to:?} is not a valid Location"),
                        );
                        None
                    }
                })
                .unwrap_or(HeaderValue::from_static("/"));
            let status = redirect.status.unwrap_or(DEFAULT_REDIRECT_STATUS.into());
            let status = match u16::try_from(status)
                .ok()
                .filter(|s| REDIRECT_STATUSES.contains(s))
            {
                Some(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::FOUND),
                None => {
                    errs.push(
                        key("redirect.status"),
                        format!("{status} is not one of 301, 302, 303, 307, 308"),
                    );
                    StatusCode::FOUND
                }
            };
            RouteAction::Redirect { to, status }
        }
        None => proxy(errs, &at, raw, &path, file, upstreams),
    };
    RouteSettings {
        name,
        host,
        path,
        methods,
        headers,
        action,
    }
}

fn path(errs: &mut Errors, at: &str, raw: &RawRoute) -> PathMatch {
    let set: Vec<&str> = [
        ("path", raw.path.is_some()),
        ("path_prefix", raw.path_prefix.is_some()),
        ("path_regex", raw.path_regex.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if set.len() > 1 {
        errs.push(
            at,
            format!("{} are exclusive: set at most one", set.join(" and ")),
        );
        return PathMatch::Any;
    }
    let starts_with_slash = |errs: &mut Errors, k: &str, p: &str| {
        if !p.starts_with('/') {
            errs.push(
                format!("{at}.{k}"),
                format!("{p:?} is not a path (it must start with /)"),
            );
        }
    };
    if let Some(p) = &raw.path {
        starts_with_slash(errs, "path", p);
        return PathMatch::Exact(p.clone());
    }
    if let Some(p) = &raw.path_prefix {
        starts_with_slash(errs, "path_prefix", p);
        return PathMatch::Prefix(p.clone());
    }
    if let Some(p) = &raw.path_regex {
        match regex::Regex::new(p) {
            Ok(re) => return PathMatch::Regex(re),
            Err(e) => errs.push(
                format!("{at}.path_regex"),
                format!(
                    "{p:?} is not a valid regex: {}",
                    e.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
        }
    }
    PathMatch::Any
}

fn host(errs: &mut Errors, at: &str, raw: &str) -> Option<String> {
    let host = raw.to_ascii_lowercase();
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if valid {
        Some(host)
    } else {
        errs.push(
            at,
            format!(
                "{raw:?} is not a host name (no port, no scheme; *.example.com for subdomains)"
            ),
        );
        None
    }
}

fn proxy(
    errs: &mut Errors,
    at: &str,
    raw: &RawRoute,
    path: &PathMatch,
    file: &RawConfig,
    upstreams: &[UpstreamSettings],
) -> RouteAction {
    let key = |k: &str| format!("{at}.{k}");
    let upstream = match &raw.upstream {
        Some(u) if !file.upstreams.contains_key(u) => {
            errs.push(
                key("upstream"),
                format!(
                    "{u:?} is not an [upstreams.NAME] table (there are: {})",
                    names(upstreams.iter().map(|u| u.name.as_str()))
                ),
            );
            u.clone()
        }
        Some(u) => u.clone(),
        None => match upstreams {
            [only] => only.name.clone(),
            [] => String::new(),
            several => {
                errs.push(
                    key("upstream"),
                    format!(
                        "is required: there are {} upstreams ({})",
                        several.len(),
                        names(several.iter().map(|u| u.name.as_str()))
                    ),
                );
                String::new()
            }
        },
    };
    let mut mirrors = Vec::new();
    for (j, m) in raw.mirrors.iter().flatten().enumerate() {
        if !file.mirrors.contains_key(m) {
            let known = names(file.mirrors.keys().map(String::as_str));
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known
            };
            errs.push(
                format!("{at}.mirrors[{j}]"),
                format!("{m:?} is not a [mirrors.NAME] table (there are: {known})"),
            );
        } else if mirrors.contains(m) {
            errs.push(
                format!("{at}.mirrors[{j}]"),
                format!("{m:?} is listed more than once"),
            );
        } else {
            mirrors.push(m.clone());
        }
    }
    let strip_prefix = raw.strip_prefix.unwrap_or(false);
    if strip_prefix && !matches!(path, PathMatch::Prefix(_)) {
        errs.push(
            key("strip_prefix"),
            "true needs path_prefix (the prefix it strips)",
        );
    }
    let rewrite = raw.rewrite.clone().filter(|r| !r.is_empty());
    if let Some(r) = &rewrite {
        if matches!(path, PathMatch::Any) {
            errs.push(
                key("rewrite"),
                format!("{r:?} needs path, path_prefix or path_regex (the part it replaces)"),
            );
        } else if strip_prefix {
            errs.push(
                key("rewrite"),
                format!("{r:?} and strip_prefix both change the path: use one"),
            );
        } else if !r.starts_with('/') && !matches!(path, PathMatch::Regex(_)) {
            errs.push(
                key("rewrite"),
                format!("{r:?} is not a path (it must start with /)"),
            );
        }
    }
    RouteAction::Proxy {
        upstream,
        mirrors,
        strip_prefix,
        rewrite,
    }
}
