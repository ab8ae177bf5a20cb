//! [`raw_exchange`]: exact bytes on the wire, for tests that need them.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

fn timed_out(what: &str, addr: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out {what} to {addr}"),
    )
}
