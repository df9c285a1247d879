//! Serving one stand-in on its own loopback listener.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use parking_lot::Mutex;
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

/// How many request targets [`Requests`] keeps.
pub const REQUESTS_KEPT: usize = 4096;

/// The request targets (method, path and query) every stand-in received, so a
/// test can prove no token travels in a URL, where proxies and access logs
/// would keep it.
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<VecDeque<String>>>);

impl Requests {
    /// `router`, recording each request's target here.
    pub fn record(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), record_target))
    }

    /// The most recent targets, oldest first (at most [`REQUESTS_KEPT`]), as `METHOD /path?query`.
    pub fn targets(&self) -> Vec<String> {
        self.0.lock().iter().cloned().collect()
    }
}

async fn record_target(State(requests): State<Requests>, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let line = format!("{} {target}", request.method());
    {
        let mut kept = requests.0.lock();
        if kept.len() == REQUESTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    next.run(request).await
}
