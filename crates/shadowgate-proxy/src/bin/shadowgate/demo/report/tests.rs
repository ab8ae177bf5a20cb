use std::time::Duration;

use shadowgate::Outcome;

use super::*;

fn ms(m: u64) -> Option<Duration> {
    Some(Duration::from_millis(m))
}

fn snapshot() -> Snapshot {
    let outcomes = Outcome::ALL
        .iter()
        .map(|o| {
            let n = match o {
                Outcome::Dispatched => 90,
                Outcome::Completed => 85,
                Outcome::TimedOut => 5,
                Outcome::DroppedQueueFull => 10,
                _ => 0,
            };
            (*o, n)
        })
        .collect();
    Snapshot {
        elapsed: Duration::from_secs(3),
        sent: 100,
        primary_status: [0, 80, 0, 20, 0],
        primary_errors: 0,
        primary_latency: LatencySummary {
            count: 100,
            p50: ms(1),
            p95: ms(2),
            p99: ms(3),
            max: ms(4),
        },
        outcomes,
        canary_status: [0, 60, 0, 20, 5],
        canary_latency: LatencySummary {
            count: 85,
            p50: ms(2),
            p95: ms(300),
            p99: ms(310),
            max: ms(1200),
        },
    }
}

#[test]
fn durations_read_in_the_best_unit() {
    assert_eq!(dur(None), "-");
    assert_eq!(dur(Some(Duration::from_micros(420))), "0.42ms");
    assert_eq!(dur(Some(Duration::from_micros(12_340))), "12.3ms");
    assert_eq!(dur(ms(305)), "305ms");
    assert_eq!(dur(ms(1_250)), "1.25s");
}

#[test]
fn mix_always_shows_2xx_4xx_5xx_and_others_when_seen() {
    assert_eq!(mix(&[0, 80, 0, 20, 0]), "2xx 80 4xx 20 5xx 0");
    assert_eq!(mix(&[1, 2, 3, 4, 5]), "1xx 1 2xx 2 3xx 3 4xx 4 5xx 5");
}

#[test]
fn share_is_a_percentage_of_the_total() {
    assert_eq!(share(1, 8), "1 (12.5%)");
    assert_eq!(share(0, 0), "0");
}

#[test]
fn live_block_shows_both_sides_and_drops_by_reason() {
    let text = live(&snapshot());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("[  3s] primary  sent 100"), "{text}");
    assert!(lines[0].contains("2xx 80 4xx 20 5xx 0"), "{text}");
    assert!(lines[0].contains("p50 1.0ms p99 3.0ms"), "{text}");
    assert!(
        lines[1].contains("90 dispatched, 85 completed, 5 timed out"),
        "{text}"
    );
    assert!(lines[1].contains("10 dropped (queue_full 10)"), "{text}");
    assert!(lines[1].contains("5xx 5"), "{text}");
    assert!(lines[1].contains("p99 310ms"), "{text}");
}

#[test]
fn live_block_without_drops_names_no_reason() {
    let mut s = snapshot();
    s.outcomes.retain(|(o, _)| !o.is_drop());
    assert!(live(&s).contains(", 0 dropped  "), "{}", live(&s));
}

#[test]
fn final_report_lists_every_outcome_and_both_sides() {
    let r = Final {
        target: String::from("canary"),
        last: snapshot(),
        clients: 4,
        max_rate: 120,
        from_v1: 100,
        hook_events: 190,
        v1: Counted {
            api: 100,
            mirrored: 0,
            other: 2,
        },
        v2: Counted {
            api: 88,
            mirrored: 88,
            other: 0,
        },
        admin: Some(String::from("http://127.0.0.1:9")),
        scrape: String::from("200, 40 shadowgate_ samples"),
        ..Final::default()
    };
    let text = final_report(&r);
    for o in Outcome::ALL {
        assert!(text.contains(o.as_str()), "{} missing:\n{text}", o.as_str());
    }
    assert!(text.contains("mirror target \"canary\""), "{text}");
    assert!(
        text.contains("  completed                     85"),
        "{text}"
    );
    assert!(
        text.contains("heard 190 events; the counters sum to 190"),
        "{text}"
    );
    assert!(text.contains("of 90 dispatched, 90 ended as"), "{text}");
    assert!(
        text.contains("curl http://127.0.0.1:9901/metrics"),
        "{text}"
    );
    assert!(
        text.contains("100 answered by v1, 0 answered by anything else"),
        "{text}"
    );
    assert!(text.contains("80 (80.0%)"), "{text}");
    assert!(text.contains("5 (5.9%)"), "{text}");
    assert!(
        text.contains("v2 received 88 /api requests, 88 of them marked X-Mirror"),
        "{text}"
    );
    assert!(text.contains("http://127.0.0.1:9/metrics"), "{text}");
    assert!(text.contains("200, 40 shadowgate_ samples"), "{text}");
    assert!(text.contains("1.20s"), "{text}");
}
