//! [`raw_exchange`] and [`read_head`]: exact bytes on the wire, for tests that need them.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Sends `raw` bytes to `addr`, reads until the peer closes or `timeout` (counted from the
/// call) passes, and returns what arrived.
///
/// Reaching the timeout while reading is not an error: the bytes so far are returned. Failing to
/// connect or send within it is (`TimedOut`), and so is a read error such as a reset. The write
/// side is never shut down, since HTTP/1 servers may drop a half-closed request; ask for
/// `Connection: close` to have the server end the exchange.
pub async fn raw_exchange(addr: SocketAddr, raw: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut stream = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out("connecting", addr))??;
    let _ = stream.set_nodelay(true);
    timeout_at(deadline, stream.write_all(raw))
        .await
        .map_err(|_| timed_out("sending", addr))??;

    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) | Ok(Ok(0)) => return Ok(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Reads from `stream` until the end of a request or response head (`\r\n\r\n`) has arrived,
/// and returns all that was read (it may hold the start of a body); `None` if the stream ends
/// or fails first. Unbounded in time: a server task in a test calls it.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

fn timed_out(what: &str, addr: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out {what} to {addr}"),
    )
}
