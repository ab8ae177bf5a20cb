//! What the tests that drive the real `shadowgate` binary share: running it to completion,
//! serving with it, signalling it, reading its log, and the example configs.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure is a failed test

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use crate::common::PROMPT;

pub const BIN: &str = env!("CARGO_BIN_EXE_shadowgate");

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary to completion, bounded by [`PROMPT`].
pub async fn run(args: &[&str]) -> Output {
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

pub fn assert_usage_error(out: &Output, wants: &[&str]) {
    assert_eq!(out.status.code(), Some(64), "stderr: {}", out.stderr);
    for want in wants {
        assert!(
            out.stderr.contains(want),
            "no {want:?} in stderr:\n{}",
            out.stderr
        );
    }
}

/// Starts the binary with these flags plus `--listen 127.0.0.1:0 --admin off`, and reads the
/// bound address from its `listening on ADDR` log line.
pub async fn serve(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStderr>) {
    let (child, addr, stderr, _) = serve_logging(args).await;
    (child, addr, stderr)
}

/// [`serve`], also returning the `listening on` log line as written.
pub async fn serve_logging(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStderr>, String) {
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

pub fn sigterm(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn sighup(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Reads log lines until one contains `needle`, within the bound; returns it.
pub async fn wait_line(stderr: &mut BufReader<ChildStderr>, needle: &str) -> String {
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

/// The repository's `config/examples/` directory.
pub fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

pub fn example(name: &str) -> String {
    examples_dir().join(name).display().to_string()
}

/// A file in the temp directory, removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn new(text: &str) -> Self {
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

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
