//! What the proxy's test files share: an app on loopback, a client, bounded waits.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure is a failed test

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use shadowgate::{MirrorLayer, Outcome, TargetStats};
use shadowgate_proxy::{App, AppError, Reloader, Settings};
#[allow(unused_imports)] // each test file uses a different part
pub use shadowgate_test_support::client::{get, h2c, http1, HttpClient, PROMPT};
#[allow(unused_imports)] // each test file uses a different part
pub use shadowgate_test_support::{at_least, eventually, eventually_async, exactly};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Settings for a test: both listeners on port 0 and the given upstreams.
pub fn settings(upstreams: &[String]) -> Settings {
    let mut s = Settings::new(upstreams.iter().map(|u| u.parse().unwrap()).collect());
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.admin = Some("127.0.0.1:0".parse().unwrap());
    s
}

/// A mirror target at `url` with the defaults, named by its URL.
pub fn target(url: &str) -> shadowgate::TargetConfig {
    shadowgate::TargetConfig::builder(url).build().unwrap()
}

/// An app running on its own task.
pub struct Running {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub mirror: MirrorLayer,
    pub reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AppError>>,
}

pub async fn start(settings: Settings) -> Running {
    let app = App::build(settings).await.expect("app builds");
    let addr = app.listen_addr();
    let admin = app.admin_addr();
    let mirror = app.mirror().clone();
    let reloader = app.reloader();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        admin,
        mirror,
        reloader,
        stop: Some(tx),
        task,
    }
}

impl Running {
    /// `http://ADDR{path}` on the proxy listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://ADMIN{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.expect("admin listener on"))
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the app and waits, bounded, for `run` to return.
    pub async fn stop(mut self) {
        self.signal_stop();
        tokio::time::timeout(PROMPT, &mut self.task)
            .await
            .expect("run returns within the bound")
            .expect("run task did not panic")
            .expect("run succeeds");
    }

    /// Waits, bounded, for `run` to return after [`Running::signal_stop`].
    pub async fn join(&mut self) -> Result<(), AppError> {
        tokio::time::timeout(PROMPT, &mut self.task)
            .await
            .expect("run returns within the bound")
            .expect("run task did not panic")
    }

    /// The count of `outcome` for the only mirror target.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.mirror.stats()[0].get(outcome)
    }

    /// The stats of the mirror target named `name`.
    pub fn target_stats(&self, name: &str) -> TargetStats {
        let all = self.mirror.stats();
        match all.iter().find(|s| s.name == name) {
            Some(stats) => stats.clone(),
            None => panic!("no mirror target {name}: {all:?}"),
        }
    }

    /// Waits, bounded, until every copy the target `name` admitted has finished, and returns
    /// its stats. Copies are admitted (or dropped, or not selected) while the primary request
    /// is handled, so once every client has its answer, `Dispatched` is final: a copy not
    /// counted there can never arrive later, and once this returns every counted one has
    /// arrived (or failed).
    pub async fn settled(&self, name: &str) -> TargetStats {
        let what = format!("every admitted copy to {name} to finish");
        eventually(&what, || {
            let stats = self.target_stats(name);
            let finished: u64 = [
                Outcome::Completed,
                Outcome::Failed,
                Outcome::TimedOut,
                Outcome::DroppedShutdown,
            ]
            .iter()
            .map(|o| stats.get(*o))
            .sum();
            if finished == stats.get(Outcome::Dispatched) {
                Ok(stats)
            } else {
                Err(stats)
            }
        })
        .await
    }

    /// Waits, bounded, until the only mirror target counted `outcome` at least `n` times.
    pub async fn wait_outcome(&self, outcome: Outcome, n: u64) -> u64 {
        let what = format!("{n} copies counted {outcome:?}");
        eventually(&what, || at_least(self.outcome(outcome), n)).await
    }
}

/// A whole response: status, headers, collected body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` and collects the answer, failing the test if it takes longer than [`PROMPT`].
pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Answer {
    let response: Response<_> = tokio::time::timeout(PROMPT, client.request(request))
        .await
        .expect("an answer within the bound")
        .expect("the request succeeds");
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(PROMPT, body.collect())
        .await
        .expect("the body within the bound")
        .expect("the body is whole")
        .to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// GET `uri` with a fresh HTTP/1.1 client.
pub async fn fetch(uri: &str) -> Answer {
    send(&http1(), get(uri)).await
}
