//! `shadowgate check` through the real binary: every example config, every problem named by key
//! path and value, secrets redacted, flags over the file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
mod common;

use binary::*;

#[tokio::test]
async fn check_accepts_every_example_config_and_its_output_checks_again() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let file = path.display().to_string();
        let out = run(&["check", "-c", &file]).await;
        assert_eq!(out.status.code(), Some(0), "{file}: {}", out.stderr);
        assert!(out.stdout.contains("[upstreams."), "{file}: {}", out.stdout);
        // The effective config is itself a config that checks, to the same output.
        let printed = TempFile::new(&out.stdout);
        let again = run(&["check", "-c", printed.path()]).await;
        assert_eq!(
            again.status.code(),
            Some(0),
            "{file} printed: {}",
            again.stderr
        );
        assert_eq!(again.stdout, out.stdout, "{file}: printing is not stable");
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} example configs found");
}

#[tokio::test]
async fn check_reports_every_problem_with_its_key_path_and_value() {
    let bad = TempFile::new(
        r#"
listen = "nope"
[limits]
max_header_bytes = 100
idle_timeout = "5 minutes"
[upstreams.prod]
backends = ["ftp://x", { url = "http://b:1", weight = 0 }]
balance = "fastest"
[mirrors.canary]
url = "http://canary:1"
sample = 1.5
sample_by = "hdr:x"
[[routes]]
path_prefix = "/api/"
upstream = "nope"
mirrors = ["ghost"]
[[routes]]
path_prefix = "/old/"
redirect = { to = "https://example.com/", status = 200 }
"#,
    );
    let out = run(&["check", "-c", bad.path(), "--sample", "2"]).await;
    assert_usage_error(
        &out,
        &[
            "--sample: 2 is outside 0..=1",
            "listen: \"nope\" is not an address",
            "limits.max_header_bytes: 100 must be at least 8192",
            "limits.idle_timeout: \"5 minutes\" is not a duration",
            "upstreams.prod.backends[0]: \"ftp://x\" is not an http:// or https:// URL",
            "upstreams.prod.backends[1].weight: 0 must be at least 1",
            "upstreams.prod.balance: \"fastest\" is not one of round_robin",
            "mirrors.canary.sample: 1.5 is outside 0..=1",
            "mirrors.canary.sample_by: \"hdr:x\"",
            "routes[0].upstream: \"nope\" is not an [upstreams.NAME] table (there are: prod)",
            "routes[0].mirrors[0]: \"ghost\" is not a [mirrors.NAME] table (there are: canary)",
            "routes[1].redirect.status: 200 is not one of 301, 302, 303, 307, 308",
        ],
    );
    assert!(
        out.stdout.is_empty(),
        "nothing printed on failure: {}",
        out.stdout
    );
}

/// Every configured value has a documented bound (docs/configuration.md): a duration of
/// `18446744073709551615s` used to pass `check` and then make every connection task panic on
/// overflow. `check` refuses each out-of-bound value, naming its key and value.
#[tokio::test]
async fn check_refuses_every_value_outside_its_bound() {
    let bad = TempFile::new(
        r#"
[limits]
idle_timeout = "18446744073709551615s"
header_read_timeout = "25h"
shutdown_timeout = "86400001ms"
max_header_bytes = 1048577
[upstreams.prod]
backends = [{ url = "http://b:1", weight = 1001 }]
connect_timeout = "1441m"
timeout = "99999h"
max_connections = 1000001
eject_for = "90000s"
[upstreams.prod.health_check]
interval = "2000h"
timeout = "86401s"
healthy_threshold = 1001
unhealthy_threshold = 100000
[mirror_defaults]
workers = 1000001
[mirror_defaults.circuit]
remove_after = "48h"
[mirrors.canary]
url = "http://canary:1"
queue = 1000001
timeout = "86401s"
max_body_bytes = 1073741825
rate_limit = 1000001
circuit = { failures = 1000001, retry_after = "25h" }
"#,
    );
    let out = run(&["check", "-c", bad.path()]).await;
    assert_usage_error(
        &out,
        &[
            "limits.idle_timeout: \"18446744073709551615s\" is more than the longest allowed, 24h",
            "limits.header_read_timeout: \"25h\" is more than the longest allowed, 24h",
            "limits.shutdown_timeout: \"86400001ms\" is more than the longest allowed, 24h",
            "limits.max_header_bytes: 1048577 is more than the largest allowed, 1048576",
            "upstreams.prod.backends[0].weight: 1001 is more than the largest allowed, 1000",
            "upstreams.prod.connect_timeout: \"1441m\" is more than the longest allowed, 24h",
            "upstreams.prod.timeout: \"99999h\" is more than the longest allowed, 24h",
            "upstreams.prod.max_connections: 1000001 is more than the largest allowed, 1000000",
            "upstreams.prod.eject_for: \"90000s\" is more than the longest allowed, 24h",
            "upstreams.prod.health_check.interval: \"2000h\" is more than the longest allowed, 24h",
            "upstreams.prod.health_check.timeout: \"86401s\" is more than the longest allowed, 24h",
            "upstreams.prod.health_check.healthy_threshold: 1001 is more than the largest allowed, 1000",
            "upstreams.prod.health_check.unhealthy_threshold: 100000 is more than the largest allowed, 1000",
            "mirror_defaults.workers: 1000001 is more than the largest allowed, 1000000",
            "mirror_defaults.circuit.remove_after: \"48h\" is more than the longest allowed, 24h",
            "mirrors.canary.queue: 1000001 is more than the largest allowed, 1000000",
            "mirrors.canary.timeout: \"86401s\" is more than the longest allowed, 24h",
            "mirrors.canary.max_body_bytes: 1073741825 is more than the largest allowed, 1073741824",
            "mirrors.canary.rate_limit: 1000001 is more than the largest allowed, 1000000",
            "mirrors.canary.circuit.failures: 1000001 is more than the largest allowed, 1000000",
            "mirrors.canary.circuit.retry_after: \"25h\" is more than the longest allowed, 24h",
        ],
    );
    // The largest value of each bound is accepted.
    let edge = TempFile::new(
        r#"
[limits]
idle_timeout = "24h"
max_header_bytes = 1048576
[upstreams.prod]
backends = [{ url = "http://b:1", weight = 1000 }]
timeout = "86400000ms"
max_connections = 1000000
[mirrors.canary]
url = "http://canary:1"
workers = 1000000
queue = 1000000
timeout = "1440m"
max_body_bytes = 1073741824
rate_limit = 1000000
circuit = { failures = 1000000, retry_after = "86400s" }
"#,
    );
    let out = run(&["check", "-c", edge.path()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
}

#[tokio::test]
async fn check_names_the_line_and_key_of_an_unknown_key() {
    let bad =
        TempFile::new("[upstreams.prod]\nbackends = [\"http://a:1\"]\nbalanse = \"ip_hash\"\n");
    let out = run(&["check", "-c", bad.path()]).await;
    assert_usage_error(&out, &[bad.path(), "line 3", "unknown field `balanse`"]);
}

#[tokio::test]
async fn check_without_a_config_file_exits_64() {
    let out = run(&["check"]).await;
    assert_usage_error(&out, &["check -c FILE"]);
    let out = run(&["check", "-c", "/nonexistent/shadowgate.toml"]).await;
    assert_usage_error(&out, &["/nonexistent/shadowgate.toml: cannot read"]);
}

#[tokio::test]
async fn check_redacts_secret_header_values() {
    let file = TempFile::new(
        r#"
[upstreams.prod]
backends = ["http://127.0.0.1:1"]
[mirrors.canary]
url = "http://127.0.0.1:2"
headers = { add = { "Authorization" = "Bearer hunter2", "X-Api-Key" = "k-hunter2", "X-Mirror" = "yes" } }
"#,
    );
    let out = run(&["check", "-c", file.path()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(
        out.stdout.contains("authorization = \"<redacted>\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("x-api-key = \"<redacted>\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("x-mirror = \"yes\""), "{}", out.stdout);
}

#[tokio::test]
async fn check_shows_flags_overriding_the_file() {
    let out = run(&[
        "check",
        "-c",
        &example("minimal.toml"),
        "--listen",
        "127.0.0.1:1234",
        "--admin",
        "off",
        "--upstream",
        "http://127.0.0.1:4000",
        "--mirror",
        "http://127.0.0.1:5000",
        "--sample",
        "0.5",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    for want in [
        "# --mirror http://127.0.0.1:5000 (sample 0.5)",
        "listen = \"127.0.0.1:1234\"",
        "listen = \"off\"",
        "[upstreams.app]",
        "url = \"http://127.0.0.1:4000\"",
    ] {
        assert!(out.stdout.contains(want), "no {want:?} in:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("127.0.0.1:3000"), "{}", out.stdout);
}

#[tokio::test]
async fn check_prints_the_compare_tables_and_names_their_problems() {
    let file = TempFile::new(
        r#"
[upstreams.prod]
backends = ["http://127.0.0.1:1"]
[mirror_defaults.compare]
sample = 0.5
[mirrors.canary]
url = "http://127.0.0.1:2"
compare = { control = "ref", arrays = [{ path = "/body/users", mode = "keyed", key = "/id" }] }
[mirrors.ref]
url = "http://127.0.0.1:3"
"#,
    );
    let out = run(&[
        "check",
        "-c",
        file.path(),
        "--mirror",
        "http://127.0.0.1:5000",
        "--compare",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    for want in [
        "# --mirror http://127.0.0.1:5000 (sample 1, compared)",
        "[mirror_defaults.compare]\nsample = 0.5\nmethods = [\"GET\", \"HEAD\"]\nmax_body_bytes = 262144\n",
        "[mirrors.canary.compare]\nsample = 1.0\n",
        "control = \"ref\"",
        "path = \"/body/users\"\nmode = \"keyed\"\nkey = \"/id\"",
        "max_per_second = 10000",
    ] {
        assert!(out.stdout.contains(want), "no {want:?} in:\n{}", out.stdout);
    }
    assert!(
        !out.stdout.contains("[mirrors.ref.compare]"),
        "{}",
        out.stdout
    );
    let bad = TempFile::new(
        r#"
[upstreams.prod]
backends = ["http://127.0.0.1:1"]
[mirrors.canary]
url = "http://127.0.0.1:2"
compare = { sample = 1.5, control = "nope", numbers = [{ path = "/body/price", abs = -1 }] }
"#,
    );
    let out = run(&["check", "-c", bad.path(), "--compare"]).await;
    assert_usage_error(
        &out,
        &[
            "--compare: compares the --mirror targets, and there is none",
            "mirrors.canary.compare.sample: 1.5 is outside 0..=1",
            "mirrors.canary.compare.control: \"nope\" is not a [mirrors] target (there are: canary) or \"primary\"",
            "mirrors.canary.compare.numbers[0]: abs = -1 is not a finite number of at least 0",
        ],
    );
}
