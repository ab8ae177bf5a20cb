//! Rendering: the live summary (once a second) and the final report. Pure functions of numbers
//! measured in this run, so they are tested without any socket.

use std::fmt::Write as _;
use std::time::Duration;

use shadowgate::Outcome;

use super::latency::{LatencySummary, CLASSES};

/// Both sides at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) elapsed: Duration,
    pub(crate) sent: u64,
    pub(crate) primary_status: [u64; 5],
    pub(crate) primary_errors: u64,
    pub(crate) primary_latency: LatencySummary,
    /// `(outcome, count)` for the canary, in `Outcome::ALL` order (from `MirrorLayer::stats`).
    pub(crate) outcomes: Vec<(Outcome, u64)>,
    pub(crate) canary_status: [u64; 5],
    pub(crate) canary_latency: LatencySummary,
}

impl Snapshot {
    pub(crate) fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes
            .iter()
            .find(|(o, _)| *o == outcome)
            .map_or(0, |(_, n)| *n)
    }
}

/// What a backend counted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counted {
    pub(crate) api: u64,
    pub(crate) mirrored: u64,
    pub(crate) other: u64,
}

/// Everything the final report shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Final {
    pub(crate) target: String,
    pub(crate) last: Snapshot,
    pub(crate) clients: u32,
    pub(crate) max_rate: u32,
    pub(crate) from_v1: u64,
    pub(crate) not_from_v1: u64,
    pub(crate) hook_events: u64,
    pub(crate) v1: Counted,
    pub(crate) v2: Counted,
    /// `http://ADDR` of the admin listener, when it ran.
    pub(crate) admin: Option<String>,
    /// What `GET /metrics` said just before shutdown, or why it failed.
    pub(crate) scrape: String,
}

/// One live block: a line per side.
pub(crate) fn live(s: &Snapshot) -> String {
    let drops: Vec<String> = s
        .outcomes
        .iter()
        .filter(|(o, n)| o.is_drop() && *n > 0)
        .map(|(o, n)| format!("{} {n}", o.as_str().trim_start_matches("dropped_")))
        .collect();
    let dropped: u64 = s
        .outcomes
        .iter()
        .filter(|(o, _)| o.is_drop())
        .map(|(_, n)| n)
        .sum();
    let dropped = match drops.is_empty() {
        true => format!("{dropped} dropped"),
        false => format!("{dropped} dropped ({})", drops.join(", ")),
    };
    format!(
        "[{:>3.0}s] primary  sent {:<6} {} err {}  p50 {} p99 {}\n       \
         canary   {} dispatched, {} completed, {} timed out, {} failed, {}  {}  p50 {} p99 {}",
        s.elapsed.as_secs_f64(),
        s.sent,
        mix(&s.primary_status),
        s.primary_errors,
        dur(s.primary_latency.p50),
        dur(s.primary_latency.p99),
        s.count(Outcome::Dispatched),
        s.count(Outcome::Completed),
        s.count(Outcome::TimedOut),
        s.count(Outcome::Failed),
        dropped,
        mix(&s.canary_status),
        dur(s.canary_latency.p50),
        dur(s.canary_latency.p99),
    )
}

/// The final report, ready to print.
pub(crate) fn final_report(r: &Final) -> String {
    let s = &r.last;
    let mut out = String::new();
    let w = &mut out;
    // Writing to a String cannot fail; the results are ignored on purpose below.
    let _ = writeln!(w, "\n== shadowgate demo: final report ==");
    let _ = writeln!(w, "\ntraffic (what the clients saw)");
    let secs = s.elapsed.as_secs_f64();
    let _ = writeln!(
        w,
        "  {} requests in {secs:.1} s from {} keep-alive clients (at most {} req/s)",
        s.sent, r.clients, r.max_rate
    );
    let _ = writeln!(
        w,
        "  {} answered by v1, {} answered by anything else, {} without an answer",
        r.from_v1, r.not_from_v1, s.primary_errors
    );
    let _ = writeln!(
        w,
        "\nmirror target \"{}\": every outcome (MirrorLayer::stats)",
        r.target
    );
    for (o, n) in &s.outcomes {
        let _ = writeln!(w, "  {:<24}{n:>8}", o.as_str());
    }
    let ended: u64 = [
        Outcome::Completed,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::DroppedShutdown,
    ]
    .iter()
    .map(|o| s.count(*o))
    .sum();
    let _ = writeln!(
        w,
        "  of {} dispatched, {ended} ended as completed, failed, timed_out or dropped_shutdown",
        s.count(Outcome::Dispatched)
    );
    let total: u64 = s.outcomes.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        w,
        "  the on_outcome hook heard {} events; the counters sum to {total}",
        r.hook_events
    );
    let primary = "primary (v1 via proxy)";
    let _ = writeln!(w, "\nstatus mix      {primary:<26}canary (v2 copies)");
    let (pt, ct) = (s.primary_status.iter().sum(), s.canary_status.iter().sum());
    for (i, class) in CLASSES.iter().enumerate() {
        let (p, c) = (s.primary_status[i], s.canary_status[i]);
        if p > 0 || c > 0 || matches!(i, 1 | 3 | 4) {
            let _ = writeln!(w, "  {class:<14}{:<26}{}", share(p, pt), share(c, ct));
        }
    }
    let _ = writeln!(
        w,
        "\nlatency         {:>8} {:>8} {:>8} {:>8} {:>8}",
        "p50", "p95", "p99", "max", "samples"
    );
    let rows = [
        (
            "primary",
            &s.primary_latency,
            "client round trip through the proxy",
        ),
        (
            "canary",
            &s.canary_latency,
            "completed copies, worker round trip",
        ),
    ];
    for (side, l, what) in rows {
        let _ = writeln!(
            w,
            "  {side:<14}{:>8} {:>8} {:>8} {:>8} {:>8}  ({what})",
            dur(l.p50),
            dur(l.p95),
            dur(l.p99),
            dur(l.max),
            l.count
        );
    }
    let _ = writeln!(w, "\nwhat the backends counted");
    let _ = writeln!(
        w,
        "  v1 received {} /api requests ({} other, e.g. health checks)",
        r.v1.api, r.v1.other
    );
    let _ = writeln!(
        w,
        "  v2 received {} /api requests, {} of them marked X-Mirror ({} other)",
        r.v2.api, r.v2.mirrored, r.v2.other
    );
    let _ = writeln!(w, "\nwhere to look next");
    if let Some(admin) = &r.admin {
        let _ = writeln!(
            w,
            "  admin /metrics, scraped before shutdown: {admin}/metrics"
        );
        let _ = writeln!(w, "    {}", r.scrape);
    }
    let _ = writeln!(
        w,
        "  on your own proxy: curl http://{}/metrics | grep shadowgate_mirror_requests_total",
        shadowgate_proxy::DEFAULT_ADMIN
    );
    let _ = writeln!(
        w,
        "  README.md: running shadowgate in front of your own services, configuration, metrics"
    );
    out
}

/// `2xx 205  4xx 35  5xx 0`: always 2xx, 4xx and 5xx; 1xx and 3xx when seen.
fn mix(classes: &[u64; 5]) -> String {
    let mut parts = Vec::new();
    for (i, class) in CLASSES.iter().enumerate() {
        if classes[i] > 0 || matches!(i, 1 | 3 | 4) {
            parts.push(format!("{class} {}", classes[i]));
        }
    }
    parts.join(" ")
}

/// `812 (81.2%)`, or `0` when there was nothing.
fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return n.to_string();
    }
    format!("{n} ({:.1}%)", n as f64 * 100.0 / total as f64)
}

/// A latency in the unit that reads best; `-` when there were no samples.
pub(crate) fn dur(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return String::from("-");
    };
    let ms = d.as_secs_f64() * 1000.0;
    match ms {
        m if m < 1.0 => format!("{m:.2}ms"),
        m if m < 100.0 => format!("{m:.1}ms"),
        m if m < 1000.0 => format!("{m:.0}ms"),
        m => format!("{:.2}s", m / 1000.0),
    }
}

#[cfg(test)]
mod tests;
