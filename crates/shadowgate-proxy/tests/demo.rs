//! `shadowgate demo` end to end: the real binary, real sockets, eight seconds of traffic, and
//! the report as a person reads it, its verdict section included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Far more than eight seconds of traffic plus the shutdown ever take, even on a loaded machine.
const BOUND: Duration = Duration::from_secs(90);

/// The number on the first line that starts with `prefix`, right after it.
fn number_after(text: &str, prefix: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{text}"));
    let digits: String = line
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?}:\n{text}"))
}

/// The number that starts the first line containing `marker`.
fn leading_number(text: &str, marker: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line containing {marker:?}:\n{text}"));
    number_after(line, "")
}

#[tokio::test]
async fn demo_runs_the_real_proxy_and_reports_copies_completed_by_the_canary() {
    let child = Command::new(env!("CARGO_BIN_EXE_shadowgate"))
        .arg("demo")
        .env("SHADOWGATE_DEMO_SECONDS", "8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the shadowgate binary starts");
    // Killed (on drop) if it outlives the bound.
    let output = tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`shadowgate demo` still running after {BOUND:?}"))
        .unwrap();
    let status = output.status;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        status.success(),
        "exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    assert!(
        stdout.contains("== shadowgate demo: final report =="),
        "{stdout}"
    );
    assert!(stdout.contains("mirror target \"canary\""), "{stdout}");
    assert!(
        stdout.contains("[  1s] primary"),
        "no live summary:\n{stdout}"
    );
    let completed = number_after(&stdout, "completed ");
    assert!(completed > 0, "no copy completed:\n{stdout}");
    assert!(number_after(&stdout, "v2 received ") > 0, "{stdout}");
    // Whatever the canary did, every client got v1's answer.
    let sent = leading_number(&stdout, " requests in ");
    assert!(sent > 0, "{stdout}");
    assert_eq!(
        leading_number(&stdout, " answered by v1, "),
        sent,
        "{stdout}"
    );
    assert!(
        stdout.contains(" answered by v1, 0 answered by anything else, 0 without an answer"),
        "{stdout}"
    );

    // The verdicts: the canary's four known changes are regressions, and nothing else is.
    let regressions = regressions(&stdout);
    let want: BTreeSet<(String, String)> = [
        ("/api/users/{}", "/body/plan missing"),
        ("/api/users/{}", "/body/tier extra"),
        ("/api/orders", "/status value"),
        ("/api/orders", "/body/order missing"),
        ("/api/orders", "/body/bytes missing"),
        ("/api/orders", "/body/error extra"),
        ("/api/legacy/report", "/status value"),
        ("/api/legacy/report", "/body/rows missing"),
        ("/api/legacy/report", "/body/error extra"),
        ("/api/search", "/latency slower"),
    ]
    .iter()
    .map(|(e, f)| (e.to_string(), f.to_string()))
    .collect();
    assert_eq!(regressions, want, "{stdout}");
    // The noise is seen and judged noise or masked, never a regression.
    assert!(stdout.contains("noise       /body/cache value"), "{stdout}");
    assert!(
        stdout.contains("masked      /body/served_at value"),
        "{stdout}"
    );
}

/// Every `(endpoint, "FIELD KIND")` the verdict section calls a regression.
fn regressions(stdout: &str) -> BTreeSet<(String, String)> {
    let section = stdout
        .split("\nverdicts: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no verdict section:\n{stdout}"));
    let mut endpoint = String::new();
    let mut out = BTreeSet::new();
    for line in section.lines() {
        if let Some(field) = line.trim_start().strip_prefix("regression  ") {
            let field = field.split(':').next().unwrap_or_default();
            out.insert((endpoint.clone(), field.to_owned()));
        } else if line.starts_with("  /") {
            endpoint = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    }
    out
}
