//! The real `shadowgate` binary's flags: exit codes and messages for good and bad ones, and the
//! log format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
mod common;

use binary::*;
use shadowgate_test_support::RecordingServer;

#[tokio::test]
async fn version_exits_0() {
    let out = run(&["--version"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with("shadowgate "), "{}", out.stdout);
}

#[tokio::test]
async fn help_exits_0_and_lists_the_flags() {
    let out = run(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    for flag in [
        "--listen",
        "--upstream",
        "--mirror",
        "--sample",
        "--admin",
        "--log-format",
        "--config",
        "check",
        "demo",
    ] {
        assert!(
            out.stdout.contains(flag),
            "{flag} missing from help:\n{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn sample_outside_0_to_1_exits_64() {
    let out = run(&["--upstream", "http://127.0.0.1:1", "--sample", "1.5"]).await;
    assert_usage_error(&out, &["--sample", "1.5 is outside 0..=1"]);
}

#[tokio::test]
async fn bad_listen_address_exits_64() {
    let out = run(&["--upstream", "http://127.0.0.1:1", "--listen", "nope"]).await;
    assert_usage_error(&out, &["--listen", "\"nope\" is not an address"]);
}

#[tokio::test]
async fn non_http_upstream_url_exits_64() {
    let out = run(&["--upstream", "ftp://x"]).await;
    assert_usage_error(&out, &["--upstream", "\"ftp://x\""]);
}

#[tokio::test]
async fn unknown_flag_exits_64() {
    let out = run(&["--upstream", "http://127.0.0.1:1", "--frobnicate"]).await;
    assert_usage_error(&out, &["--frobnicate"]);
}

#[tokio::test]
async fn missing_upstream_exits_64() {
    let out = run(&[]).await;
    assert_usage_error(&out, &["--upstream", "required"]);
}

#[tokio::test]
async fn every_bad_flag_is_named_at_once() {
    let out = run(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--sample",
        "2",
        "--listen",
        "nope",
    ])
    .await;
    assert_usage_error(
        &out,
        &["--sample: 2 is outside 0..=1", "--listen: \"nope\""],
    );
}

#[tokio::test]
async fn admin_auth_flag_sets_the_users_file_shown_by_check() {
    let out = run(&[
        "check",
        "-c",
        &example("minimal.toml"),
        "--admin-auth",
        "users.htpasswd",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("auth_file = \"users.htpasswd\""),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn missing_admin_auth_file_refuses_startup_with_exit_64() {
    let out = run(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--admin-auth",
        "no-such-users.htpasswd",
    ])
    .await;
    assert_usage_error(&out, &["no-such-users.htpasswd", "cannot be read"]);
}

#[tokio::test]
async fn malformed_admin_auth_file_refuses_startup_with_exit_64_naming_the_line() {
    let users = TempFile::new("alice:pw\n\nno colon here\n");
    let out = run(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--admin-auth",
        users.path(),
    ])
    .await;
    assert_usage_error(&out, &[users.path(), "line 3"]);
}

#[tokio::test]
async fn address_in_use_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--admin",
        "off",
        "--listen",
        &addr,
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(&addr),
        "{addr} not named in:\n{}",
        out.stderr
    );
}

#[tokio::test]
async fn json_log_format_writes_one_json_object_a_line() {
    let upstream = RecordingServer::start().await.unwrap();
    let (mut child, _, _, line) =
        serve_logging(&["--upstream", &upstream.url(), "--log-format", "json"]).await;
    let line = line.trim();
    assert!(
        line.starts_with('{') && line.ends_with('}'),
        "not JSON: {line}"
    );
    assert!(line.contains("\"level\":\"INFO\""), "{line}");
    assert!(
        line.contains("\"message\":\"listening on 127.0.0.1:"),
        "{line}"
    );
    child.kill().await.unwrap();
}
