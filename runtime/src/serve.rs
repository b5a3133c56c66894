//! Serving a router on a listener, defended against hostile connections.
//!
//! Every HTTP listener of every service goes through [`serve`]: HTTP/1.1 by
//! hyper with a header read timeout; each request's body read whole within
//! a deadline (`408` after it, `413` past the size cap); each handler within
//! an overall deadline (`503 request_timeout`); idle keep-alive connections
//! closed after a timeout; and at most `MAX_CONNECTIONS` open connections.
//! At the limit a new connection takes the place of the connection that has
//! waited longest without a request in progress (a slowloris or an idle
//! keep-alive one); when every connection is busy, a small reserve still
//! answers `/healthz` and `/readyz` (anything else `503 overloaded`); past
//! the reserve a connection is closed at once. File descriptors never run out.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{info, warn};

use crate::conn_metrics::{ConnMetrics, Timeout};
use crate::problem::problem;

/// Connection and request limits, shared by every service.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// A connection that has not sent a complete request head within this is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request for this long is closed.
    #[arg(long, env = "IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// A request body must arrive whole within this (else `408`).
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_read_timeout_ms: u64,
    /// A handler must answer within this (else `503 request_timeout`); above the longest `Prefer: wait`.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 60_000)]
    pub request_timeout_ms: u64,
    /// Open connections at most (lowered to fit the open-file limit).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            header_read_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            body_read_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}

/// Connections beyond the limit that still answer `/healthz` and `/readyz`.
const RESERVE: usize = 32;
/// File descriptors kept for the Kafka and Postgres clients, logs and the like.
const FD_HEADROOM: u64 = 256;
/// Request bodies are buffered up to this; each route's own limit applies after.
const BODY_CAP: usize = 1 << 20;
const HEALTH_PATHS: [&str; 2] = ["/healthz", "/readyz"];

const IDLE: u8 = 0;
const READING_BODY: u8 = 1;
const BUSY: u8 = 2;

/// One open connection: what it is doing, since when, and how to close it.
struct Conn {
    state: AtomicU8,
    since_ms: AtomicU64,
    /// When the first byte of the next request head arrived (0: none yet).
    head_ms: AtomicU64,
    close: CancellationToken,
}

/// Why the reaper closes a connection.
enum Expiry {
    Header,
    Idle,
}

struct Table {
    started: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn set(&self, conn: &Conn, state: u8) {
        conn.state.store(state, Ordering::Relaxed);
        conn.since_ms.store(self.now_ms(), Ordering::Relaxed);
        if state == IDLE {
            conn.head_ms.store(0, Ordering::Relaxed);
        }
    }

    fn open(&self) -> (u64, Arc<Conn>) {
        let now = self.now_ms();
        let conn = Arc::new(Conn {
            state: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(now),
            // A new connection owes its first request head at once.
            head_ms: AtomicU64::new(now.max(1)),
            close: CancellationToken::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::clone(&conn));
        (id, conn)
    }

    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    /// Closes the connection that has waited longest with no request being handled.
    fn evict_one(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let victim = conns
            .values()
            .filter(|c| c.state.load(Ordering::Relaxed) != BUSY && !c.close.is_cancelled())
            .min_by_key(|c| c.since_ms.load(Ordering::Relaxed));
        victim.map(|c| c.close.cancel()).is_some()
    }

    /// Closes the connections whose request head is late (`header`) or that
    /// have had no request for `idle`; returns how many of each.
    fn reap(&self, header: Duration, idle: Duration) -> (u64, u64) {
        let now = self.now_ms();
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut late, mut idled) = (0, 0);
        for conn in conns.values().filter(|c| c.state.load(Ordering::Relaxed) == IDLE && !c.close.is_cancelled()) {
            let expiry = match conn.head_ms.load(Ordering::Relaxed) {
                0 => (now.saturating_sub(conn.since_ms.load(Ordering::Relaxed)) > idle.as_millis() as u64)
                    .then_some(Expiry::Idle),
                head => (now.saturating_sub(head) > header.as_millis() as u64).then_some(Expiry::Header),
            };
            match expiry {
                Some(Expiry::Header) => late += 1,
                Some(Expiry::Idle) => idled += 1,
                None => continue,
            }
            conn.close.cancel();
        }
        (late, idled)
    }
}

/// The connection's socket, noting when the bytes of a request head begin to arrive.
struct Watched {
    stream: tokio::net::TcpStream,
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        let conn = &this.conn;
        if buf.filled().len() > before
            && conn.state.load(Ordering::Relaxed) == IDLE
            && conn.head_ms.load(Ordering::Relaxed) == 0
        {
            conn.head_ms.store(this.table.now_ms().max(1), Ordering::Relaxed);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Raises the open-file soft limit to the hard limit, logs both, and returns
/// how many connections fit.
fn connection_limit(wanted: usize) -> usize {
    let before = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(before.0);
    let fit = soft.saturating_sub(FD_HEADROOM).saturating_sub(RESERVE as u64) as usize;
    info!(soft_before = before.0, soft, hard = before.1, max_connections = wanted, "open-file limit");
    if fit < wanted {
        warn!(
            fit,
            max_connections = wanted,
            "the open-file limit holds fewer connections than MAX_CONNECTIONS (plus what the Kafka and \
             Postgres clients need): serving at most {fit}; raise the hard limit (ulimit -Hn) to serve more"
        );
    }
    wanted.min(fit).max(1)
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in
/// progress finish (at most the request timeout) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    args: ServeArgs,
    metrics: Arc<ConnMetrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limit = connection_limit(args.max_connections);
    let table = Arc::new(Table { started: Instant::now(), next_id: AtomicU64::new(0), conns: Mutex::default() });
    let limits = Arc::new(args.clone());
    let args = &args;
    let timeouts = (Duration::from_millis(args.header_read_timeout_ms), Duration::from_millis(args.idle_timeout_ms));
    tokio::spawn(reap(Arc::clone(&table), Arc::clone(&metrics), timeouts, shutdown.clone()));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // EMFILE and the like: back off instead of spinning.
                warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let open = table.len();
        let health_only = if open < limit {
            false
        } else if table.evict_one() {
            metrics.evicted.inc();
            false
        } else if open < limit + RESERVE {
            true
        } else {
            metrics.refused.inc();
            drop(stream);
            continue;
        };
        let (id, conn) = table.open();
        metrics.accepted.inc();
        let context =
            Connection { table: Arc::clone(&table), conn, limits: Arc::clone(&limits), metrics: Arc::clone(&metrics) };
        tokio::spawn(context.run(id, stream, router.clone(), health_only, shutdown.clone()));
    }
    // Connections finish what they are doing (graceful shutdown of each), bounded.
    let deadline = Instant::now() + Duration::from_millis(args.request_timeout_ms);
    while table.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn reap(
    table: Arc<Table>,
    metrics: Arc<ConnMetrics>,
    (header, idle): (Duration, Duration),
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let (late, idled) = table.reap(header, idle);
        metrics.timeout(Timeout::Header, late);
        metrics.timeout(Timeout::Idle, idled);
    }
}

/// What a connection's task needs.
struct Connection {
    table: Arc<Table>,
    conn: Arc<Conn>,
    limits: Arc<ServeArgs>,
    metrics: Arc<ConnMetrics>,
}

impl Connection {
    async fn run(
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
        // runs while a keep-alive connection waits, so it would be the idle timeout too).
        builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(!health_only);
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
