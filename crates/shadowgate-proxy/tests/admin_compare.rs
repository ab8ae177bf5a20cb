//! The `/compare` admin endpoints through real HTTP calls: a primary upstream and a canary that
//! renamed a field, the report, the fields, a sample with its credentials redacted, the NDJSON
//! export, run-time ignore rules kept in the state file across a restart, a reset, and the
//! metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use admin_common::{call, temp_dir};
use common::{eventually_async, http1, send, settings, start, Running};
use http::{Method, Request};
use serde_json::Value;
use shadowgate_test_support::{RecordingServer, Responder};

async fn json_server(body: &'static str) -> RecordingServer {
    let responder = Responder::new()
        .header("content-type", "application/json")
        .body(body);
    RecordingServer::start_with(responder).await.unwrap()
}

async fn get_json(app: &Running, path: &str) -> Value {
    let answer = call(app, Method::GET, path, &[]).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
    serde_json::from_slice(&answer.body).unwrap()
}

const FIELDS: &str = "/compare/fields?target=canary&endpoint=%2Fapi%2Fusers%2F%7B%7D";

#[tokio::test]
async fn the_compare_api_reports_fields_samples_rules_and_resets() {
    let upstream = json_server(r#"{"id":1,"plan":"pro"}"#).await;
    let canary = json_server(r#"{"id":1,"tier":"pro"}"#).await;
    let dir = temp_dir("compare");
    let state = dir.join("state.json");
    let make = || {
        let mut s = settings(&[upstream.url()]);
        s.state_file = Some(state.clone());
        s.mirrors.push(
            shadowgate::TargetConfig::builder(canary.url())
                .name("canary")
                // Which copies a loaded machine delays is not what this test is about.
                .compare(shadowgate::CompareConfig::new().ignore("/latency"))
                .build()
                .unwrap(),
        );
        s
    };
    let app = start(make()).await;
    let client = http1();
    for i in 0..25 {
        let mut req = Request::new(Default::default());
        *req.uri_mut() = app.url(&format!("/api/users/{i}")).parse().unwrap();
        req.headers_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        assert_eq!(send(&client, req).await.status, 200);
    }
    let report = eventually_async("25 compared pairs", || async {
        let all = get_json(&app, "/compare").await;
        match all[0]["pairs"].as_u64() == Some(25) {
            true => Ok(all),
            false => Err(all),
        }
    })
    .await;
    let canary_report = &report[0];
    assert_eq!(canary_report["target"], "canary");
    assert_eq!(canary_report["results"]["different"], 25);
    assert_eq!(canary_report["regressions"], 2);
    let endpoint = &canary_report["endpoints"][0];
    assert_eq!(endpoint["endpoint"], "/api/users/{}");
    assert_eq!(endpoint["verdicts"]["regression"], 2);
    assert_eq!(endpoint["statuses"][0]["count"], 25);
    assert!(endpoint["latency"]["primary"]["p50"].is_number());

    let fields = get_json(&app, FIELDS).await;
    let fields = fields["fields"].as_array().unwrap();
    let named: Vec<_> = fields
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("/body/plan", "missing", "regression"),
            ("/body/tier", "extra", "regression")
        ]
    );
    let id = fields[0]["samples"][0].as_u64().unwrap();
    let sample = get_json(&app, &format!("/compare/samples/{id}")).await;
    assert_eq!(sample["request"]["headers"]["authorization"], "[redacted]");
    assert_eq!(sample["differences"][0]["pointer"], "/body/plan");
    assert_eq!(sample["primary"]["status"], 200);
    let missing = call(&app, Method::GET, "/compare/samples/999999", &[]).await;
    assert_eq!(missing.status, 404);

    let export = call(&app, Method::GET, "/compare/export?target=canary", &[]).await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = (export.text().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty() && lines.iter().all(|l| l["target"] == "canary"));

    // Rules: bad ones refused by name, good ones kept in the state file.
    let bad = call(
        &app,
        Method::PUT,
        "/compare/rules?target=canary&ignore=body",
        &[],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(
        bad.text().contains("\"body\" is not a pointer glob"),
        "{}",
        bad.text()
    );
    let unknown = call(
        &app,
        Method::PUT,
        "/compare/rules?target=canary&ignroe=/x",
        &[],
    )
    .await;
    assert_eq!(unknown.status, 400);
    let put = call(
        &app,
        Method::PUT,
        "/compare/rules?target=canary&ignore=/body/tier",
        &[],
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["compare_rules"]["canary"][0]["ignore"], "/body/tier");
    let fields = get_json(&app, FIELDS).await;
    assert_eq!(
        fields["fields"].as_array().unwrap().len(),
        1,
        "/body/tier is ignored now"
    );
    let absent = call(
        &app,
        Method::DELETE,
        "/compare/rules?target=canary&ignore=/nope",
        &[],
    )
    .await;
    assert_eq!(absent.status, 404);

    let metrics = call(&app, Method::GET, "/metrics", &[]).await.text();
    assert!(
        metrics
            .contains(r#"shadowgate_compare_results_total{target="canary",result="different"} 25"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"shadowgate_compare_regressions{target="canary"} 2"#),
        "{metrics}"
    );

    let reset = call(&app, Method::POST, "/compare/reset?target=canary", &[]).await;
    assert_eq!(reset.status, 200);
    assert_eq!(get_json(&app, "/compare").await[0]["pairs"], 0);
    let nobody = call(&app, Method::POST, "/compare/reset?target=nope", &[]).await;
    assert_eq!(nobody.status, 404);
    let wrong = call(&app, Method::GET, "/compare/reset?target=canary", &[]).await;
    assert_eq!(wrong.status, 405);
    app.stop().await;

    // The rule survives a restart.
    let again = start(make()).await;
    let rules = get_json(&again, "/compare/rules").await;
    assert_eq!(rules["canary"][0]["ignore"], "/body/tier");
    again.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// A JSON server whose answers carry a counter of its own (noise between any two instances)
/// and the plan under `plan_key`.
async fn counting_server(plan_key: &'static str, from: u64) -> RecordingServer {
    let counter = std::sync::atomic::AtomicU64::new(from);
    let responder = Responder::new()
        .header("content-type", "application/json")
        .with_fn(move |_| {
            let c = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!(r#"{{"{plan_key}":"pro","served":{c}}}"#);
            Some((200, bytes::Bytes::from(body)))
        });
    RecordingServer::start_with(responder).await.unwrap()
}

#[tokio::test]
async fn control_primary_replays_through_the_route_and_cancels_the_noise() {
    let upstream = counting_server("plan", 0).await;
    let canary = counting_server("tier", 100_000).await;
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(
        shadowgate::TargetConfig::builder(canary.url())
            .name("canary")
            .compare(shadowgate::CompareConfig::new().control(shadowgate::Control::Primary))
            .build()
            .unwrap(),
    );
    let app = start(s).await;
    let client = http1();
    for i in 0..25 {
        let mut req = Request::new(Default::default());
        *req.uri_mut() = app.url(&format!("/api/users/{i}")).parse().unwrap();
        assert_eq!(send(&client, req).await.status, 200);
    }
    eventually_async("25 compared pairs", || async {
        let all = get_json(&app, "/compare").await;
        match all[0]["pairs"].as_u64() == Some(25) {
            true => Ok(()),
            false => Err(all),
        }
    })
    .await;
    let seen = upstream.requests();
    assert_eq!(seen.len(), 50, "each request, and its replay");
    let replays = seen
        .iter()
        .filter(|r| r.headers.get("x-mirror").is_some())
        .count();
    assert_eq!(replays, 25, "replays are marked as copies");
    let fields = get_json(&app, FIELDS).await;
    let verdicts: Vec<_> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let verdict = |path: &str| {
        verdicts
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {path} in {verdicts:?}"))
    };
    assert_eq!(verdict("/body/tier"), "regression");
    assert_eq!(verdict("/body/plan"), "regression");
    assert_eq!(
        verdict("/body/served"),
        "noise",
        "two instances' counters differ as often"
    );
    app.stop().await;
}
