//! The detection benchmark (docs/benchmarks.md, "Verdicts: detection"): the labelled generator
//! of test-support served over loopback sockets as the primary's upstream (version 1), the
//! shadow (version 2, or version 1 for an A/A run) and the control (another version 1). The
//! requests go through a `MirrorLayer` whose target compares, wrapped around a service that
//! forwards to the primary's upstream, so that all three answers come over a socket, in four
//! noise modes:
//!
//! - `rules only`: the rules (tags as a set, score within 0.001), no shapes, no control;
//! - `rules + shapes`: and values of one shape masked;
//! - `control`: and a control target;
//! - `control = primary`: the control is the primary itself, asked again (a live A/A test).
//!
//! For each mode it prints which injected regressions are found within 2,000 and 10,000
//! compared pairs, what an A/A run of 10,000 finds, field-level precision and recall, and the
//! same for Diffy's rule computed on the same counters. Run with
//! `cargo bench -p shadowgate --bench detection`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails by panicking

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadowgate::compare::verdict::{diffy, Evidence};
use shadowgate::compare::{FieldReport, ReplayFuture};
use shadowgate::{CompareConfig, Control, MirrorLayer, TargetConfig};
use shadowgate_test_support::generator::{
    is_consequence, path_of, Generated, Instance, Version, INJECTED, NOISY,
};
use tower::{Layer, ServiceExt};

const PAIRS: u64 = 10_000;
const EARLY: u64 = 2_000;
const CONCURRENCY: u64 = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Rules,
    Shapes,
    Control,
    Primary,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Rules => "rules only",
            Mode::Shapes => "rules + shapes",
            Mode::Control => "control",
            Mode::Primary => "control = primary",
        }
    }
}

type Shared = Arc<Mutex<Instance>>;

fn response(g: Generated) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(g.body)));
    *resp.status_mut() = http::StatusCode::from_u16(g.status).unwrap_or_default();
    for (name, value) in g.headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, v);
        }
    }
    resp
}

/// The request number a request carries in `x-n`.
fn number<B>(req: &Request<B>) -> u64 {
    (req.headers().get("x-n"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Serves `instance` on 127.0.0.1:0: each answer after the instance's delay for it.
async fn serve(instance: Shared) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let instance = instance.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let instance = instance.clone();
                async move {
                    let n = number(&req);
                    let (answer, delay) = {
                        let mut i = instance.lock().unwrap();
                        (i.respond(n), i.delay(n))
                    };
                    tokio::time::sleep(delay).await;
                    Ok::<_, Infallible>(response(answer))
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Empty<Bytes>,
>;

/// Sends `req` (origin-form) to `to`.
fn forward(
    client: &Client,
    to: SocketAddr,
    mut req: Request<Empty<Bytes>>,
) -> hyper_util::client::legacy::ResponseFuture {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    *req.uri_mut() = format!("http://{to}{path}").parse().unwrap();
    client.request(req)
}

/// What a run found: each (endpoint, field, kind) judged a regression, and Diffy's flags.
#[derive(Debug, Default, Clone)]
struct Found {
    ours: BTreeSet<(String, String, String)>,
    diffy: BTreeSet<(String, String, String)>,
}

/// The findings that are a noisy field and neither injected (the score's drift is) nor the
/// consequence of an injected 5xx (its replaced body takes the noisy fields too).
fn noisy(found: &BTreeSet<Key>) -> usize {
    let truth = injected();
    (found.iter())
        .filter(|k| NOISY.contains(&k.1.as_str()))
        .filter(|k| !truth.contains(*k) && !is_consequence(&k.0, &k.1, &k.2))
        .count()
}

fn judge(layer: &MirrorLayer) -> Found {
    let mut found = Found::default();
    let report = layer.compare_reports().pop().unwrap();
    for e in &report.endpoints {
        let fields: Vec<FieldReport> = layer.compare_fields("canary", &e.endpoint).unwrap();
        for f in fields {
            let key = (e.endpoint.clone(), f.path.clone(), f.kind.to_owned());
            if f.verdict == "regression" {
                found.ours.insert(key.clone());
            }
            // Diffy's rule on the same counters; with no control, against a clean one.
            let control = match f.control_seen {
                0 => Evidence::new(f.seen, 0),
                n => Evidence::new(n, f.control_diff),
            };
            if diffy(Evidence::new(f.seen, f.diff), control) {
                found.diffy.insert(key);
            }
        }
    }
    found
}

async fn settle(layer: &MirrorLayer, n: u64) {
    for _ in 0..6000 {
        let total: u64 = (layer.compare_reports().iter())
            .map(|r| r.results.values().sum::<u64>())
            .sum();
        if total >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the comparisons of {n} requests did not settle within a minute");
}

/// One run: `shadow`'s version against the primary in `mode`; the findings at `EARLY` and at
/// `PAIRS` requests, and the results counted.
async fn run(mode: Mode, shadow: Version) -> (Found, Found, String) {
    let upstream = serve(Arc::new(Mutex::new(Instance::new(Version::V1, 1)))).await;
    let client: Client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http();
    let canary = serve(Arc::new(Mutex::new(Instance::new(shadow, 2)))).await;
    let control = serve(Arc::new(Mutex::new(Instance::new(Version::V1, 3)))).await;
    let mut compare = CompareConfig::new()
        .array("/body/tags", "set", None)
        .number("/body/score", 0.001, 0.0)
        .max_per_second(0)
        .shapes(mode != Mode::Rules);
    match mode {
        Mode::Control => compare = compare.control(Control::Target("control".into())),
        Mode::Primary => compare = compare.control(Control::Primary),
        Mode::Rules | Mode::Shapes => {}
    }
    let target = |url: String, name: &str, sample: f64| {
        TargetConfig::builder(url)
            .name(name)
            .sample(sample)
            .workers(256)
            .queue(20_000)
            .timeout(Duration::from_secs(5))
    };
    let mut builder = MirrorLayer::builder().target(
        target(format!("http://{canary}"), "canary", 1.0)
            .compare(compare)
            .build()
            .unwrap(),
    );
    if mode == Mode::Control {
        let t = target(format!("http://{control}"), "control", 0.0);
        builder = builder.target(t.build().unwrap());
    }
    if mode == Mode::Primary {
        let client = client.clone();
        builder = builder.primary_replay(move |req: Request<Empty<Bytes>>| -> ReplayFuture {
            let pending = forward(&client, upstream, req);
            Box::pin(async move {
                let resp = pending.await?;
                Ok(resp.map(|b| b.map_err(Into::into).boxed_unsync()))
            })
        });
    }
    let layer = builder.build().unwrap();
    let call = |n: u64| {
        let client = client.clone();
        let svc = layer.layer(tower::service_fn(
            move |req: Request<shadowgate::TeeBody<Empty<Bytes>>>| {
                let (parts, _) = req.into_parts();
                forward(&client, upstream, Request::from_parts(parts, Empty::new()))
            },
        ));
        async move {
            let req = Request::builder()
                .uri(path_of(n))
                .header("host", "bench.example")
                .header("x-n", n)
                .body(Empty::<Bytes>::new())
                .unwrap();
            let resp = svc.oneshot(req).await.unwrap();
            resp.into_body().collect().await.unwrap();
        }
    };
    let drive = |from: u64, to: u64| {
        let call = &call;
        async move {
            let mut n = from;
            while n < to {
                let end = (n + CONCURRENCY).min(to);
                let batch: Vec<_> = (n..end).map(call).collect();
                futures_util_join_all(batch).await;
                n = end;
            }
        }
    };
    drive(0, EARLY).await;
    settle(&layer, EARLY).await;
    let early = judge(&layer);
    drive(EARLY, PAIRS).await;
    settle(&layer, PAIRS).await;
    let late = judge(&layer);
    if shadow == Version::V1 && !late.ours.is_empty() {
        eprintln!(
            "{}: the A/A run's regressions: {:?}",
            mode.name(),
            late.ours
        );
    }
    let results = layer.compare_reports().pop().unwrap().results;
    let results: Vec<String> = (results.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    layer.shutdown(Duration::from_secs(1)).await;
    (early, late, results.join(", "))
}

/// Joins futures without a futures dependency: spawn-free, polled in turn by `join`.
async fn futures_util_join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

type Key = (String, String, String);

fn injected() -> BTreeSet<Key> {
    (INJECTED.iter())
        .map(|i| (i.endpoint.to_owned(), i.field.to_owned(), i.kind.to_owned()))
        .collect()
}

/// (found of the injected at rate >= 5%, of them), (found of all injected, all).
fn recall(found: &BTreeSet<Key>, least_rate: f64) -> (usize, usize) {
    let wanted: Vec<Key> = (INJECTED.iter())
        .filter(|i| i.rate >= least_rate)
        .map(|i| (i.endpoint.to_owned(), i.field.to_owned(), i.kind.to_owned()))
        .collect();
    (
        wanted.iter().filter(|k| found.contains(*k)).count(),
        wanted.len(),
    )
}

/// Field-level precision (a finding is right when injected or a consequence of an injected
/// 5xx) and recall (of the injected).
fn precision_recall(found: &BTreeSet<Key>) -> (f64, f64) {
    let truth = injected();
    let right = (found.iter())
        .filter(|k| truth.contains(*k) || is_consequence(&k.0, &k.1, &k.2))
        .count();
    let precision = if found.is_empty() {
        1.0
    } else {
        right as f64 / found.len() as f64
    };
    let recall = found.intersection(&truth).count() as f64 / truth.len() as f64;
    (precision, recall)
}

fn missed(found: &BTreeSet<Key>) -> String {
    let list: Vec<String> = (injected().difference(found))
        .map(|(e, f, k)| format!("{e} {f} {k}"))
        .collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join("; ")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "| mode | rule | ≥5% found in {EARLY} | all found in {PAIRS} | A/A regressions in {PAIRS} | noisy fields judged regression (v2 + A/A) | precision | recall | missed in {PAIRS} |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
    for mode in [Mode::Rules, Mode::Shapes, Mode::Control, Mode::Primary] {
        let (early, late, results) = run(mode, Version::V2).await;
        let (_, aa, aa_results) = run(mode, Version::V1).await;
        eprintln!(
            "{}: v2 results: {results}; A/A results: {aa_results}",
            mode.name()
        );
        for (rule, e, l, a) in [
            ("ours", &early.ours, &late.ours, &aa.ours),
            ("Diffy", &early.diffy, &late.diffy, &aa.diffy),
        ] {
            let (early_found, early_of) = recall(e, 0.05);
            let (all_found, all_of) = recall(l, 0.0);
            let (precision, recall) = precision_recall(l);
            let noisy = noisy(l) + noisy(a);
            println!(
                "| {} | {rule} | {early_found} of {early_of} | {all_found} of {all_of} | {} | {noisy} | {:.2} | {:.2} | {} |",
                mode.name(),
                a.len(),
                precision,
                recall,
                missed(l)
            );
        }
    }
}
