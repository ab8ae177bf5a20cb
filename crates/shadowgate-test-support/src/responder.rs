//! [`Responder`]: how a [`RecordingServer`](crate::RecordingServer) answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};

use crate::body::ResponseBody;
use crate::Recorded;

type CustomFn = dyn Fn(&Recorded) -> Option<(u16, Bytes)> + Send + Sync;

/// How a [`RecordingServer`](crate::RecordingServer) answers. Cheap to clone; built with
/// chained methods.
///
/// A mistake in the plan (an invalid header or status) does not panic: every response becomes a
/// `500` whose body names the mistake, so the test using it fails visibly.
#[derive(Clone)]
pub struct Responder {
    plan: Arc<Plan>,
}

#[derive(Clone)]
struct Plan {
    status: u16,
    headers: HeaderMap,
    body: PlannedBody,
    delay: Option<Duration>,
    echo: bool,
    custom: Option<Arc<CustomFn>>,
    mistake: Option<String>,
}

#[derive(Clone, Debug)]
enum PlannedBody {
    Full(Bytes),
    Chunks(Vec<Bytes>),
}

impl Responder {
    /// `200`, body `"ok"`, `content-type: text/plain` (unless a `content-type` header is added).
    pub fn new() -> Self {
        let plan = Plan {
            status: 200,
            headers: HeaderMap::new(),
            body: PlannedBody::Full(Bytes::from_static(b"ok")),
            delay: None,
            echo: false,
            custom: None,
            mistake: None,
        };
        Self {
            plan: Arc::new(plan),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Plan)) -> Self {
        f(Arc::make_mut(&mut self.plan));
        self
    }

    pub fn status(self, s: u16) -> Self {
        self.edit(|p| p.status = s)
    }

    /// Adds a response header; repeatable, duplicates are kept.
    pub fn header(self, name: &str, value: &str) -> Self {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("responder: invalid header name {name:?}: {e}"))
            .and_then(|n| {
                HeaderValue::from_str(value)
                    .map(|v| (n, v))
                    .map_err(|e| format!("responder: invalid value {value:?} for {name:?}: {e}"))
            });
        self.edit(|p| match parsed {
            Ok((n, v)) => {
                p.headers.append(n, v);
            }
            Err(mistake) => {
                p.mistake.get_or_insert(mistake);
            }
        })
    }

    /// The response body, sent with `content-length`.
    pub fn body(self, b: impl Into<Bytes>) -> Self {
        let b = b.into();
        self.edit(|p| p.body = PlannedBody::Full(b))
    }

    /// The response body as separate frames with no `content-length` (chunked on HTTP/1.1),
    /// yielding to the runtime between chunks so each is written on its own.
    pub fn chunked(self, chunks: Vec<Bytes>) -> Self {
        self.edit(|p| p.body = PlannedBody::Chunks(chunks))
    }

    /// Waits `d` before answering (a slow sink). The request is recorded when it arrives, before
    /// the delay.
    pub fn delay(self, d: Duration) -> Self {
        self.edit(|p| p.delay = Some(d))
    }

    /// Answers with the request body as the response body.
    pub fn echo(self) -> Self {
        self.edit(|p| p.echo = true)
    }

    /// Per-request override: called with the recorded request; returning `Some` replaces the
    /// status and the body (sent with `content-length`). Headers and delay still apply.
    pub fn with_fn(
        self,
        f: impl Fn(&Recorded) -> Option<(u16, Bytes)> + Send + Sync + 'static,
    ) -> Self {
        let f: Arc<CustomFn> = Arc::new(f);
        self.edit(|p| p.custom = Some(f))
    }

    /// The response to `request`, after the delay if there is one.
    pub(crate) async fn respond(&self, request: &Recorded) -> Response<ResponseBody> {
        let plan = &*self.plan;
        if let Some(delay) = plan.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(mistake) = &plan.mistake {
            return mistake_response(mistake.clone());
        }
        let (status, body) = match plan.custom.as_ref().and_then(|f| f(request)) {
            Some((status, body)) => (status, ResponseBody::full(body)),
            None if plan.echo => (plan.status, ResponseBody::full(request.body.clone())),
            None => match &plan.body {
                PlannedBody::Full(b) => (plan.status, ResponseBody::full(b.clone())),
                PlannedBody::Chunks(c) => (plan.status, ResponseBody::chunks(c.clone())),
            },
        };
        let Ok(status) = StatusCode::from_u16(status) else {
            return mistake_response(format!("responder: invalid status {status}"));
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = plan.headers.clone();
        response
            .headers_mut()
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("text/plain"));
        response
    }
}

fn mistake_response(mistake: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from(mistake)));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl Default for Responder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &*self.plan;
        f.debug_struct("Responder")
            .field("status", &p.status)
            .field("headers", &p.headers)
            .field("body", &p.body)
            .field("delay", &p.delay)
            .field("echo", &p.echo)
            .field("with_fn", &p.custom.is_some())
            .field("mistake", &p.mistake)
            .finish()
    }
}
