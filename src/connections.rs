//! Accepting HTTP connections and serving the router on each, closing the
//! ones that go quiet.
//!
//! `axum::serve` keeps an idle keep-alive connection open for as long as the
//! client does, and a client that opens a connection and never finishes a
//! request head holds it for ever: each costs drbot a task and its read and
//! write buffers. Hyper's header-read timeout bounds both, because it runs
//! whenever hyper waits for a request head, and on a keep-alive connection
//! that is also the wait between two requests. So a connection with no
//! request under way for the configured time is closed; a client (the Bot
//! Framework's channel, a proxy in front of drbot) opens a new one when it
//! next has something to send.
//!
//! Stopping: the listener is dropped at once (no new connections), each open
//! connection finishes the request it is serving and closes, and [`serve`]
//! returns when the last one has.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves `router` on every connection `listener` accepts until `stop` is
/// cancelled, closing a connection after `idle` without a request under way.
/// Each connection is a task of `connections`, whose `len()` is how many are
/// open (the memory sweep hands memory back after they close).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    idle: Duration,
    connections: TaskTracker,
    stop: CancellationToken,
) -> io::Result<()> {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // Out of file descriptors and the like: the listener itself is
                // fine, so wait a little instead of spinning on the error.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(idle);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                // A client that went away or stayed quiet: nothing to act on.
                tracing::debug!(%error, "connection closed");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Accept errors that concern one connection (it was reset before it was
/// accepted), not the listener.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
