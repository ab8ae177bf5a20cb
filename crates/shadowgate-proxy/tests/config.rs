//! The config file's schema against its documentation and examples, and the validation rules
//! (each problem named by key path and value, all at once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use shadowgate_proxy::config::raw::{
    RawAdmin, RawBackend, RawCircuit, RawConfig, RawHealthCheck, RawLimits, RawMirror,
    RawMirrorHeaders, RawRedirect, RawRoute, RawTls, RawUpstream, RawWeighted,
};
use shadowgate_proxy::config::{self, ConfigError};
use shadowgate_proxy::{Balance, PathMatch, RouteAction, Settings};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A raw config with every optional table present and one entry in every map and list, the
/// map keys being `NAME`, so that serializing it shows every key of the schema.
fn every_key() -> RawConfig {
    fn name<T>(v: T) -> BTreeMap<String, T> {
        BTreeMap::from([("NAME".to_owned(), v)])
    }
    let mirror = || RawMirror {
        url: Some("http://m".into()),
        headers: Some(RawMirrorHeaders {
            add: name("v".to_owned()),
            remove: vec!["x".into()],
        }),
        methods: Some(vec!["GET".into()]),
        circuit: Some(RawCircuit::default()),
        ..RawMirror::default()
    };
    RawConfig {
        tls: Some(RawTls::default()),
        admin: Some(RawAdmin::default()),
        limits: Some(RawLimits::default()),
        upstreams: name(RawUpstream {
            backends: vec![
                RawBackend::Url("http://a".into()),
                RawBackend::Weighted(RawWeighted::default()),
            ],
            health_check: Some(RawHealthCheck::default()),
            ..RawUpstream::default()
        }),
        mirror_defaults: Some(RawMirror {
            url: None,
            ..mirror()
        }),
        mirrors: name(mirror()),
        routes: vec![RawRoute {
            methods: Some(vec!["GET".into()]),
            headers: name("v".to_owned()),
            mirrors: Some(vec!["m".into()]),
            redirect: Some(RawRedirect::default()),
            ..RawRoute::default()
        }],
        ..RawConfig::default()
    }
}

/// The dotted key paths of every value that is not a table: `mirrors.NAME.circuit.failures`,
/// `routes[].path_prefix`, `upstreams.NAME.backends` (a list), `upstreams.NAME.backends[].url`.
/// A map's keys are written `NAME` (`maps` holds the paths of maps); a trailing `.NAME` or `[]`
/// (a map's or list's scalar entries) is dropped. With `skip_null`, absent keys are left out.
fn key_paths(value: &Value, maps: &BTreeSet<String>, skip_null: bool) -> BTreeSet<String> {
    fn walk(
        v: &Value,
        path: String,
        maps: &BTreeSet<String>,
        skip_null: bool,
        out: &mut BTreeSet<String>,
    ) {
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    let k = if maps.contains(&path) {
                        "NAME"
                    } else {
                        k.as_str()
                    };
                    let p = if path.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, p, maps, skip_null, out);
                }
            }
            Value::Array(a) => {
                out.insert(path.clone());
                for child in a {
                    walk(child, format!("{path}[]"), maps, skip_null, out);
                }
            }
            Value::Null if skip_null => {}
            _ => {
                let p = path
                    .strip_suffix(".NAME")
                    .or_else(|| path.strip_suffix("[]"))
                    .unwrap_or(&path);
                out.insert(p.to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, String::new(), maps, skip_null, &mut out);
    out
}

/// The paths of the maps in [`every_key`] (their one key is `NAME`).
fn map_paths(value: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    if k == "NAME" {
                        out.insert(path.to_owned());
                    }
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, &p, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, &format!("{path}[]"), out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, "", &mut out);
    out
}

fn schema() -> (BTreeSet<String>, BTreeSet<String>) {
    let value = serde_json::to_value(every_key()).unwrap();
    let maps = map_paths(&value);
    (key_paths(&value, &maps, false), maps)
}

#[test]
fn the_schema_walk_sees_nested_keys() {
    let (keys, _) = schema();
    for k in [
        "listen",
        "tls.cert",
        "upstreams.NAME.backends",
        "upstreams.NAME.backends[].url",
        "upstreams.NAME.backends[].weight",
        "upstreams.NAME.health_check.unhealthy_threshold",
        "mirror_defaults.circuit.remove_after",
        "mirrors.NAME.url",
        "mirrors.NAME.headers.add",
        "mirrors.NAME.headers.remove",
        "mirrors.NAME.circuit.failures",
        "routes[].path_prefix",
        "routes[].headers",
        "routes[].redirect.status",
    ] {
        assert!(keys.contains(k), "{k} not in {keys:#?}");
    }
    assert!(
        !keys.contains("mirror_defaults.url"),
        "[mirror_defaults] has no url"
    );
    assert!(keys.len() > 60, "{}", keys.len());
}

#[test]
fn docs_configuration_md_documents_every_key() {
    let docs = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let (keys, _) = schema();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document (as `full.dotted.path`): {missing:#?}"
    );
}

#[test]
fn full_example_sets_every_key() {
    let path = repo().join("config/examples/full.toml");
    let raw = config::read(&path).unwrap();
    let (keys, maps) = schema();
    let set = key_paths(&serde_json::to_value(&raw).unwrap(), &maps, true);
    let missing: Vec<&String> = keys.difference(&set).collect();
    assert!(missing.is_empty(), "full.toml does not set: {missing:#?}");
}

fn load(text: &str) -> Result<Settings, Vec<ConfigError>> {
    let raw = config::parse(text, "test.toml").map_err(|e| vec![e])?;
    config::validate(&raw, &repo().join("config/examples"))
}

fn errors(text: &str) -> Vec<String> {
    load(text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Asserts that every `want` is one of the errors (as a prefix of a line), and no other.
fn assert_errors(text: &str, wants: &[&str]) {
    let e = errors(text);
    let all = e.join("\n");
    for want in wants {
        assert!(
            e.iter().any(|line| line.starts_with(want)),
            "missing {want:?} in:\n{all}"
        );
    }
    assert_eq!(e.len(), wants.len(), "other errors in:\n{all}");
}

const UPSTREAM: &str = "[upstreams.prod]\nbackends = [\"http://127.0.0.1:1\"]\n";

#[test]
fn minimal_example_fills_in_every_default() {
    let s = config::load(&repo().join("config/examples/minimal.toml")).unwrap();
    let d = Settings::new(Vec::new());
    assert_eq!(s.listen, d.listen);
    assert_eq!(s.admin, d.admin);
    assert_eq!(s.limits, d.limits);
    assert_eq!(s.upstreams.len(), 1);
    let u = &s.upstreams[0];
    assert_eq!(u.name, "app");
    assert_eq!(u.balance, Balance::RoundRobin);
    assert_eq!(u.eject_for, shadowgate_proxy::DEFAULT_EJECT_FOR);
    assert!(u.health_check.is_none());
    assert!(s.routes.is_empty() && s.mirrors.is_empty());
    assert_eq!(s.remove_after, None);
}

#[test]
fn full_example_is_read_key_for_key() {
    let s = config::load(&repo().join("config/examples/full.toml")).unwrap();
    assert!(s.tls.is_some());
    assert!(s
        .admin_auth
        .as_ref()
        .unwrap()
        .ends_with("config/examples/admin.htpasswd"));
    let prod = s.upstream("prod").unwrap();
    assert_eq!(prod.backends[1].weight, 3);
    assert_eq!(prod.balance, Balance::WeightedRoundRobin);
    assert_eq!(prod.health_check.as_ref().unwrap().path, "/healthz");
    assert_eq!(s.remove_after, Some(Duration::from_secs(1800)));
    let canary = &s.mirrors[0];
    assert_eq!(canary.name(), "canary");
    assert!(canary.routed());
    assert_eq!(canary.sample(), 0.1);
    assert_eq!(canary.rate_limit(), 100);
    assert_eq!(canary.methods().len(), 2);
    assert_eq!(canary.remove_headers()[0].as_str(), "cookie");
    // [mirror_defaults] headers apply, then the table's own.
    let added: Vec<&str> = canary
        .add_headers()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        added.contains(&"x-mirror") && added.contains(&"authorization"),
        "{added:?}"
    );
    assert_eq!(s.routes.len(), 5);
    assert_eq!(s.routes[0].name, "api");
    assert_eq!(s.routes[0].host.as_deref(), Some("*.example.com"));
    assert!(matches!(s.routes[2].path, PathMatch::Regex(_)));
    match &s.routes[4].action {
        RouteAction::Redirect { status, .. } => assert_eq!(status.as_u16(), 308),
        other => panic!("not a redirect: {other:?}"),
    }
}

#[test]
fn mirrors_take_mirror_defaults_then_their_own_keys() {
    let s = load(&format!(
        "{UPSTREAM}[mirror_defaults]\nworkers = 3\nqueue = 7\n[mirror_defaults.circuit]\nfailures = 9\n\
         [mirrors.a]\nurl = \"http://a:1\"\nqueue = 11\n[mirrors.a.circuit]\nretry_after = \"2s\"\n"
    ))
    .unwrap();
    let a = &s.mirrors[0];
    assert_eq!((a.workers(), a.queue()), (3, 11));
    assert_eq!(
        a.circuit_failures(),
        9,
        "failures from [mirror_defaults.circuit]"
    );
    assert_eq!(a.circuit_retry_after(), Duration::from_secs(2));
    let template = s.mirror_defaults.clone().url("http://x:1").build().unwrap();
    assert_eq!(template.workers(), 3);
}

#[test]
fn routes_default_their_name_and_upstream() {
    let s = load(&format!(
        "{UPSTREAM}[[routes]]\npath_prefix = \"/a/\"\n[[routes]]\nname = \"b\"\n"
    ))
    .unwrap();
    assert_eq!(s.routes[0].name, "route0");
    assert_eq!(s.routes[1].name, "b");
    match &s.routes[0].action {
        RouteAction::Proxy { upstream, .. } => assert_eq!(upstream, "prod"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn top_level_errors_are_all_reported() {
    assert_errors(
        &format!(
            "listen = \"nope\"\n{UPSTREAM}[admin]\nlisten = \"x\"\nauth_file = \"\"\n\
             [limits]\nheader_read_timeout = \"5 s\"\nidle_timeout = \"0s\"\nmax_header_bytes = 100\nshutdown_timeout = \"1d\"\n"
        ),
        &[
            "listen: \"nope\" is not an address",
            "admin.listen: \"x\" is not an address (expected IP:PORT, for example 127.0.0.1:8080) or \"off\"",
            "admin.auth_file: \"\" is not a file name",
            "limits.header_read_timeout: \"5 s\" is not a duration",
            "limits.idle_timeout: \"0s\" must be greater than zero",
            "limits.max_header_bytes: 100 must be at least 8192",
            "limits.shutdown_timeout: \"1d\" is not a duration",
        ],
    );
}

#[test]
fn admin_off_disables_the_admin_listener() {
    let s = load(&format!("{UPSTREAM}[admin]\nlisten = \"off\"\n")).unwrap();
    assert_eq!(s.admin, None);
}

#[test]
fn tls_errors_name_the_key_and_file() {
    assert_errors(
        &format!("{UPSTREAM}[tls]\ncert = \"certs/cert.pem\"\n"),
        &["tls.key: is required"],
    );
    let e = errors(&format!(
        "{UPSTREAM}[tls]\ncert = \"nope.pem\"\nkey = \"certs/key.pem\"\n"
    ));
    assert!(
        e[0].starts_with("tls.cert: ") && e[0].contains("nope.pem"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{UPSTREAM}[tls]\ncert = \"certs/cert.pem\"\nkey = \"certs/cert.pem\"\n"
    ));
    assert!(
        e[0].starts_with("tls.key: ") && e[0].contains("cert.pem"),
        "{e:?}"
    );
}

#[test]
fn upstream_errors_are_all_reported() {
    assert_errors(
        "[upstreams.a]\nbackends = [\"ftp://x\", { url = \"http://b:1\", weight = 0 }, \"http://b:1\", \"nota url\"]\n\
         balance = \"fastest\"\nconnect_timeout = \"0ms\"\ntimeout = \"x\"\nmax_connections = -1\neject_for = \"0s\"\n\
         [upstreams.a.health_check]\npath = \"healthz\"\ninterval = \"0s\"\ntimeout = \"1\"\nhealthy_threshold = 0\nunhealthy_threshold = -2\n\
         [upstreams.b]\n[[routes]]\nupstream = \"a\"\n",
        &[
            "upstreams.a.backends[0]: \"ftp://x\" is not an http:// URL",
            "upstreams.a.backends[1].weight: 0 must be at least 1",
            "upstreams.a.backends[2]: \"http://b:1\" is listed more than once",
            "upstreams.a.backends[3]: \"nota url\" is not a URL",
            "upstreams.a.balance: \"fastest\" is not one of round_robin, weighted_round_robin, least_connections, random_two_choices, ip_hash",
            "upstreams.a.connect_timeout: \"0ms\" must be greater than zero",
            "upstreams.a.timeout: \"x\" is not a duration",
            "upstreams.a.max_connections: -1 must be at least 0",
            "upstreams.a.eject_for: \"0s\" must be greater than zero",
            "upstreams.a.health_check.path: \"healthz\" is not a path",
            "upstreams.a.health_check.interval: \"0s\" must be greater than zero",
            "upstreams.a.health_check.timeout: \"1\" is not a duration",
            "upstreams.a.health_check.healthy_threshold: 0 must be at least 1",
            "upstreams.a.health_check.unhealthy_threshold: -2 must be at least 1",
            "upstreams.b.backends: at least one backend URL is required",
        ],
    );
}

#[test]
fn no_upstream_and_several_upstreams_without_routes_are_errors() {
    assert_errors("listen = \"127.0.0.1:1\"\n", &["upstreams: no upstream"]);
    assert_errors(
        "[upstreams.a]\nbackends = [\"http://a:1\"]\n[upstreams.b]\nbackends = [\"http://b:1\"]\n",
        &["routes: there are no [[routes]], so everything goes to the only upstream, but there are 2 (a, b)"],
    );
}

#[test]
fn mirror_errors_are_all_reported() {
    assert_errors(
        &format!(
            "{UPSTREAM}[mirror_defaults]\nurl = \"http://x\"\nworkers = 0\n[mirror_defaults.circuit]\nremove_after = \"soon\"\n\
             [mirrors.canary]\nurl = \"notaurl\"\nsample = 1.5\nsample_by = \"hdr:x\"\nrate_limit = -1\nqueue = 0\ntimeout = \"0s\"\n\
             max_body_bytes = -5\nhost = \"a b\"\nheaders = {{ add = {{ \"bad name\" = \"1\", \"X-Ok\" = \"a\\u0001\" }}, remove = [\"also bad\"] }}\n\
             methods = [\"get\"]\n[mirrors.canary.circuit]\nfailures = -3\nretry_after = \"0ms\"\nremove_after = \"x\"\n[mirrors.nourl]\nsample = 0.5\n"
        ),
        &[
            "mirror_defaults.url: \"http://x\": [mirror_defaults] has no url",
            "mirror_defaults.workers: 0 must be at least 1",
            "mirror_defaults.circuit.remove_after: \"soon\" is not a duration",
            "mirrors.canary.url: \"notaurl\": no scheme",
            "mirrors.canary.sample: 1.5 is outside 0..=1",
            "mirrors.canary.sample_by: \"hdr:x\" is not header:NAME, cookie:NAME, query:NAME or client_ip",
            "mirrors.canary.rate_limit: -1 must be at least 0",
            "mirrors.canary.queue: 0 must be at least 1",
            "mirrors.canary.timeout: \"0s\" must be greater than zero",
            "mirrors.canary.max_body_bytes: -5 must be at least 0",
            "mirrors.canary.host: \"a b\" is not original, target or a host[:port]",
            "mirrors.canary.headers.add.\"bad name\": \"bad name\" is not a valid header name",
            "mirrors.canary.headers.add.X-Ok: the value has characters a header cannot carry",
            "mirrors.canary.headers.remove[0]: \"also bad\" is not a valid header name",
            "mirrors.canary.methods[0]: \"get\" is not an upper-case HTTP method",
            "mirrors.canary.circuit.failures: -3 must be at least 0",
            "mirrors.canary.circuit.retry_after: \"0ms\" must be greater than zero",
            "mirrors.canary.circuit.remove_after: \"x\" is not a duration",
            "mirrors.nourl.url: is required",
        ],
    );
}

#[test]
fn route_errors_are_all_reported() {
    assert_errors(
        &format!(
            "{UPSTREAM}[upstreams.other]\nbackends = [\"http://127.0.0.1:2\"]\n[mirrors.canary]\nurl = \"http://c:1\"\n\
             [[routes]]\npath = \"/a\"\npath_prefix = \"/b\"\nupstream = \"nope\"\nmirrors = [\"ghost\", \"canary\", \"canary\"]\n\
             [[routes]]\npath_regex = \"(\"\nstrip_prefix = true\nupstream = \"prod\"\n\
             [[routes]]\npath_prefix = \"/r/\"\nredirect = {{ to = \"https://x/\", status = 200 }}\nupstream = \"prod\"\nrewrite = \"/y\"\n\
             [[routes]]\nname = \"route0\"\nhost = \"a:80\"\nrewrite = \"/x\"\nmethods = [\"FETCH ME\"]\nheaders = {{ \"X-A\" = \"a\\u0001\" }}\n\
             [[routes]]\npath_prefix = \"a/\"\nupstream = \"prod\"\nstrip_prefix = true\nrewrite = \"/b/\"\n\
             [[routes]]\npath = \"/r\"\nredirect = {{ status = 301 }}\n"
        ),
        &[
            "routes[0]: path and path_prefix are exclusive: set at most one",
            "routes[0].upstream: \"nope\" is not an [upstreams.NAME] table (there are: other, prod)",
            "routes[0].mirrors[0]: \"ghost\" is not a [mirrors.NAME] table (there are: canary)",
            "routes[0].mirrors[2]: \"canary\" is listed more than once",
            "routes[1].path_regex: \"(\" is not a valid regex",
            "routes[1].strip_prefix: true needs path_prefix",
            "routes[2].redirect: a redirect route is not proxied, so it cannot also set upstream, rewrite",
            "routes[2].redirect.status: 200 is not one of 301, 302, 303, 307, 308",
            "routes[3].host: \"a:80\" is not a host name",
            "routes[3].methods[0]: \"FETCH ME\" is not an upper-case HTTP method",
            "routes[3].headers.X-A: the value has characters a header cannot carry",
            "routes[3].upstream: is required: there are 2 upstreams (other, prod)",
            "routes[3].rewrite: \"/x\" needs path, path_prefix or path_regex",
            "routes[3].name: \"route0\" is the name of an earlier route",
            "routes[4].path_prefix: \"a/\" is not a path",
            "routes[4].rewrite: \"/b/\" and strip_prefix both change the path: use one",
            "routes[5].redirect.to: is required",
        ],
    );
}

#[test]
fn syntax_errors_and_unknown_keys_name_line_and_key() {
    let e = errors(
        "listen = \"127.0.0.1:1\"\n[upstreams.prod]\nbackends = [\"http://a:1\"]\ntimeout = 5s\n",
    );
    assert!(
        e[0].starts_with("test.toml: ") && e[0].contains("line 4"),
        "{e:?}"
    );
    for (text, key) in [
        ("listn = \"x\"\n", "listn"),
        ("[limits]\nidle = \"1s\"\n", "idle"),
        (
            "[upstreams.p]\nbackends = [{ url = \"http://a\", wieght = 2 }]\n",
            "wieght",
        ),
        (
            "[mirrors.m]\nurl = \"http://a\"\n[mirrors.m.circuit]\nfailure = 1\n",
            "failure",
        ),
        (
            "[[routes]]\nredirect = { to = \"/\", code = 301 }\n",
            "code",
        ),
    ] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(&format!("unknown field `{key}`")), "{e:?}");
        assert!(e[0].contains("line "), "{e:?}");
    }
}

#[test]
fn wrong_types_are_named() {
    let e = errors("[upstreams.p]\nbackends = [3]\n");
    assert!(
        e[0].contains("expected a backend URL or a { url, weight } table"),
        "{e:?}"
    );
    let e = errors("[mirrors.m]\nurl = \"http://a\"\nsample = \"half\"\n");
    assert!(e[0].contains("line 3"), "{e:?}");
}

#[test]
fn the_printed_config_reads_back_to_the_same_settings() {
    for name in ["full.toml", "routes.toml", "minimal.toml", "tls.toml"] {
        let s = config::load(&repo().join("config/examples").join(name)).unwrap();
        let printed = config::to_toml(&s).unwrap();
        let again = load(&printed).unwrap_or_else(|e| panic!("{name}: {e:?}\n{printed}"));
        assert_eq!(config::to_toml(&again).unwrap(), printed, "{name}");
        assert_eq!(
            format!("{:?}", again.upstreams),
            format!("{:?}", s.upstreams)
        );
        assert_eq!(again.limits, s.limits);
    }
}
