//! The request head against hostile and mistaken clients: mirror loops, forged marks,
//! `X-Request-Id`, `Connection`, `Host` and h2 cookies (docs/contract.md, docs/operations.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{eventually, exactly, h2c, http1, send, settings, start, target, PROMPT};
use http::Request;
use http_body_util::Full;
use shadowgate::Outcome;
use shadowgate_test_support::{raw_exchange, RecordingServer, Responder};

fn get(uri: String) -> http::request::Builder {
    Request::get(uri)
}

#[tokio::test]
async fn a_request_marked_as_a_copy_is_not_copied_again() {
    let upstream = RecordingServer::start_with(Responder::new().body("primary"))
        .await
        .unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;

    let req = get(app.url("/pay"))
        .header("x-mirror", "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&http1(), req).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "primary");
    assert_eq!(upstream.wait_for(1, PROMPT).await.len(), 1);
    // The loop decision is made on the request path, before the primary is called: once it is
    // counted, no copy can follow.
    eventually("one skipped_loop", || {
        exactly(app.outcome(Outcome::SkippedLoop), 1)
    })
    .await;
    assert_eq!(sink.count(), 0, "a marked request was copied");
    assert_eq!(app.outcome(Outcome::Dispatched), 0);
    app.stop().await;
}

#[tokio::test]
async fn two_proxies_mirroring_to_each_other_send_a_request_around_once() {
    let upstream = RecordingServer::start_with(Responder::new().body("primary"))
        .await
        .unwrap();
    let a = start(settings(&[upstream.url()])).await;
    let b = start(settings(&[upstream.url()])).await;
    a.mirror.add_target(target(&b.url(""))).unwrap();
    b.mirror.add_target(target(&a.url(""))).unwrap();

    let req = Request::post(a.url("/payments"))
        .body(Full::new(Bytes::from_static(b"{\"eur\":5}")))
        .unwrap();
    let answer = send(&http1(), req).await;
    assert_eq!(answer.status, 200);
    // A's copy reaches B, which forwards it to the primary and does not copy it back to A.
    eventually("A's copy completed", || {
        exactly(a.outcome(Outcome::Completed), 1)
    })
    .await;
    eventually("B skipped the copy", || {
        exactly(b.outcome(Outcome::SkippedLoop), 1)
    })
    .await;
    assert_eq!(b.outcome(Outcome::Dispatched), 0, "B copied a copy");
    assert_eq!(a.outcome(Outcome::Dispatched), 1);
    let seen = upstream.requests();
    assert_eq!(
        seen.len(),
        2,
        "one client request, the primary executed it {} times",
        seen.len()
    );
    assert!(seen.iter().all(|r| r.body == "{\"eur\":5}"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn client_marks_never_reach_the_primary_unless_trusted() {
    for trust in [false, true] {
        let upstream = RecordingServer::start().await.unwrap();
        let sink = RecordingServer::start().await.unwrap();
        let mut s = settings(&[upstream.url()]);
        s.mirrors.push(target(&sink.url()));
        s.trust_mirror_marks = trust;
        let app = start(s).await;
        let forged = get(app.url("/pay"))
            .header("x-mirror", "1")
            .header("x-mirrored-from", "forged.example")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&http1(), forged).await.status, 200);
        let only_from = get(app.url("/pay"))
            .header("x-mirrored-from", "forged.example")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&http1(), only_from).await.status, 200);

        let primary = upstream.wait_for(2, PROMPT).await;
        // Marked or not, trusted or not: the marked request is never copied.
        eventually("one skipped_loop", || {
            exactly(app.outcome(Outcome::SkippedLoop), 1)
        })
        .await;
        let copies = sink.wait_for(1, PROMPT).await;
        assert_eq!(copies.len(), 1);
        let (p0, p1, c) = (&primary[0].headers, &primary[1].headers, &copies[0].headers);
        if trust {
            assert_eq!(p0["x-mirror"], "1");
            assert_eq!(p0["x-mirrored-from"], "forged.example");
            assert_eq!(p1["x-mirrored-from"], "forged.example");
        } else {
            for h in [p0, p1] {
                assert!(!h.contains_key("x-mirror"), "untrusted: {h:?}");
                assert!(!h.contains_key("x-mirrored-from"), "untrusted: {h:?}");
            }
        }
        // The copy's marks are the proxy's own.
        assert_eq!(c["x-mirror"], "1");
        assert_eq!(c["x-mirrored-from"], c["host"]);
        assert_eq!(c.get_all("x-mirrored-from").iter().count(), 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_bad_request_id_is_replaced_and_primary_and_copy_share_the_new_one() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let longest = "r".repeat(128);
    let too_long = "r".repeat(129);
    let cases: [(&[u8], bool); 5] = [
        (b"abc-123", true),
        (longest.as_bytes(), true),
        (too_long.as_bytes(), false),
        (b"a b", false),
        (b"caf\xc3\xa9", false),
    ];
    for (n, (id, kept)) in cases.iter().enumerate() {
        let req = get(app.url("/id"))
            .header("x-request-id", http::HeaderValue::from_bytes(id).unwrap())
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(&http1(), req).await.status, 200);
        let p = upstream.wait_for(n + 1, PROMPT).await.remove(n);
        let c = sink.wait_for(n + 1, PROMPT).await.remove(n);
        let seen = p.headers.get_all("x-request-id").iter().collect::<Vec<_>>();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            seen[0].as_bytes() == *id,
            *kept,
            "{:?}",
            String::from_utf8_lossy(id)
        );
        if !kept {
            assert_eq!(seen[0].len(), 32);
        }
        assert_eq!(
            c.headers.get("x-request-id"),
            Some(seen[0]),
            "copy and primary differ"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn connection_cannot_strip_the_proxys_headers_or_the_host() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let req = get(app.url("/a"))
        .header("host", "shop.example")
        .header(
            "connection",
            "keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, X-Secret",
        )
        .header("x-forwarded-for", "1.1.1.1")
        .header("x-request-id", "rid-1")
        .header("x-secret", "s")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&http1(), req).await.status, 200);
    let req = get(app.url("/b"))
        .header("host", "shop.example")
        .header("connection", "Host")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&http1(), req).await.status, 200);

    let primary = upstream.wait_for(2, PROMPT).await;
    let copies = sink.wait_for(2, PROMPT).await;
    for seen in [&primary[0], &copies[0]] {
        let h = &seen.headers;
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 127.0.0.1", "{h:?}");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(h["x-request-id"], "rid-1");
        assert_eq!(h["host"], "shop.example");
        assert!(
            !h.contains_key("x-secret"),
            "a header Connection names is hop-by-hop"
        );
    }
    assert_eq!(primary[1].headers["host"], "shop.example");
    assert_eq!(copies[1].headers["host"], "shop.example");
    assert_eq!(copies[1].headers["x-mirrored-from"], "shop.example");
    app.stop().await;
}

#[tokio::test]
async fn several_hosts_a_disagreeing_authority_or_no_host_get_400_and_are_neither_forwarded_nor_copied(
) {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let refused = [
        (
            "GET /two HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
            "several Host headers",
        ),
        (
            "GET /none HTTP/1.1\r\nConnection: close\r\n\r\n",
            "needs a Host header",
        ),
        (
            "GET http://a.example/abs HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
            "disagrees",
        ),
    ];
    for (head, reason) in refused {
        let answer = raw_exchange(app.addr, head.as_bytes(), PROMPT)
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{head:?}: {answer}");
        assert!(answer.contains(reason), "{head:?}: {answer}");
    }
    // h2: a `host` field that names another host than `:authority`.
    let req = get(app.url("/h2"))
        .header("host", "b.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&h2c(), req).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("disagrees"), "{}", answer.text());

    // What is allowed: HTTP/1.0 without Host, h2 with only `:authority`, or both agreeing.
    let head = "GET /old HTTP/1.0\r\n\r\n";
    let answer = raw_exchange(app.addr, head.as_bytes(), PROMPT)
        .await
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let req = get(app.url("/h2ok")).body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&h2c(), req).await.status, 200);

    let primary = upstream.wait_for(2, PROMPT).await;
    let paths: Vec<_> = primary.iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, ["/old", "/h2ok"]);
    assert_eq!(primary[1].headers["host"], app.addr.to_string().as_str());
    assert_eq!(
        app.outcome(Outcome::Dispatched),
        2,
        "a refused request was copied"
    );
    let copies = sink.wait_for(2, PROMPT).await;
    assert_eq!(copies.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn h2_cookie_fields_reach_an_http1_upstream_and_the_copy_as_one_cookie_header() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let req = get(app.url("/c"))
        .header("cookie", "session=s1")
        .header("cookie", "theme=dark")
        .header("cookie", "lang=en")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&h2c(), req).await.status, 200);
    let primary = upstream.wait_for(1, PROMPT).await;
    let copies = sink.wait_for(1, PROMPT).await;
    for seen in [&primary[0], &copies[0]] {
        let cookies: Vec<_> = seen.headers.get_all("cookie").iter().collect();
        assert_eq!(
            cookies,
            ["session=s1; theme=dark; lang=en"],
            "{:?}",
            seen.uri
        );
    }
    app.stop().await;
}
