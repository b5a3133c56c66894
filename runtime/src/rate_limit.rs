//! A per-client rate limit (GCRA, by `governor`), keyed by the token's `sub`,
//! charged once: at the instance that first receives a request. A request an
//! instance forwards to a peer carries a [`PeerProof`] (an HMAC under a key
//! every instance shares, over the request and a recent time), and the peer
//! does not charge it again. A client cannot forge one: the key never leaves
//! the instances, and a proof is bound to its request's method, path and
//! token, and lives 30 seconds.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use hmac::{Hmac, Mac};
use prometheus_client::metrics::counter::Counter;
use sha2::Sha256;

use crate::auth::Principal;
use crate::problem::problem;

/// The header a forwarded request carries: `<unix seconds>.<hex HMAC>`.
pub const FORWARD_PROOF: &str = "ledger-forward-proof";
/// How long a proof is taken.
const PROOF_TTL_SECS: i64 = 30;

/// Proves to a peer that an instance forwarded a request it has charged.
#[derive(Clone)]
pub struct PeerProof(Arc<[u8]>);

impl PeerProof {
    /// From a secret every instance of the deployment shares (derived, so the
    /// secret itself signs nothing here).
    pub fn from_shared_secret(secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"ledgerline peer forward proof v1");
        PeerProof(mac.finalize().into_bytes().to_vec().into())
    }

    fn mac(&self, at: i64, method: &str, path: &str, authorization: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in [at.to_string().as_bytes(), method.as_bytes(), path.as_bytes(), authorization] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The header value for a request forwarded at `at` (unix seconds).
    pub fn sign(&self, at: i64, method: &str, path: &str, authorization: &[u8]) -> String {
        format!("{at}.{}", self.mac(at, method, path, authorization))
    }

    /// Whether `value` proves the request was forwarded by a peer, at `now`.
    pub fn verify(&self, value: &str, now: i64, method: &str, path: &str, authorization: &[u8]) -> bool {
        let Some((at, mac)) = value.split_once('.') else { return false };
        let Ok(at) = at.parse::<i64>() else { return false };
        if (now - at).abs() > PROOF_TTL_SECS {
            return false;
        }
        let expected = self.mac(at, method, path, authorization);
        expected.len() == mac.len() && expected.bytes().zip(mac.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Requests per second and burst per client.
#[derive(Clone)]
pub struct RateLimit(Arc<DefaultKeyedRateLimiter<String>>, Counter, Option<PeerProof>);

impl RateLimit {
    pub fn per_second(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst));
        RateLimit(Arc::new(limiter), Counter::default(), None)
    }

    /// Requests forwarded by a peer with a valid `proof` are not charged again.
    pub fn charged_once(mut self, proof: PeerProof) -> Self {
        self.2 = Some(proof);
        self
    }

    /// Was this request forwarded by a peer (which charged it)?
    fn forwarded(&self, request: &Request) -> bool {
        let (Some(proof), Some(value)) = (&self.2, request.headers().get(FORWARD_PROOF)) else { return false };
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let authorization = request.headers().get(header::AUTHORIZATION).map_or(&[][..], |v| v.as_bytes());
        let now = chrono::Utc::now().timestamp();
        value.to_str().is_ok_and(|v| proof.verify(v, now, request.method().as_str(), path, authorization))
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
    if limit.forwarded(&request) {
        return next.run(request).await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_for_its_request_only_and_for_thirty_seconds() {
        let proof = PeerProof::from_shared_secret(b"shared");
        let value = proof.sign(1_000, "POST", "/v1/accounts/a/deposits", b"Bearer t");
        assert!(proof.verify(&value, 1_010, "POST", "/v1/accounts/a/deposits", b"Bearer t"));
        assert!(!proof.verify(&value, 1_031, "POST", "/v1/accounts/a/deposits", b"Bearer t"), "too old");
        assert!(!proof.verify(&value, 1_010, "POST", "/v1/accounts/b/deposits", b"Bearer t"), "another path");
        assert!(!proof.verify(&value, 1_010, "POST", "/v1/accounts/a/deposits", b"Bearer u"), "another token");
        assert!(!PeerProof::from_shared_secret(b"other").verify(
            &value,
            1_010,
            "POST",
            "/v1/accounts/a/deposits",
            b"Bearer t"
        ));
        for forged in ["", "1000", "1000.", "x.y", "1000.00"] {
            assert!(!proof.verify(forged, 1_000, "POST", "/v1/accounts/a/deposits", b"Bearer t"), "{forged}");
        }
    }
}
