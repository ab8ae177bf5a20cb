//! The comparison configured as a user does it, through real sockets: a `[mirrors.NAME.compare]`
//! table of the config file, and the `--compare` flag; the comparison that comes out is the
//! layer's report (`MirrorLayer::compare_reports`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use bytes::Bytes;
use clap::Parser;
use common::*;
use http::{Method, Request};
use http_body_util::Full;
use shadowgate::CompareReport;
use shadowgate_proxy::cli::Cli;
use shadowgate_test_support::{RecordingServer, Responder};

/// A server answering every request with this JSON body.
async fn json(body: &'static str) -> RecordingServer {
    let responder = Responder::new()
        .header("content-type", "application/json")
        .body(body);
    RecordingServer::start_with(responder).await.unwrap()
}

/// Waits, bounded, until `target`'s report counts `pairs` results, and returns it.
async fn report(app: &Running, target: &str, results: u64) -> CompareReport {
    let what = format!("{results} comparison results for {target}");
    eventually(&what, || {
        let reports = app.mirror.compare_reports();
        match reports.iter().find(|r| r.target == target) {
            Some(r) if r.results.values().sum::<u64>() >= results => Ok(r.clone()),
            _ => Err(reports),
        }
    })
    .await
}

const PRIMARY: &str = r#"{"id":1,"price":10.0,"tags":["a","b"]}"#;

#[tokio::test]
async fn a_compare_table_compares_the_target_with_its_control_by_its_rules() {
    let primary = json(PRIMARY).await;
    // Within the tolerance, the same set: equal by the table's rules, not byte for byte.
    let canary = json(r#"{"id":1,"price":10.004,"tags":["b","a"]}"#).await;
    let reference = json(PRIMARY).await;
    let text = format!(
        r#"
listen = "127.0.0.1:0"
[admin]
listen = "off"
[upstreams.prod]
backends = ["{}"]
[mirrors.canary]
url = "{}"
[mirrors.canary.compare]
control = "ref"
ignore = ["/latency"]  # which copies a loaded test machine delays is not what this checks
arrays = [{{ path = "/body/tags", mode = "set" }}]
numbers = [{{ path = "/body/price", abs = 0.005 }}]
endpoints = ["/api/items/{{id}}"]
[mirrors.ref]
url = "{}"
"#,
        primary.url(),
        canary.url(),
        reference.url()
    );
    let raw = shadowgate_proxy::config::parse(&text, "compare.toml").unwrap();
    let settings = shadowgate_proxy::config::validate(&raw, Path::new(".")).unwrap();
    let app = start(settings).await;
    let client = http1();
    for i in 0..5 {
        let answer = send(&client, get(&app.url(&format!("/api/items/{i}")))).await;
        assert_eq!(answer.text(), PRIMARY);
    }
    // Not compared: the default methods are GET and HEAD.
    let post = Request::builder()
        .method(Method::POST)
        .uri(app.url("/api/items/9"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    send(&client, post).await;
    let r = report(&app, "canary", 5).await;
    assert_eq!(r.control.as_deref(), Some("ref"));
    assert_eq!(r.results.get("equal"), Some(&5), "{r:?}");
    assert_eq!(
        r.results.values().sum::<u64>(),
        5,
        "the POST is not compared"
    );
    assert_eq!(r.endpoints[0].endpoint, "/api/items/{id}");
    assert!(
        !(app.mirror.compare_reports().iter()).any(|r| r.target == "ref"),
        "the control is not compared itself"
    );
    // The control got each compared request (and, with no routes, every request).
    assert!(reference.count() >= 5, "{}", reference.count());
    app.stop().await;
}

#[tokio::test]
async fn control_primary_in_the_file_replays_to_the_primary() {
    let primary = json(PRIMARY).await;
    let canary = json(PRIMARY).await;
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"off\"\n[upstreams.prod]\nbackends = [\"{}\"]\n\
         [mirrors.canary]\nurl = \"{}\"\ncompare = {{ control = \"primary\", ignore = [\"/latency\"] }}\n",
        primary.url(),
        canary.url()
    );
    let raw = shadowgate_proxy::config::parse(&text, "compare.toml").unwrap();
    let settings = shadowgate_proxy::config::validate(&raw, Path::new(".")).unwrap();
    let app = start(settings).await;
    let client = http1();
    for i in 0..4 {
        send(&client, get(&app.url(&format!("/api/items/{i}")))).await;
    }
    let r = report(&app, "canary", 4).await;
    assert_eq!(r.control.as_deref(), Some("primary"));
    assert_eq!(r.results.get("equal"), Some(&4), "{r:?}");
    assert_eq!(primary.count(), 8, "each request, and its replay");
    app.stop().await;
}

#[tokio::test]
async fn the_compare_flag_compares_the_mirror_flags_with_the_defaults() {
    let primary = json(PRIMARY).await;
    let shadow = json(r#"{"id":1,"price":10.004,"tags":["a","b"]}"#).await;
    let cli = Cli::try_parse_from([
        "shadowgate",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "off",
        "--upstream",
        &primary.url(),
        "--mirror",
        &shadow.url(),
        "--compare",
    ])
    .unwrap();
    let app = start(cli.settings().unwrap()).await;
    let client = http1();
    for i in 0..3 {
        send(&client, get(&app.url(&format!("/api/items/{i}")))).await;
    }
    let r = report(&app, &shadow.url(), 3).await;
    // No tolerance by default: 10.004 is not 10.0.
    assert_eq!(r.results.get("different"), Some(&3), "{r:?}");
    assert_eq!(r.control, None);
    app.stop().await;
}
