//! One `GET /metrics` on the proxy's admin listener, to show the metrics are really there.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long the scrape may take in all.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Scrapes `http://admin/metrics` and sums it up in one line: the status, how many `shadowgate_`
/// samples it held, and the `completed` sample of `target`.
pub(crate) async fn metrics(admin: SocketAddr, target: &str) -> anyhow::Result<String> {
    let uri: Uri = format!("http://{admin}/metrics")
        .parse()
        .with_context(|| format!("the admin address {admin} does not make a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let exchange = async {
        let resp = client.get(uri).await.context("GET /metrics failed")?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading /metrics")?;
        anyhow::Ok((status, body.to_bytes()))
    };
    let (status, body) = tokio::time::timeout(SCRAPE_TIMEOUT, exchange)
        .await
        .context("GET /metrics took longer than 5 s")??;
    Ok(summarise(status, &String::from_utf8_lossy(&body), target))
}

fn summarise(status: http::StatusCode, text: &str, target: &str) -> String {
    let samples = text
        .lines()
        .filter(|l| l.starts_with("shadowgate_"))
        .count();
    let label = format!("target=\"{target}\"");
    let completed = text.lines().find(|l| {
        l.starts_with("shadowgate_mirror_requests_total")
            && l.contains(&label)
            && l.contains("outcome=\"completed\"")
    });
    match completed {
        Some(line) => format!("{status}, {samples} shadowgate_ samples, among them: {line}"),
        None => format!("{status}, {samples} shadowgate_ samples, none for {label} completed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_samples_and_quotes_the_completed_line() {
        let text = "# HELP shadowgate_mirror_requests_total Copies.\n\
            shadowgate_mirror_requests_total{target=\"canary\",outcome=\"dispatched\"} 9\n\
            shadowgate_mirror_requests_total{target=\"canary\",outcome=\"completed\"} 7\n\
            shadowgate_mirror_in_flight{target=\"canary\"} 0\n";
        let line = summarise(http::StatusCode::OK, text, "canary");
        assert_eq!(
            line,
            "200 OK, 3 shadowgate_ samples, among them: \
             shadowgate_mirror_requests_total{target=\"canary\",outcome=\"completed\"} 7"
        );
        let none = summarise(http::StatusCode::OK, "", "canary");
        assert!(none.contains("0 shadowgate_ samples, none for"), "{none}");
    }
}
