//! What the admin API tests share: admin calls with a method and headers, the JSON listing, and
//! temporary directories for state and users files.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::Value;

use crate::common::{http1, send, Answer, Running};

/// An admin call: `method` on `path` (with its query) and these headers.
pub async fn call(app: &Running, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.method_mut() = method;
    *req.uri_mut() = app.admin_url(path).parse().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    send(&http1(), req).await
}

/// `PUT /targets?{query}`, asserting 200.
pub async fn put_ok(app: &Running, query: &str) -> Answer {
    let answer = call(app, Method::PUT, &format!("/targets?{query}"), &[]).await;
    assert_eq!(answer.status, 200, "PUT {query}: {}", answer.text());
    answer
}

/// `GET /targets` as JSON.
pub async fn listing(app: &Running) -> Vec<Value> {
    let answer = call(
        app,
        Method::GET,
        "/targets",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.headers["content-type"], "application/json");
    serde_json::from_slice::<Value>(&answer.body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The listed target with this URL.
pub async fn listed(app: &Running, url: &str) -> Option<Value> {
    listing(app).await.into_iter().find(|t| t["url"] == url)
}

/// The URLs of the plain-text listing, in order.
pub async fn listed_urls(app: &Running) -> Vec<String> {
    let answer = call(app, Method::GET, "/targets", &[]).await;
    assert_eq!(answer.status, 200);
    answer.text().lines().map(str::to_owned).collect()
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "shadowgate-{name}-{}-{}",
        std::process::id(),
        fastrand_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// The URLs in a state file, sorted.
pub fn state_urls(path: &std::path::Path) -> Vec<String> {
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut urls: Vec<String> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["url"].as_str().unwrap().to_owned())
        .collect();
    urls.sort();
    urls
}
