//! The accept loop every server shares: bind `127.0.0.1:0`, count connections (accepted, and open
//! now), hand each one to a handler task owned by the server.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::task::{TaskGuard, TaskSet};

/// Pause after a failed `accept` (say, out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A bound loopback listener whose accept loop and connections stop when this is dropped.
#[derive(Debug)]
pub(crate) struct Listening {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    _guard: TaskGuard,
}

/// Counts one connection as open until its handler returns (or is aborted).
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(open))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Listening {
    /// Binds `127.0.0.1:0` and runs `handle(stream, tasks)` for every accepted connection.
    pub(crate) async fn start<H, Fut>(handle: H) -> io::Result<Self>
    where
        H: Fn(TcpStream, TaskSet) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let tasks = TaskSet::new();
        let guard = tasks.guard();
        let counts = Counts {
            accepted: Arc::clone(&connections),
            open: Arc::clone(&open),
        };
        tasks.spawn(accept_loop(listener, counts, tasks.clone(), handle));
        Ok(Self {
            addr,
            connections,
            open,
            _guard: guard,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections whose handler is still running: accepted and not yet closed.
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// What the accept loop counts.
struct Counts {
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

async fn accept_loop<H, Fut>(listener: TcpListener, counts: Counts, tasks: TaskSet, handle: H)
where
    H: Fn(TcpStream, TaskSet) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let open = Open::new(&counts.open);
                let handled = handle(stream, tasks.clone());
                tasks.spawn(async move {
                    let _open = open;
                    handled.await;
                });
            }
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}
