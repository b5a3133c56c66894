//! One HTTP attempt: a signed POST, checked against the egress rules when the
//! URL is read and again on every address dialled. Redirects are never
//! followed (a 3xx is a failure), proxies from the environment are ignored,
//! the request times out, and at most [`MAX_RESPONSE`] bytes of the answer are kept.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::Delivery;
use crate::egress::{Egress, Refusal};
use crate::error::Error;

/// Bytes of an answer kept in the endpoint's attempts.
pub const MAX_RESPONSE: usize = 4096;

/// How an attempt ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    /// `delivered`, `failed` (an answer that is not 2xx), `timeout`,
    /// `refused` (egress rules) or `network`.
    pub outcome: &'static str,
    pub duration: Duration,
    pub response: String,
    pub error: Option<String>,
    /// `Retry-After` of a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.outcome == "delivered"
    }

    /// An attempt that could not be made here (a secret that does not open).
    pub fn local_failure(error: crate::error::Error) -> Outcome {
        Outcome {
            status: None,
            outcome: "error",
            duration: Duration::ZERO,
            response: String::new(),
            error: Some(error.to_string()),
            retry_after: None,
        }
    }

    /// 410 Gone: the receiver asks for the endpoint to be disabled.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// What is signed and sent.
pub struct Request<'a> {
    pub url: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: Vec<u8>,
}

pub struct Sender {
    client: reqwest::Client,
    egress: Egress,
}

impl Sender {
    pub fn new(delivery: &Delivery, resolve_file: Option<PathBuf>) -> Result<Self, Error> {
        let guard = Guard { egress: delivery.egress.clone(), file: resolve_file };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(delivery.request_timeout)
            .connect_timeout(delivery.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(delivery.endpoint_concurrency)
            .user_agent(concat!("Ledgerline-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(guard))
            .build()?;
        Ok(Sender { client, egress: delivery.egress.clone() })
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    pub async fn send(&self, request: Request<'_>) -> Outcome {
        let started = Instant::now();
        let failed = |outcome: &'static str, error: String| Outcome {
            status: None,
            outcome,
            duration: started.elapsed(),
            response: String::new(),
            error: Some(error),
            retry_after: None,
        };
        if let Err(refusal) = self.egress.check_url(request.url) {
            return failed("refused", refusal.to_string());
        }
        let sent = self
            .client
            .post(request.url)
            .header("content-type", "application/json")
            .header("webhook-id", request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", request.signature)
            .body(request.body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return failed("timeout", error.to_string()),
            Err(error) => match refusal_in(&error) {
                Some(refusal) => return failed("refused", refusal.to_string()),
                None => return failed("network", chain(&error)),
            },
        };
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => {
                crate::schedule::retry_after(response.headers().get("retry-after").and_then(|v| v.to_str().ok()))
            }
            _ => None,
        };
        let mut kept = Vec::new();
        let mut error = None;
        while kept.len() < MAX_RESPONSE {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE - kept.len())]),
                Ok(None) => break,
                Err(e) => {
                    error = Some(chain(&e));
                    break;
                }
            }
        }
        let delivered = (200..300).contains(&status);
        Outcome {
            status: Some(status),
            outcome: if delivered { "delivered" } else { "failed" },
            duration: started.elapsed(),
            response: String::from_utf8_lossy(&kept).into_owned(),
            error: if delivered { None } else { error },
            retry_after,
        }
    }
}

/// The egress refusal behind a client error, if that is what it is.
fn refusal_in(error: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = e.source();
    }
    None
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Resolves a host name, then keeps only the addresses the egress rules
/// admit: the check is on what is actually dialled.
struct Guard {
    egress: Egress,
    file: Option<PathBuf>,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let (egress, file, host) = (self.egress.clone(), self.file.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let found: Vec<SocketAddr> = match file.as_deref().and_then(|f| from_file(f, &host)) {
                Some(addrs) => addrs,
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let mut refused = None;
            let admitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match egress.check_addr(&host, a.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refused = Some(refusal);
                        false
                    }
                })
                .collect();
            match (admitted.is_empty(), refused) {
                (true, Some(refusal)) => Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(admitted.into_iter()) as Addrs),
            }
        })
    }
}

/// `host address` lines, read afresh at every look-up (a test's rebinding name).
fn from_file(path: &std::path::Path, host: &str) -> Option<Vec<SocketAddr>> {
    let text = std::fs::read_to_string(path).ok()?;
    let addrs: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| line.split_once(char::is_whitespace))
        .filter(|(name, _)| name.eq_ignore_ascii_case(host))
        .filter_map(|(_, addr)| addr.trim().parse().ok())
        .map(|ip| SocketAddr::new(ip, 0))
        .collect();
    (!addrs.is_empty()).then_some(addrs)
}
