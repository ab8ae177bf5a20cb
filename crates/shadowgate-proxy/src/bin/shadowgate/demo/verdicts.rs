//! The demo report's verdict section: what comparison found, per endpoint, from the same
//! reports `GET /compare` and `GET /compare/fields` answer (docs/verdicts.md).

use std::fmt::Write as _;
use std::time::Duration;

use shadowgate::compare::FieldReport;
use shadowgate::{CompareReport, MirrorLayer};

/// One endpoint's regressions and noise.
#[derive(Debug, Clone)]
pub(crate) struct EndpointVerdicts {
    pub(crate) endpoint: String,
    pub(crate) pairs: u64,
    pub(crate) regressions: Vec<FieldReport>,
    pub(crate) noise: Vec<FieldReport>,
    pub(crate) masked: Vec<FieldReport>,
}

/// What the comparison of `target` found.
#[derive(Debug, Clone)]
pub(crate) struct Verdicts {
    pub(crate) report: Option<CompareReport>,
    pub(crate) endpoints: Vec<EndpointVerdicts>,
}

/// Waits (at most `bound`) until the comparator has caught up, then reads the verdicts.
pub(crate) async fn read(mirror: &MirrorLayer, target: &str, bound: Duration) -> Verdicts {
    let total = |m: &MirrorLayer| -> u64 {
        (m.compare_reports().iter())
            .filter(|r| r.target == target)
            .map(|r| r.results.values().sum::<u64>())
            .sum()
    };
    // Every copy has its outcome by now; a pair's result may still be on the comparator's
    // queue. Settled: no new result for 200 ms.
    let deadline = tokio::time::Instant::now() + bound;
    let mut last = total(mirror);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = total(mirror);
        if now == last {
            break;
        }
        last = now;
    }
    let report = (mirror.compare_reports().into_iter()).find(|r| r.target == target);
    let endpoints = (report.iter().flat_map(|r| &r.endpoints))
        .map(|e| {
            let fields = mirror
                .compare_fields(target, &e.endpoint)
                .unwrap_or_default();
            let pick = |v: &str| fields.iter().filter(|f| f.verdict == v).cloned().collect();
            EndpointVerdicts {
                endpoint: e.endpoint.clone(),
                pairs: e.pairs,
                regressions: pick("regression"),
                noise: pick("noise"),
                masked: (fields.iter())
                    .filter(|f| f.masked > 0 && f.diff == 0)
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    Verdicts { report, endpoints }
}

/// The section, as printed.
pub(crate) fn section(v: &Verdicts, target: &str, control: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\nverdicts: {target:?} compared with the primary, {control:?} as the control (GET /compare)"
    );
    let Some(report) = &v.report else {
        let _ = writeln!(w, "  comparison is off");
        return out;
    };
    let results: Vec<String> = (report.results.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let _ = writeln!(
        w,
        "  {} pairs compared; results: {}",
        report.pairs,
        results.join(", ")
    );
    for e in &v.endpoints {
        let verdict = match e.regressions.is_empty() {
            true => "no regression",
            false => "REGRESSION",
        };
        let _ = writeln!(w, "  {:<22}{:>6} pairs  {verdict}", e.endpoint, e.pairs);
        for f in &e.regressions {
            let control = match f.control_seen {
                0 => String::new(),
                n => format!(", control {} of {n}", f.control_diff),
            };
            let _ = writeln!(
                w,
                "      regression  {} {}: {} of {} pairs{control}",
                f.path, f.kind, f.diff, f.seen
            );
        }
        for f in &e.noise {
            let _ = writeln!(
                w,
                "      noise       {} {}: {} of {}, the control too ({} of {})",
                f.path, f.kind, f.diff, f.seen, f.control_diff, f.control_seen
            );
        }
        for f in &e.masked {
            let _ = writeln!(
                w,
                "      masked      {} {}: {} of {}, two values of one shape (times near now)",
                f.path, f.kind, f.masked, f.seen
            );
        }
    }
    let _ = writeln!(
        w,
        "  fields named by JSON Pointer into {{status, headers, body}}; /latency is the shadow being slower"
    );
    out
}
