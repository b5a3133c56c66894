//! What the endpoints API reads and answers: bodies, views, pages, and their checks.

use chrono::{DateTime, Utc};
use ledger_runtime::auth::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::Error;
use crate::payload::TYPES;
use crate::store::deliveries::AttemptRow;
use crate::store::endpoints::Endpoint;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 256;
/// Most message types in one filter.
pub const MAX_TYPES: usize = 32;

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointBody {
    /// Where messages are POSTed: https, to a public address.
    #[schema(example = "https://hooks.example.com/ledgerline", max_length = 2048)]
    pub url: String,
    /// Message types to receive (`*`: all). Default: all.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(max_length = 256, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub description: Option<String>,
    /// `own` (the caller's accounts) or `all` (every account, role `ops` only).
    /// Default: `own` for clients, `all` for ops.
    #[serde(default)]
    pub scope: Option<Scope>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Own,
    All,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChanges {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    #[schema(max_length = 256, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub description: Option<String>,
    /// Enabling an endpoint again clears why it was disabled.
    pub enabled: Option<bool>,
}

/// An endpoint, without its secret.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub scope: Scope,
    pub enabled: bool,
    /// Why it was disabled (a 410, failures for days, or a request).
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Endpoint> for EndpointView {
    fn from(e: &Endpoint) -> Self {
        EndpointView {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            scope: if e.scope == "all" { Scope::All } else { Scope::Own },
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A new endpoint, with its secret: shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify signatures with it (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// A new secret after a rotation: shown this once.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
    /// Until then, messages carry a signature by the previous secret too.
    pub previous_valid_until: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointPage {
    pub items: Vec<EndpointView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One attempt to deliver a message.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub id: i64,
    /// The event delivered (null for a test ping).
    pub event_id: Option<Uuid>,
    pub event_type: String,
    /// 1 for the first attempt of this message.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    /// `delivered`, `failed`, `timeout`, `refused` (egress rules) or `network`.
    pub outcome: String,
    pub duration_ms: i32,
    /// The first bytes of the answer.
    pub response: String,
    pub error: Option<String>,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        AttemptView {
            id: a.id,
            event_id: a.event_id,
            event_type: a.event_type,
            attempt: a.attempt,
            at: a.at,
            status_code: a.status_code,
            outcome: a.outcome,
            duration_ms: a.duration_ms,
            response: a.response,
            error: a.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptPage {
    pub items: Vec<AttemptView>,
    pub next_cursor: Option<String>,
}

/// What to deliver again: every message from an instant on, or from a
/// message's `position` on (that message included).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ReplayBody {
    Since(ReplaySince),
    Position(ReplayPosition),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaySince {
    /// Messages of events that occurred at or after this instant.
    pub since: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayPosition {
    /// A message's `position`.
    #[schema(pattern = r"^t1\.(0|[1-9a-f][0-9a-f]{0,14})\.[0-9a-f]{32}$")]
    pub position: String,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    /// Deliveries queued again.
    pub replayed: u64,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EndpointPageQuery {
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^w1\.[0-9a-f]{32}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttemptPageQuery {
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^n1\.(0|[1-9a-f][0-9a-f]{0,14})$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

pub fn limit(limit: Option<i64>) -> Result<i64, Error> {
    match limit.unwrap_or(20) {
        n @ 1..=100 => Ok(n),
        _ => Err(Error::Validation("limit must be 1 to 100".into())),
    }
}

/// A message-type filter: known types or `*`, 1 to 32 of them.
pub fn check_types(types: &[String]) -> Result<(), Error> {
    if types.is_empty() || types.len() > MAX_TYPES {
        return Err(Error::Validation(format!("event_types: 1 to {MAX_TYPES} message types, or [\"*\"]")));
    }
    match types.iter().find(|t| *t != "*" && !TYPES.contains(&t.as_str())) {
        Some(unknown) => Err(Error::Validation(format!("event_types: {unknown:?} is not a message type"))),
        None => Ok(()),
    }
}

pub fn check_description(text: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control) {
        return Err(Error::Validation(format!(
            "description: at most {MAX_DESCRIPTION} characters, no control characters"
        )));
    }
    Ok(())
}

/// Clients and ops manage endpoints; the scope a caller may give.
pub fn may_create(principal: &Principal, scope: Option<Scope>) -> Result<Scope, Error> {
    principal.require_any(&[Role::Client, Role::Ops])?;
    let ops = principal.has(Role::Ops) || !principal.restricted;
    match scope {
        Some(Scope::All) if !ops => Err(Error::Auth(ledger_runtime::auth::AuthError::Forbidden)),
        Some(scope) => Ok(scope),
        None if ops => Ok(Scope::All),
        None => Ok(Scope::Own),
    }
}

/// Someone else's endpoint does not exist, as far as a client can tell.
pub fn visible(principal: &Principal, endpoint: Option<Endpoint>) -> Result<Endpoint, Error> {
    principal.require_any(&[Role::Client, Role::Ops])?;
    match endpoint {
        Some(e) if principal.has(Role::Ops) || !principal.restricted || e.owner_sub == principal.sub => Ok(e),
        _ => Err(Error::NotFound("no such endpoint")),
    }
}
