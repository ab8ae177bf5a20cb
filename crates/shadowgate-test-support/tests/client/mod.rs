//! What the test files share: the library's client module, plus sending and collecting.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
#[allow(unused_imports)] // each test file uses a different part
pub use shadowgate_test_support::client::{get, h2c, http1, HttpClient, PROMPT};
#[allow(unused_imports)] // each test file uses a different part
pub use shadowgate_test_support::eventually;

/// Sends `request`, failing the test if no answer comes within [`PROMPT`].
pub async fn send(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    tokio::time::timeout(PROMPT, client.request(request))
        .await
        .expect("no answer within the bound")
}

/// The response body, collected within [`PROMPT`].
pub async fn body(response: Response<Incoming>) -> Bytes {
    tokio::time::timeout(PROMPT, response.into_body().collect())
        .await
        .expect("body did not finish within the bound")
        .expect("body failed")
        .to_bytes()
}
