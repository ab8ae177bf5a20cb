//! Process signals: SIGTERM and SIGINT stop the proxy gracefully; SIGHUP calls the reload hook
//! (the binary re-reads its flags and config file and applies them; it never kills the process).

use std::io;

/// The signal handlers, installed at once so that no signal is missed between start-up and the
/// first wait.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; call it inside a Tokio runtime, before serving.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves at the first SIGTERM or SIGINT. Each SIGHUP meanwhile calls `on_reload`.
    pub async fn shutdown(mut self, mut on_reload: impl FnMut() + Send) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.term.recv() => {
                    tracing::info!("SIGTERM received, shutting down");
                    return;
                }
                _ = self.int.recv() => {
                    tracing::info!("SIGINT received, shutting down");
                    return;
                }
                Some(()) = self.hup.recv() => {
                    tracing::info!("SIGHUP received, reloading");
                    on_reload();
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (&mut self, &mut on_reload);
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}
