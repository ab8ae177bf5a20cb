//! How an upstream spreads requests: round robin, smooth weighted round robin, least
//! connections, two random choices and client-IP hashing; `max_connections` answers 503.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{
    at_least, eventually, exactly, fetch, get, http1, send, settings, start, Running, PROMPT,
};
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

/// Sends `n` GETs (`/spread/0`, `/spread/1`, …) one after another over one keep-alive client;
/// every one must be answered 200.
async fn get_many(app: &Running, n: usize) {
    let client = http1();
    for i in 0..n {
        let answer = send(&client, get(&app.url(&format!("/spread/{i}")))).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
}

/// The numbers of the `/spread/N` requests each backend got, in arrival order.
fn received(backends: &[RecordingServer]) -> Vec<Vec<usize>> {
    backends
        .iter()
        .map(|b| {
            b.requests()
                .iter()
                .filter_map(|r| r.uri.path().strip_prefix("/spread/")?.parse().ok())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn round_robin_gives_each_backend_its_turn_in_order() {
    let backends = servers(3).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let app = start(settings(&urls)).await;

    get_many(&app, 300).await;

    // Backend k gets requests k, k + 3, k + 6, …: exactly 100 each, in turn.
    let want: Vec<Vec<usize>> = (0..3).map(|k| (k..300).step_by(3).collect()).collect();
    assert_eq!(received(&backends), want);
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

    // Smooth weighted round robin with weights 1:3 repeats `heavy light heavy heavy`.
    let got = received(&backends);
    let light: Vec<usize> = (1..400).step_by(4).collect();
    let heavy: Vec<usize> = (0..400).filter(|i| i % 4 != 1).collect();
    assert_eq!(got[0], light, "weight 1");
    assert_eq!(got[1], heavy, "weight 3");
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
        eventually("the request to reach a backend", || {
            at_least(slow.count() + fast.count(), before + 1)
        })
        .await;
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
async fn least_connections_breaks_ties_between_idle_backends_in_turn() {
    let backends = servers(3).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let mut s = settings(&urls);
    s.upstreams[0].balance = Balance::LeastConnections;
    let app = start(s).await;

    get_many(&app, 300).await;

    // One at a time, every backend is idle when the next request comes: round robin exactly.
    let want: Vec<Vec<usize>> = (0..3).map(|k| (k..300).step_by(3).collect()).collect();
    assert_eq!(received(&backends), want);
    app.stop().await;
}

#[tokio::test]
async fn two_choices_spreads_idle_backends() {
    let backends = servers(3).await;
    let urls: Vec<String> = backends.iter().map(RecordingServer::url).collect();
    let mut s = settings(&urls);
    s.upstreams[0].balance = Balance::RandomTwoChoices;
    let app = start(s).await;

    get_many(&app, 300).await;

    // Random: each backend's share is binomial (300, 1/3); 40..=160 is many deviations out.
    let counts: Vec<usize> = backends.iter().map(RecordingServer::count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300, "{counts:?}");
    assert!(counts.iter().all(|n| (40..=160).contains(n)), "{counts:?}");
    app.stop().await;
}

/// The backend `ip_hash` documents for `ip` among `n`: FNV-1a over the address's octets, modulo
/// `n` (the test's own oracle, written from the documentation).
fn fnv1a_slot(ip: IpAddr, n: usize) -> usize {
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let hash = octets.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &o| {
        (h ^ u64::from(o)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    usize::try_from(hash % n as u64).unwrap()
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
    // Each client on the one backend its documented hash names (FNV-1a of the address's
    // octets, modulo the backends), all five of its requests.
    let want: HashMap<String, BTreeSet<usize>> = (2..=13u8)
        .map(|last| {
            let ip = IpAddr::from([127, 0, 0, last]);
            (ip.to_string(), BTreeSet::from([fnv1a_slot(ip, 3)]))
        })
        .collect();
    assert_eq!(home, want, "a client moved or hashed elsewhere");
    for b in &backends {
        assert_eq!(b.count() % 5, 0, "a client's requests were split");
    }
    let used: BTreeSet<usize> = home.values().flatten().copied().collect();
    assert_eq!(
        used.len(),
        3,
        "12 clients spread over the 3 backends: {home:?}"
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
    eventually("the held request at the capped backend", || {
        exactly(slow.count(), 1)
    })
    .await;

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
