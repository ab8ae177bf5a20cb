//! Limits against bad clients on the proxy listener: slowloris heads are cut at the header read
//! timeout, oversized heads get 431, malformed requests 400 (none reaches the upstream), and
//! idle keep-alive connections close at the idle timeout while slow requests finish.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadowgate_proxy::Settings;
use shadowgate_test_support::raw_exchange;
use shadowgate_test_support::RecordingServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SHORT: Duration = Duration::from_millis(300);

fn limited(upstream: &str) -> Settings {
    let mut s = settings(&[upstream.to_owned()]);
    s.limits.header_read_timeout = SHORT;
    s
}

/// Reads from `stream` until the peer closes (EOF or reset), bounded by [`PROMPT`]; returns
/// what arrived.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PROMPT, stream.read(&mut buf))
            .await
            .expect("the proxy closes the connection within the bound")
        {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `head` a byte every 100 ms (slower than [`SHORT`] for the whole) while reading;
/// returns the bytes written before the proxy closed and the bytes it sent.
async fn trickle(stream: &mut TcpStream, head: &[u8]) -> (usize, Vec<u8>) {
    let (mut read, mut write) = stream.split();
    let mut received = Vec::new();
    let mut sent = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::sleep(PROMPT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => panic!("the proxy did not close within the bound"),
            _ = tick.tick(), if sent < head.len() => {
                if write.write_all(&head[sent..=sent]).await.is_err() {
                    return (sent, received);
                }
                sent += 1;
            }
            r = read.read(&mut buf) => match r {
                Ok(0) | Err(_) => return (sent, received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
        }
    }
}

const SLOW_HEAD: &[u8] =
    b"GET /slowloris HTTP/1.1\r\nHost: example.com\r\nX-Padding: abcdefghij\r\n\r\n";

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_cut_at_the_header_read_timeout_and_never_forwarded() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = limited(&upstream.url());
    s.limits.idle_timeout = Duration::from_secs(60);
    let proxy = start(s).await;

    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (sent, received) = trickle(&mut stream, SLOW_HEAD).await;
    assert!(sent < SLOW_HEAD.len(), "the whole head went through");
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(upstream.count(), 0);
    // Others are still served.
    assert_eq!(fetch(&proxy.url("/ok")).await.status, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_slow_second_head_on_a_keep_alive_connection_is_cut_at_the_header_read_timeout() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = limited(&upstream.url());
    s.limits.idle_timeout = Duration::from_secs(60);
    let proxy = start(s).await;

    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(PROMPT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Idle for longer than the header read timeout: still open, since idle_timeout is long.
    let early = tokio::time::timeout(SHORT * 2, stream.read(&mut buf)).await;
    assert!(early.is_err(), "closed while idle: {early:?}");

    let (sent, received) = trickle(&mut stream, SLOW_HEAD).await;
    assert!(sent < SLOW_HEAD.len(), "the whole head went through");
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(upstream.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn an_oversized_head_is_answered_431_and_never_forwarded() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = limited(&upstream.url());
    s.limits.max_header_bytes = 8192;
    let proxy = start(s).await;

    let big = "a".repeat(10_000);
    let head = format!("GET /big HTTP/1.1\r\nHost: example.com\r\nX-Big: {big}\r\n\r\n");
    let answer = raw_exchange(proxy.addr, head.as_bytes(), PROMPT)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Within the limit is fine.
    let fits = "a".repeat(6_000);
    let head = format!(
        "GET /fits HTTP/1.1\r\nHost: example.com\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_exchange(proxy.addr, head.as_bytes(), PROMPT)
        .await
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/fits");
    proxy.stop().await;
}

#[tokio::test]
async fn an_oversized_h2_header_list_is_answered_431_and_never_forwarded() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = limited(&upstream.url());
    s.limits.max_header_bytes = 8192;
    let proxy = start(s).await;

    let mut request = get(&proxy.url("/big"));
    request
        .headers_mut()
        .insert("x-big", "a".repeat(10_000).parse().unwrap());
    let answer = send(&h2c(), request).await;
    assert_eq!(answer.status, 431);
    assert_eq!(send(&h2c(), get(&proxy.url("/small"))).await.status, 200);
    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/small");
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_answered_400_and_never_forwarded() {
    let upstream = RecordingServer::start().await.unwrap();
    let proxy = start(limited(&upstream.url())).await;

    let cases: [&[u8]; 4] = [
        b"GET / HTTP/9.9\r\nHost: example.com\r\n\r\n",
        b"G\x01T / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ];
    for raw in cases {
        let answer = raw_exchange(proxy.addr, raw, PROMPT).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(upstream.count(), 0);
    proxy.stop().await;
}

/// An upstream that answers `/slow` after 900 ms, streams `/stream` in three chunks 600 ms
/// apart, and answers anything else at once; every answer closes its connection.
async fn paced_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Some(head) = shadowgate_test_support::read_head(&mut stream).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let pause = Duration::from_millis(600);
                if head.starts_with(b"GET /slow ") {
                    tokio::time::sleep(Duration::from_millis(900)).await;
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow")
                        .await;
                } else if head.starts_with(b"GET /stream ") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                        .await;
                    for _ in 0..3 {
                        tokio::time::sleep(pause).await;
                        let _ = stream.write_all(b"5\r\nchunk\r\n").await;
                    }
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                } else {
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                }
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn an_idle_http1_connection_is_closed_at_the_idle_timeout_but_slow_requests_finish() {
    let (upstream, requests) = paced_upstream().await;
    let mut s = settings(&[format!("http://{upstream}")]);
    s.limits.idle_timeout = SHORT;
    s.limits.header_read_timeout = Duration::from_secs(5);
    let proxy = start(s).await;

    // Slow answers, longer than the idle timeout, on their own connections.
    let slow = tokio::spawn(raw_exchange(
        proxy.addr,
        b"GET /slow HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        PROMPT,
    ));
    let stream = tokio::spawn(raw_exchange(
        proxy.addr,
        b"GET /stream HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        PROMPT,
    ));

    // A keep-alive connection that goes idle after one request.
    let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
    idle.write_all(b"GET /quick HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let asked = std::time::Instant::now();
    let rest = read_until_closed(&mut idle).await;
    let waited = asked.elapsed();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("ok"), "{rest}");
    // Closed by the idle rule: not at once, and well before the 5 s header read timeout.
    assert!(waited >= SHORT / 2, "closed after only {waited:?}");
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");

    let slow = slow.await.unwrap().unwrap();
    let slow = String::from_utf8_lossy(&slow);
    assert!(
        slow.starts_with("HTTP/1.1 200") && slow.ends_with("slow"),
        "{slow}"
    );
    let streamed = stream.await.unwrap().unwrap();
    let streamed = String::from_utf8_lossy(&streamed);
    assert!(streamed.starts_with("HTTP/1.1 200"), "{streamed}");
    assert_eq!(streamed.matches("5\r\nchunk\r\n").count(), 3, "{streamed}");
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_at_the_idle_timeout_but_a_slow_stream_finishes() {
    let (upstream, _) = paced_upstream().await;
    let mut s = settings(&[format!("http://{upstream}")]);
    s.limits.idle_timeout = SHORT;
    s.limits.header_read_timeout = Duration::from_secs(5);
    let proxy = start(s).await;

    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = |path: &str| {
        Request::builder()
            .uri(format!("http://example.com{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    // A slow streamed answer (1.8 s, longer than the idle timeout) is not cut.
    let response = tokio::time::timeout(PROMPT, sender.send_request(request("/stream")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(PROMPT, response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(body, "chunkchunkchunk");
    // Then, with nothing in flight, the connection is closed.
    tokio::time::timeout(PROMPT, conn)
        .await
        .expect("the proxy closes the idle h2 connection within the bound")
        .unwrap()
        .unwrap();
    proxy.stop().await;
}

#[tokio::test]
async fn the_admin_listener_cuts_slow_heads_too() {
    let upstream = RecordingServer::start().await.unwrap();
    let proxy = start(limited(&upstream.url())).await;
    let admin = proxy.admin.unwrap();

    let mut stream = TcpStream::connect(admin).await.unwrap();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: admin\r\nX-Padding: abcdefghijklmnopqrstuvwxyz\r\n\r\n";
    let (sent, received) = trickle(&mut stream, head).await;
    assert!(sent < head.len(), "the whole head went through");
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(fetch(&proxy.admin_url("/healthz")).await.status, 200);
    proxy.stop().await;
}

/// A client that reads 100 bytes of a large response and stops cannot pin its backend's only
/// `max_connections` slot: once its writes have been blocked for `send_timeout`, its connection
/// is cut, the slot freed, and the next client is served (it used to get 503 for as long as the
/// stalled client liked).
#[tokio::test]
async fn a_stalled_reader_is_cut_at_the_send_timeout_and_frees_its_backend_slot() {
    // Far more than the loopback socket buffers hold, so the proxy's writes block.
    let big = Bytes::from(vec![b'x'; 32 * 1024 * 1024]);
    let upstream = RecordingServer::start_with(shadowgate_test_support::Responder::new().body(big))
        .await
        .unwrap();
    let mut s = settings(&[upstream.url()]);
    s.upstreams[0].max_connections = 1;
    s.limits.send_timeout = Duration::from_millis(500);
    let app = start(s).await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(app.addr).await.unwrap();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 100];
    stalled.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 "));
    // It holds the only slot now: another request is refused while it does.
    let refused = fetch(&app.url("/other")).await;
    assert_eq!(refused.status, 503);

    // Then, with the stalled client still connected and reading nothing, another is served.
    let served = eventually_async("a second client served after the send timeout", || async {
        let answer = fetch(&app.url("/other")).await;
        (answer.status == 200).then_some(answer.body.len())
    })
    .await;
    assert_eq!(served, 32 * 1024 * 1024);
    // The stalled client's connection was cut: it reads what was buffered, then the end.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PROMPT, stalled.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the stalled connection was never closed"
    );
    assert!(rest.len() + 100 < 32 * 1024 * 1024);
    app.stop().await;
}
