//! The client side of tests: hyper-util clients (HTTP/1.1 and h2c), a GET builder, and the bound
//! every wait in a test uses.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Generous bound for anything that should happen promptly on loopback.
pub const PROMPT: Duration = Duration::from_secs(10);

/// A plain-HTTP client with a whole-body request type.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An HTTP/1.1 keep-alive client.
pub fn http1() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c (HTTP/2 with prior knowledge) client.
pub fn h2c() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A bodiless GET of `uri`.
pub fn get(uri: &str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::new()));
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        // A test's typo: leave `/` and let the test's own assertions fail loudly.
        Err(_) => *request.uri_mut() = http::Uri::from_static("/"),
    }
    request
}
