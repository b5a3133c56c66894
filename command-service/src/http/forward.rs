//! Any instance takes any request: a command for a partition another instance
//! owns is forwarded to that owner in one hop, with the original headers and
//! body, and its answer is passed back unchanged.
//!
//! Handlers do not forward: they say where the request belongs
//! ([`Refusal::Elsewhere`], or [`Refusal::NotHere`] when only the owners can
//! tell), and this middleware, which kept the request, sends it. A forwarded
//! request carries `Ledger-Forwarded-By` and is never forwarded again: an
//! instance that does not own its partition answers `503` (a rebalance is
//! under way; the client retries). Every answer says who served it
//! (`Ledger-Served-By`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use tracing::{debug, warn};

use crate::cluster::registry::Registry;
use crate::error::Refusal;

pub const FORWARDED_BY: HeaderName = HeaderName::from_static("ledger-forwarded-by");
pub const SERVED_BY: HeaderName = HeaderName::from_static("ledger-served-by");
/// On a `503` from an instance that does not own the partition it was sent.
pub const NOT_OWNER: HeaderName = HeaderName::from_static("ledger-not-owner");
/// On a `404` for an unknown transfer: the partitions the instance searched
/// (those it served when it looked), comma-separated. Between instances only.
pub const SEARCHED: HeaderName = HeaderName::from_static("ledger-searched-partitions");

/// The [`SEARCHED`] header's value for `partitions`.
pub fn searched_header(partitions: &[i32]) -> HeaderValue {
    let list = partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    HeaderValue::from_str(&list).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The partitions a [`SEARCHED`] header names (none if it is absent).
fn searched_in(response: &Response) -> impl Iterator<Item = i32> + '_ {
    let list = response.headers().get(&SEARCHED).and_then(|v| v.to_str().ok()).unwrap_or_default();
    list.split(',').filter_map(|p| p.trim().parse().ok())
}

/// Longer than the longest `Prefer: wait` (30 s), so a waiting owner is not cut off.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(35);

/// Where a request belongs, as a handler's answer says (a response extension).
#[derive(Clone, Copy, Debug)]
pub enum ForwardTo {
    /// The owner of this partition.
    Owner(i32),
    /// Whichever instance knows (a transfer whose source is not served here).
    Anyone,
}

#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    registry: Arc<Registry>,
    partitions: i32,
    max_body: usize,
    /// Tells the owner this instance charged the request to the client's rate limit.
    proof: ledger_runtime::rate_limit::PeerProof,
}

impl Forwarder {
    pub fn new(
        registry: Arc<Registry>,
        partitions: i32,
        max_body: usize,
        proof: ledger_runtime::rate_limit::PeerProof,
    ) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(FORWARD_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Self { client, registry, partitions, max_body, proof }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the kept request to `owner` and returns its answer unchanged.
    async fn send(&self, owner: &str, parts: &Parts, body: Bytes) -> Result<Response, reqwest::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self.client.request(parts.method.clone(), format!("{owner}{path}")).body(body);
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) && name != "traceparent" && name != ledger_runtime::rate_limit::FORWARD_PROOF {
                request = request.header(name, value);
            }
        }
        // The owner's request span is a child of this one (or the client's, untraced).
        if let Some(traceparent) = ledger_runtime::trace::traceparent(&parts.headers) {
            request = request.header("traceparent", traceparent);
        }
        let authorization = parts.headers.get(header::AUTHORIZATION).map_or(&[][..], |v| v.as_bytes());
        let proof = self.proof.sign(chrono::Utc::now().timestamp(), parts.method.as_str(), path, authorization);
        let answer = request
            .header(FORWARDED_BY, self.registry.url.as_str())
            .header(ledger_runtime::rate_limit::FORWARD_PROOF, proof)
            .send()
            .await?;
        let status = answer.status();
        let mut headers = answer.headers().clone();
        let hop: Vec<HeaderName> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
        for name in hop {
            headers.remove(name);
        }
        let mut response = Response::new(Body::from(answer.bytes().await?));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }

    /// Sends the request to the owner of `partition`. If that instance says it
    /// is not the owner (it lost the partition since this instance last read the
    /// directory), the directory is read again and the request sent once more to
    /// the new owner: still one hop each time, and never more than two.
    async fn to_owner(&self, partition: i32, parts: &Parts, body: Bytes) -> Response {
        let mut tried = None;
        for attempt in 0..2 {
            if attempt > 0 {
                self.registry.refresh_soon().await;
            }
            let Some(owner) = self.registry.owner_of(partition).filter(|o| tried.as_ref() != Some(o)) else { continue };
            match self.send(&owner, parts, body.clone()).await {
                Ok(response) if response.headers().contains_key(&NOT_OWNER) => {
                    debug!(%owner, partition, "the owner in the directory is no longer the owner; reading it again");
                    tried = Some(owner);
                }
                Ok(response) => return response,
                Err(error) => {
                    warn!(%error, %owner, partition, "the owner did not answer a forwarded request");
                    return Refusal::Unavailable(format!("the owner of partition {partition} did not answer"))
                        .into_response();
                }
            }
        }
        Refusal::Unavailable(format!("partition {partition} is changing owner")).into_response()
    }

    /// Asks every other instance; the one that knows answers. `here` is this
    /// instance's own answer (404: it does not know). "Not found" stands only
    /// if the partitions searched, here and by the instances that said 404,
    /// are all of them; otherwise (a rebalance under way, a directory read
    /// before it) the answer is 503, and the client retries.
    async fn to_anyone(&self, parts: &Parts, body: Bytes, mut here: Response) -> Response {
        let (peers, _) = self.registry.peers(self.partitions);
        let answers = join_all(peers.iter().map(|peer| self.send(peer, parts, body.clone()))).await;
        let mut searched: std::collections::BTreeSet<i32> = searched_in(&here).collect();
        for answer in answers {
            match answer {
                Ok(response) if response.status() == StatusCode::NOT_FOUND => searched.extend(searched_in(&response)),
                Ok(response) if response.status() != StatusCode::SERVICE_UNAVAILABLE => return response,
                _ => {}
            }
        }
        if !covers(self.partitions, &searched) {
            debug!(?searched, "a transfer not found, but not every partition was searched");
            return Refusal::Unavailable("not every partition could be searched for this transfer; retry".into())
                .into_response();
        }
        here.headers_mut().remove(&SEARCHED);
        here
    }
}

/// Keeps each request so that a handler's `ForwardTo` can be acted on, and
/// says who served every answer.
pub async fn forward(State(forwarder): State<Forwarder>, request: Request, next: Next) -> Response {
    let forwarded = request.headers().contains_key(&FORWARDED_BY);
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, forwarder.max_body).await else {
        return Refusal::PayloadTooLarge.into_response();
    };
    let mut response = next.run(Request::from_parts(parts.clone(), Body::from(body.clone()))).await;
    if let Some(target) = response.extensions_mut().remove::<ForwardTo>() {
        if !forwarded {
            debug!(?target, path = parts.uri.path(), "forwarding");
            response = match target {
                ForwardTo::Owner(partition) => forwarder.to_owner(partition, &parts, body).await,
                ForwardTo::Anyone => forwarder.to_anyone(&parts, body, response).await,
            };
        }
    }
    if !response.headers().contains_key(&SERVED_BY) {
        if let Ok(url) = HeaderValue::from_str(&forwarder.registry.url) {
            response.headers_mut().insert(SERVED_BY, url);
        }
    }
    response
}

/// Every one of `partitions` partitions was searched.
fn covers(partitions: i32, searched: &std::collections::BTreeSet<i32>) -> bool {
    (0..partitions).all(|p| searched.contains(&p))
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::CONNECTION
            | header::HOST
            | header::CONTENT_LENGTH
            | header::TRANSFER_ENCODING
            | header::TE
            | header::TRAILER
            | header::UPGRADE
            | header::PROXY_AUTHORIZATION
    ) || name.as_str() == "keep-alive"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(searched: &[i32]) -> Response {
        let mut response = StatusCode::NOT_FOUND.into_response();
        response.headers_mut().insert(SEARCHED, searched_header(searched));
        response
    }

    #[test]
    fn a_transfer_is_not_found_only_when_the_partitions_searched_are_all_of_them() {
        // Given four partitions, this instance serving 0 and 1, and a peer that served 3 when asked
        let (here, peer) = (not_found(&[0, 1]), not_found(&[3]));
        // When the answers are put together
        let mut searched: std::collections::BTreeSet<i32> = searched_in(&here).collect();
        searched.extend(searched_in(&peer));
        // Then partition 2 (being handed over) was searched by nobody: not found would be a guess
        assert!(!covers(4, &searched));
        // And once another peer says it searched 2, not found stands
        searched.extend(searched_in(&not_found(&[2])));
        assert!(covers(4, &searched));
    }

    #[test]
    fn an_answer_without_the_header_searched_nothing() {
        // Given a 404 from an instance that does not say what it searched
        let response = StatusCode::NOT_FOUND.into_response();
        // Then it covers no partition
        assert_eq!(searched_in(&response).count(), 0);
    }
}
