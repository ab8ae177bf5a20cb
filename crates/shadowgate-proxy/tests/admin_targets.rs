//! `/targets` through real HTTP calls: listing as text and JSON, adding and removing runtime
//! targets all-or-nothing, errors naming the bad value, runtime targets getting proxied traffic,
//! concurrent changes; and `/stats`, `/readyz`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use admin_common::{call, listed, listed_urls, listing, put_ok, state_urls, temp_dir};
use common::{fetch, settings, start, target, PROMPT};
use http::Method;
use shadowgate_test_support::RecordingServer;

#[tokio::test]
async fn listing_shows_config_targets_as_text_and_json() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;

    let text = call(&app, Method::GET, "/targets", &[]).await;
    assert_eq!(text.status, 200);
    assert!(text.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(text.text(), format!("{}\n", sink.url()));

    assert_eq!(fetch(&app.url("/x")).await.status, 200);
    app.wait_outcome(shadowgate::Outcome::Completed, 1).await;
    let t = listed(&app, &sink.url()).await.unwrap();
    assert_eq!(t["source"], "config");
    assert_eq!(t["persistent"], true);
    assert_eq!(t["state"], "closed");
    assert_eq!(t["sample"], 1.0);
    assert_eq!(t["sent"], 1);
    assert_eq!(t["dropped"], 0);
    assert_eq!(t["failed"], 0);
    app.stop().await;
}

#[tokio::test]
async fn runtime_target_receives_proxied_traffic_and_is_listed_as_runtime() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = put_ok(
        &app,
        &format!("url={}&sample=1&persistent=true", sink.url()),
    )
    .await;
    assert!(answer.text().contains("added"), "{}", answer.text());
    assert_eq!(fetch(&app.url("/copied?q=1")).await.status, 200);

    let seen = sink.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].uri, "/copied?q=1");
    let t = listed(&app, &sink.url()).await.unwrap();
    assert_eq!(t["source"], "runtime");
    assert_eq!(t["persistent"], true);
    assert_eq!(t["sample"], 1.0);
    app.stop().await;
}

#[tokio::test]
async fn put_adds_nothing_when_one_url_is_invalid_and_names_it() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = call(
        &app,
        Method::PUT,
        "/targets?url=http://127.0.0.1:1/good&url=ftp://bad",
        &[],
    )
    .await;

    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("\"ftp://bad\""), "{}", answer.text());
    assert!(
        answer.text().contains("nothing was added"),
        "{}",
        answer.text()
    );
    assert!(listed_urls(&app).await.is_empty());
    assert!(app.mirror.stats().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_with_400_naming_them() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    for (method, query, want) in [
        (Method::PUT, "", "no url"),
        (
            Method::POST,
            "url=http://127.0.0.1:1&sample=1.5",
            "sample=\"1.5\"",
        ),
        (
            Method::PUT,
            "url=http://127.0.0.1:1&persistent=sure",
            "persistent=\"sure\"",
        ),
        (Method::PUT, "url=http://127.0.0.1:1&weight=3", "\"weight\""),
        (
            Method::DELETE,
            "url=http://127.0.0.1:1&sample=0.5",
            "only url",
        ),
    ] {
        let answer = call(&app, method.clone(), &format!("/targets?{query}"), &[]).await;
        assert_eq!(answer.status, 400, "{method} {query}: {}", answer.text());
        assert!(
            answer.text().contains(want),
            "{method} {query}: {}",
            answer.text()
        );
    }
    assert!(app.mirror.stats().is_empty());
    let patch = call(&app, Method::PATCH, "/targets", &[]).await;
    assert_eq!(patch.status, 405);
    assert!(patch.headers["allow"].to_str().unwrap().contains("DELETE"));
    app.stop().await;
}

#[tokio::test]
async fn re_adding_an_existing_url_is_a_no_op() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let runtime = "http://127.0.0.1:1/runtime";

    put_ok(&app, &format!("url={runtime}&persistent=true")).await;
    let again = put_ok(
        &app,
        &format!("url={runtime}&url={}&sample=0.1", sink.url()),
    )
    .await;

    assert_eq!(
        again.text().matches("unchanged").count(),
        2,
        "{}",
        again.text()
    );
    assert_eq!(listed_urls(&app).await, [sink.url(), runtime.to_owned()]);
    let t = listed(&app, runtime).await.unwrap();
    assert_eq!(
        (t["persistent"].clone(), t["sample"].clone()),
        (true.into(), 1.0.into())
    );
    assert_eq!(listed(&app, &sink.url()).await.unwrap()["source"], "config");
    app.stop().await;
}

#[tokio::test]
async fn delete_removes_runtime_targets_and_an_unknown_url_removes_nothing() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    let (a, b) = ("http://127.0.0.1:1/a", "http://127.0.0.1:1/b");
    put_ok(&app, &format!("url={a}&url={b}")).await;

    let unknown = call(
        &app,
        Method::DELETE,
        &format!("/targets?url={a}&url=http://nope:1"),
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.text().contains("\"http://nope:1\""),
        "{}",
        unknown.text()
    );
    assert_eq!(listing(&app).await.len(), 3, "nothing was removed");

    let config = call(
        &app,
        Method::DELETE,
        &format!("/targets?url={}", sink.url()),
        &[],
    )
    .await;
    assert_eq!(config.status, 409, "{}", config.text());
    assert!(config.text().contains(&sink.url()));

    let removed = call(&app, Method::DELETE, &format!("/targets?url={a}"), &[]).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(listed_urls(&app).await, [sink.url(), b.to_owned()]);
    app.stop().await;
}

#[tokio::test]
async fn targets_on_the_proxy_listener_is_proxied_not_served() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let put = common::send(&common::http1(), {
        let mut req = common::get(&app.url("/targets?url=http://127.0.0.1:1/x"));
        *req.method_mut() = Method::PUT;
        req
    })
    .await;

    assert_eq!(put.text(), "ok", "the upstream's answer");
    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].uri, "/targets?url=http://127.0.0.1:1/x");
    assert!(app.mirror.stats().is_empty(), "nothing was added");
    app.stop().await;
}

#[tokio::test]
async fn percent_encoded_urls_are_decoded() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    put_ok(&app, "url=http%3A%2F%2F127.0.0.1%3A1%2Fenc").await;

    assert_eq!(listed_urls(&app).await, ["http://127.0.0.1:1/enc"]);
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_puts_and_deletes_leave_a_consistent_set_and_state_file() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("concurrent");
    let state = dir.join("state.json");
    let mut s = settings(&[upstream.url()]);
    s.state_file = Some(state.clone());
    let app = std::sync::Arc::new(start(s).await);

    // Even calls add target i; odd calls delete target i-1, which may not be there yet (404).
    let calls = (0..50).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let url = format!("http://127.0.0.1:1/t{}", i - i % 2);
            let method = if i % 2 == 0 {
                Method::PUT
            } else {
                Method::DELETE
            };
            let answer = call(&app, method, &format!("/targets?url={url}"), &[]).await;
            (i, url, answer.status.as_u16())
        })
    });
    let mut expected = Vec::new();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    for (i, url, status) in &results {
        if i % 2 == 0 {
            assert_eq!(*status, 200, "PUT {url}");
            let deleted = results
                .iter()
                .any(|(j, u, st)| j % 2 == 1 && u == url && *st == 200);
            if !deleted {
                expected.push(url.clone());
            }
        } else {
            assert!(*status == 200 || *status == 404, "DELETE {url}: {status}");
        }
    }
    expected.sort();

    let mut listed = listed_urls(&app).await;
    listed.sort();
    assert_eq!(listed, expected);
    assert_eq!(state_urls(&state), expected);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the state file, no temporary files"
    );
    std::sync::Arc::into_inner(app).unwrap().stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn stats_and_readyz_answer_json_and_200() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;
    assert_eq!(fetch(&app.url("/s")).await.status, 200);
    app.wait_outcome(shadowgate::Outcome::Completed, 1).await;

    let ready = call(&app, Method::GET, "/readyz", &[]).await;
    assert_eq!(ready.status, 200);
    let stats = call(&app, Method::GET, "/stats", &[]).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v["targets"][0]["url"], sink.url());
    assert_eq!(v["targets"][0]["outcomes"]["completed"], 1);
    let requests = v["metrics"]["shadowgate_requests_total"]
        .as_array()
        .unwrap();
    let ok = requests
        .iter()
        .find(|m| m["labels"]["status_class"] == "2xx" && m["labels"]["route"] == "default")
        .unwrap();
    assert_eq!(ok["value"], 1.0);
    assert_eq!(call(&app, Method::POST, "/stats", &[]).await.status, 405);
    app.stop().await;
}
