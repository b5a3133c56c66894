//! The query path's second ceiling: the same SELECT as the query service's
//! `GET /v1/accounts/{id}`, behind a minimal axum + sqlx handler (the same
//! pool, `query_service::store::pool_options`; JSON body; no auth, no
//! ownership check, no ETag, no lag header). The gap between it and pgbench
//! is HTTP and JSON; the gap between it and the query service is our layers.
//! It runs inside `loadgen`, on the same cores.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use sqlx::PgPool;
use uuid::Uuid;

async fn account(State(pool): State<PgPool>, Path(id): Path<Uuid>) -> Response {
    match query_service::store::account(&pool, id).await {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves the minimal handler on a free port; returns its base URL and its
/// pool (close it when done: Postgres has a connection limit pgbench needs).
pub async fn serve(database_url: &str) -> anyhow::Result<(String, PgPool)> {
    let pool = query_service::store::pool_options().connect(database_url).await?;
    let app = axum::Router::new().route("/v1/accounts/{id}", get(account)).with_state(pool.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, pool))
}
