//! [`BlackHole`]: accepts connections and never answers.

use std::io;
use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::accept::Listening;

/// Accepts TCP connections and never answers: reads and discards what arrives and holds each
/// connection open (even after the client half-closes) until the black hole is dropped. For
/// testing that a slow or dead target cannot hold anything up.
#[derive(Debug)]
pub struct BlackHole {
    listening: Listening,
}

impl BlackHole {
    pub async fn start() -> io::Result<Self> {
        let listening = Listening::start(|stream, _tasks| swallow(stream)).await?;
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

async fn swallow(mut stream: TcpStream) {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    // The client is done sending; keep our side open without a word until dropped.
    std::future::pending::<()>().await;
    drop(stream);
}
