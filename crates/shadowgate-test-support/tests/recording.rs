// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;

use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{body, eventually, get, h2c, http1, send, PROMPT};
use http::{Method, Request, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use shadowgate_test_support::exactly;
use shadowgate_test_support::{raw_exchange, RecordingServer, Responder};

#[tokio::test]
async fn records_method_raw_uri_headers_and_body_over_http1() {
    let server = RecordingServer::start().await.unwrap();
    let before = Instant::now();
    let request = Request::post(format!("{}/a/../b%2F?x=1&x=2", server.url()))
        .header("x-trace", "one")
        .header("x-trace", "two")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let response = send(&http1(), request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["content-length"], "2");
    assert_eq!(body(response).await, "ok");

    let seen = server.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri, "/a/../b%2F?x=1&x=2", "uri is kept raw");
    assert_eq!(r.version, Version::HTTP_11);
    let traces: Vec<_> = r.headers.get_all("x-trace").iter().collect();
    assert_eq!(traces, ["one", "two"]);
    assert_eq!(r.body, "payload");
    assert!(r.received_at >= before && r.received_at <= Instant::now());
    assert_eq!(server.count(), 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn records_h2c_requests_in_origin_form() {
    let server = RecordingServer::start().await.unwrap();
    let response = send(&h2c(), get(&format!("{}/h2?q=1", server.url())))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(body(response).await, "ok");
    let seen = server.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].version, Version::HTTP_2);
    assert_eq!(seen[0].uri, "/h2?q=1");
}

#[tokio::test]
async fn wait_for_returns_the_snapshot_when_time_runs_out() {
    let server = RecordingServer::start().await.unwrap();
    send(&http1(), get(&server.url())).await.unwrap();
    let started = Instant::now();
    let seen = server.wait_for(2, Duration::from_millis(100)).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn wait_for_wakes_when_requests_arrive_later() {
    let server = RecordingServer::start().await.unwrap();
    let url = server.url();
    let senders = tokio::spawn(async move {
        let client = http1();
        for i in 0..3 {
            send(&client, get(&format!("{url}/{i}"))).await.unwrap();
        }
    });
    let seen = server.wait_for(3, PROMPT).await;
    assert_eq!(seen.len(), 3);
    let paths: Vec<_> = seen.iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, ["/0", "/1", "/2"]);
    senders.await.unwrap();
}

#[tokio::test]
async fn chunked_response_arrives_as_chunks_without_content_length() {
    let chunks = vec![
        Bytes::from_static(b"one,"),
        Bytes::from_static(b"two,"),
        Bytes::from_static(b"three"),
    ];
    let server = RecordingServer::start_with(Responder::new().chunked(chunks))
        .await
        .unwrap();

    let response = send(&http1(), get(&server.url())).await.unwrap();
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut body = response.into_body();
    assert_eq!(body.size_hint().exact(), None);
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(PROMPT, body.frame()).await.unwrap() {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(data);
        }
    }
    assert_eq!(frames.concat(), b"one,two,three");
    assert!(frames.len() >= 3, "got {} frames", frames.len());

    // On the wire: one chunk per frame.
    let raw = raw_exchange(
        server.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        PROMPT,
    )
    .await
    .unwrap();
    let text = String::from_utf8(raw).unwrap().to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(!text.contains("content-length"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn delayed_response_takes_at_least_the_delay() {
    let delay = Duration::from_millis(300);
    let server = RecordingServer::start_with(Responder::new().delay(delay))
        .await
        .unwrap();
    let started = Instant::now();
    let response = send(&http1(), get(&server.url())).await.unwrap();
    assert_eq!(body(response).await, "ok");
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn slow_sink_records_the_request_before_its_delay() {
    let server = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    let url = server.url();
    let pending = tokio::spawn(async move { http1().request(get(&url)).await });
    let seen = server.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1, "recorded while the answer is an hour away");
    assert!(!pending.is_finished());
    drop(server);
    // Dropping the server aborts the delayed answer: the client sees the connection end.
    let outcome = tokio::time::timeout(PROMPT, pending)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.is_err());
}

#[tokio::test]
async fn dropping_a_slow_sink_ends_its_h2c_streams_too() {
    let server = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    let url = server.url();
    let pending = tokio::spawn(async move { h2c().request(get(&url)).await });
    assert_eq!(server.wait_for(1, PROMPT).await.len(), 1);
    drop(server);
    let outcome = tokio::time::timeout(PROMPT, pending)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.is_err());
}

#[tokio::test]
async fn echo_answers_with_the_request_body() {
    let server = RecordingServer::start_with(Responder::new().status(201).echo())
        .await
        .unwrap();
    let request = Request::put(server.url())
        .body(Full::new(Bytes::from_static(b"mirror me")))
        .unwrap();
    let response = send(&http1(), request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(body(response).await, "mirror me");
}

#[tokio::test]
async fn status_headers_and_body_are_configurable_and_with_fn_overrides() {
    let responder = Responder::new()
        .status(503)
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .header("content-type", "application/json")
        .body("{}")
        .with_fn(|r| (r.uri.path() == "/special").then(|| (418, Bytes::from_static(b"teapot"))));
    let server = RecordingServer::start_with(responder).await.unwrap();
    let client = http1();

    let response = send(&client, get(&server.url())).await.unwrap();
    assert_eq!(response.status(), 503);
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let types: Vec<_> = response.headers().get_all("content-type").iter().collect();
    assert_eq!(types, ["application/json"]);
    assert_eq!(body(response).await, "{}");

    let response = send(&client, get(&format!("{}/special", server.url())))
        .await
        .unwrap();
    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["content-length"], "6");
    assert_eq!(body(response).await, "teapot");
}

#[tokio::test]
async fn invalid_responder_answers_500_naming_the_mistake() {
    let server = RecordingServer::start_with(Responder::new().header("bad header", "x"))
        .await
        .unwrap();
    let response = send(&http1(), get(&server.url())).await.unwrap();
    assert_eq!(response.status(), 500);
    let text = body(response).await;
    assert!(String::from_utf8_lossy(&text).contains("bad header"));
}

#[tokio::test]
async fn dropping_the_server_closes_its_port() {
    let server = RecordingServer::start().await.unwrap();
    let addr = server.addr();
    send(&http1(), get(&server.url())).await.unwrap();
    drop(server);
    eventually("the port to refuse connections after drop", || {
        std::net::TcpStream::connect(addr).err()
    })
    .await;
}

#[tokio::test]
async fn open_connections_counts_connections_until_they_close() {
    let server = RecordingServer::start().await.unwrap();
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    eventually("the connection to be open", || {
        exactly(server.open_connections(), 1)
    })
    .await;
    drop(stream);
    eventually("the connection to be closed", || {
        exactly(server.open_connections(), 0)
    })
    .await;
    assert_eq!(server.connections(), 1, "accepted stays counted");
}
