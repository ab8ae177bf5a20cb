//! The real `shadowgate` binary: exit codes, messages, signals, and one proxied request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use common::{fetch, PROMPT};
use shadowgate_test_support::{RecordingServer, Responder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

const BIN: &str = env!("CARGO_BIN_EXE_shadowgate");

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the binary to completion, bounded by [`PROMPT`].
async fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(PROMPT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("shadowgate {args:?} did not exit within the bound"))
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_usage_error(out: &Output, wants: &[&str]) {
    assert_eq!(out.status.code(), Some(64), "stderr: {}", out.stderr);
    for want in wants {
        assert!(
            out.stderr.contains(want),
            "no {want:?} in stderr:\n{}",
            out.stderr
        );
    }
}

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

/// Starts the binary with these flags plus `--listen 127.0.0.1:0 --admin off`, and reads the
/// bound address from its `listening on ADDR` log line.
async fn serve(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStderr>) {
    let (child, addr, stderr, _) = serve_logging(args).await;
    (child, addr, stderr)
}

/// [`serve`], also returning the `listening on` log line as written.
async fn serve_logging(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStderr>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--admin", "off"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let (addr, line) = tokio::time::timeout(PROMPT, async {
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).await.unwrap() == 0 {
                panic!("the binary exited before listening:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                // Text ends the address with a space or the line; JSON with a quote.
                let addr = rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap();
                return (addr.parse::<SocketAddr>().unwrap(), line);
            }
        }
    })
    .await
    .expect("a `listening on` line within the bound");
    (child, addr, stderr, line)
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

fn sigterm(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn binary_proxies_a_request_and_exits_0_on_sigterm() {
    let upstream = RecordingServer::start_with(Responder::new().body("through the binary"))
        .await
        .unwrap();
    let (mut child, addr, mut stderr) = serve(&["--upstream", &upstream.url()]).await;

    let answer = fetch(&format!("http://{addr}/via-binary?x=1")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "through the binary");
    assert_eq!(upstream.wait_for(1, PROMPT).await[0].uri, "/via-binary?x=1");

    sigterm(&child);
    let status = tokio::time::timeout(PROMPT, child.wait())
        .await
        .expect("exits within the bound after SIGTERM")
        .unwrap();
    let mut rest = String::new();
    let _ = tokio::time::timeout(PROMPT, stderr.read_to_string(&mut rest)).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{rest}");
}

#[tokio::test]
async fn sighup_does_not_stop_the_binary() {
    let upstream = RecordingServer::start().await.unwrap();
    let (mut child, addr, mut stderr) = serve(&["--upstream", &upstream.url()]).await;

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    // The SIGHUP is logged; wait for that line, then prove the proxy still serves.
    let logged = tokio::time::timeout(PROMPT, async {
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line).await.unwrap() == 0 {
                return false;
            }
            if line.contains("SIGHUP") {
                return true;
            }
        }
    })
    .await
    .expect("the SIGHUP is logged within the bound");
    assert!(logged, "the binary exited on SIGHUP");
    assert_eq!(fetch(&format!("http://{addr}/")).await.status, 200);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the binary exited on SIGHUP"
    );

    sigterm(&child);
    let status = tokio::time::timeout(PROMPT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
