//! A per-client rate limit (GCRA, by `governor`), keyed by the token's `sub`.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use prometheus_client::metrics::counter::Counter;

use crate::auth::Principal;
use crate::problem::problem;

/// Requests per second and burst per client.
#[derive(Clone)]
pub struct RateLimit(Arc<DefaultKeyedRateLimiter<String>>, Counter);

impl RateLimit {
    pub fn per_second(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst));
        RateLimit(Arc::new(limiter), Counter::default())
    }

    /// Requests refused so far (for `ledger_rate_limited_total`).
    pub fn refused(&self) -> &Counter {
        &self.1
    }
}

impl RateLimit {
    /// Forgets clients whose limit is back to full, so the table does not grow
    /// with every `sub` ever seen. Run it now and then.
    pub fn forget_idle(&self) {
        self.0.retain_recent();
        self.0.shrink_to_fit();
    }

    /// Calls [`RateLimit::forget_idle`] every minute until `shutdown`.
    pub async fn sweep(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => self.forget_idle(),
            }
        }
    }
}

/// The layer: runs after authentication; over the limit is 429 `rate_limited`
/// with `Retry-After` (whole seconds, at least 1).
pub async fn limit(State(limit): State<RateLimit>, request: Request, next: Next) -> Response {
    let key = request.extensions().get::<Principal>().map_or_else(String::new, |p| p.sub.clone());
    match limit.0.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            limit.1.inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response =
                problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many commands from this client".into());
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            response.into_response()
        }
    }
}
