//! How the server takes connections: axum's own `serve` runs hyper without a timer,
//! so a client could hold a connection forever by sending half a request head (or a
//! body shorter than its `Content-Length`), and enough of them starve the server.
//! Here each connection runs under hyper's HTTP/1 with a timer: a request's head must
//! arrive within [`arkor_protocol::REQUEST_HEAD_TIMEOUT`] (an idle keep-alive
//! connection's next head included), and a request body may not stall longer than
//! [`BODY_STALL_TIMEOUT`] between chunks. Responses are not bounded (an event stream
//! or a long generation may rightly run for long).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a request body may go without a chunk.
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` resolves, then lets the connections
/// in flight finish. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let app = app.layer(RequestBodyTimeoutLayer::new(BODY_STALL_TIMEOUT));
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(arkor_protocol::REQUEST_HEAD_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors, say: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(app, move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.map(axum::body::Body::new)
        }));
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    graceful.shutdown().await;
}
