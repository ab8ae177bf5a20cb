//! Comparison through real sockets (docs/verdicts.md): a primary served through the layer on
//! 127.0.0.1:0, shadow and control targets that are real servers, and the reports, samples,
//! hook and metrics that come out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use shadowgate::compare::FieldReport;
use shadowgate::{
    CompareConfig, CompareEvent, CompareReport, CompareResult, Control, IgnoreRule, MirrorLayer,
    TargetConfig, TeeBody,
};
use shadowgate_test_support::client::{get, http1};
use shadowgate_test_support::{eventually, BlackHole, Recorded, RecordingServer, Responder};

/// The primary's answer to `/api/users/N`: a user with a plan, and a field that is the same
/// on every side.
fn user(n: u64, plan_key: &str) -> String {
    format!(r#"{{"id":{n},"{plan_key}":"pro","name":"user {n}"}}"#)
}

fn number(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The primary: `/api/users/N` answers [`user`] as JSON; `/big` a 4 KiB text body.
async fn primary<B>(req: Request<TeeBody<B>>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes>,
{
    let path = req.uri().path().to_owned();
    let body = match path.as_str() {
        "/big" => "x".repeat(4096),
        _ => user(number(&path), "plan"),
    };
    let resp = Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    Ok(resp)
}

/// Serves [`primary`] through `layer` on 127.0.0.1:0.
async fn serve(layer: MirrorLayer) -> SocketAddr {
    common::serve_with(layer, primary::<hyper::body::Incoming>).await
}

/// A JSON server answering `/api/users/N` with `answer(N)`.
async fn json_server(answer: impl Fn(u64) -> String + Send + Sync + 'static) -> RecordingServer {
    let responder = Responder::new()
        .header("content-type", "application/json")
        .with_fn(move |r: &Recorded| Some((200, Bytes::from(answer(number(r.uri.path()))))));
    RecordingServer::start_with(responder).await.unwrap()
}

/// GETs each path through the proxy at `addr`, reading each answer whole.
async fn send(addr: SocketAddr, paths: impl IntoIterator<Item = String>) {
    let client = http1();
    for path in paths {
        let mut req = get(&format!("http://{addr}{path}"));
        req.headers_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        let resp = client.request(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
    }
}

/// Answers to `/api/users/N` with the plan under `plan_key` and a counter of the server's
/// own, from `start`: noise between any two servers.
fn counting(plan_key: &'static str, start: u64) -> impl Fn(u64) -> String + Send + Sync {
    let counter = std::sync::atomic::AtomicU64::new(start);
    move |n| {
        let c = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!(r#"{{"id":{n},"{plan_key}":"pro","name":"user {n}","served":{c}}}"#)
    }
}

/// The verdict of each (field, kind) listed.
fn verdicts(fields: &[FieldReport]) -> BTreeMap<(&str, &str), &str> {
    (fields.iter())
        .map(|f| ((f.path.as_str(), f.kind), f.verdict))
        .collect()
}

fn report(layer: &MirrorLayer, target: &str) -> CompareReport {
    (layer.compare_reports().into_iter())
        .find(|r| r.target == target)
        .unwrap_or_else(|| panic!("no comparison for {target}"))
}

/// Waits until `target` has `n` compared copies with a result.
async fn results(layer: &MirrorLayer, target: &str, n: u64) -> BTreeMap<&'static str, u64> {
    eventually(&format!("{n} comparison results for {target}"), || {
        let r = report(layer, target).results;
        match r.values().sum::<u64>() >= n {
            true => Ok(r),
            false => Err(r),
        }
    })
    .await
}

/// A comparing target. Latency is ignored: which copies a loaded test machine delays is not
/// what these tests are about (the detection benchmark judges latency).
fn target(url: &str, name: &str, compare: CompareConfig) -> TargetConfig {
    TargetConfig::builder(url)
        .name(name)
        .compare(compare.ignore("/latency"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_renamed_field_is_a_regression_with_samples_and_the_unchanged_ones_are_not() {
    let canary = json_server(|n| user(n, "tier")).await;
    let events: Arc<Mutex<Vec<(CompareResult, usize)>>> = Arc::default();
    let seen = events.clone();
    let layer = MirrorLayer::builder()
        .target(target(&canary.url(), "canary", CompareConfig::new()))
        .on_compare(move |e: &CompareEvent<'_>| {
            seen.lock().unwrap().push((e.result, e.differences.len()))
        })
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    send(addr, (0..30).map(|i| format!("/api/users/{i}"))).await;
    let results = results(&layer, "canary", 30).await;
    assert_eq!(results["different"], 30, "{results:?}");

    let got = report(&layer, "canary");
    assert_eq!(got.pairs, 30);
    assert_eq!(got.regressions, 2, "plan missing, tier extra");
    let [endpoint] = &got.endpoints[..] else {
        panic!("one endpoint: {:?}", got.endpoints);
    };
    assert_eq!(endpoint.endpoint, "/api/users/{}");
    assert_eq!((endpoint.pairs, endpoint.differing), (30, 30));
    assert_eq!(endpoint.verdicts.regression, 2);
    assert_eq!(endpoint.statuses.len(), 1);
    assert_eq!(
        (endpoint.statuses[0].primary, endpoint.statuses[0].shadow),
        (200, 200)
    );
    assert!(endpoint.latency.primary.p50.is_some());
    assert!(endpoint.latency.shadow.p99.is_some());

    let fields = layer.compare_fields("canary", "/api/users/{}").unwrap();
    let named: Vec<_> = fields.iter().map(|f| (f.path.as_str(), f.kind)).collect();
    assert_eq!(
        named,
        [("/body/plan", "missing"), ("/body/tier", "extra")],
        "id and name are equal on both sides"
    );
    for f in &fields {
        assert_eq!((f.seen, f.diff, f.verdict), (30, 30, "regression"));
        assert!(!f.samples.is_empty() && f.samples.len() <= 3, "{f:?}");
    }
    let sample = layer.compare_sample(fields[0].samples[0]).unwrap();
    assert_eq!(sample.request.method, "GET");
    assert!(sample.request.path.starts_with("/api/users/"));
    assert_eq!(sample.request.headers["authorization"], "[redacted]");
    assert!(sample.primary.body.contains(r#""plan":"pro""#));
    assert!(sample.shadow.body.contains(r#""tier":"pro""#));
    let pointers: Vec<_> = sample.differences.iter().map(|d| &d.pointer).collect();
    assert_eq!(pointers, ["/body/plan", "/body/tier"]);

    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 30, "the hook sees every compared copy once");
    assert!(events
        .iter()
        .all(|(r, n)| *r == CompareResult::Different && *n == 2));

    // Reset clears counts and samples.
    assert!(layer.compare_reset("canary"));
    let cleared = report(&layer, "canary");
    assert_eq!((cleared.pairs, cleared.endpoints.len()), (0, 0));
    assert!(layer.compare_sample(fields[0].samples[0]).is_none());
}

#[tokio::test]
async fn an_ignore_rule_added_at_run_time_hides_the_field() {
    let canary = json_server(|n| user(n, "tier")).await;
    let layer = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().ignore("/body/tier"),
        ))
        .build()
        .unwrap();
    let rule = IgnoreRule {
        ignore: "/body/plan".into(),
        endpoint: Some("/api/users/{}".into()),
    };
    assert_eq!(layer.compare_ignore("canary", rule.clone()), Ok(true));
    assert!(layer
        .compare_ignore(
            "canary",
            IgnoreRule {
                ignore: "body".into(),
                endpoint: None
            }
        )
        .is_err());
    let addr = serve(layer.clone()).await;
    send(addr, (0..5).map(|i| format!("/api/users/{i}"))).await;
    let first = results(&layer, "canary", 5).await;
    assert_eq!(first["equal"], 5, "both differences are ignored: {first:?}");
    assert!(layer.compare_unignore("canary", &rule));
    send(addr, (0..5).map(|i| format!("/api/users/{i}"))).await;
    let then = results(&layer, "canary", 10).await;
    assert_eq!(then["different"], 5, "{then:?}");
}

#[tokio::test]
async fn with_a_control_a_noisy_field_is_noise_and_the_change_a_regression() {
    // Every answer carries a counter that differs between any two servers: the control's
    // evidence cancels it.
    let canary = json_server(counting("tier", 1_000)).await;
    let reference = json_server(counting("plan", 1_000)).await;
    let layer = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().control(Control::Target("reference".into())),
        ))
        .target(
            TargetConfig::builder(reference.url())
                .name("reference")
                .sample(0.0)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    send(addr, (0..40).map(|i| format!("/api/users/{i}"))).await;
    results(&layer, "canary", 40).await;
    assert_eq!(
        reference.count(),
        40,
        "the control got every compared request"
    );
    let fields = layer.compare_fields("canary", "/api/users/{}").unwrap();
    let verdicts = verdicts(&fields);
    assert_eq!(verdicts[&("/body/tier", "extra")], "regression");
    assert_eq!(verdicts[&("/body/plan", "missing")], "regression");
    assert_eq!(verdicts[&("/body/served", "extra")], "noise", "{fields:?}");
    let served = fields.iter().find(|f| f.path == "/body/served").unwrap();
    assert_eq!((served.control_seen, served.control_diff), (40, 40));
    assert_eq!(
        report(&layer, "canary").control.as_deref(),
        Some("reference")
    );
}

#[tokio::test]
async fn every_compared_copy_gets_exactly_one_result() {
    // A black hole: every copy times out, so every comparison is skipped as the shadow's.
    let hole = BlackHole::start().await.unwrap();
    let canary = json_server(|n| user(n, "plan")).await;
    let layer = MirrorLayer::builder()
        .target(
            TargetConfig::builder(hole.url())
                .name("hole")
                .timeout(Duration::from_millis(200))
                .compare(CompareConfig::new())
                .build()
                .unwrap(),
        )
        .target(target(
            &canary.url(),
            "small",
            CompareConfig::new().max_body_bytes(1024),
        ))
        .target(target(
            &canary.url(),
            "missing-control",
            CompareConfig::new().control(Control::Target("nowhere".into())),
        ))
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    let mut paths: Vec<String> = (0..6).map(|i| format!("/api/users/{i}")).collect();
    paths.push("/big".into());
    send(addr, paths).await;
    let hole = results(&layer, "hole", 7).await;
    assert_eq!(hole["skipped_shadow_failed"], 7, "{hole:?}");
    let small = results(&layer, "small", 7).await;
    assert_eq!(small["equal"], 6, "{small:?}");
    assert_eq!(small["skipped_body_too_large"], 1, "{small:?}");
    let missing = results(&layer, "missing-control", 7).await;
    assert_eq!(missing["skipped_control_failed"], 7, "{missing:?}");
    // Exactly: nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (name, n) in [("hole", 7), ("small", 7), ("missing-control", 7)] {
        let total: u64 = report(&layer, name).results.values().sum();
        assert_eq!(total, n, "{name}");
    }
}

#[tokio::test]
async fn writes_are_not_compared_by_default() {
    let canary = json_server(|n| user(n, "plan")).await;
    let layer = MirrorLayer::builder()
        .target(target(&canary.url(), "canary", CompareConfig::new()))
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    let client = http1();
    let mut post = get(&format!("http://{addr}/api/users/1"));
    *post.method_mut() = http::Method::POST;
    *post.body_mut() = Full::new(Bytes::from_static(b"{}"));
    client
        .request(post)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    send(addr, ["/api/users/2".to_owned()]).await;
    let got = results(&layer, "canary", 1).await;
    assert_eq!(got["equal"], 1);
    canary.wait_for(2, Duration::from_secs(10)).await;
    let total: u64 = report(&layer, "canary").results.values().sum();
    assert_eq!(total, 1, "the POST was copied but not compared");
}

#[tokio::test]
async fn a_gzipped_answer_is_compared_decoded() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(user(7, "plan").as_bytes()).unwrap();
    let gz = Bytes::from(gz.finish().unwrap());
    let responder = Responder::new()
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz);
    let canary = RecordingServer::start_with(responder).await.unwrap();
    let layer = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().ignore("/headers/content-encoding"),
        ))
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    send(addr, ["/api/users/7".to_owned()]).await;
    let got = results(&layer, "canary", 1).await;
    assert_eq!(got["equal"], 1, "{got:?}");
}

#[tokio::test]
async fn control_primary_replays_the_request_to_the_primary_as_a_live_a_a_test() {
    // The "primary's upstream" for the replays: another instance of the primary's version,
    // whose counter differs from the in-process primary's, as two instances' would.
    let again = json_server(counting("plan", 5_000)).await;
    let canary = json_server(counting("tier", 9_000)).await;
    let base = again.url();
    let replayed: Arc<Mutex<Vec<http::HeaderMap>>> = Arc::default();
    let seen = replayed.clone();
    let replay =
        move |req: Request<http_body_util::Empty<Bytes>>| -> shadowgate::compare::ReplayFuture {
            seen.lock().unwrap().push(req.headers().clone());
            let uri = format!("{base}{}", req.uri());
            Box::pin(async move {
                let client = http1();
                let mut out = get(&uri);
                *out.method_mut() = req.method().clone();
                let resp = client.request(out).await?;
                Ok(resp.map(|b| b.map_err(|e| e.into()).boxed_unsync()))
            })
        };
    let layer = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().control(Control::Primary),
        ))
        .primary_replay(replay)
        .build()
        .unwrap();
    // The primary here has no counter: give the replay's difference a field to show in.
    let addr = serve(layer.clone()).await;
    send(addr, (0..30).map(|i| format!("/api/users/{i}"))).await;
    let results = results(&layer, "canary", 30).await;
    assert_eq!(results["different"], 30, "{results:?}");
    assert_eq!(
        again.count(),
        30,
        "every compared request was replayed once"
    );
    let headers = replayed.lock().unwrap().clone();
    assert!(
        headers.iter().all(|h| h["x-mirror"] == "1"),
        "replays are marked"
    );
    let fields = layer.compare_fields("canary", "/api/users/{}").unwrap();
    let verdicts = verdicts(&fields);
    assert_eq!(verdicts[&("/body/tier", "extra")], "regression");
    assert_eq!(verdicts[&("/body/plan", "missing")], "regression");
    // The primary has no `served`; the replay adds it as often as the canary: noise.
    assert_eq!(verdicts[&("/body/served", "extra")], "noise", "{fields:?}");
    assert_eq!(report(&layer, "canary").control.as_deref(), Some("primary"));
}

#[tokio::test]
async fn control_primary_needs_a_replay_and_only_reads() {
    let canary = json_server(|n| user(n, "plan")).await;
    let err = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().control(Control::Primary),
        ))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("needs a primary replay"), "{err}");
    let err = TargetConfig::builder(canary.url())
        .compare(
            CompareConfig::new()
                .control(Control::Primary)
                .methods([http::Method::GET, http::Method::POST]),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"compare control: "primary" replays only GET and HEAD, but methods is ["GET", "POST"]"#
    );
}

#[tokio::test]
async fn a_stalled_shadow_and_a_black_holed_control_leave_the_primary_untouched() {
    // The shadow answers only after 30 s; the control never answers at all.
    let stalled = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(30)))
        .await
        .unwrap();
    let hole = BlackHole::start().await.unwrap();
    let layer = MirrorLayer::builder()
        .target(
            TargetConfig::builder(stalled.url())
                .name("stalled")
                .timeout(Duration::from_secs(60))
                .compare(CompareConfig::new().control(Control::Target("hole".into())))
                .build()
                .unwrap(),
        )
        .target(
            TargetConfig::builder(hole.url())
                .name("hole")
                .sample(0.0)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    // Every primary answer arrives, whole and unchanged, within the test's bound (the shadow
    // answers only after 30 s, so a primary that waited for it would miss it)...
    let answered = tokio::time::timeout(
        common::WAIT,
        send(addr, (0..50).map(|i| format!("/api/users/{i}"))),
    )
    .await;
    assert!(answered.is_ok(), "the primary waited for a side");
    // ...while no comparison has even been possible: neither side has answered one copy.
    stalled.wait_for(50, Duration::from_secs(10)).await;
    let pending: u64 = report(&layer, "stalled").results.values().sum();
    assert_eq!(pending, 0, "the primary never waited for a side");
    assert!(
        hole.connections() > 0,
        "the control's copies are on the wire"
    );
}

#[tokio::test]
async fn over_the_comparison_budget_a_pair_is_skipped_and_counted() {
    let canary = json_server(|n| user(n, "plan")).await;
    let layer = MirrorLayer::builder()
        .target(target(
            &canary.url(),
            "canary",
            CompareConfig::new().max_per_second(1),
        ))
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    send(addr, (0..10).map(|i| format!("/api/users/{i}"))).await;
    let got = results(&layer, "canary", 10).await;
    // One token a second, a burst of one: the ten requests take far less than the seconds
    // that would refill nine more.
    assert_eq!(got.values().sum::<u64>(), 10, "{got:?}");
    assert!(got["skipped_budget"] >= 5, "{got:?}");
    assert_eq!(got["equal"] + got["skipped_budget"], 10, "{got:?}");
}
