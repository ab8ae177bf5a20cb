//! [`streamed_body`]: a body a test writes chunk by chunk while the other side is already
//! reading it, for proving that something streams instead of collecting.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use crate::client::PROMPT;

/// The reading half: a body of unknown length (chunked on HTTP/1.1) that yields each chunk as
/// it is sent and ends when its [`ChunkSender`] is dropped.
#[derive(Debug)]
pub struct StreamedBody {
    chunks: mpsc::Receiver<Bytes>,
}

/// The writing half of a [`StreamedBody`].
#[derive(Debug)]
pub struct ChunkSender {
    chunks: mpsc::Sender<Bytes>,
}

/// A body and the handle that writes it; room for one chunk at a time, so each send waits
/// until the reader has taken the one before.
pub fn streamed_body() -> (ChunkSender, StreamedBody) {
    let (tx, rx) = mpsc::channel(1);
    (ChunkSender { chunks: tx }, StreamedBody { chunks: rx })
}

impl ChunkSender {
    /// Sends `chunk`; `false` when the reader is gone or did not take the chunk before it
    /// within [`PROMPT`](crate::client::PROMPT).
    pub async fn send(&self, chunk: impl Into<Bytes>) -> bool {
        matches!(
            tokio::time::timeout(PROMPT, self.chunks.send(chunk.into())).await,
            Ok(Ok(()))
        )
    }
}

impl Body for StreamedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}
