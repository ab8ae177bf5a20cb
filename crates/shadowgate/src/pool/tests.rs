//! The pool against real servers on loopback: reuse, what is closed instead of reused, the idle
//! timeout, and the errors that say a request never left.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use shadowgate_test_support::{eventually, refused_url, RecordingServer, Responder};

use super::*;

type TestPool = Pool<Empty<Bytes>>;

fn pool(url: &str, idle_timeout: Duration) -> TestPool {
    Pool::new(
        &url.parse().unwrap(),
        None,
        PoolSettings {
            connect_timeout: Duration::from_secs(5),
            idle_timeout,
            max_idle: 8,
        },
    )
}

fn get(pool: &TestPool, path: &str) -> Request<Empty<Bytes>> {
    let pq = PathAndQuery::try_from(path).unwrap();
    Request::get(pool.uri_for(Some(&pq)).unwrap())
        .body(Empty::new())
        .unwrap()
}

/// Sends a GET and reads the body to the end; the connection is released, or dropped.
async fn exchange(pool: &TestPool, path: &str, release: bool) -> Bytes {
    let (response, conn) = pool.send(get(pool, path)).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    if release {
        conn.release();
    }
    body
}

#[tokio::test]
async fn a_released_connection_carries_the_next_request() {
    let server = RecordingServer::start_with(Responder::new().body("ok"))
        .await
        .unwrap();
    let pool = pool(&format!("{}/base", server.url()), Duration::from_secs(60));
    for _ in 0..5 {
        assert_eq!(exchange(&pool, "/a?b=1", true).await, "ok");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(pool.idle(), 1);
    let seen = server.requests();
    assert_eq!(seen.len(), 5);
    // Origin form with the base path, and the origin's authority as Host.
    assert_eq!(seen[0].uri, "/base/a?b=1");
    assert_eq!(seen[0].headers["host"], server.addr().to_string());
}

#[tokio::test]
async fn a_host_the_caller_set_is_kept() {
    let server = RecordingServer::start().await.unwrap();
    let pool = pool(&server.url(), Duration::from_secs(60));
    let mut req = get(&pool, "/");
    req.headers_mut()
        .insert(HOST, HeaderValue::from_static("shop.example"));
    let (response, _conn) = pool.send(req).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert_eq!(server.requests()[0].headers["host"], "shop.example");
}

#[tokio::test]
async fn a_connection_not_released_is_closed_not_reused() {
    let server = RecordingServer::start_with(Responder::new().body("ok"))
        .await
        .unwrap();
    let pool = pool(&server.url(), Duration::from_secs(60));
    exchange(&pool, "/", false).await;
    assert_eq!(pool.idle(), 0);
    eventually("the dropped connection closed", || {
        server.open_connections() == 0
    })
    .await;
    exchange(&pool, "/", true).await;
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn concurrent_requests_open_their_own_connections_and_all_come_back() {
    let server = RecordingServer::start_with(Responder::new().delay(Duration::from_millis(50)))
        .await
        .unwrap();
    let pool = pool(&server.url(), Duration::from_secs(60));
    tokio::join!(
        exchange(&pool, "/", true),
        exchange(&pool, "/", true),
        exchange(&pool, "/", true)
    );
    assert_eq!(server.connections(), 3);
    assert_eq!(pool.idle(), 3);
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let server = RecordingServer::start().await.unwrap();
    let pool = pool(&server.url(), Duration::from_millis(100));
    exchange(&pool, "/", true).await;
    assert_eq!(pool.idle(), 1);
    eventually("the idle connection closed", || {
        pool.idle() == 0 && server.open_connections() == 0
    })
    .await;
    exchange(&pool, "/", true).await;
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_connection_the_origin_closed_is_not_used_again() {
    let server = RecordingServer::start_with(Responder::new().header("connection", "close"))
        .await
        .unwrap();
    let pool = pool(&server.url(), Duration::from_secs(60));
    for _ in 0..3 {
        exchange(&pool, "/", true).await;
    }
    assert_eq!(server.connections(), 3);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn failures_to_connect_say_the_request_never_left() {
    let pool = pool(&refused_url(), Duration::from_secs(60));
    let err = pool.send(get(&pool, "/")).await.unwrap_err();
    assert!(matches!(err, PoolError::Connect(_)), "{err:?}");
    assert!(err.is_connect());

    let tls: TestPool = Pool::new(
        &"https://127.0.0.1:1".parse().unwrap(),
        None,
        PoolSettings {
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_idle: 1,
        },
    );
    let err = tls.send(get(&tls, "/")).await.unwrap_err();
    assert!(matches!(err, PoolError::NoTls), "{err:?}");
    assert!(err.is_connect());
}
