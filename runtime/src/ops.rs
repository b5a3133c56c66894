//! The ops HTTP surface of a background worker (projections, the transfer
//! driver): `/healthz`, `/readyz` and `/metrics` for tokens with role `ops`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::auth::{Authenticator, Principal};
use crate::problem::problem;

/// Renders the worker's metrics in the OpenMetrics text format.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct Ops {
    pub ready: Arc<AtomicBool>,
    /// What `/readyz` says while not ready, e.g. "waiting for a partition assignment".
    pub waiting_for: &'static str,
    pub render: Render,
    pub auth: Authenticator,
}

pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(crate::problem::not_found)
        .layer(axum::middleware::from_fn_with_state(ops.auth.clone(), crate::auth::require_token))
        .with_state(ops)
}

async fn readyz(State(ops): State<Ops>) -> Response {
    if ops.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready").into_response()
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", ops.waiting_for.into())
    }
}

async fn metrics(State(ops): State<Ops>, principal: Principal) -> Response {
    crate::http_metrics::exposition(&principal, || (ops.render)())
}
