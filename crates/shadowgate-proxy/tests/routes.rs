//! Routes over real sockets: first match wins on host, path, methods and headers; each route
//! sends to its upstream and mirrors to its own targets; strip_prefix and rewrite change the
//! primary's path only; redirects are neither proxied nor mirrored; no route is a 404.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use bytes::Bytes;
use common::*;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use shadowgate::{Outcome, TargetConfig};
use shadowgate_proxy::{PathMatch, RouteAction, RouteSettings, Settings, UpstreamSettings};
use shadowgate_test_support::{Recorded, RecordingServer, Responder};

fn route(name: &str, path: PathMatch, action: RouteAction) -> RouteSettings {
    RouteSettings {
        name: name.into(),
        host: None,
        path,
        methods: Vec::new(),
        headers: Vec::new(),
        action,
    }
}

fn proxy(upstream: &str, mirrors: &[&str]) -> RouteAction {
    RouteAction::Proxy {
        upstream: upstream.into(),
        mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
        strip_prefix: false,
        rewrite: None,
    }
}

fn routed(name: &str, url: String) -> TargetConfig {
    TargetConfig::builder(url)
        .name(name)
        .routed(true)
        .build()
        .unwrap()
}

async fn named(body: &'static str) -> RecordingServer {
    RecordingServer::start_with(Responder::new().body(body))
        .await
        .unwrap()
}

fn paths(requests: Vec<Recorded>) -> Vec<String> {
    let mut p: Vec<_> = requests.into_iter().map(|r| r.uri.to_string()).collect();
    p.sort();
    p
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

/// Two upstreams `api` and `web`, two routed mirrors `api-canary` and `web-canary`.
struct Fixture {
    api: RecordingServer,
    web: RecordingServer,
    api_canary: RecordingServer,
    web_canary: RecordingServer,
}

impl Fixture {
    async fn start() -> Self {
        Self {
            api: named("api").await,
            web: named("web").await,
            api_canary: named("api-canary").await,
            web_canary: named("web-canary").await,
        }
    }

    fn settings(&self, routes: Vec<RouteSettings>) -> Settings {
        let mut s = settings(&[]);
        s.upstreams = vec![
            UpstreamSettings::new("api", vec![self.api.url().parse().unwrap()]),
            UpstreamSettings::new("web", vec![self.web.url().parse().unwrap()]),
        ];
        s.mirrors = vec![
            routed("api-canary", self.api_canary.url()),
            routed("web-canary", self.web_canary.url()),
        ];
        s.routes = routes;
        s
    }
}

#[tokio::test]
async fn first_matching_route_picks_the_upstream_and_its_mirrors() {
    let f = Fixture::start().await;
    let mut by_host = route("by-host", PathMatch::Any, proxy("web", &["web-canary"]));
    by_host.host = Some("www.example".into());
    let mut by_header = route("by-header", PathMatch::Any, proxy("api", &[]));
    by_header.headers = vec![(
        HeaderName::from_static("x-api"),
        HeaderValue::from_static("1"),
    )];
    let mut posts = route(
        "posts",
        PathMatch::Prefix("/api/".into()),
        proxy("api", &["api-canary", "web-canary"]),
    );
    posts.methods = vec![Method::POST];
    let app = start(f.settings(vec![
        route(
            "exact",
            PathMatch::Exact("/api/health".into()),
            proxy("web", &[]),
        ),
        posts,
        route(
            "api",
            PathMatch::Prefix("/api/".into()),
            proxy("api", &["api-canary"]),
        ),
        route(
            "users",
            PathMatch::Regex(regex::Regex::new("^/users/[0-9]+$").unwrap()),
            proxy("api", &["web-canary"]),
        ),
        by_host,
        by_header,
    ]))
    .await;
    let client = http1();
    let ask = |method: Method, path: &str, headers: &[(&str, &str)]| {
        request(method, &app.url(path), headers)
    };
    let cases: [(Request<Full<Bytes>>, &str); 7] = [
        (ask(Method::GET, "/api/health", &[]), "web"),
        (ask(Method::POST, "/api/orders", &[]), "api"),
        (ask(Method::GET, "/api/users?id=7", &[]), "api"),
        (ask(Method::GET, "/users/42", &[]), "api"),
        (
            ask(Method::GET, "/", &[("host", "WWW.example:8080")]),
            "web",
        ),
        (ask(Method::GET, "/x", &[("x-api", "1")]), "api"),
        (ask(Method::GET, "/users/abc", &[]), "404"),
    ];
    for (req, want) in cases {
        let uri = req.uri().clone();
        let answer = send(&client, req).await;
        if want == "404" {
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
            assert!(answer.text().contains("no route"), "{}", answer.text());
        } else {
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert_eq!(answer.text(), want, "{uri}");
        }
    }
    // Copies: api-canary gets the POST (posts route) and the /api/users GET (api route);
    // web-canary gets the POST, /users/42 and the by-host request.
    // Every client has its answer, so the admitted counts are final; once those copies have
    // finished, the sinks hold every copy there will ever be.
    assert_eq!(app.settled("api-canary").await.get(Outcome::Completed), 2);
    assert_eq!(app.settled("web-canary").await.get(Outcome::Completed), 3);
    assert_eq!(
        paths(f.api_canary.requests()),
        ["/api/orders", "/api/users?id=7"]
    );
    assert_eq!(
        paths(f.web_canary.requests()),
        ["/", "/api/orders", "/users/42"]
    );
    assert_eq!(f.api.count(), 4);
    assert_eq!(f.web.count(), 2);

    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    for line in [
        "shadowgate_requests_total{route=\"api\",status_class=\"2xx\"} 1",
        "shadowgate_requests_total{route=\"unmatched\",status_class=\"4xx\"} 1",
        "shadowgate_requests_total{route=\"by-host\",status_class=\"2xx\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn strip_prefix_and_rewrite_change_the_primary_path_only() {
    let f = Fixture::start().await;
    let strip = RouteAction::Proxy {
        upstream: "api".into(),
        mirrors: vec!["api-canary".into()],
        strip_prefix: true,
        rewrite: None,
    };
    let rewrite = RouteAction::Proxy {
        upstream: "web".into(),
        mirrors: vec!["web-canary".into()],
        strip_prefix: false,
        rewrite: Some("/v2/".into()),
    };
    let app = start(f.settings(vec![
        route("strip", PathMatch::Prefix("/api/".into()), strip),
        route("rewrite", PathMatch::Prefix("/old/".into()), rewrite),
    ]))
    .await;
    assert_eq!(fetch(&app.url("/api/users/1?x=%20y")).await.text(), "api");
    assert_eq!(fetch(&app.url("/old/page?q=1")).await.text(), "web");
    assert_eq!(paths(f.api.wait_for(1, PROMPT).await), ["/users/1?x=%20y"]);
    assert_eq!(paths(f.web.wait_for(1, PROMPT).await), ["/v2/page?q=1"]);
    // The copies keep the client's path.
    assert_eq!(
        paths(f.api_canary.wait_for(1, PROMPT).await),
        ["/api/users/1?x=%20y"]
    );
    assert_eq!(
        paths(f.web_canary.wait_for(1, PROMPT).await),
        ["/old/page?q=1"]
    );
    app.stop().await;
}

#[tokio::test]
async fn redirect_routes_answer_without_proxying_or_mirroring() {
    let f = Fixture::start().await;
    let redirect = RouteAction::Redirect {
        to: HeaderValue::from_static("https://example.com/new/"),
        status: StatusCode::PERMANENT_REDIRECT,
    };
    let mut s = f.settings(vec![
        route("old", PathMatch::Prefix("/old/".into()), redirect),
        route("rest", PathMatch::Any, proxy("api", &[])),
    ]);
    // An unrouted target would mirror every proxied request: a redirect is not proxied.
    let everything = named("everything").await;
    s.mirrors.push(target(&everything.url()));
    let app = start(s).await;
    let answer = fetch(&app.url("/old/page")).await;
    assert_eq!(answer.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(answer.headers["location"], "https://example.com/new/");
    assert_eq!(fetch(&app.url("/other")).await.text(), "api");
    // Both answers are in, so the admitted count is final: the redirect made no copy.
    let all = app.settled(&everything.url()).await;
    assert_eq!(all.get(Outcome::Dispatched), 1);
    assert_eq!(all.get(Outcome::Completed), 1);
    assert_eq!(paths(everything.requests()), ["/other"]);
    assert_eq!(paths(f.api.requests()), ["/other"]);
    app.stop().await;
}

#[tokio::test]
async fn without_routes_the_only_upstream_gets_everything_and_every_mirror_a_copy() {
    let up = named("up").await;
    let a = named("a").await;
    let mut s = settings(&[up.url()]);
    s.mirrors = vec![routed("a", a.url())];
    let app = start(s).await;
    assert_eq!(fetch(&app.url("/anything")).await.text(), "up");
    assert_eq!(paths(a.wait_for(1, PROMPT).await), ["/anything"]);
    app.stop().await;
}

/// Sends one raw request line (so no client can tidy the path first) and returns the answer.
async fn raw_get(app: &Running, target: &str) -> String {
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = shadowgate_test_support::raw_exchange(app.addr, request.as_bytes(), PROMPT)
        .await
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Dot segments, plain or `%2e`, are resolved before routing (docs/operations.md, "Paths"): a
/// `/public/` route cannot be used to reach what the `/admin` route guards, the upstream and the
/// copy see the resolved path (query untouched), and a path above `/` is a 400 that reaches no
/// one. Without the resolution, both bypasses reached the `/public/` upstream raw.
#[tokio::test]
async fn dot_segments_are_resolved_before_routing_forwarding_and_copying() {
    let f = Fixture::start().await;
    let admin = RouteAction::Redirect {
        to: HeaderValue::from_static("https://login.example/"),
        status: StatusCode::FOUND,
    };
    let app = start(f.settings(vec![
        route("admin", PathMatch::Prefix("/admin".into()), admin),
        route(
            "public",
            PathMatch::Prefix("/public/".into()),
            proxy("api", &["api-canary"]),
        ),
    ]))
    .await;

    // Routed by its resolved path, /admin/users: the redirect, not the upstream.
    let answer = raw_get(&app, "/public/../admin/users").await;
    assert!(answer.starts_with("HTTP/1.1 302 "), "{answer}");
    assert!(
        answer.contains("location: https://login.example/"),
        "{answer}"
    );
    // Resolved to /secret, which no route takes.
    let answer = raw_get(&app, "/public/%2e%2e/secret").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    let answer = raw_get(&app, "/public/%2E%2e/admin").await;
    assert!(answer.starts_with("HTTP/1.1 302 "), "{answer}");
    // Above the root: 400, routed nowhere.
    let answer = raw_get(&app, "/public/../../etc/passwd").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("the path climbs above /"), "{answer}");

    // A path that stays under /public/ is proxied and copied resolved; the query and other
    // percent-encodings are kept as they are.
    let answer = raw_get(&app, "/public/./a/.%2e/b%2Fc/?q=/../%2e%2e").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let copies = f.api_canary.wait_for(1, PROMPT).await;
    assert_eq!(paths(copies), ["/public/b%2Fc/?q=/../%2e%2e"]);
    assert_eq!(paths(f.api.requests()), ["/public/b%2Fc/?q=/../%2e%2e"]);
    assert_eq!(f.web.count(), 0);
    assert_eq!(f.web_canary.count(), 0);
    app.stop().await;
}
