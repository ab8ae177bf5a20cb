//! The verdict rule on the labelled generator (test-support's `generator`), in-process: every
//! regression version 2 carries is found within 10,000 compared pairs with a control, no noisy
//! field is ever a regression with a control, and an A/A run (version 1 against version 1)
//! finds none at all (docs/verdicts.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::collections::BTreeSet;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use shadowgate::compare::{
    compare, endpoint, ArrayMode, Bounds, Glob, Pair, Rule, Rules, Side, Tally, Tolerance, Verdict,
};
use shadowgate_test_support::generator::{
    is_consequence, path_of, Generated, Instance, Version, INJECTED, LATENCY, NOISY,
};

const PAIRS: u64 = 10_000;

fn rules() -> Rules {
    Rules {
        arrays: vec![(Glob::new("/body/tags"), ArrayMode::Set)],
        numbers: vec![(
            Glob::new("/body/score"),
            Tolerance {
                abs: 0.001,
                rel: 0.0,
            },
        )],
        ..Rules::default()
    }
}

fn headers(g: &Generated) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in &g.headers {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

fn side<'a>(g: &'a Generated, headers: &'a HeaderMap) -> Side<'a> {
    Side {
        status: StatusCode::from_u16(g.status).unwrap(),
        headers,
        body: g.body.as_bytes(),
    }
}

/// Compares `PAIRS` requests: the primary (version 1), the shadow (`shadow`) and a control
/// (version 1); returns every (endpoint, field, kind) judged a regression.
fn regressions(shadow: Version) -> BTreeSet<(String, String, &'static str)> {
    let rules = rules();
    let (mut primary, mut shadow, mut control) = (
        Instance::new(Version::V1, 1),
        Instance::new(shadow, 2),
        Instance::new(Version::V1, 3),
    );
    let mut tally = Tally::new(Bounds::default());
    let now = SystemTime::now();
    for n in 0..PAIRS {
        let (p, s, c) = (primary.respond(n), shadow.respond(n), control.respond(n));
        let (ph, sh, ch) = (headers(&p), headers(&s), headers(&c));
        let (mut shadow_diffs, mut control_diffs) = (Vec::new(), Vec::new());
        compare(&side(&p, &ph), &side(&s, &sh), &rules, &mut shadow_diffs);
        compare(&side(&p, &ph), &side(&c, &ch), &rules, &mut control_diffs);
        let path = path_of(n);
        let endpoint = endpoint(path.split('?').next().unwrap(), &[]);
        tally.record(
            Pair {
                endpoint: &endpoint,
                primary_status: p.status,
                shadow_status: s.status,
                shadow: &shadow_diffs,
                control: Some(&control_diffs),
            },
            now,
        );
    }
    let rule = Rule::default();
    let mut found = BTreeSet::new();
    for (endpoint, counts) in tally.endpoints() {
        for (field, kind, verdict) in counts.verdicts(&rule) {
            if verdict == Verdict::Regression {
                found.insert((endpoint.clone(), field.to_owned(), kind.as_str()));
            }
        }
    }
    found
}

#[test]
fn every_injected_regression_is_found_and_no_noise_is_one() {
    let found = regressions(Version::V2);
    // In-process there is no latency: the delays are seen only over sockets.
    for injected in INJECTED.iter().filter(|i| i.field != LATENCY) {
        let key = (
            injected.endpoint.to_owned(),
            injected.field.to_owned(),
            injected.kind,
        );
        assert!(found.contains(&key), "{injected:?} not found in {found:#?}");
    }
    for (endpoint, field, kind) in &found {
        // The 5xx of orders and items replace their whole body: every field of it goes with
        // them, the noisy ones too, and `error` comes.
        if is_consequence(endpoint, field, kind) {
            continue;
        }
        let injected = INJECTED
            .iter()
            .any(|i| i.endpoint == endpoint && i.field == field && i.kind == *kind);
        // The score's jitter is noise within its tolerance; its drift beyond it is injected.
        assert!(
            injected,
            "a regression that was not injected: {endpoint} {field} {kind}{}",
            if NOISY.contains(&field.as_str()) {
                " (a noisy field)"
            } else {
                ""
            }
        );
    }
}

#[test]
fn an_a_a_run_finds_no_regression() {
    let found = regressions(Version::V1);
    assert!(found.is_empty(), "{found:#?}");
}
