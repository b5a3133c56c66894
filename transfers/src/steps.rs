//! The steps the driver takes, the HTTP calls that take them, and what each
//! answer means ([`classify`], pure).
//!
//! A step is retried until it is done or the driver lets go of it (shutdown,
//! revocation): every step is idempotent on the command side, so a repeat
//! costs one refusal, and dropping one would leave money stuck.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, instrument, warn};
use uuid::Uuid;

use crate::error::Error;
use crate::metrics::Metrics;
use crate::token::Token;

/// Longest one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait after a transient failure (doubling in between).
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Wait after `transfer_not_expired`: the command service's clock is behind ours.
pub const NOT_EXPIRED_RETRY: Duration = Duration::from_secs(1);
/// Wait after an answer that means a bug (ours or theirs): loud, slow, never dropped.
pub const BUG_RETRY: Duration = Duration::from_secs(5);

/// The kinds of step, one per internal endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Credit,
    Reverse,
    Expire,
}

impl Kind {
    /// The endpoint's last path segment, and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Credit => "credit",
            Kind::Reverse => "reverse",
            Kind::Expire => "expire",
        }
    }
}

/// One leg the driver records through the command service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Credit `to`, or record its refusal: after a debit or a posted hold on `from`.
    Credit {
        transfer_id: Uuid,
        from: Uuid,
        to: Uuid,
        amount: i64,
        currency: String,
        reference: Option<events::Personal>,
    },
    /// Give the money back to `from`: the destination refused.
    Reverse { transfer_id: Uuid, from: Uuid },
    /// Release the hold on `from`: its timeout passed.
    Expire { transfer_id: Uuid, from: Uuid },
}

impl Step {
    pub fn kind(&self) -> Kind {
        match self {
            Step::Credit { .. } => Kind::Credit,
            Step::Reverse { .. } => Kind::Reverse,
            Step::Expire { .. } => Kind::Expire,
        }
    }

    pub fn transfer_id(&self) -> Uuid {
        match self {
            Step::Credit { transfer_id, .. } | Step::Reverse { transfer_id, .. } | Step::Expire { transfer_id, .. } => {
                *transfer_id
            }
        }
    }

    /// The path of the internal endpoint, under the command service's base URL.
    pub fn path(&self) -> String {
        format!("/v1/internal/transfers/{}/{}", self.transfer_id(), self.kind().as_str())
    }

    pub fn body(&self) -> serde_json::Value {
        match self {
            Step::Credit { from, to, amount, currency, reference, .. } => {
                json!({"from": from, "to": to, "amount": amount, "currency": currency, "reference": reference})
            }
            Step::Reverse { from, .. } | Step::Expire { from, .. } => json!({"from": from}),
        }
    }
}

/// What an answer means for the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded now, or recorded (or resolved otherwise) earlier.
    Done,
    /// Transient: retry with capped exponential back-off.
    RetrySoon,
    /// The hold is not due on the command service's clock: retry in a second.
    RetryLater,
    /// A refusal that should never happen: log it loudly, retry slowly.
    Bug,
}

/// The meaning of `status` (`None`: no HTTP answer at all) and the problem's `code`.
pub fn classify(kind: Kind, status: Option<u16>, code: Option<&str>) -> Outcome {
    let Some(status) = status else { return Outcome::RetrySoon };
    match (status, code) {
        (200..=299, _) => Outcome::Done,
        (409, Some("write_conflict")) => Outcome::RetrySoon,
        (409, Some("transfer_leg_recorded")) if kind != Kind::Expire => Outcome::Done,
        (409, Some("transfer_already_posted" | "transfer_already_voided" | "transfer_expired"))
            if kind == Kind::Expire =>
        {
            Outcome::Done
        }
        (409, Some("transfer_not_expired")) if kind == Kind::Expire => Outcome::RetryLater,
        (408 | 429, _) | (500..=599, _) => Outcome::RetrySoon,
        _ => Outcome::Bug,
    }
}

/// The wait before retry number `retries + 1` of a transient failure.
pub fn backoff(retries: u32) -> Duration {
    BACKOFF_MIN.saturating_mul(1 << retries.min(16)).min(BACKOFF_MAX)
}

#[derive(Deserialize)]
struct ProblemCode {
    code: Option<String>,
}

/// Calls the command service's internal endpoints. Cheap to clone.
#[derive(Clone)]
pub struct StepClient {
    http: reqwest::Client,
    base: Arc<str>,
    token: Arc<Token>,
    metrics: Arc<Metrics>,
}

impl StepClient {
    pub fn new(command_url: &str, token: Token, metrics: Arc<Metrics>) -> Result<Self, Error> {
        if !command_url.starts_with("http://") {
            return Err(Error::Config(format!("COMMAND_URL must be an http:// URL (got {command_url:?})")));
        }
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).connect_timeout(CALL_TIMEOUT).build()?;
        let base = Arc::from(command_url.trim_end_matches('/'));
        Ok(Self { http, base, token: Arc::new(token), metrics })
    }

    /// One attempt: the status and the problem's `code`, or `(None, None)` when no answer came.
    async fn call(&self, step: &Step) -> (Option<u16>, Option<String>) {
        let mut request = self
            .http
            .post(format!("{}{}", self.base, step.path()))
            // No Idempotency-Key: keys are scoped per account and a client could
            // take `credit-<id>` first; the legs are idempotent in `decide` itself.
            .json(&step.body());
        if let Some(token) = self.token.bearer() {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                debug!(%error, "no answer from the command service");
                return (None, None);
            }
        };
        let status = response.status().as_u16();
        // Read every body, success included: an unread body keeps the
        // connection from going back to the pool (a new one per call).
        let body = response.bytes().await;
        if (200..300).contains(&status) {
            return (Some(status), None);
        }
        let code = match body {
            Ok(body) => serde_json::from_slice::<ProblemCode>(&body).ok().and_then(|p| p.code),
            Err(_) => None,
        };
        (Some(status), code)
    }

    /// Takes `step` until it is done (true), or until `cancel` (false). A call
    /// in progress is not interrupted by `cancel`, only the waits between calls.
    #[instrument(skip_all, fields(kind = step.kind().as_str(), transfer_id = %step.transfer_id()))]
    pub async fn run(&self, step: &Step, cancel: &CancellationToken) -> bool {
        let labels = Metrics::labels(step.kind());
        let mut retries = 0u32;
        for attempt in 1u64.. {
            self.metrics.sent.get_or_create(&labels).inc();
            let (status, code) = self.call(step).await;
            let outcome = classify(step.kind(), status, code.as_deref());
            let wait = match outcome {
                Outcome::Done => {
                    self.metrics.done.get_or_create(&labels).inc();
                    debug!(?status, ?code, attempt, "step done");
                    return true;
                }
                Outcome::RetrySoon => {
                    let wait = backoff(retries);
                    retries = retries.saturating_add(1);
                    if attempt % 20 == 0 {
                        warn!(?status, ?code, attempt, "command service still failing: retrying");
                    } else {
                        debug!(?status, ?code, attempt, "transient failure: retrying");
                    }
                    wait
                }
                Outcome::RetryLater => {
                    debug!(attempt, "hold not expired on the command service's clock yet");
                    NOT_EXPIRED_RETRY
                }
                Outcome::Bug => {
                    error!(?status, ?code, attempt, "step refused unexpectedly: retrying in 5 s");
                    BUG_RETRY
                }
            };
            self.metrics.retried.get_or_create(&labels).inc();
            tokio::select! {
                biased;
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
        }
        false
    }
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
