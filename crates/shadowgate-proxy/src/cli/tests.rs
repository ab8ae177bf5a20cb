//! Flag parsing and the override rules of flags over the config file.

use super::*;
use crate::settings::{DEFAULT_ADMIN, DEFAULT_LISTEN};

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("shadowgate").chain(args.iter().copied())).unwrap()
}

fn errors(args: &[&str]) -> Vec<String> {
    parse(args)
        .settings()
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn defaults_with_one_upstream() {
    let s = parse(&["--upstream", "http://127.0.0.1:3000"])
        .settings()
        .unwrap();
    assert_eq!(s.listen, DEFAULT_LISTEN);
    assert_eq!(s.admin, Some(DEFAULT_ADMIN));
    assert_eq!(s.upstreams.len(), 1);
    assert!(s.mirrors.is_empty());
    assert_eq!(s.log_format, LogFormat::Text);
}

#[test]
fn mirrors_are_named_by_url_and_sampled() {
    let s = parse(&[
        "--upstream",
        "http://a:1",
        "--upstream",
        "http://b:2",
        "--mirror",
        "http://m:3",
        "--sample",
        "0.25",
        "--admin",
        "off",
        "--log-format",
        "json",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.upstreams.len(), 1, "one pool of both backends");
    assert_eq!(s.upstreams[0].backends.len(), 2);
    assert_eq!(s.mirrors[0].name(), "http://m:3");
    assert_eq!(s.mirrors[0].sample(), 0.25);
    assert_eq!(s.admin, None);
    assert_eq!(s.log_format, LogFormat::Json);
}

#[test]
fn every_problem_is_reported_with_its_flag_and_value() {
    let e = errors(&[
        "--listen",
        "nope",
        "--upstream",
        "ftp://x",
        "--sample",
        "1.5",
        "--admin",
        "x",
        "--log-format",
        "xml",
        "--mirror",
        "notaurl",
    ]);
    let all = e.join("\n");
    for want in [
        "--listen: \"nope\" is not an address",
        "--upstream: \"ftp://x\" is not an http:// or https:// URL",
        "--sample: 1.5 is outside 0..=1",
        "--admin: \"x\" is not an address",
        "--log-format: \"xml\" is not text or json",
        "--mirror: \"notaurl\" is not an absolute http:// or https:// URL",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    assert_eq!(e.len(), 6, "{all}");
}

#[test]
fn a_mirror_flag_at_the_proxys_own_listener_is_refused_naming_it() {
    let e = errors(&[
        "--upstream",
        "http://127.0.0.1:3000",
        "--listen",
        "0.0.0.0:7000",
        "--mirror",
        "http://127.1.2.3:7000",
        "--mirror",
        "http://localhost:9901",
        "--mirror",
        "http://127.0.0.1:7001",
    ]);
    assert_eq!(
        e,
        [
            "--mirror: \"http://127.1.2.3:7000\" points at the proxy's own listener 0.0.0.0:7000 (copies would come back as requests and be copied again: a loop)",
            "--mirror: \"http://localhost:9901\" points at the proxy's own listener 127.0.0.1:9901 (copies would come back as requests and be copied again: a loop)",
        ]
    );
}

#[test]
fn missing_upstream_and_duplicate_mirror() {
    let e = errors(&["--mirror", "http://m:1", "--mirror", "http://m:1"]).join("\n");
    assert!(
        e.contains("--upstream: at least one upstream URL is required"),
        "{e}"
    );
    assert!(
        e.contains("--mirror: \"http://m:1\" is given more than once"),
        "{e}"
    );
}

#[test]
fn sample_that_is_not_a_number() {
    let e = errors(&["--upstream", "http://a:1", "--sample", "lots"]).join("\n");
    assert!(e.contains("--sample: \"lots\" is not a number"), "{e}");
}

#[test]
fn demo_subcommand_parses_alone() {
    assert_eq!(parse(&["demo"]).command, Some(Command::Demo));
    assert!(matches!(
        parse(&["check", "-c", "x.toml", "--listen", "127.0.0.1:1"]).command,
        Some(Command::Check(Options {
            config: Some(_),
            listen: Some(_),
            ..
        }))
    ));
    assert!(Cli::try_parse_from(["shadowgate", "--upstream", "http://a:1", "demo"]).is_err());
}

#[test]
fn admin_auth_flag_sets_the_users_file() {
    let s = parse(&["--upstream", "http://a:1", "--admin-auth", "users.htpasswd"])
        .settings()
        .unwrap();
    assert_eq!(s.admin_auth, Some(PathBuf::from("users.htpasswd")));
}

/// A config file in the temp directory, removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("shadowgate-cli-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const ONE_UPSTREAM: &str = r#"
listen = "127.0.0.1:7000"
[admin]
listen = "127.0.0.1:7001"
[upstreams.prod]
backends = ["http://10.0.0.1:80"]
[mirror_defaults]
sample = 0.5
workers = 3
"#;

#[test]
fn flags_override_the_file() {
    let file = TempConfig::new(ONE_UPSTREAM);
    let s = parse(&[
        "-c",
        file.path(),
        "--listen",
        "127.0.0.1:9000",
        "--admin",
        "off",
        "--log-format",
        "json",
        "--admin-auth",
        "u.htpasswd",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(s.admin, None);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.admin_auth, Some(PathBuf::from("u.htpasswd")));
    assert_eq!(s.upstreams[0].name, "prod");
    assert_eq!(
        s.upstreams[0].backends[0].url.to_string(),
        "http://10.0.0.1:80"
    );
}

#[test]
fn without_override_flags_the_file_wins() {
    let file = TempConfig::new(ONE_UPSTREAM);
    let s = parse(&["-c", file.path()]).settings().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(
        s.admin.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:7001")
    );
    assert_eq!(s.log_format, LogFormat::Text);
}

#[test]
fn upstream_flags_replace_the_backends_of_the_only_upstream() {
    let file = TempConfig::new(ONE_UPSTREAM);
    let s = parse(&[
        "-c",
        file.path(),
        "--upstream",
        "http://b:1",
        "--upstream",
        "http://c:2",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.upstreams.len(), 1);
    assert_eq!(s.upstreams[0].name, "prod");
    let urls: Vec<String> = s.upstreams[0]
        .backends
        .iter()
        .map(|b| b.url.to_string())
        .collect();
    assert_eq!(urls, ["http://b:1", "http://c:2"]);
}

#[test]
fn upstream_flags_form_the_default_upstream_when_the_file_has_none() {
    let file = TempConfig::new("listen = \"127.0.0.1:7000\"\n");
    let s = parse(&["-c", file.path(), "--upstream", "http://b:1"])
        .settings()
        .unwrap();
    assert_eq!(s.upstreams.len(), 1);
    assert_eq!(s.upstreams[0].name, DEFAULT_UPSTREAM_NAME);
    assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
}

#[test]
fn upstream_flag_with_several_file_upstreams_names_them() {
    let file = TempConfig::new(
        r#"
[upstreams.a]
backends = ["http://a:1"]
[upstreams.b]
backends = ["http://b:1"]
[[routes]]
upstream = "a"
"#,
    );
    let e = errors(&["-c", file.path(), "--upstream", "http://c:1"]).join("\n");
    assert!(
        e.contains("--upstream: the config file has 2 upstreams (a, b)"),
        "{e}"
    );
}

#[test]
fn config_without_any_upstream_is_an_error() {
    let file = TempConfig::new("listen = \"127.0.0.1:7000\"\n");
    let e = errors(&["-c", file.path()]).join("\n");
    assert!(e.contains("upstreams: no upstream"), "{e}");
}

#[test]
fn bad_upstream_flag_over_an_empty_file_is_reported_once() {
    let file = TempConfig::new("");
    let e = errors(&["-c", file.path(), "--upstream", "ftp://x"]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("--upstream: \"ftp://x\""), "{e:?}");
}

#[test]
fn mirror_flags_use_mirror_defaults_and_sample() {
    let file = TempConfig::new(ONE_UPSTREAM);
    let s = parse(&[
        "-c",
        file.path(),
        "--mirror",
        "http://m:1",
        "--sample",
        "0.25",
        "--mirror",
        "http://n:1",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.mirrors.len(), 2);
    for m in &s.mirrors {
        assert!(!m.routed(), "a --mirror target gets all traffic");
        assert_eq!(m.name(), m.url());
        assert_eq!(m.workers(), 3, "from [mirror_defaults]");
        assert_eq!(m.sample(), 0.25, "--sample wins over [mirror_defaults]");
    }
    let s = parse(&["-c", file.path(), "--mirror", "http://m:1"])
        .settings()
        .unwrap();
    assert_eq!(
        s.mirrors[0].sample(),
        0.5,
        "[mirror_defaults].sample without --sample"
    );
}

#[test]
fn flag_and_file_errors_are_reported_together() {
    let file = TempConfig::new(
        r#"
listen = "nope"
[upstreams.prod]
backends = ["http://a:1"]
[mirrors.canary]
url = "http://c:1"
sample = 1.5
"#,
    );
    let e = errors(&[
        "-c",
        file.path(),
        "--log-format",
        "xml",
        "--mirror",
        "ftp://m",
    ])
    .join("\n");
    for want in [
        "--mirror: \"ftp://m\" is not an http:// or https:// URL",
        "--log-format: \"xml\" is not text or json",
        "listen: \"nope\" is not an address",
        "mirrors.canary.sample: 1.5 is outside 0..=1",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn settings_reread_the_file_on_every_call() {
    let file = TempConfig::new(ONE_UPSTREAM);
    let cli = parse(&["-c", file.path()]);
    assert_eq!(cli.settings().unwrap().listen.to_string(), "127.0.0.1:7000");
    std::fs::write(&file.0, ONE_UPSTREAM.replace("7000", "7002")).unwrap();
    assert_eq!(cli.settings().unwrap().listen.to_string(), "127.0.0.1:7002");
    std::fs::write(&file.0, "listen = [").unwrap();
    let e = cli.settings().unwrap_err();
    assert!(e[0].key.ends_with(".toml"), "{e:?}");
}

#[test]
fn missing_config_file_names_it() {
    let e = errors(&["-c", "/nonexistent/shadowgate.toml"]).join("\n");
    assert!(
        e.contains("/nonexistent/shadowgate.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn compare_turns_comparison_on_for_the_mirror_flags_with_the_defaults() {
    let s = parse(&[
        "--upstream",
        "http://a:1",
        "--mirror",
        "http://m:1",
        "--mirror",
        "http://n:1",
        "--compare",
    ])
    .settings()
    .unwrap();
    assert_eq!(s.mirrors.len(), 2);
    for m in &s.mirrors {
        let c = m
            .compare()
            .expect("--compare compares every --mirror target");
        assert_eq!(*c.config(), shadowgate::CompareConfig::new());
    }
    let template = s
        .mirror_defaults
        .clone()
        .url("http://rt:1")
        .build()
        .unwrap();
    assert!(
        template.compare().is_none(),
        "--compare is for the --mirror targets, not runtime ones"
    );
    let s = parse(&["--upstream", "http://a:1", "--mirror", "http://m:1"])
        .settings()
        .unwrap();
    assert!(s.mirrors[0].compare().is_none(), "off without --compare");
}

#[test]
fn mirror_defaults_compare_applies_to_the_mirror_flags() {
    let file = TempConfig::new(&format!(
        "{ONE_UPSTREAM}[mirror_defaults.compare]\nsample = 0.25\nmethods = [\"GET\"]\n\
         control = \"ref\"\nignore = [\"/headers/date\"]\n[mirrors.ref]\nurl = \"http://ref:1\"\n"
    ));
    let want = shadowgate::CompareConfig::new()
        .sample(0.25)
        .methods([http::Method::GET])
        .control(shadowgate::Control::Target("ref".into()))
        .ignore("/headers/date");
    for args in [
        &["-c", file.path(), "--mirror", "http://m:1", "--compare"][..],
        &["-c", file.path(), "--mirror", "http://m:1"][..],
    ] {
        let s = parse(args).settings().unwrap();
        let m = s.mirrors.iter().find(|m| m.name() == "http://m:1").unwrap();
        let c = m
            .compare()
            .unwrap_or_else(|| panic!("{args:?}: not compared"));
        assert_eq!(*c.config(), want, "{args:?}");
        assert_eq!(m.workers(), 3, "the rest of [mirror_defaults] too");
        let r = s.mirrors.iter().find(|m| m.name() == "ref").unwrap();
        assert!(r.compare().is_none(), "{args:?}: not a [mirrors.NAME] base");
    }
}

#[test]
fn compare_without_a_mirror_flag_is_an_error_naming_it() {
    let e = errors(&["--upstream", "http://a:1", "--compare"]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("--compare: compares the --mirror targets, and there is none"),
        "{e:?}"
    );
    // Reported with the file's problems, all at once.
    let file = TempConfig::new(&format!(
        "{ONE_UPSTREAM}[mirrors.c]\nurl = \"http://c:1\"\ncompare = {{ sample = 2.0 }}\n"
    ));
    let e = errors(&["-c", file.path(), "--compare"]).join("\n");
    for want in [
        "--compare: compares the --mirror targets",
        "mirrors.c.compare.sample: 2 is outside 0..=1",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}
