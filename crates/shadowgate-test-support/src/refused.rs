//! [`refused_addr`]: a loopback port on which nothing listens.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use tokio::net::TcpSocket;

/// A loopback address on which nothing listens: connecting to it is refused.
///
/// The port is bound (so no other socket of this process or machine can take it) but never
/// listened on, and that socket is kept open for the life of the process: one file descriptor
/// per call. That closes the race of "bind, note the port, drop", where another test could be
/// handed the same port. If the reserving socket cannot be made, it falls back to exactly that
/// bind-and-drop.
pub fn refused_addr() -> SocketAddr {
    reserved().or_else(|_| released()).unwrap_or_else(|_| {
        // No socket could be created at all, so nothing could connect anyway. Port 0 cannot be
        // listened on.
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    })
}

/// [`refused_addr`] as `"http://127.0.0.1:PORT"`.
pub fn refused_url() -> String {
    format!("http://{}", refused_addr())
}

fn reserved() -> std::io::Result<SocketAddr> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = socket.local_addr()?;
    // Bound, not listening: connections get RST (refused). Kept open on purpose.
    std::mem::forget(socket);
    Ok(addr)
}

fn released() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}
