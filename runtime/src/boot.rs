//! One boot path for every service: bind the listener first, answer
//! `/healthz` 200 and `/readyz` 503 (saying what it waits for) while the
//! broker and the database come up, retry them with back-off, and serve the
//! real router once they are there. A shutdown signal while waiting ends the
//! wait at once: a service started with its broker down still stops on
//! `SIGTERM`.

use std::future::Future;

use futures::future::BoxFuture;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{info, warn};

use crate::problem::problem;

/// The first wait between attempts; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Until [`Gate::open`], every request but `/healthz` is answered 503; then the real router serves.
#[derive(Clone, Default)]
pub struct Gate {
    router: Arc<OnceLock<Router>>,
    waiting_for: Arc<Mutex<String>>,
}

impl Gate {
    pub fn new() -> Self {
        let gate = Self::default();
        gate.waiting_for("starting");
        gate
    }

    /// The router to serve from the first moment.
    pub fn router(&self) -> Router {
        let gate = self.clone();
        Router::new().fallback_service(tower::service_fn(move |request: Request<Body>| {
            let gate = gate.clone();
            async move {
                match gate.router.get() {
                    Some(router) => router.clone().oneshot(request).await,
                    None => Ok(gate.booting(request.uri().path())),
                }
            }
        }))
    }

    fn booting(&self, path: &str) -> Response {
        let waiting = self.waiting_for.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if path == "/healthz" {
            return axum::Json(serde_json::json!({ "status": "ok", "starting": waiting })).into_response();
        }
        let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("starting: {waiting}"));
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        response
    }

    /// What `/readyz` says it waits for.
    pub fn waiting_for(&self, what: &str) {
        *self.waiting_for.lock().unwrap_or_else(PoisonError::into_inner) = format!("waiting for {what}");
    }

    /// From now on the real router answers everything.
    pub fn open(&self, router: Router) {
        let _ = self.router.set(router);
    }
}

/// Runs `attempt` until it succeeds (`Some`), with capped back-off and a
/// warning each time; `None` as soon as `shutdown` fires. Boxed, so that the
/// services' start-up futures stay `Send` whatever the attempts borrow.
pub fn wait_for<'a, T, E, F>(
    what: &'static str,
    gate: &'a Gate,
    shutdown: &'a CancellationToken,
    mut attempt: impl FnMut() -> F + Send + 'a,
) -> BoxFuture<'a, Option<T>>
where
    T: Send + 'a,
    E: std::fmt::Display + Send + 'a,
    F: Future<Output = Result<T, E>> + Send + 'a,
{
    gate.waiting_for(what);
    Box::pin(async move {
        let mut wait = FIRST_WAIT;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                result = attempt() => match result {
                    Ok(value) => return Some(value),
                    Err(error) => warn!(%error, retry_in_ms = wait.as_millis() as u64, "{what} is not available yet: retrying"),
                },
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(MAX_WAIT);
        }
        info!("stopped while waiting for {what}");
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(router: Router, path: &str) -> StatusCode {
        let request = Request::get(path).body(Body::empty()).expect("request");
        router.oneshot(request).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn a_booting_service_is_alive_not_ready_and_serves_once_open() {
        // Given a gate still waiting for its database
        let gate = Gate::new();
        gate.waiting_for("the database");
        // Then it is alive and not ready, and anything else is told to retry
        assert_eq!(get(gate.router(), "/healthz").await, StatusCode::OK);
        assert_eq!(get(gate.router(), "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get(gate.router(), "/v1/accounts").await, StatusCode::SERVICE_UNAVAILABLE);
        // When the real router is opened, then it answers
        gate.open(Router::new().route("/readyz", axum::routing::get(|| async { "ready" })));
        assert_eq!(get(gate.router(), "/readyz").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_wait_for_a_dependency_that_never_comes() {
        let (gate, shutdown) = (Gate::new(), CancellationToken::new());
        shutdown.cancel();
        let never = || async { Err::<(), _>("down") };
        assert_eq!(wait_for("the broker", &gate, &shutdown, never).await, None);
    }
}
