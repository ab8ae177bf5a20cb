//! [`ResettingServer`]: resets every connection with a TCP RST.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::accept::Listening;

/// Accepts and resets every connection (`SO_LINGER` 0, then close, which sends RST instead of
/// FIN). For testing how a client copes with a target that dies mid-exchange.
#[derive(Debug)]
pub struct ResettingServer {
    listening: Listening,
}

impl ResettingServer {
    /// Resets each connection after reading the first bytes of the request, so the client sees
    /// a reset mid-exchange (after it sent, before any answer).
    pub async fn start() -> io::Result<Self> {
        Self::listen(true).await
    }

    /// Resets each connection as soon as it is accepted, before reading anything.
    pub async fn start_on_accept() -> io::Result<Self> {
        Self::listen(false).await
    }

    async fn listen(read_first: bool) -> io::Result<Self> {
        let listening = Listening::start(move |stream, _tasks| reset(stream, read_first)).await?;
        Ok(Self { listening })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        self.listening.url()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.listening.connections()
    }
}

async fn reset(mut stream: TcpStream, read_first: bool) {
    if read_first {
        let mut buf = vec![0u8; 8 * 1024];
        // Whatever the read gives (bytes, EOF, error), the answer is a reset.
        let _ = stream.read(&mut buf).await;
    }
    // `set_linger` is deprecated because a non-zero linger blocks the thread on close; a zero
    // linger never blocks (tokio documents this). `set_zero_linger` would say the same but
    // needs tokio 1.50, above the workspace's declared floor of 1.40.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}
