//! The real `shadowgate` binary serving: a proxied request, the upstream of its config file,
//! SIGTERM, and SIGHUP reloading the config file (a bad one refused).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary;
mod common;

use binary::*;
use common::{fetch, PROMPT};
use shadowgate_test_support::{RecordingServer, Responder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

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
