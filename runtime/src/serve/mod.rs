//! Serving a router on a listener, defended against hostile connections.
//!
//! Every HTTP listener of every service goes through [`serve`]: HTTP/1.1 by
//! hyper; a request head must arrive within a timeout (kept by a reaper, from
//! the connection's opening or a later request's first byte); each request's body read whole within
//! a deadline (`408` after it, `413` past the size cap); each handler within
//! an overall deadline (`503 request_timeout`); idle keep-alive connections
//! closed after a timeout; and at most `MAX_CONNECTIONS` open connections.
//! At the limit a new connection takes the place of the connection that has
//! waited longest without a request in progress (a slowloris or an idle
//! keep-alive one); when every connection is busy, a small reserve still
//! answers `/healthz` and `/readyz` (anything else `503 overloaded`); past
//! the reserve a connection is closed at once. File descriptors never run out.

mod connection;
mod table;
mod watched;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::conn_metrics::{ConnMetrics, Timeout};
use connection::Connection;
use table::Table;

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

/// Connections beyond the limit that still answer `/healthz` and `/readyz`.
const RESERVE: usize = 32;
/// File descriptors kept for the Kafka and Postgres clients, logs and the like.
const FD_HEADROOM: u64 = 256;
/// Request bodies are buffered up to this; each route's own limit applies after.
const BODY_CAP: usize = 1 << 20;
const HEALTH_PATHS: [&str; 2] = ["/healthz", "/readyz"];

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

/// EMFILE (this process) or ENFILE (the system): no descriptor for a new connection.
fn out_of_descriptors(error: &std::io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(error.raw_os_error(), Some(ENFILE | EMFILE))
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
    let mut limit = connection_limit(args.max_connections);
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
            Err(error) if out_of_descriptors(&error) => {
                // The open-file limit dropped below the one the cap was fitted
                // to: fit the cap to what is open now and free a slot at once,
                // as reaching the cap does, so the connections waiting in the
                // backlog get in instead of waiting for a timeout to free one.
                let fitted = table.len().saturating_sub(1).max(1);
                if fitted < limit {
                    warn!(%error, max_connections = fitted, "out of file descriptors: serving fewer connections");
                    limit = fitted;
                }
                if table.evict_one() {
                    metrics.evicted.inc();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            Err(error) => {
                // Anything else: back off instead of spinning.
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
        let (id, conn) = table.open(health_only);
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
