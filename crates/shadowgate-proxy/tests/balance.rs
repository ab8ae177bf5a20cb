//! How an upstream spreads requests: round robin, smooth weighted round robin, least
//! connections, two random choices and client-IP hashing; `max_connections` answers 503.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{eventually, fetch, get, http1, send, settings, start, Running, PROMPT};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shadowgate_proxy::Balance;
use shadowgate_test_support::{RecordingServer, Responder};

async fn servers(n: usize) -> Vec<RecordingServer> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(RecordingServer::start().await.unwrap());
    }
    all
}

/// Sends `n` GETs one after another over one keep-alive client; every one must be answered 200.
async fn get_many(app: &Running, n: usize) {
    let client = http1();
    for _ in 0..n {
        let answer = send(&client, get(&app.url("/spread"))).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
}

#[tokio::test]
async fn round_robin_spreads_requests_evenly() {
    let backends = servers(3).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let app = start(settings(&urls)).await;

    get_many(&app, 300).await;

    for b in &backends {
        assert!((80..=120).contains(&b.count()), "{}", b.count());
    }
    app.stop().await;
}

#[tokio::test]
async fn weighted_round_robin_follows_the_weights() {
    let backends = servers(2).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let mut s = settings(&urls);
    s.upstreams[0].balance = Balance::WeightedRoundRobin;
    s.upstreams[0].backends[1].weight = 3;
    let app = start(s).await;

    get_many(&app, 400).await;

    let (light, heavy) = (backends[0].count(), backends[1].count());
    assert_eq!(light + heavy, 400);
    assert!((70..=130).contains(&light), "weight 1 got {light} of 400");
    assert!((270..=330).contains(&heavy), "weight 3 got {heavy} of 400");
    app.stop().await;
}

/// A slow backend (every answer takes 5 s) holding `busy` requests, and a fast one; returns the
/// app and the background requests (abort them when done). (Least connections and two choices
/// never give the busy backend a second request, so `busy` is 1 for them.)
async fn one_busy_backend(
    balance: Balance,
    busy: usize,
) -> (
    Running,
    RecordingServer,
    RecordingServer,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let slow = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(5)))
        .await
        .unwrap();
    let fast = RecordingServer::start().await.unwrap();
    let mut s = settings(&[slow.url(), fast.url()]);
    s.upstreams[0].balance = balance;
    let app = start(s).await;
    let mut background = Vec::new();
    // One request at a time, each waited for at whichever backend it reached, until the slow
    // one holds `busy`.
    for _ in 0..busy * 20 {
        if slow.count() >= busy {
            break;
        }
        let before = slow.count() + fast.count();
        let url = app.url("/busy");
        background.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(PROMPT, http1().request(get(&url))).await;
        }));
        assert!(eventually(PROMPT, || slow.count() + fast.count() > before).await);
    }
    assert_eq!(
        slow.count(),
        busy,
        "the slow backend holds the busy requests"
    );
    (app, slow, fast, background)
}

#[tokio::test]
async fn least_connections_and_two_choices_send_to_the_idle_backend_while_the_other_is_busy() {
    // Two random choices of two backends always see both, so it must never pick the busy one.
    for balance in [Balance::LeastConnections, Balance::RandomTwoChoices] {
        let (app, slow, fast, background) = one_busy_backend(balance, 1).await;
        let fast_before = fast.count();

        get_many(&app, 50).await;

        assert_eq!(slow.count(), 1, "{balance}: more went to the busy backend");
        assert_eq!(fast.count(), fast_before + 50, "{balance}");
        background.iter().for_each(|t| t.abort());
        app.stop().await;
    }
}

#[tokio::test]
async fn least_connections_and_two_choices_spread_idle_backends() {
    for balance in [Balance::LeastConnections, Balance::RandomTwoChoices] {
        let backends = servers(3).await;
        let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
        let mut s = settings(&urls);
        s.upstreams[0].balance = balance;
        let app = start(s).await;

        get_many(&app, 300).await;

        for b in &backends {
            assert!((40..=160).contains(&b.count()), "{balance}: {}", b.count());
        }
        app.stop().await;
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address works on loopback).
fn client_from(ip: IpAddr) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(ip));
    Client::builder(TokioExecutor::new()).build(connector)
}

#[tokio::test]
async fn ip_hash_keeps_each_client_on_one_backend() {
    let backends = servers(3).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let mut s = settings(&urls);
    s.upstreams[0].balance = Balance::IpHash;
    let app = start(s).await;

    for last in 2..=13u8 {
        let client = client_from(IpAddr::from([127, 0, 0, last]));
        for _ in 0..5 {
            // One keep-alive connection per client address; the hash ignores the port anyway.
            let answer = send(&client, get(&app.url("/sticky"))).await;
            assert_eq!(answer.status, 200);
        }
    }

    let mut home: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for (i, b) in backends.iter().enumerate() {
        for r in b.requests() {
            let ip = r.headers["x-forwarded-for"].to_str().unwrap().to_owned();
            home.entry(ip).or_default().insert(i);
        }
    }
    assert_eq!(home.len(), 12, "{home:?}");
    assert!(
        home.values().all(|b| b.len() == 1),
        "a client moved: {home:?}"
    );
    let used: BTreeSet<usize> = home.values().flatten().copied().collect();
    assert!(
        used.len() >= 2,
        "12 clients all hashed to one backend: {home:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_backend_at_max_connections_answers_503_and_is_counted() {
    let slow = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(5)))
        .await
        .unwrap();
    let mut s = settings(&[slow.url()]);
    s.upstreams[0].max_connections = 1;
    let app = start(s).await;
    let url = app.url("/held");
    let held = tokio::spawn(async move {
        let _ = tokio::time::timeout(PROMPT, http1().request(get(&url))).await;
    });
    assert!(eventually(PROMPT, || slow.count() == 1).await);

    let answer = fetch(&app.url("/over")).await;

    assert_eq!(answer.status, 503);
    assert!(
        answer.text().contains("every backend is at capacity"),
        "{}",
        answer.text()
    );
    assert_eq!(slow.count(), 1, "the capped backend got nothing more");
    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains(
            "shadowgate_upstream_requests_total{upstream=\"default\",backend=\"none\",outcome=\"unavailable\"} 1"
        ),
        "{metrics}"
    );
    held.abort();
    app.stop().await;
}

#[tokio::test]
async fn max_connections_frees_the_slot_when_each_response_ends() {
    let backend = RecordingServer::start().await.unwrap();
    let mut s = settings(&[backend.url()]);
    s.upstreams[0].max_connections = 1;
    let app = start(s).await;

    // One at a time never passes a cap of 1: every slot is back when its body has ended.
    get_many(&app, 50).await;

    assert_eq!(backend.count(), 50);
    app.stop().await;
}

/// A backend that answers its first request with a chunked body it keeps open until `release`
/// fires, and every later one at once.
async fn held_body_backend() -> (String, tokio::sync::oneshot::Sender<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Some(held)));
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let held = held.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let wait = held.lock().await.take();
                        let head =
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                        if tcp.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        if let Some(wait) = wait {
                            let _ = wait.await;
                        }
                        if tcp.write_all(b"0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, release)
}

#[tokio::test]
async fn max_connections_holds_the_slot_until_the_response_body_ends() {
    use http_body_util::BodyExt;
    let (backend, release) = held_body_backend().await;
    let mut s = settings(&[backend]);
    s.upstreams[0].max_connections = 1;
    let app = start(s).await;
    let client = http1();

    // The head is back, the body is still streaming: the backend's one slot is taken.
    let first = tokio::time::timeout(PROMPT, client.request(get(&app.url("/long"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        send(&http1(), get(&app.url("/meanwhile"))).await.status,
        503
    );

    release.send(()).unwrap();
    let body = tokio::time::timeout(PROMPT, first.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"first");
    assert_eq!(send(&http1(), get(&app.url("/after"))).await.status, 200);
    app.stop().await;
}
