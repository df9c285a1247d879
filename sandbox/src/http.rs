//! Serving one stand-in on its own loopback listener.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running HTTP listener. Dropping it does not stop it; `shutdown` does.
pub struct Listener {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Listener {
    /// Binds `127.0.0.1:port` (0 for an ephemeral port) and serves `router`.
    pub async fn serve(port: u16, router: Router) -> anyhow::Result<Listener> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let served =
                axum::serve(listener, router).with_graceful_shutdown(async move { stopped.cancelled().await }).await;
            if let Err(error) = served {
                tracing::error!(%error, "sandbox listener failed");
            }
        });
        Ok(Listener { addr, stop, task })
    }

    /// `http://127.0.0.1:PORT` without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
