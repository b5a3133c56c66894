//! CORS for browser front ends: which origins may call an API from a page,
//! answered for every HTTP service alike (`CORS_ALLOWED_ORIGINS`; none by
//! default, and then no CORS header is sent at all).
//!
//! Preflights are answered before authentication (a browser sends no token
//! with them), with a max age. The headers a front end reads are exposed:
//! `ETag`, `Location`, `Retry-After`, `Idempotent-Replayed`,
//! `Read-Lag-Records`, `Consistency-Token`. Credentials (cookies) are never
//! allowed: tokens go in `Authorization`, which a page sets itself; so a
//! wildcard origin is never combined with credentials.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The CORS flags every HTTP service takes.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct CorsArgs {
    /// Origins a browser page may call this API from, comma-separated
    /// (`https://app.example.com`); `*` for any. None by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
    /// How long a browser may keep a preflight's answer, in seconds.
    #[arg(long, env = "CORS_MAX_AGE_SECS", default_value_t = 600)]
    pub cors_max_age_secs: u64,
}

/// Headers a page may send.
const ALLOWED: [&str; 8] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "prefer",
    "consistency-token",
    "x-correlation-id",
    "traceparent",
];
/// Headers a page may read from an answer.
const EXPOSED: [&str; 6] =
    ["etag", "location", "retry-after", "idempotent-replayed", "read-lag-records", "consistency-token"];

/// The CORS layer of a service, if any origin is allowed.
#[derive(Clone, Default)]
pub struct Cors(Option<CorsLayer>);

impl Cors {
    /// From the flags; an origin that is not `scheme://host[:port]` is refused.
    pub fn from_args(args: &CorsArgs) -> Result<Cors, std::io::Error> {
        let origins: Vec<&str> =
            args.cors_allowed_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).collect();
        if origins.is_empty() {
            return Ok(Cors(None));
        }
        let allow = if origins == ["*"] {
            AllowOrigin::any()
        } else {
            let mut values = Vec::new();
            for origin in origins {
                let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
                let valid = matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '*', '?', '#', ' '])
                    && origin.is_ascii();
                let value = HeaderValue::from_str(origin).ok().filter(|_| valid);
                values.push(value.ok_or_else(|| {
                    std::io::Error::other(format!(
                        "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin such as https://app.example.com (or `*` alone)"
                    ))
                })?);
            }
            AllowOrigin::list(values)
        };
        let names = |list: &[&'static str]| list.iter().map(|h| HeaderName::from_static(h)).collect::<Vec<_>>();
        let layer = CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers(names(&ALLOWED))
            .expose_headers(names(&EXPOSED))
            .allow_credentials(false)
            .max_age(Duration::from_secs(args.cors_max_age_secs));
        Ok(Cors(Some(layer)))
    }

    /// `router` with CORS around everything (authentication included).
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        match &self.0 {
            Some(layer) => router.layer(layer.clone()),
            None => router,
        }
    }
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
