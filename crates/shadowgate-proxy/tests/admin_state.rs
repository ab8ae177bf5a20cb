//! Runtime targets over time, through real HTTP calls: the state file across a restart, a corrupt
//! state file refusing startup untouched, a saved target at the proxy's own listener refused, the circuit of a target that dies and comes back, and
//! `remove_after` removing a failing runtime target while a persistent one stays.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use admin_common::{call, listed, listed_urls, put_ok, state_urls, temp_dir};
use common::{at_least, eventually, eventually_async, fetch, settings, start, target, PROMPT};
use http::Method;
use shadowgate_proxy::{App, AppError};
use shadowgate_test_support::{refused_url, RecordingServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn runtime_targets_survive_a_restart_through_the_state_file() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let dir = temp_dir("restart");
    let state = dir.join("state.json");
    let config_sink = RecordingServer::start().await.unwrap();
    let make = || {
        let mut s = settings(&[upstream.url()]);
        s.state_file = Some(state.clone());
        s.mirrors.push(target(&config_sink.url()));
        s
    };
    let first = start(make()).await;
    put_ok(
        &first,
        &format!("url={}&persistent=true&sample=1", sink.url()),
    )
    .await;
    put_ok(&first, "url=http://127.0.0.1:1/other&sample=0.25").await;
    first.stop().await;
    let mut want = vec![sink.url(), "http://127.0.0.1:1/other".to_owned()];
    want.sort();
    assert_eq!(state_urls(&state), want, "config targets are not saved");

    let second = start(make()).await;

    let t = listed(&second, &sink.url()).await.unwrap();
    assert_eq!(
        (t["source"].as_str(), t["persistent"].as_bool()),
        (Some("runtime"), Some(true))
    );
    let other = listed(&second, "http://127.0.0.1:1/other").await.unwrap();
    assert_eq!(other["sample"], 0.25);
    assert_eq!(other["persistent"], false);
    assert_eq!(
        listed(&second, &config_sink.url()).await.unwrap()["source"],
        "config"
    );
    assert_eq!(fetch(&second.url("/after-restart")).await.status, 200);
    let seen = sink.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].uri, "/after-restart");
    second.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn corrupt_state_file_refuses_startup_and_is_left_byte_identical() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("corrupt");
    let state = dir.join("state.json");
    for content in [
        &b"{\"version\": 1, \"targets\": [{\"url\": \"http://a:1\"\n"[..],
        b"{\"version\": 1, \"targets\": [{\"url\": \"ftp://x\", \"persistent\": false}]}\n",
        b"\xff\xfe not even text",
    ] {
        std::fs::write(&state, content).unwrap();
        let mut s = settings(&[upstream.url()]);
        s.state_file = Some(state.clone());

        let err = App::build(s).await.unwrap_err();

        assert!(matches!(err, AppError::StateFile(_)), "{err}");
        assert!(err.is_config_error());
        let message = err.to_string();
        assert!(message.contains("state.json"), "{message}");
        assert_eq!(
            std::fs::read(&state).unwrap(),
            content,
            "the file was changed"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A saved target that now points at one of the proxy's own listeners (the listener moved onto
/// its address since it was saved) would loop: startup is refused naming it, the file untouched.
#[tokio::test]
async fn a_saved_target_at_the_proxys_own_listener_refuses_startup() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("self-target");
    let state = dir.join("state.json");
    // Held open for the whole test: were the saved target not refused before binding, the
    // proxy's bind would fail with another error, and the test with it.
    let held = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = held.local_addr().unwrap().port();
    let content = format!(
        "{{\"version\": 1, \"targets\": [{{\"url\": \"http://localhost:{port}\", \"persistent\": true}}]}}\n"
    );
    std::fs::write(&state, &content).unwrap();
    let mut s = settings(&[upstream.url()]);
    s.listen = held.local_addr().unwrap();
    s.state_file = Some(state.clone());

    let err = App::build(s).await.unwrap_err();

    assert!(matches!(err, AppError::StateFile(_)), "{err}");
    assert!(err.is_config_error());
    let message = err.to_string();
    assert!(message.contains(&format!("localhost:{port}")), "{message}");
    assert!(message.contains("own listener"), "{message}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), content);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A target that drops every connection unanswered while down and answers 200 while up.
struct Flaky {
    url: String,
    up: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Flaky {
    async fn start() -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let answered = Arc::new(AtomicUsize::new(0));
        let (up2, answered2) = (up.clone(), answered.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let answered = answered2.clone();
                tokio::spawn(async move {
                    if shadowgate_test_support::read_head(&mut stream)
                        .await
                        .is_none()
                    {
                        return;
                    }
                    let reply =
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    if stream.write_all(reply).await.is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Flaky {
            url,
            up,
            answered,
            task,
        }
    }
}

impl Drop for Flaky {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends proxied requests until `state` of the listed target `url` is `want` (bounded).
async fn drive_until_state(app: &common::Running, url: &str, want: &str) {
    eventually_async(&format!("{url} to be {want}"), || async {
        assert_eq!(
            fetch(&app.url("/drive")).await.status,
            200,
            "the primary is untouched"
        );
        let t = listed(app, url).await.unwrap();
        if t["state"] == want {
            Ok(())
        } else {
            Err(t)
        }
    })
    .await;
}

#[tokio::test]
async fn a_target_that_dies_is_probed_and_closes_again_when_it_comes_back() {
    let upstream = RecordingServer::start().await.unwrap();
    let flaky = Flaky::start().await;
    let mut s = settings(&[upstream.url()]);
    s.mirror_defaults = shadowgate::TargetConfig::builder("")
        .circuit(2, Duration::from_millis(200))
        .timeout(Duration::from_secs(2));
    let app = start(s).await;
    put_ok(&app, &format!("url={}", flaky.url)).await;
    drive_until_state(&app, &flaky.url, "closed").await;
    eventually("a copy to reach the flaky target", || {
        at_least(flaky.answered.load(Ordering::SeqCst), 1)
    })
    .await;

    flaky.up.store(false, Ordering::SeqCst);
    drive_until_state(&app, &flaky.url, "open").await;
    let open = listed(&app, &flaky.url).await.unwrap();
    assert!(open["failed"].as_u64().unwrap() >= 2, "{open}");
    let metrics = call(&app, Method::GET, "/metrics", &[]).await.text();
    let gauge = format!(
        "shadowgate_mirror_circuit_state{{target=\"{}\"}} 1",
        flaky.url
    );
    assert!(metrics.contains(&gauge), "no {gauge:?} in:\n{metrics}");
    // While open, copies are dropped without a connection.
    assert_eq!(fetch(&app.url("/dropped")).await.status, 200);
    let dropped = listed(&app, &flaky.url).await.unwrap();
    assert!(
        dropped["outcomes"]["dropped_circuit_open"]
            .as_u64()
            .unwrap()
            >= 1,
        "{dropped}"
    );

    let before = flaky.answered.load(Ordering::SeqCst);
    flaky.up.store(true, Ordering::SeqCst);
    drive_until_state(&app, &flaky.url, "closed").await;
    assert!(
        flaky.answered.load(Ordering::SeqCst) > before,
        "the probe reached the target"
    );
    let metrics = call(&app, Method::GET, "/metrics", &[]).await.text();
    let gauge = format!(
        "shadowgate_mirror_circuit_state{{target=\"{}\"}} 0",
        flaky.url
    );
    assert!(metrics.contains(&gauge), "no {gauge:?} in:\n{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn failing_runtime_target_is_removed_after_remove_after_while_a_persistent_one_stays() {
    let upstream = RecordingServer::start().await.unwrap();
    let config_dead = refused_url();
    let dir = temp_dir("remove-after");
    let state = dir.join("state.json");
    let mut s = settings(&[upstream.url()]);
    s.state_file = Some(state.clone());
    s.remove_after = Some(Duration::from_millis(500));
    s.mirror_defaults =
        shadowgate::TargetConfig::builder("").circuit(1, Duration::from_millis(200));
    s.mirrors.push(
        shadowgate::TargetConfig::builder(config_dead.clone())
            .circuit(1, Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let app = start(s).await;
    let dead = refused_url();
    let (doomed, kept) = (format!("{dead}/doomed"), format!("{dead}/kept"));
    put_ok(&app, &format!("url={doomed}")).await;
    put_ok(&app, &format!("url={kept}&persistent=true")).await;

    // One copy each opens their circuits (connections are refused).
    let sent = std::time::Instant::now();
    assert_eq!(fetch(&app.url("/x")).await.status, 200);
    eventually_async("the failing runtime target to be removed", || async {
        let urls = listed_urls(&app).await;
        if urls.contains(&doomed) {
            Err(urls)
        } else {
            Ok(())
        }
    })
    .await;
    // Not before it had been failing for `remove_after` (its circuit opened after `sent`).
    let after = sent.elapsed();
    assert!(
        after >= Duration::from_millis(500),
        "removed after only {after:?}"
    );
    let mut left = listed_urls(&app).await;
    left.sort();
    let mut want = vec![config_dead.clone(), kept.clone()];
    want.sort();
    assert_eq!(left, want, "config and persistent targets stay");
    assert_eq!(state_urls(&state), vec![kept.clone()]);
    let k = listed(&app, &kept).await.unwrap();
    assert_ne!(
        k["state"], "closed",
        "the persistent one is failing too: {k}"
    );
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_state_file_that_cannot_be_written_fails_the_call_and_adds_nothing() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("unwritable");
    let state = dir.join("no-such-dir").join("state.json");
    let mut s = settings(&[upstream.url()]);
    s.state_file = Some(state.clone());
    let app = start(s).await;

    let answer = call(&app, Method::PUT, "/targets?url=http://127.0.0.1:1/x", &[]).await;

    assert_eq!(answer.status, 500, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains("no-such-dir") && text.contains("nothing was added"),
        "{text}"
    );
    assert!(listed_urls(&app).await.is_empty());
    assert!(app.mirror.stats().is_empty());
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
