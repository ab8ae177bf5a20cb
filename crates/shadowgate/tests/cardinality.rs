//! One target's comparison under a cardinality attack, measured in the process's live heap: a
//! shadow that answers every request with JSON of many random, some very long, keys, and
//! requests for 10,000 URL shapes, through real sockets. What the target's book holds (its
//! tally, latency per endpoint, regressions per endpoint and kept samples) stays within the bound
//! computed from the code's constants ([`book_bound`]), whatever the traffic. A global
//! allocator adds up the bytes allocated and not yet freed; this file holds one test, so
//! nothing else runs beside it.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::heap::{Live, LIVE};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use shadowgate::compare::tally::{OTHER_ENDPOINT, OTHER_FIELD};
use shadowgate::compare::{
    CompareReport, EndpointCounts, FieldCounts, Kind, MAX_ENDPOINT_LEN, SAMPLE_STORE_BYTES,
};
use shadowgate::{CompareConfig, MirrorLayer, TargetConfig, TeeBody};
use shadowgate_test_support::client::{get, http1, HttpClient};
use shadowgate_test_support::eventually;

#[global_allocator]
static GLOBAL: Live = Live;

/// URL shapes: distinct endpoints, none collapsing into another.
const SHAPES: usize = 10_000;
/// Requests to the first 256 shapes, the endpoints the tally keeps apart: 5 each, with answers
/// of many keys, enough to fill their field tables (see [`shape`]). Every other shape gets one
/// request (more would only add to `~other`, whose tables are full too).
const FIRST: usize = 5 * 256;
/// Requests sent, each compared.
const REQUESTS: usize = FIRST + SHAPES - 256;
/// The longest path sent (every 97th shape has a segment of 1,000 letters).
const LONGEST_PATH: usize = 1_100;
/// Requests in flight at once, and sent between two waits for their comparisons (fewer than
/// the comparator's queue of 1,024, so that none is skipped for a full queue).
const CONCURRENCY: usize = 32;
const WAVE: usize = 500;

/// The bytes one target's book holds at most, with endpoint names of at most `longest` bytes:
/// the documented bound, from the constants of `compare/tally.rs`, `latency.rs` and
/// `samples.rs` as they are written here (so that raising one in the code, not here, makes this
/// test fail rather than follow it). 64-bit; a `HashMap` of n entries of T bytes is one table
/// of `buckets(n)` slots of T + 1 bytes and 16 more, `buckets(n)` the power of two at or above
/// 8n/7 (512 for 257 or 265 entries); strings are held at their length.
/// - endpoints: `Bounds::endpoints` (256) kept apart, and `~other`: E = 257 names, each held
///   up to four times: as keys of the tally, of the latency, of the regressions, and of the
///   endpoints not judged since their last pair (`book.rs`, judged every 250 ms);
/// - fields: per endpoint `Bounds::fields` (256) (field, kind) pairs kept apart, and `/~other`
///   for each of the 9 kinds: F = 265, each name at most `MAX_FIELD_LEN` (256) bytes, with its
///   counts (an 80-byte entry) and at most 3 sample ids (a `Vec` of capacity 4: 32 bytes);
/// - statuses: per endpoint at most `Bounds::statuses` (32) pairs and `0 -> 0` in a `BTreeMap`:
///   at most 7 leaves of 144 bytes and one inner node of 240, under 2 KiB;
/// - latency: per endpoint three histograms of 96 `u32` buckets and a `u64` (1,176 bytes);
/// - regressions: per endpoint a `u64`; not judged yet: per endpoint its name;
/// - samples: at most `SAMPLE_STORE_BYTES` (2 MiB) of JSON. In memory a sample takes more than
///   its JSON: each difference is a 128-byte struct besides its strings, each header map has
///   `BTreeMap` nodes of 544 bytes; for answers of flat values (strings, numbers) under three
///   times its JSON: 6 MiB. (An object or array in a difference is kept as its JSON text:
///   kept as a tree, `{"":{"":...}}` took a 632-byte map node for every 5 bytes of JSON,
///   113.6 MiB for the store's 2 MiB.)
///
/// In all: the tally's endpoint table (512 slots of 121 bytes) 60.5 KiB; per endpoint its field
/// table (512 slots of 81 bytes) 40.5 KiB, 265 names and sample lists 74.5 KiB, statuses 2 KiB:
/// 117.0 KiB, 29.4 MiB for 257; latency (512 slots of 1,201 bytes) 600.5 KiB; regressions and
/// not judged (512 slots of 33 and 25 bytes) 29 KiB; samples 6 MiB: 36.0 MiB, and 4 x 257
/// names of at most `longest` bytes: 257 KiB for `MAX_ENDPOINT_LEN` (256), 36.3 MiB in all.
/// (Before endpoint names were cut at 256 bytes, a path of 65,534 bytes of one-digit segments
/// made a 98,301-byte endpoint: 96.4 MiB of names, 132.4 MiB in all.)
fn book_bound(longest: usize) -> usize {
    const ENDPOINTS: usize = 256 + 1;
    const FIELDS: usize = 256 + 9;
    const FIELD_NAME: usize = 256;
    const STATUSES: usize = 2048;
    const SAMPLE_IDS: usize = 4 * 8;
    const LATENCY: usize = 3 * (96 * 4 + 8);
    const SAMPLES: usize = 3 * 2 * 1024 * 1024;
    fn table(entries: usize, size: usize) -> usize {
        let buckets = match entries {
            0..4 => 4,
            4..8 => 8,
            n => (n * 8 / 7).next_power_of_two(),
        };
        buckets * (size + 1) + 16
    }
    let string = std::mem::size_of::<String>();
    let field_entry = std::mem::size_of::<((String, Kind), FieldCounts)>();
    let endpoint_entry = string + std::mem::size_of::<EndpointCounts>();
    let per_endpoint =
        table(FIELDS, field_entry) + FIELDS * (FIELD_NAME + SAMPLE_IDS) + STATUSES + 4 * longest;
    table(ENDPOINTS, endpoint_entry)
        + ENDPOINTS * per_endpoint
        + table(ENDPOINTS, string + LATENCY)
        + table(ENDPOINTS, string + 8)
        + table(ENDPOINTS, string)
        + SAMPLES
}

/// The primary: the same small JSON for every path.
async fn primary<B>(_: Request<TeeBody<B>>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes>,
{
    let resp = Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"id":1,"name":"user 1","plan":"pro"}"#,
        )))
        .unwrap();
    Ok(resp)
}

/// Serves [`primary`] through `layer` on 127.0.0.1:0.
async fn serve(layer: MirrorLayer) -> SocketAddr {
    common::serve_with(layer, primary::<hyper::body::Incoming>).await
}

/// `n` (at most 2,048) random lower-case letters: a slice of a fixed random string at a random
/// place (drawing each letter would cost more than the rest of the test in a debug build).
fn letters(rng: &mut fastrand::Rng, n: usize, out: &mut String) {
    static POOL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let mut rng = fastrand::Rng::with_seed(7);
        (0..4096).map(|_| rng.lowercase()).collect()
    });
    let at = rng.usize(..=pool.len() - n);
    out.push_str(&pool[at..at + n]);
}

/// The hostile answer to the `n`th request the shadow serves: a JSON object of `keys` keys, each
/// new (the answer's number in it), one in eight of them 251 to 300 bytes long (counted as
/// `/~other`); the rest 250 bytes (the longest field name kept, `/body/` and the key, is 256)
/// in an answer of 64 keys or more, else 24; their values short strings and numbers. None of
/// the primary's fields.
fn hostile(n: usize, keys: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    let mut out = String::from("{");
    for i in 0..keys {
        if i > 0 {
            out.push(',');
        }
        let mut key = format!("k{n}x{i}");
        let len = match (i % 8, keys >= 64) {
            (1, _) => rng.usize(251..=300),
            (_, true) => 250,
            (_, false) => 24,
        };
        letters(&mut rng, len.saturating_sub(key.len()), &mut key);
        match rng.bool() {
            true => write!(out, r#""{key}":"{}""#, rng.u32(..)).unwrap(),
            false => write!(out, r#""{key}":{}"#, rng.u32(..)).unwrap(),
        }
    }
    out.push('}');
    out
}

/// The request header that tells the hostile shadow how many keys to answer with.
const KEYS: &str = "x-hostile-keys";

/// The hostile shadow on 127.0.0.1:0: answers [`hostile`] to every request, with as many keys
/// as its [`KEYS`] header says (default 4), keeping nothing.
async fn hostile_shadow() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let served = served.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let keys = (req.headers().get(KEYS))
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(4);
                let body = hostile(served.fetch_add(1, Ordering::Relaxed), keys);
                async move {
                    let resp = Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// The path of URL shape `s`: `/s` and `s` in letters (so each shape is its own endpoint), then
/// one to three segments of 3 to 20 letters; every 97th shape past the first 256 one more of
/// 1,000 letters, an endpoint over `MAX_ENDPOINT_LEN` (counted as `~other`). No segment holds a
/// digit, so none is collapsed to `{}`.
fn path(s: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(1_000_000 + s as u64);
    let mut out = String::from("/s");
    let mut n = s;
    loop {
        out.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
    }
    for _ in 0..rng.usize(1..=3) {
        out.push('/');
        let len = rng.usize(3..=20);
        letters(&mut rng, len, &mut out);
    }
    if s % 97 == 0 && s >= 256 {
        out.push('/');
        letters(&mut rng, 1_000, &mut out);
    }
    assert!(out.len() <= LONGEST_PATH, "{}", out.len());
    out
}

/// The URL shape of request `j`, and the keys of its shadow's answer. The first 256 requests go
/// to shapes 0 to 255, which the tally keeps apart (they are sent and compared before any
/// other). Then every tenth request goes to one of them again, until each has had 5, and the
/// others each to a new shape. Requests to the first 256 shapes are answered with 64 keys (8
/// of them too long to be kept by name, so 56 names a pair, 280 for each endpoint, over the
/// bound), the others with 4. (Interleaved, the comparator's work on the large answers and the
/// sending of the small ones overlap.)
fn shape(j: usize) -> (usize, usize) {
    const AGAIN: usize = FIRST - 256;
    let Some(k) = j.checked_sub(256) else {
        return (j, 64);
    };
    if k % 10 == 0 && k / 10 < AGAIN {
        return ((k / 10) % 256, 64);
    }
    let again_before = k.div_ceil(10).min(AGAIN);
    (256 + k - again_before, 4)
}

/// Sends requests `from..to` to the proxy at `addr`, [`CONCURRENCY`] at a time, reading each
/// answer whole.
async fn send(client: &HttpClient, addr: SocketAddr, from: usize, to: usize) {
    let next = Arc::new(AtomicUsize::new(from));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, next) = (client.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= to {
                    return;
                }
                let (shape, keys) = shape(j);
                let mut req = get(&format!("http://{addr}{}", path(shape)));
                req.headers_mut().insert(KEYS, keys.into());
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn report(layer: &MirrorLayer) -> CompareReport {
    layer.compare_reports().into_iter().next().unwrap()
}

/// Waits until `results` (counted by the `on_compare` hook: the report's totals would be as
/// good, but a report of a full tally is costly to make, and it holds the comparator's lock) is
/// at least `n`.
async fn settled(results: &AtomicUsize, n: usize) {
    eventually(&format!("{n} comparison results"), || {
        let seen = results.load(Ordering::Relaxed);
        match seen >= n {
            true => Ok(()),
            false => Err(seen),
        }
    })
    .await
}

fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_target_holds_no_more_than_the_bounds() {
    let shadow = hostile_shadow().await;
    let results = Arc::new(AtomicUsize::new(0));
    let counted = results.clone();
    let layer = MirrorLayer::builder()
        .on_compare(move |_: &shadowgate::CompareEvent<'_>| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .target(
            TargetConfig::builder(format!("http://{shadow}"))
                .name("hostile")
                .queue(4 * WAVE)
                .compare(CompareConfig::new().max_per_second(0))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let addr = serve(layer.clone()).await;
    let client = http1();

    // Warm-up at full concurrency: the connections and their buffers, the runtime's, the
    // comparator's; then the book is cleared.
    send(&client, addr, 256, 256 + WAVE).await;
    settled(&results, WAVE).await;
    assert!(layer.compare_reset("hostile"));
    results.store(0, Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);

    let started = std::time::Instant::now();
    let mut sent = 0;
    while sent < REQUESTS {
        let to = match sent {
            0 => 256,
            _ => (sent + WAVE).min(REQUESTS),
        };
        send(&client, addr, sent, to).await;
        settled(&results, to).await;
        sent = to;
    }
    eprintln!("{REQUESTS} requests compared in {:?}", started.elapsed());

    // What was reached, read before the book is cleared: the results, and per endpoint the
    // size of its field table and whether `/~other` is in it.
    let got = report(&layer);
    let tables: Vec<(usize, bool)> = (got.endpoints.iter())
        .map(|e| {
            let fields = layer.compare_fields("hostile", &e.endpoint).unwrap();
            let other = fields.iter().any(|f| f.path == OTHER_FIELD);
            (fields.len(), other)
        })
        .collect();
    let samples = layer.compare_samples("hostile").unwrap();
    let samples_json: usize = (samples.iter())
        .map(|s| serde_json::to_vec(&**s).unwrap().len())
        .sum();
    // What the kept samples take in memory, as a copy of them takes.
    let copies_from = LIVE.load(Ordering::Relaxed);
    let copies: Vec<shadowgate::compare::Sample> = samples.iter().map(|s| (**s).clone()).collect();
    let samples_heap = LIVE.load(Ordering::Relaxed) - copies_from;
    let kept = copies.len();
    drop((copies, samples));

    // What the book holds: freed when it is cleared.
    let until_reset = LIVE.load(Ordering::Relaxed);
    assert!(layer.compare_reset("hostile"));
    let book = until_reset - LIVE.load(Ordering::Relaxed);
    let held = until_reset - before;
    // Endpoint names are cut at MAX_ENDPOINT_LEN (longer ones are `~other`), so this is the
    // bound whatever paths a client sends.
    let bound = book_bound(MAX_ENDPOINT_LEN) as isize;
    eprintln!(
        "after {REQUESTS} hostile pairs: the book held {} ({book} bytes; samples {} of JSON, \
         {} as a copy, in {kept} samples), the process {} more than before the attack; the \
         bound is {} ({bound} bytes)",
        mib(book),
        mib(samples_json as isize),
        mib(samples_heap),
        mib(held),
        mib(bound),
    );
    assert!(
        book <= bound,
        "the book holds {book} bytes, over the bound of {bound}"
    );
    // Nothing else grew with the attack: the process holds the book and what the connections
    // and the runtime hold, no more.
    assert!(
        held <= book + 8 * 1024 * 1024,
        "the process holds {held} bytes more, the book {book}"
    );
    assert!(
        samples_heap <= 3 * SAMPLE_STORE_BYTES as isize,
        "the samples take {samples_heap} bytes"
    );

    // The attack reached every bound: every pair compared; 256 endpoints and ~other, each with
    // a full field table (256 (field, kind) pairs, `/~other` among them, since a name over 256
    // bytes is counted as `/~other` from the first, and more of `/~other` once full); the
    // samples store full.
    let different = got.results["different"];
    assert_eq!(different, REQUESTS as u64, "{:?}", got.results);
    assert_eq!(got.endpoints.len(), 257, "256 endpoints and ~other");
    let other = got.endpoints.iter().find(|e| e.endpoint == OTHER_ENDPOINT);
    assert_eq!(other.map(|e| e.pairs), Some((REQUESTS - FIRST) as u64));
    for (e, (fields, other)) in got.endpoints.iter().zip(&tables) {
        assert!(*fields >= 256 && *other, "{}: {fields} fields", e.endpoint);
    }
    assert!(samples_json <= SAMPLE_STORE_BYTES, "{samples_json}");
    assert!(
        samples_json > SAMPLE_STORE_BYTES * 9 / 10,
        "the store is full: {samples_json}"
    );
    layer.shutdown(std::time::Duration::from_millis(100)).await;
}
