//! The driver's HTTP surface for ops: health, readiness, metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ledger_runtime::auth::{Principal, Role};
use ledger_runtime::problem::problem;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct OpsState {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub auth: ledger_runtime::auth::Authenticator,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(ledger_runtime::problem::not_found)
        .layer(axum::middleware::from_fn_with_state(state.auth.clone(), ledger_runtime::auth::require_token))
        .with_state(state)
}

/// Ready once every assigned partition is folded to the end it had at assignment.
async fn readyz(State(state): State<OpsState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready").into_response()
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "folding the assigned partitions".into())
    }
}

/// Metrics, for tokens with the `ops` role.
async fn metrics(State(state): State<OpsState>, principal: Principal) -> Response {
    if let Err(refused) = principal.require_any(&[Role::Ops]) {
        return refused.into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], state.metrics.render()).into_response()
}
