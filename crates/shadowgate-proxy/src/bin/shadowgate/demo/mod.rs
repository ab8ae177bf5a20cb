//! `shadowgate demo` (README.md, "What the demo shows"): a primary service "v1", a canary "v2", the
//! real proxy with its admin API, and bounded traffic, all on loopback; a live summary once a
//! second and a final report. Every number printed is measured in this run.

mod canary;
mod latency;
mod report;
mod scrape;
mod services;
mod traffic;
mod verdicts;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http::Method;
use shadowgate::{CompareConfig, Control, MirrorLayer, TargetConfig};
use tokio::sync::oneshot;
use tokio::time::Instant;

use canary::CanaryObserver;
use report::{Counted, Final, Snapshot};
use services::{Backend, Received, Version};
use shadowgate_proxy::{App, Settings};
use traffic::{Traffic, TrafficStats, CLIENTS, PER_CLIENT_RATE};

/// The mirror target's name in metrics and in the report.
const TARGET: &str = "canary";
/// The control target: another instance of v1, for the comparison's noise evidence.
const CONTROL: &str = "v1-control";
/// The canary's capacity: enough for its slow search, not for its slow tail, which shows up as
/// timeouts.
const CANARY_WORKERS: usize = 16;
const CANARY_QUEUE: usize = 64;
const CANARY_TIMEOUT: Duration = Duration::from_secs(1);
/// Seconds of traffic, unless `SHADOWGATE_DEMO_SECONDS` says otherwise (clamped to 1..=60).
const DEFAULT_SECONDS: u64 = 8;
const SECONDS_ENV: &str = "SHADOWGATE_DEMO_SECONDS";
/// The proxy's shutdown: in-flight requests, then queued copies.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
const MIRROR_DRAIN: Duration = Duration::from_secs(2);
const LIVE_EVERY: Duration = Duration::from_secs(1);

/// Runs the demo to the end; any failure is an error with its context.
pub async fn run() -> anyhow::Result<()> {
    let seconds = demo_seconds(std::env::var(SECONDS_ENV).ok().as_deref())?;
    let v1 = Backend::start(Version::V1)
        .await
        .context("starting the primary service v1")?;
    let v2 = Backend::start(Version::V2)
        .await
        .context("starting the canary service v2")?;
    let control = Backend::start(Version::V1)
        .await
        .context("starting the control, a second v1")?;
    let observer = Arc::new(CanaryObserver::new(TARGET));
    let app = App::build(settings(&v1, &v2, &control, Arc::clone(&observer))?)
        .await
        .context("building the proxy")?;
    let admin = app.admin_addr();
    let mirror = app.mirror().clone();
    intro(seconds, &v1, &v2, &control, app.listen_addr(), admin);

    let proxy = app.listen_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(app.run(async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    }));
    let traffic = Traffic::start(proxy, Duration::from_secs(seconds));
    let stats = traffic.stats();
    let started = Instant::now();
    let done = traffic.finish();
    tokio::pin!(done);
    let mut tick = tokio::time::interval_at(started + LIVE_EVERY, LIVE_EVERY);
    loop {
        tokio::select! {
            finished = &mut done => {
                finished?;
                break;
            }
            ended = &mut server => {
                ended.context("the proxy task failed")?.context("the proxy stopped")?;
                anyhow::bail!("the proxy stopped before the traffic was done");
            }
            _ = tick.tick() => {
                let now = snapshot(started.elapsed(), &stats, &mirror, &observer);
                println!("{}", report::live(&now));
            }
        }
    }
    let elapsed = started.elapsed();

    let scrape = match admin {
        Some(addr) => scrape::metrics(addr, TARGET)
            .await
            .unwrap_or_else(|e| format!("the scrape failed: {e:#}")),
        None => String::new(),
    };
    // The receiver is gone only if the proxy already stopped; awaiting it below says how.
    let _ = stop.send(());
    let bound = SHUTDOWN_TIMEOUT + MIRROR_DRAIN + Duration::from_secs(5);
    tokio::time::timeout(bound, server)
        .await
        .context("the proxy did not stop within its shutdown bounds")?
        .context("the proxy task failed")?
        .context("the proxy's graceful shutdown failed")?;
    // `App::run` returns after the mirror's drain, so every copy has its outcome by now.
    let last = snapshot(elapsed, &stats, &mirror, &observer);
    let verdicts = verdicts::read(&mirror, TARGET, Duration::from_secs(3)).await;
    let report = Final {
        target: String::from(TARGET),
        last,
        clients: CLIENTS,
        max_rate: CLIENTS * PER_CLIENT_RATE,
        from_v1: stats.from_v1.load(Ordering::Relaxed),
        not_from_v1: stats.not_from_v1.load(Ordering::Relaxed),
        hook_events: observer.events.load(Ordering::Relaxed),
        v1: counted(v1.received()),
        v2: counted(v2.received()),
        admin: admin.map(|a| format!("http://{a}")),
        scrape,
    };
    print!("{}", report::final_report(&report));
    print!("{}", verdicts::section(&verdicts, TARGET, CONTROL));
    Ok(())
}

/// The proxy's settings: v1 upstream, v2 as the mirror target compared with v1 (a second v1
/// as the control), loopback listeners on port 0.
fn settings(
    v1: &Backend,
    v2: &Backend,
    control: &Backend,
    observer: Arc<CanaryObserver>,
) -> anyhow::Result<Settings> {
    let upstream: shadowgate_proxy::BackendUrl = v1
        .url()
        .parse()
        .context("the v1 address does not make a URL")?;
    let canary = TargetConfig::builder(v2.url())
        .name(TARGET)
        .sample(1.0)
        .timeout(CANARY_TIMEOUT)
        .workers(CANARY_WORKERS)
        .queue(CANARY_QUEUE)
        .compare(
            CompareConfig::new()
                .methods([Method::GET, Method::HEAD, Method::POST])
                .control(Control::Target(CONTROL.into()))
                // Each backend says who it is: a difference by design, not a regression.
                .ignore(format!("/headers/{}", services::SERVED_BY)),
        )
        .build()
        .context("configuring the canary target")?;
    // Only the compared requests: its own sample is 0.
    let control = TargetConfig::builder(control.url())
        .name(CONTROL)
        .sample(0.0)
        .timeout(CANARY_TIMEOUT)
        .workers(CANARY_WORKERS)
        .queue(CANARY_QUEUE)
        .build()
        .context("configuring the control target")?;
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut s = Settings::new(vec![upstream]);
    s.listen = loopback;
    s.admin = Some(loopback);
    s.mirrors = vec![canary, control];
    s.limits.shutdown_timeout = SHUTDOWN_TIMEOUT;
    s.mirror_drain = MIRROR_DRAIN;
    s.on_outcome = Some(observer);
    Ok(s)
}

fn intro(
    seconds: u64,
    v1: &Backend,
    v2: &Backend,
    control: &Backend,
    proxy: SocketAddr,
    admin: Option<SocketAddr>,
) {
    let search = services::V2_SEARCH_DELAY.as_millis();
    let tail = services::V2_SEARCH_TAIL.as_secs_f64();
    let tail_share = services::V2_SEARCH_TAIL_SHARE * 100.0;
    let failing = services::V2_ORDER_FAILURE_SHARE * 100.0;
    println!("shadowgate demo: {seconds} s of traffic through the real proxy, all on loopback\n");
    println!("  v1, the primary  {}", v1.url());
    println!("  v2, the canary   {}", v2.url());
    println!("                   renames \"plan\" to \"tier\" in /api/users/{{id}}, fails {failing:.0}% of POST /api/orders");
    println!(
        "                   with 500, removed /api/legacy/report (404), and answers /api/search"
    );
    println!("                   in {search} ms ({tail_share:.0}% of them in {tail:.1} s)");
    println!(
        "  v1-control       {}  a second v1, the comparison's control",
        control.url()
    );
    println!(
        "                   (every backend's answers carry noise: a served_at time and a random"
    );
    println!("                   cache hit or miss)");
    println!(
        "  proxy            http://{proxy}  -> v1, with a copy of every request to {TARGET:?},"
    );
    println!(
        "                   compared with v1's answer (and the control's for the compared ones)\n                   (sample 1.0, {CANARY_WORKERS} workers, queue {CANARY_QUEUE}, timeout {} s)",
        CANARY_TIMEOUT.as_secs_f64()
    );
    if let Some(admin) = admin {
        println!("  admin            http://{admin}  (/healthz, /metrics, /compare)");
    }
    println!(
        "  traffic          {CLIENTS} keep-alive clients, at most {} req/s in all: user lookups 45%,",
        CLIENTS * PER_CLIENT_RATE
    );
    println!("                   searches 15%, orders 25%, legacy report 15%\n");
}

/// Both sides now: the clients' view, the mirror's counters and the hook's aggregates.
fn snapshot(
    elapsed: Duration,
    traffic: &TrafficStats,
    mirror: &MirrorLayer,
    canary: &CanaryObserver,
) -> Snapshot {
    let outcomes = mirror
        .stats()
        .into_iter()
        .find(|t| t.name == TARGET)
        .map(|t| t.outcomes)
        .unwrap_or_default();
    Snapshot {
        elapsed,
        sent: traffic.sent.load(Ordering::Relaxed),
        primary_status: traffic.status.snapshot(),
        primary_errors: traffic.errors.load(Ordering::Relaxed),
        primary_latency: traffic.latency.summary(),
        outcomes,
        canary_status: canary.status.snapshot(),
        canary_latency: canary.latency.summary(),
    }
}

fn counted(r: &Received) -> Counted {
    Counted {
        api: r.api.load(Ordering::Relaxed),
        mirrored: r.mirrored.load(Ordering::Relaxed),
        other: r.other.load(Ordering::Relaxed),
    }
}

/// Seconds of traffic: the default without the variable, else its value clamped to 1..=60.
fn demo_seconds(var: Option<&str>) -> anyhow::Result<u64> {
    let Some(raw) = var else {
        return Ok(DEFAULT_SECONDS);
    };
    let n: u64 = raw
        .trim()
        .parse()
        .with_context(|| format!("{SECONDS_ENV} must be a whole number of seconds, not {raw:?}"))?;
    Ok(n.clamp(1, 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_default_parse_and_clamp() {
        assert_eq!(demo_seconds(None).unwrap(), DEFAULT_SECONDS);
        assert_eq!(demo_seconds(Some("2")).unwrap(), 2);
        assert_eq!(demo_seconds(Some(" 5 ")).unwrap(), 5);
        assert_eq!(demo_seconds(Some("0")).unwrap(), 1);
        assert_eq!(demo_seconds(Some("3600")).unwrap(), 60);
        let err = demo_seconds(Some("soon")).unwrap_err().to_string();
        assert!(
            err.contains("SHADOWGATE_DEMO_SECONDS") && err.contains("\"soon\""),
            "{err}"
        );
    }
}
