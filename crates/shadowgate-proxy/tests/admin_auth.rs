//! Admin API auth through real HTTP calls: plain and bcrypt users, 401 with the Basic challenge,
//! `/healthz` open, failures counted; and a malformed users file refusing startup (the real
//! binary: exit 64, naming the line).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use admin_common::{call, temp_dir};
use base64::Engine;
use common::{settings, start};
use http::Method;
use shadowgate_proxy::{App, AppError};
use shadowgate_test_support::RecordingServer;

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn plain_and_bcrypt_users_get_in_and_wrong_credentials_get_401_with_the_challenge() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("auth");
    let users = dir.join("admin.htpasswd");
    let hash = bcrypt::hash("b-secret", 4).unwrap();
    std::fs::write(
        &users,
        format!("# admins\n\nalice:a-secret\n\nbob:{hash}\n\n\n"),
    )
    .unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin_auth = Some(users);
    let app = start(s).await;

    for (user, password) in [("alice", "a-secret"), ("bob", "b-secret")] {
        let auth = basic(user, password);
        let ok = call(&app, Method::GET, "/targets", &[("authorization", &auth)]).await;
        assert_eq!(ok.status, 200, "{user}: {}", ok.text());
        let put = call(
            &app,
            Method::PUT,
            &format!("/targets?url=http://127.0.0.1:1/{user}"),
            &[("authorization", &auth)],
        )
        .await;
        assert_eq!(put.status, 200, "{user}: {}", put.text());
    }
    assert_eq!(app.mirror.stats().len(), 2);

    let wrong = [
        Some(basic("alice", "b-secret")),
        Some(basic("bob", "a-secret")),
        Some(basic("mallory", "a-secret")),
        Some("Bearer token".to_owned()),
        None,
    ];
    for auth in &wrong {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        // Two paths each: ten failures from one peer within a minute would block it (429).
        for path in ["/targets", "/stats"] {
            let answer = call(&app, Method::GET, path, &headers).await;
            assert_eq!(answer.status, 401, "{path} with {auth:?}");
            assert_eq!(
                answer.headers["www-authenticate"],
                "Basic realm=\"shadowgate\""
            );
        }
    }
    let put = call(&app, Method::PUT, "/targets?url=http://127.0.0.1:1/x", &[]).await;
    assert_eq!(put.status, 401);
    assert_eq!(
        app.mirror.stats().len(),
        2,
        "a refused call changes nothing"
    );

    let healthz = call(&app, Method::GET, "/healthz", &[]).await;
    assert_eq!(
        (healthz.status.as_u16(), healthz.text()),
        (200, "ok".to_owned())
    );

    let auth = basic("alice", "a-secret");
    let metrics = call(&app, Method::GET, "/metrics", &[("authorization", &auth)]).await;
    let text = metrics.text();
    for line in [
        "shadowgate_admin_auth_failures_total{reason=\"wrong_password\"} 4",
        "shadowgate_admin_auth_failures_total{reason=\"unknown_user\"} 2",
        "shadowgate_admin_auth_failures_total{reason=\"malformed\"} 2",
        "shadowgate_admin_auth_failures_total{reason=\"missing\"} 3",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn malformed_users_file_refuses_to_build_naming_file_and_line() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("auth-bad");
    let users = dir.join("users");
    std::fs::write(&users, "alice:pw\n# ok\nbob:$2b$10$tooshort\n").unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin_auth = Some(users.clone());

    let err = App::build(s).await.unwrap_err();

    assert!(matches!(err, AppError::AuthFile(_)), "{err}");
    assert!(err.is_config_error());
    let message = err.to_string();
    assert!(
        message.contains("line 3") && message.contains("bcrypt"),
        "{message}"
    );
    assert!(message.contains(&users.display().to_string()), "{message}");
    assert!(
        !message.contains("tooshort"),
        "the hash is not echoed: {message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn ten_failed_logins_block_the_peer_with_429_even_for_the_right_password() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("auth-throttle");
    let users = dir.join("admin.htpasswd");
    let hash = bcrypt::hash("b-secret", 4).unwrap();
    std::fs::write(&users, format!("alice:a-secret\nbob:{hash}\n")).unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin_auth = Some(users);
    let app = start(s).await;

    // Missing credentials (a browser's first try) are not failures.
    for _ in 0..12 {
        assert_eq!(call(&app, Method::GET, "/targets", &[]).await.status, 401);
    }
    let wrong = basic("alice", "guess");
    for i in 0..10 {
        let answer = call(&app, Method::GET, "/targets", &[("authorization", &wrong)]).await;
        assert_eq!(answer.status, 401, "failure {i}");
    }
    let right = basic("bob", "b-secret");
    let blocked = call(&app, Method::GET, "/targets", &[("authorization", &right)]).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert!(
        blocked.text().contains("too many failed logins"),
        "{}",
        blocked.text()
    );
    let retry: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // /healthz stays open.
    assert_eq!(call(&app, Method::GET, "/healthz", &[]).await.status, 200);
    app.stop().await;
}

/// Guesses sent all at once do not get past the lockout: each waits for a bcrypt turn and is
/// checked against the block again when it gets one, so at most the ten failures and the checks
/// already running when the tenth failed are answered 401; the rest get 429.
#[tokio::test]
async fn parallel_guesses_are_stopped_by_the_lockout_too() {
    let upstream = RecordingServer::start().await.unwrap();
    let dir = temp_dir("auth-parallel");
    let users = dir.join("admin.htpasswd");
    // Cost 8: each check takes long enough that the guesses queue for the turns.
    let hash = bcrypt::hash("b-secret", 8).unwrap();
    std::fs::write(&users, format!("bob:{hash}\n")).unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin_auth = Some(users);
    let app = start(s).await;

    let wrong = basic("bob", "guess");
    let url = app.admin_url("/targets");
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (url, wrong) = (url.clone(), wrong.clone());
        guesses.spawn(async move {
            let mut req = common::get(&url);
            req.headers_mut()
                .insert("authorization", wrong.parse().unwrap());
            common::send(&common::http1(), req).await.status.as_u16()
        });
    }
    let statuses = guesses.join_all().await;
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    let (unauthorized, blocked) = (count(401), count(429));
    assert_eq!(unauthorized + blocked, 40, "only 401 and 429: {statuses:?}");
    // Ten failures block; at most three more checks can be running beside the tenth.
    assert!(unauthorized <= 13, "{unauthorized} guesses were checked");
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
