//! Bodies stream through the proxy both ways while a mirror target copies every request (the
//! tee is in the path): the upstream sees the request's first chunk before the client has sent
//! its last, and the client sees the response's first chunk before the upstream has sent its
//! last. A proxy (or tee) that collected either body first would wait forever on the other side
//! and fail here; the copy still arrives whole.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{settings, start, target, PROMPT};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadowgate::Outcome;
use shadowgate_test_support::{streamed_body, ChunkSender, RecordingServer, StreamedBody};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One-shot signals an upstream task fires; taken once, so a second request cannot fire them.
type Signal = Arc<Mutex<Option<oneshot::Sender<()>>>>;

fn signal() -> (Signal, oneshot::Receiver<()>) {
    let (tx, rx) = oneshot::channel();
    (Arc::new(Mutex::new(Some(tx))), rx)
}

fn fire(signal: &Signal) {
    if let Some(tx) = signal.lock().unwrap().take() {
        let _ = tx.send(());
    }
}

/// Waits, bounded, for `rx`; the message says which side was still buffering.
async fn wait_signal(rx: oneshot::Receiver<()>, what: &str) {
    match tokio::time::timeout(PROMPT, rx).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("{what}: the other side went away"),
        Err(_) => panic!("{what} did not happen within {PROMPT:?}: a body was buffered"),
    }
}

/// Serves one plain HTTP/1.1 upstream on 127.0.0.1:0 with `answer` for every request.
async fn upstream<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<StreamedBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let service = hyper::service::service_fn(move |req| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(req).await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Starts the app in front of `upstream`, copying every request to `sink`.
async fn proxy_with_mirror(upstream: SocketAddr, sink: &RecordingServer) -> common::Running {
    let mut s = settings(&[format!("http://{upstream}")]);
    s.mirrors.push(target(&sink.url()));
    start(s).await
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, StreamedBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send_chunk(tx: &ChunkSender, chunk: &'static str) {
    assert!(
        tx.send(chunk).await,
        "the proxy did not take the chunk {chunk:?} within the bound"
    );
}

#[tokio::test]
async fn request_body_reaches_the_upstream_before_the_client_sends_its_last_chunk() {
    let (first_arrived, upstream_saw_first) = signal();
    let upstream = upstream(move |req: Request<Incoming>| {
        let first_arrived = first_arrived.clone();
        async move {
            // Read frame by frame, reporting the first; answer with all of it.
            let mut body = req.into_body();
            let mut whole = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.map(|f| f.into_data()) else {
                    break;
                };
                if let Ok(data) = data {
                    whole.extend_from_slice(&data);
                    fire(&first_arrived);
                }
            }
            let (tx, body) = streamed_body();
            tokio::spawn(async move { tx.send(whole).await });
            Response::new(body)
        }
    })
    .await;
    let sink = RecordingServer::start().await.unwrap();
    let app = proxy_with_mirror(upstream, &sink).await;

    let (tx, body) = streamed_body();
    let request = Request::post(app.url("/upload")).body(body).unwrap();
    let response = tokio::spawn(async move {
        let response = tokio::time::timeout(PROMPT, client().request(request)).await;
        let response = response.expect("an answer within the bound").unwrap();
        tokio::time::timeout(PROMPT, response.into_body().collect())
            .await
            .expect("the body within the bound")
            .unwrap()
            .to_bytes()
    });
    send_chunk(&tx, "first,").await;
    wait_signal(upstream_saw_first, "the upstream seeing the first chunk").await;
    send_chunk(&tx, "last").await;
    drop(tx);

    let echoed = tokio::time::timeout(PROMPT, response)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echoed, "first,last", "the upstream got the whole body");
    let copy = sink.wait_for(1, PROMPT).await;
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].body, "first,last", "the copy is whole");
    assert_eq!(app.wait_outcome(Outcome::Completed, 1).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn response_body_reaches_the_client_before_the_upstream_sends_its_last_chunk() {
    let (client_got_first, release) = signal();
    let release = Arc::new(Mutex::new(Some(release)));
    let upstream = upstream(move |req: Request<Incoming>| {
        let release = release.lock().unwrap().take();
        async move {
            let _ = req.into_body().collect().await;
            let (tx, body) = streamed_body();
            tokio::spawn(async move {
                tx.send("first,").await;
                // The last chunk waits until the client has reported the first.
                if let Some(release) = release {
                    wait_signal(release, "the client seeing the first chunk").await;
                }
                tx.send("last").await;
            });
            Response::new(body)
        }
    })
    .await;
    let sink = RecordingServer::start().await.unwrap();
    let app = proxy_with_mirror(upstream, &sink).await;

    let (tx, body) = streamed_body();
    let request = Request::post(app.url("/download")).body(body).unwrap();
    send_chunk(&tx, "request").await;
    drop(tx);
    let response = tokio::time::timeout(PROMPT, client().request(request))
        .await
        .expect("the head within the bound: a response body was buffered")
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = tokio::time::timeout(PROMPT, body.frame())
        .await
        .expect("the first chunk within the bound: the response body was buffered")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(first, "first,");
    fire(&client_got_first);
    let rest = tokio::time::timeout(PROMPT, body.collect())
        .await
        .expect("the rest within the bound")
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "last");

    let copy = sink.wait_for(1, PROMPT).await;
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0].body, "request", "the copy is whole");
    assert_eq!(app.wait_outcome(Outcome::Completed, 1).await, 1);
    app.stop().await;
}
