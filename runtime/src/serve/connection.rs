//! One connection: served by hyper, each request's body read within its
//! deadline, each handler within its own.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::table::{Conn, Table, BUSY, IDLE, READING_BODY};
use super::watched::Watched;
use super::{ServeArgs, BODY_CAP, HEALTH_PATHS};
use crate::conn_metrics::{ConnMetrics, Timeout};
use crate::problem::problem;

/// What a connection's task needs.
pub(super) struct Connection {
    pub(super) table: Arc<Table>,
    pub(super) conn: Arc<Conn>,
    pub(super) limits: Arc<ServeArgs>,
    pub(super) metrics: Arc<ConnMetrics>,
}

impl Connection {
    pub(super) async fn run(
        self,
        id: u64,
        stream: tokio::net::TcpStream,
        router: Router,
        health_only: bool,
        shutdown: CancellationToken,
    ) {
        let close = self.conn.close.clone();
        let (table, metrics) = (Arc::clone(&self.table), Arc::clone(&self.metrics));
        metrics.open.inc();
        let io = Watched { stream, conn: Arc::clone(&self.conn), table: Arc::clone(&table) };
        let this = Arc::new(self);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (this, router) = (Arc::clone(&this), router.clone());
            async move { Ok::<_, Infallible>(this.handle(request, router, health_only).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The header and idle timeouts are the reaper's (hyper's header timer also
        // runs while a keep-alive connection waits, so it would be the idle timeout too);
        // with hyper's off, it needs no timer.
        builder.header_read_timeout(None).keep_alive(!health_only);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            () = close.cancelled() => {}
            () = shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
        table.remove(id);
        metrics.open.dec();
    }

    async fn handle(&self, request: Request<Incoming>, router: Router, health_only: bool) -> Response {
        self.table.set(&self.conn, READING_BODY);
        let response = if health_only && !HEALTH_PATHS.contains(&request.uri().path()) {
            let mut busy = problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many connections".into());
            busy.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            closing(busy)
        } else {
            self.read_and_route(request, router).await
        };
        self.table.set(&self.conn, IDLE);
        response
    }

    async fn read_and_route(&self, request: Request<Incoming>, router: Router) -> Response {
        let (parts, body) = request.into_parts();
        let deadline = Duration::from_millis(self.limits.body_read_timeout_ms);
        let bytes = match tokio::time::timeout(deadline, Limited::new(body, BODY_CAP).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                let detail = format!("the request body is larger than {BODY_CAP} bytes");
                return closing(problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail));
            }
            Ok(Err(_)) => {
                return closing(problem(StatusCode::BAD_REQUEST, "bad_request", "the request body broke off".into()))
            }
            Err(_) => {
                self.metrics.timeout(Timeout::Body, 1);
                let detail = format!("the request body did not arrive within {} ms", deadline.as_millis());
                return closing(problem(StatusCode::REQUEST_TIMEOUT, "request_timeout", detail));
            }
        };
        self.table.set(&self.conn, BUSY);
        let request = Request::from_parts(parts, Body::from(bytes));
        let deadline = Duration::from_millis(self.limits.request_timeout_ms);
        match tokio::time::timeout(deadline, router.oneshot(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => {
                self.metrics.timeout(Timeout::Request, 1);
                let detail =
                    format!("no answer within {} ms; retry with the same Idempotency-Key", deadline.as_millis());
                problem(StatusCode::SERVICE_UNAVAILABLE, "request_timeout", detail).into_response()
            }
        }
    }
}

/// The answer, and the connection closed after it.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
