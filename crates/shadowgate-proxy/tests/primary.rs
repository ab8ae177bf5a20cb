//! The primary path through the app: what the client gets back and what the upstream sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{fetch, get, h2c, http1, send, settings, start, PROMPT};
use http::Request;
use http_body_util::Full;
use shadowgate_test_support::{raw_exchange, RecordingServer, Responder};

#[tokio::test]
async fn client_gets_the_upstream_status_headers_and_body_unchanged() {
    let upstream = RecordingServer::start_with(
        Responder::new()
            .status(418)
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("x-custom", "kept")
            .body("short and stout"),
    )
    .await
    .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/teapot")).await;

    assert_eq!(answer.status, 418);
    let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(answer.headers["x-custom"], "kept");
    assert_eq!(answer.body, "short and stout");
    app.stop().await;
}

#[tokio::test]
async fn chunked_response_arrives_whole() {
    let chunks: Vec<Bytes> = (0..20)
        .map(|i| Bytes::from(format!("chunk-{i};")))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let upstream = RecordingServer::start_with(Responder::new().chunked(chunks))
        .await
        .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/stream")).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, expected);
    app.stop().await;
}

#[tokio::test]
async fn large_streamed_response_arrives_intact() {
    // 8 MiB in 64 KiB chunks, every byte position distinguishable.
    let chunks: Vec<Bytes> = (0..128u32)
        .map(|i| {
            Bytes::from(
                (0..65_536u32)
                    .map(|j| (i * 7 + j * 13) as u8)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let upstream = RecordingServer::start_with(Responder::new().chunked(chunks))
        .await
        .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/big")).await;

    assert_eq!(answer.body.len(), 8 * 1024 * 1024);
    assert!(answer.body == expected, "the body bytes differ");
    app.stop().await;
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_removed() {
    let upstream = RecordingServer::start_with(
        Responder::new()
            .header("connection", "x-hop")
            .header("x-hop", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("x-end-to-end", "yes"),
    )
    .await
    .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/")).await;

    assert_eq!(answer.status, 200);
    for name in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert!(
            !answer.headers.contains_key(name),
            "{name} leaked: {:?}",
            answer.headers
        );
    }
    if let Some(c) = answer.headers.get("connection") {
        assert!(!c.to_str().unwrap().contains("x-hop"), "{c:?}");
    }
    assert_eq!(answer.headers["x-end-to-end"], "yes");
    app.stop().await;
}

#[tokio::test]
async fn upstream_sees_forwarding_headers_client_host_request_id_and_raw_target() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let raw = b"GET /a/%2F..//b?x=%20&y HTTP/1.1\r\nHost: public.example:8443\r\n\
                Connection: close, x-drop\r\nX-Drop: 1\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n";
    let reply = raw_exchange(app.addr, raw, PROMPT).await.unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    let seen = upstream.wait_for(1, PROMPT).await;
    let r = &seen[0];
    assert_eq!(r.uri, "/a/%2F..//b?x=%20&y");
    assert_eq!(r.headers["host"], "public.example:8443");
    assert_eq!(r.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(r.headers["x-forwarded-proto"], "http");
    assert_eq!(r.headers["x-forwarded-host"], "public.example:8443");
    assert_eq!(r.headers["x-request-id"].len(), 32);
    assert!(
        !r.headers.contains_key("x-drop"),
        "a header named in Connection was forwarded"
    );
    app.stop().await;
}

#[tokio::test]
async fn client_request_id_is_kept_for_the_upstream_and_the_mirror() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(common::target(&sink.url()));
    let app = start(s).await;

    let req = Request::get(app.url("/id"))
        .header("x-request-id", "client-chosen-42")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&http1(), req).await;
    assert_eq!(answer.status, 200);

    let primary = upstream.wait_for(1, PROMPT).await;
    let copies = sink.wait_for(1, PROMPT).await;
    assert_eq!(primary[0].headers["x-request-id"], "client-chosen-42");
    assert_eq!(copies.len(), 1, "the copy did not arrive");
    assert_eq!(copies[0].headers["x-request-id"], "client-chosen-42");
    app.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_client_is_proxied() {
    let upstream = RecordingServer::start_with(Responder::new().body("over h2c"))
        .await
        .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let client = h2c();
    for _ in 0..3 {
        let answer = send(&client, get(&app.url("/h2?q=1"))).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "over h2c");
    }

    let seen = upstream.wait_for(3, PROMPT).await;
    assert_eq!(
        seen[0].version,
        http::Version::HTTP_11,
        "the upstream hop is HTTP/1.1"
    );
    assert_eq!(seen[0].uri, "/h2?q=1");
    assert_eq!(seen[0].headers["host"], app.addr.to_string());
    app.stop().await;
}

#[tokio::test]
async fn requests_round_robin_across_two_upstreams() {
    let a = RecordingServer::start_with(Responder::new().body("a"))
        .await
        .unwrap();
    let b = RecordingServer::start_with(Responder::new().body("b"))
        .await
        .unwrap();
    let app = start(settings(&[a.url(), b.url()])).await;

    let client = http1();
    let mut bodies = Vec::new();
    for _ in 0..6 {
        bodies.push(send(&client, get(&app.url("/rr"))).await.text());
    }

    assert_eq!(a.count(), 3, "{bodies:?}");
    assert_eq!(b.count(), 3, "{bodies:?}");
    assert!(
        bodies.windows(2).all(|w| w[0] != w[1]),
        "not alternating: {bodies:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn request_body_reaches_the_upstream_intact() {
    let upstream = RecordingServer::start_with(Responder::new().echo())
        .await
        .unwrap();
    let app = start(settings(&[upstream.url()])).await;
    let payload = Bytes::from(vec![b'x'; 300_000]);

    let req = Request::post(app.url("/upload"))
        .body(Full::new(payload.clone()))
        .unwrap();
    let answer = send(&http1(), req).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, payload);
    assert_eq!(upstream.wait_for(1, PROMPT).await[0].body, payload);
    app.stop().await;
}
