//! The admin listener: `GET /healthz` and `GET /metrics` (DESIGN §4); everything else is 404.
//! It runs on its own address, so the proxy listener never answers admin paths.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use prometheus_client::registry::Registry;

const TEXT: &str = "text/plain; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The admin service; one per connection, sharing the registry.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    registry: Arc<Registry>,
}

impl AdminService {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if !matches!(path, "/healthz" | "/metrics") {
            return reply(
                StatusCode::NOT_FOUND,
                TEXT,
                Bytes::from_static(b"not found\n"),
            );
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut r = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                Bytes::from_static(b"method not allowed\n"),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        if path == "/healthz" {
            return reply(StatusCode::OK, TEXT, Bytes::from_static(b"ok"));
        }
        let mut text = String::with_capacity(16 * 1024);
        match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            Ok(()) => reply(StatusCode::OK, OPENMETRICS, Bytes::from(text)),
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                Bytes::from_static(b"metrics could not be encoded\n"),
            ),
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

impl hyper::service::Service<Request<Incoming>> for AdminService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        ready(Ok(self.answer(&req)))
    }
}
