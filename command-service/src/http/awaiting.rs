//! What a transfer command answers: its status, and with `Prefer: wait` the
//! status once the transfer is final. A transfer's legs live on two accounts,
//! possibly on partitions served by two instances: the legs on the other
//! instance's accounts are asked of it, as is the destination's currency.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::{ConsistencyToken, Legs, TransferStatus};
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::transfers::TransferAccepted;
use crate::app::AppState;
use crate::error::Refusal;
use crate::partitions::Slot;
use crate::plan::Reply;

/// Longest `Prefer: wait`.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often legs on another instance are asked for while waiting.
const REMOTE_POLL: Duration = Duration::from_millis(100);

/// `Prefer: wait=N` (RFC 7240), capped at 30 s.
pub(super) fn prefer_wait(headers: &HeaderMap) -> Result<Option<Duration>, Refusal> {
    let mut wait = None;
    for value in headers.get_all("prefer").iter().filter(|value| !value.is_empty()) {
        let seconds = value.to_str().ok().and_then(|text| text.trim().strip_prefix("wait=")).and_then(|value| {
            let digits = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            let canonical = (1..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
            canonical.then(|| digits.parse::<u64>().ok()).flatten()
        });
        let seconds = seconds
            .ok_or_else(|| Refusal::BadRequest("Prefer takes one preference: wait=N, in whole seconds".into()))?;
        wait = Some(Duration::from_secs(seconds).min(MAX_WAIT));
    }
    Ok(wait)
}

/// 202 with the transfer's status; with `Prefer: wait`, 200 once `done` holds.
pub(super) async fn respond(
    state: &AppState,
    transfer_id: Uuid,
    reply: Reply,
    wait: Option<Duration>,
    done: impl Fn(TransferStatus) -> bool,
    request: &HeaderMap,
) -> Response {
    let status = status(state, transfer_id, wait, &done, request).await;
    let code = if wait.is_some() && done(status) { StatusCode::OK } else { StatusCode::ACCEPTED };
    let receipt = reply.receipt;
    let body = TransferAccepted {
        transfer_id,
        status: status.as_str(),
        account_id: receipt.account_id,
        version: receipt.version,
        commit_id: receipt.commit_id,
        position: receipt.position,
        consistency_token: ConsistencyToken(receipt.position).sign(&state.token_key),
    };
    let mut response = (code, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/transfers/{transfer_id}")) {
        headers.insert("location", location);
    }
    if let Some(wait) = wait {
        if let Ok(applied) = HeaderValue::from_str(&format!("wait={}", wait.as_secs())) {
            headers.insert("preference-applied", applied);
        }
    }
    if reply.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The transfer's status now, or (with `wait`) once `done` holds or the wait is over.
async fn status(
    state: &AppState,
    transfer: Uuid,
    wait: Option<Duration>,
    done: &impl Fn(TransferStatus) -> bool,
    request: &HeaderMap,
) -> TransferStatus {
    let deadline = Instant::now() + wait.unwrap_or_default();
    loop {
        let changed = state.directory.subscribe(transfer);
        let mut known = state.directory.known(&transfer).unwrap_or_default();
        let elsewhere = known.destination.filter(|d| !served_here(state, d));
        if let (Some(destination), Some(_)) = (elsewhere, wait) {
            if let Some(remote) = remote_legs(state, transfer, destination, request).await {
                known.legs.merge(&remote);
            }
        }
        let status = known.legs.status();
        let now = Instant::now();
        if wait.is_none() || done(status) || now >= deadline {
            return status;
        }
        let nap = if elsewhere.is_some() { REMOTE_POLL.min(deadline - now) } else { deadline - now };
        let _ = tokio::time::timeout(nap, changed).await;
    }
}

fn served_here(state: &AppState, account: &Uuid) -> bool {
    matches!(state.partitions.slot(state.partitions.partition_of(account)), Slot::Serving(_))
}

/// The legs recorded on the instance that serves `account`.
async fn remote_legs(state: &AppState, transfer: Uuid, account: Uuid, request: &HeaderMap) -> Option<Legs> {
    #[derive(Deserialize)]
    struct Answer {
        legs: Legs,
    }
    let path = format!("/v1/internal/transfers/{transfer}/legs");
    let answer: Answer = ask_owner(state, account, &path, request).await?;
    Some(answer.legs)
}

/// The currency of `account`: known here if its partition is served here,
/// else asked of its owner (and remembered: an opened account's currency
/// never changes). `None` leaves the question to the destination's own fold.
pub(super) async fn currency_of(state: &AppState, account: Uuid, request: &HeaderMap) -> Option<String> {
    #[derive(Deserialize)]
    struct Answer {
        currency: String,
    }
    if served_here(state, &account) {
        return state.directory.currency(&account);
    }
    if let Some(currency) = state.directory.remote_currency(&account) {
        return Some(currency);
    }
    let path = format!("/v1/internal/accounts/{account}/currency");
    let answer: Answer = ask_owner(state, account, &path, request).await?;
    state.directory.remember_currency(account, &answer.currency);
    Some(answer.currency)
}

/// GET `path` from the owner of `account`'s partition, as the caller.
async fn ask_owner<T: serde::de::DeserializeOwned>(
    state: &AppState,
    account: Uuid,
    path: &str,
    request: &HeaderMap,
) -> Option<T> {
    let owner = state.forwarder.registry().owner_of(state.partitions.partition_of(&account))?;
    let mut ask = state.forwarder.client().get(format!("{owner}{path}"));
    if let Some(authorization) = request.get(header::AUTHORIZATION) {
        ask = ask.header(header::AUTHORIZATION, authorization);
    }
    if let Some(signature) = super::peer::sign(&state.token_key, path) {
        ask = ask.header(super::peer::PEER, signature);
    }
    let answer = ask.timeout(Duration::from_secs(2)).send().await.ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_takes_exactly_a_wait_in_whole_seconds_capped_at_thirty() {
        let mut headers = HeaderMap::new();
        assert_eq!(prefer_wait(&headers).ok(), Some(None));
        for (value, seconds) in [("wait=5", 5), ("wait=\"7\"", 7), ("wait=600", 30), ("wait=0", 0)] {
            headers.insert("prefer", HeaderValue::from_static(value));
            assert_eq!(prefer_wait(&headers).ok(), Some(Some(Duration::from_secs(seconds))), "{value}");
        }
        headers.insert("prefer", HeaderValue::from_static(""));
        assert_eq!(prefer_wait(&headers).ok(), Some(None), "an empty Prefer states no preference");
        for value in ["wait=soon", "respond-async, wait=5", "wait=", "wait=1234567890", "wait=\"5", "wait=-1"] {
            headers.insert("prefer", HeaderValue::from_static(value));
            assert!(prefer_wait(&headers).is_err(), "{value}");
        }
    }
}
