//! The response future of [`crate::Mirror`]: the primary's own future, unwaited. When a copy of
//! the request is compared, the response's head is kept and its body wrapped to keep the data
//! too ([`CaptureBody`]); otherwise the body is wrapped with nothing to keep.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::compare::capture::{CaptureBody, Keeper};

pin_project! {
    /// The wrapped service's response future. Copies never touch it: the primary's response is
    /// the client's, unchanged and unwaited.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        keeper: Option<Box<Keeper>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, keeper: Option<Box<Keeper>>) -> Self {
        Self { inner, keeper }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<CaptureBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // An error drops the keeper, which reports the primary as incomplete.
        let response = ready!(this.inner.poll(cx))?;
        let keeper = this
            .keeper
            .take()
            .and_then(|mut k| k.head(response.status(), response.headers()).then_some(k));
        Poll::Ready(Ok(response.map(|body| CaptureBody::keeping(body, keeper))))
    }
}
