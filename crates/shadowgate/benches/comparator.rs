//! The comparator's throughput: [`shadowgate::compare::compare`] on one pair of JSON responses
//! (status, headers with `content-type: application/json`, body), in pairs per second, for
//! bodies of about 1 KB, 8 KB, 75 KB and 750 KB. The primary answers a page of catalogue items;
//! the shadow differs in a few fields: `total` renamed `total_count`, one item's `price`
//! changed, a different `served_at` and `etag`. Each size is measured:
//! - `plain`: no rules (arrays ordered, numbers exact);
//! - `rules`: typical rules: `/body/items` as a set, a tolerance on `/body/items/*/price`, and
//!   `/body/served_at` and `/headers/etag` ignored.
//!
//! What is timed is what the comparator thread does per pair besides counting it: both bodies
//! parsed, the headers as documents, the differences found (and dropped).
//!
//! Run: `cargo bench -p shadowgate --bench comparator`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::fmt::Write as _;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{HeaderMap, HeaderValue, StatusCode};
use shadowgate::compare::{compare, ArrayMode, Glob, Rules, Side, Tolerance};

/// The sizes measured: (name, body bytes at least).
const SIZES: [(&str, usize); 4] = [
    ("1KB", 1_000),
    ("8KB", 8_000),
    ("75KB", 75_000),
    ("750KB", 750_000),
];

/// One catalogue item (about 250 bytes of JSON).
fn item(out: &mut String, i: usize, price_cents: usize) {
    write!(
        out,
        r#"{{"id":{},"sku":"SKU-{:06}","name":"Product number {} of the catalogue","price":{}.{:02},"currency":"EUR","tags":["colour-{}","sale","new"],"stock":{{"warehouse":"ams-{}","count":{}}},"updated_at":"2024-05-01T12:{:02}:00Z"}}"#,
        10_000 + i,
        i,
        i,
        price_cents / 100,
        price_cents % 100,
        i % 7,
        i % 3,
        (i * 37) % 500,
        i % 60
    )
    .unwrap();
}

/// A page of items of at least `size` bytes: the primary's, or the shadow's with its changes.
fn page(size: usize, shadow: bool) -> Vec<u8> {
    // The item count first (items are about the same size), so both sides have the same.
    let mut probe = String::new();
    item(&mut probe, 500, 1999);
    let n = (size / (probe.len() + 1)).max(1);
    let changed = n / 2;
    let mut out = String::with_capacity(size + 512);
    let (total, served_at) = match shadow {
        true => ("total_count", "2024-05-01T12:00:00.734Z"),
        false => ("total", "2024-05-01T12:00:00.512Z"),
    };
    write!(
        out,
        r#"{{"page":1,"per_page":{n},"{total}":{},"served_at":"{served_at}","items":["#,
        n * 40
    )
    .unwrap();
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let cents = 1999 + (i % 50) * 100;
        let cents = match shadow && i == changed {
            true => cents + 150,
            false => cents,
        };
        item(&mut out, i, cents);
    }
    out.push_str("]}");
    out.into_bytes()
}

fn headers(len: usize, etag: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut add = |name: &'static str, value: HeaderValue| {
        h.insert(name, value);
    };
    add(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    add("content-length", HeaderValue::from(len));
    add(
        "cache-control",
        HeaderValue::from_static("private, max-age=0"),
    );
    add("vary", HeaderValue::from_static("accept-encoding"));
    add("etag", HeaderValue::from_static(etag));
    add("server", HeaderValue::from_static("catalogue"));
    add(
        "date",
        HeaderValue::from_static("Wed, 01 May 2024 12:00:00 GMT"),
    );
    add(
        "x-request-id",
        HeaderValue::from_static("0f8e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
    );
    h
}

/// The typical rules: the items as a set, a price tolerance, two ignored fields.
fn typical_rules() -> Rules {
    Rules {
        ignore: vec![Glob::new("/body/served_at"), Glob::new("/headers/etag")],
        arrays: vec![(Glob::new("/body/items"), ArrayMode::Set)],
        numbers: vec![(
            Glob::new("/body/items/*/price"),
            Tolerance {
                abs: 0.01,
                rel: 0.0,
            },
        )],
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("compare");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    let rules = [("plain", Rules::default()), ("rules", typical_rules())];
    for (size_name, size) in SIZES {
        let (pb, sb) = (page(size, false), page(size, true));
        let (ph, sh) = (headers(pb.len(), "\"v1-a\""), headers(sb.len(), "\"v1-b\""));
        let p = Side {
            status: StatusCode::OK,
            headers: &ph,
            body: &pb,
        };
        let s = Side {
            status: StatusCode::OK,
            headers: &sh,
            body: &sb,
        };
        for (rules_name, rules) in &rules {
            let mut found = Vec::new();
            compare(&p, &s, rules, &mut found);
            let fields: Vec<_> = found.iter().map(|d| d.pointer.as_str()).collect();
            eprintln!(
                "{rules_name}/{size_name}: bodies {} and {} bytes, differences {fields:?}",
                pb.len(),
                sb.len()
            );
            g.bench_with_input(
                BenchmarkId::new(*rules_name, size_name),
                &(p, s),
                |b, (p, s)| {
                    b.iter(|| {
                        let mut out = Vec::new();
                        compare(p, s, rules, &mut out);
                        out
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
