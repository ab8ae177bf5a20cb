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

/// The repository's `config/examples/` directory.
fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

fn example(name: &str) -> String {
    examples_dir().join(name).display().to_string()
}

/// A file in the temp directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "shadowgate-cli-test-{}-{n}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

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
async fn binary_serves_the_upstream_of_its_config_file() {
    let upstream = RecordingServer::start_with(Responder::new().body("from the file's upstream"))
        .await
        .unwrap();
    let file = TempFile::new(&format!(
        "[upstreams.app]\nbackends = [\"{}\"]\n",
        upstream.url()
    ));
    let (mut child, addr, _) = serve(&["-c", file.path()]).await;
    let answer = fetch(&format!("http://{addr}/configured")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "from the file's upstream");
    assert_eq!(upstream.wait_for(1, PROMPT).await[0].uri, "/configured");
    child.kill().await.unwrap();
}

fn sighup(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Reads log lines until one contains `needle`, within the bound; returns it.
async fn wait_line(stderr: &mut BufReader<ChildStderr>, needle: &str) -> String {
    tokio::time::timeout(PROMPT, async {
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line).await.unwrap() == 0 {
                panic!("the binary exited before logging {needle:?}");
            }
            if line.contains(needle) {
                return line.clone();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no log line with {needle:?} within the bound"))
}

#[tokio::test]
async fn sighup_reloads_the_config_file_and_a_bad_one_is_refused() {
    let first = RecordingServer::start_with(Responder::new().body("first"))
        .await
        .unwrap();
    let second = RecordingServer::start_with(Responder::new().body("second"))
        .await
        .unwrap();
    let config = |url: String| format!("[upstreams.app]\nbackends = [\"{url}\"]\n");
    let file = TempFile::new(&config(first.url()));
    let (child, addr, mut stderr) = serve(&["-c", file.path()]).await;
    assert_eq!(fetch(&format!("http://{addr}/")).await.body, "first");

    std::fs::write(&file.0, config(second.url())).unwrap();
    sighup(&child);
    wait_line(&mut stderr, "config reloaded").await;
    assert_eq!(fetch(&format!("http://{addr}/")).await.body, "second");

    std::fs::write(
        &file.0,
        format!(
            "{}[mirrors.c]\nurl = \"http://127.0.0.1:1\"\nsample = 1.5\n",
            config(first.url())
        ),
    )
    .unwrap();
    sighup(&child);
    let refused = wait_line(&mut stderr, "reload refused").await;
    assert!(refused.contains("mirrors.c.sample: 1.5"), "{refused}");
    wait_line(&mut stderr, "the running one keeps serving").await;
    assert_eq!(fetch(&format!("http://{addr}/")).await.body, "second");
    assert_eq!(first.count(), 1);

    sigterm(&child);
    let mut child = child;
    let status = tokio::time::timeout(PROMPT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
