//! The config file's schema against its documentation and examples, and the validation rules
//! (each problem named by key path and value, all at once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "config/errors.rs"]
mod errors;

use serde_json::Value;
use shadowgate::{CompareConfig, Control};
use shadowgate_proxy::config::raw::{
    RawAdmin, RawArrayRule, RawBackend, RawCircuit, RawCompare, RawConfig, RawHealthCheck,
    RawLimits, RawMirror, RawMirrorHeaders, RawNumberRule, RawRedirect, RawRoute, RawTls,
    RawUpstream, RawWeighted,
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
        compare: Some(RawCompare {
            ignore: vec!["/x".into()],
            arrays: vec![RawArrayRule::default()],
            numbers: vec![RawNumberRule::default()],
            endpoints: vec!["/x".into()],
            ..RawCompare::default()
        }),
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
            trust_mirror_marks: Some(false),
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
        "mirror_defaults.trust_mirror_marks",
        "mirrors.NAME.url",
        "mirrors.NAME.headers.add",
        "mirrors.NAME.headers.remove",
        "mirrors.NAME.circuit.failures",
        "mirrors.NAME.compare.control",
        "mirrors.NAME.compare.arrays[].key",
        "mirrors.NAME.compare.numbers[].rel",
        "mirror_defaults.compare.max_per_second",
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
    assert!(
        !keys.contains("mirrors.NAME.trust_mirror_marks"),
        "trust_mirror_marks is proxy-wide"
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

pub fn load(text: &str) -> Result<Settings, Vec<ConfigError>> {
    let raw = config::parse(text, "test.toml").map_err(|e| vec![e])?;
    config::validate(&raw, &repo().join("config/examples"))
}

pub fn errors(text: &str) -> Vec<String> {
    load(text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Asserts that every `want` is one of the errors (as a prefix of a line), and no other.
pub fn assert_errors(text: &str, wants: &[&str]) {
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

pub const UPSTREAM: &str = "[upstreams.prod]\nbackends = [\"http://127.0.0.1:1\"]\n";

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
    // [mirror_defaults] removals apply, then the table's own.
    let removed: Vec<&str> = canary.remove_headers().iter().map(|n| n.as_str()).collect();
    assert_eq!(removed, ["x-debug", "cookie"]);
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
    let compare = canary.compare().expect("[mirrors.canary.compare]");
    assert_eq!(compare.sample(), 0.5);
    assert_eq!(
        compare.control(),
        Some(&Control::Target("canary-ref".into()))
    );
    assert_eq!(compare.max_per_second(), 1000);
    assert!(
        s.mirrors[1].compare().is_none(),
        "[mirror_defaults.compare] is no base of a [mirrors.NAME] table"
    );
    let template = s.mirror_defaults.clone().url("http://x:1").build().unwrap();
    assert_eq!(template.compare().unwrap().max_per_second(), 10_000);
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

const COMPARED: &str = r#"
[mirrors.canary]
url = "http://canary:1"
[mirrors.canary.compare]
sample = 0.25
methods = ["GET", "POST"]
max_body_bytes = 1024
control = "canary-ref"
ignore = ["/headers/x-served-by", "/body/**/generatedAt"]
arrays = [{ path = "/body/items", mode = "set" }, { path = "/body/users", mode = "keyed", key = "/id" }, { path = "/body/steps" }]
numbers = [{ path = "/body/**/price", abs = 0.005 }, { path = "/body/score", rel = 0.01 }]
endpoints = ["/api/users/{id}"]
max_per_second = 50
[mirrors.canary-ref]
url = "http://ref:1"
"#;

#[test]
fn a_compare_table_builds_the_targets_comparison() {
    let s = load(&format!("{UPSTREAM}{COMPARED}")).unwrap();
    let canary = s.mirrors.iter().find(|m| m.name() == "canary").unwrap();
    let c = canary.compare().expect("compared");
    assert_eq!(c.sample(), 0.25);
    assert_eq!(c.methods(), [http::Method::GET, http::Method::POST]);
    assert_eq!(c.max_body_bytes(), 1024);
    assert_eq!(c.control(), Some(&Control::Target("canary-ref".into())));
    assert_eq!(c.max_per_second(), 50);
    // Every rule, in the file's order.
    let want = CompareConfig::new()
        .sample(0.25)
        .methods([http::Method::GET, http::Method::POST])
        .max_body_bytes(1024)
        .control(Control::Target("canary-ref".into()))
        .ignore("/headers/x-served-by")
        .ignore("/body/**/generatedAt")
        .array("/body/items", "set", None)
        .array("/body/users", "keyed", Some("/id"))
        .array("/body/steps", "ordered", None)
        .number("/body/**/price", 0.005, 0.0)
        .number("/body/score", 0.0, 0.01)
        .endpoint("/api/users/{id}")
        .max_per_second(50);
    assert_eq!(*c.config(), want);
    let reference = s.mirrors.iter().find(|m| m.name() == "canary-ref").unwrap();
    assert!(reference.compare().is_none(), "a control is not compared");
}

#[test]
fn a_compare_table_with_no_keys_has_the_defaults() {
    let s = load(&format!(
        "{UPSTREAM}[mirrors.m]\nurl = \"http://m:1\"\ncompare = {{}}\n[mirrors.n]\nurl = \"http://n:1\"\n"
    ))
    .unwrap();
    let c = s.mirrors[0].compare().expect("compare = {} turns it on");
    assert_eq!(*c.config(), CompareConfig::new());
    assert_eq!(c.methods(), [http::Method::GET, http::Method::HEAD]);
    assert_eq!(
        c.max_body_bytes(),
        shadowgate::compare::DEFAULT_COMPARE_BODY_BYTES
    );
    assert_eq!(
        c.max_per_second(),
        shadowgate::compare::DEFAULT_COMPARE_PER_SECOND
    );
    assert!(s.mirrors[1].compare().is_none(), "absent: off");
    let template = s.mirror_defaults.clone().url("http://x:1").build().unwrap();
    assert!(template.compare().is_none());
}

#[test]
fn mirror_defaults_compare_is_for_runtime_and_flag_targets_only() {
    let s = load(&format!(
        "{UPSTREAM}[mirror_defaults]\nworkers = 3\n[mirror_defaults.compare]\nsample = 0.5\n\
         control = \"ref\"\nmethods = []\n[mirrors.ref]\nurl = \"http://ref:1\"\n"
    ))
    .unwrap();
    assert_eq!(
        s.mirrors[0].workers(),
        3,
        "the rest of [mirror_defaults] applies"
    );
    assert!(s.mirrors[0].compare().is_none());
    let runtime = s
        .mirror_defaults
        .clone()
        .url("http://rt:1")
        .build()
        .unwrap();
    let c = runtime.compare().expect("a runtime target is compared");
    assert_eq!(c.sample(), 0.5);
    assert!(c.methods().is_empty(), "methods = [] is every method");
    assert_eq!(c.control(), Some(&Control::Target("ref".into())));
}

#[test]
fn control_primary_is_the_primary_and_not_a_target() {
    let s = load(&format!(
        "{UPSTREAM}[mirrors.primary]\nurl = \"http://p:1\"\n\
         [mirrors.m]\nurl = \"http://m:1\"\ncompare = {{ control = \"primary\", methods = [\"GET\"] }}\n"
    ))
    .unwrap();
    let m = s.mirrors.iter().find(|m| m.name() == "m").unwrap();
    assert_eq!(m.compare().unwrap().control(), Some(&Control::Primary));
    let printed = config::to_toml(&s).unwrap();
    assert!(printed.contains("control = \"primary\""), "{printed}");
}

#[test]
fn the_printed_compare_table_reads_back_to_the_same_comparison() {
    let s = load(&format!(
        "{UPSTREAM}[mirror_defaults.compare]\nignore = [\"/body/q\\\"uote\\\\ \\t\"]\n{COMPARED}"
    ))
    .unwrap();
    let printed = config::to_toml(&s).unwrap();
    assert!(printed.contains("[mirrors.canary.compare]"), "{printed}");
    assert!(printed.contains("[mirror_defaults.compare]"), "{printed}");
    let again = load(&printed).unwrap_or_else(|e| panic!("{e:?}\n{printed}"));
    assert_eq!(config::to_toml(&again).unwrap(), printed);
    let compare = |s: &Settings, name: &str| {
        let m = s.mirrors.iter().find(|m| m.name() == name).unwrap();
        m.compare().map(|c| c.config().clone())
    };
    assert_eq!(compare(&again, "canary"), compare(&s, "canary"));
    assert!(compare(&again, "canary").is_some());
    assert_eq!(compare(&again, "canary-ref"), None);
    let runtime = |s: &Settings| {
        let t = s.mirror_defaults.clone().url("http://x:1").build().unwrap();
        t.compare().map(|c| c.config().clone())
    };
    assert_eq!(runtime(&again), runtime(&s));
    assert_eq!(runtime(&again).unwrap().ignores(), ["/body/q\"uote\\ \t"]);
}
