//! `/v1/events`: the event archive for analysts, paged or streamed as NDJSON.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use ledger_runtime::auth::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::accounts::{limit, with_lag};
use super::openapi::{ReadErrors, TokenHeader};
use super::params::Params;
use crate::app::AppState;
use crate::cursor;
use crate::error::Error;
use crate::store::{self, EventFilter, EventView};

pub const NDJSON: &str = "application/x-ndjson";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this aggregate's events.
    aggregate_id: Option<Uuid>,
    /// Only events of this type, e.g. `MoneyDeposited`.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^[A-Za-z]{1,64}$")]
    event_type: Option<String>,
    /// Only events that occurred at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events that occurred before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page: events after it.
    #[param(pattern = r"^t1\.(0|[1-9a-f][0-9a-f]{0,14})\.[0-9a-f]{32}$")]
    after: Option<String>,
    /// Page size, 1 to 500 (default 50). With NDJSON, a cap on the stream (default: none).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// A page of archived events in `(occurred_at, event_id)` order.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    items: Vec<EventView>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Old schema versions read as the current one, here as everywhere.
fn upcast(mut event: EventView) -> Result<EventView, Error> {
    let version = u32::try_from(event.schema_version).unwrap_or(0);
    let unknown =
        || events::DecodeError::UnknownEvent { event_type: event.event_type.clone(), schema_version: version };
    let current = events::upcast::current_version(&event.event_type).ok_or_else(unknown)?;
    let data = std::mem::take(&mut event.data);
    event.data = events::upcast::upcast(&event.event_type, version, data).ok_or_else(unknown)?;
    event.schema_version = current as i32;
    Ok(event)
}

/// Accepted events from the archive, filtered; JSON pages, or one NDJSON stream
/// when asked for with `Accept: application/x-ndjson`.
#[utoipa::path(get, path = "/v1/events", operation_id = "list_events", tag = "events", params(EventsQuery, TokenHeader),
    responses(
        (status = 200, description = "A page, or the whole result as NDJSON (one ArchivedEvent per line)",
         content((EventPage = "application/json"), (String = "application/x-ndjson")),
         headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))),
        ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Params(query): Params<EventsQuery>,
) -> Result<Response, Error> {
    principal.require_any(&[Role::Analyst])?;
    if let Some(t) = query.event_type.as_deref() {
        if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Error::Validation("type must be an event type name".into()));
        }
    }
    let after = query.after.as_deref().map(cursor::parse_event).transpose()?;
    let streaming = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(NDJSON));
    let limit = match (streaming, query.limit) {
        (true, None) => i64::MAX,
        (_, requested) => limit(requested)?,
    };
    let lag = state.fresh_enough(&headers, None, &["event_archive"]).await?;
    let filter = EventFilter {
        aggregate_id: query.aggregate_id,
        event_type: query.event_type,
        from: query.from,
        to: query.to,
        after,
    };
    if streaming {
        return Ok(with_lag(stream(state, filter, limit), lag));
    }
    let mut items = Vec::new();
    let mut rows = store::events(&state.pool, filter, limit.saturating_add(1));
    while let Some(row) = rows.next().await {
        items.push(upcast(row?)?);
    }
    let next_cursor = super::accounts::next_page(&mut items, limit, |e| cursor::event(e.occurred_at, e.event_id));
    Ok(with_lag(Json(EventPage { items, next_cursor }).into_response(), lag))
}

/// Streams rows as they come from Postgres; memory stays flat however many there are.
/// An error midway ends the body abruptly, so a client never takes a cut stream for a whole one.
fn stream(state: AppState, filter: EventFilter, limit: i64) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, Error>>(64);
    tokio::spawn(async move {
        let mut rows = store::events(&state.pool, filter, limit);
        while let Some(row) = rows.next().await {
            let line = row.map_err(Error::from).and_then(upcast).and_then(|event| {
                let mut line = serde_json::to_vec(&event).map_err(|e| Error::Io(e.into()))?;
                line.push(b'\n');
                Ok(line)
            });
            let failed = line.is_err();
            if let Err(error) = &line {
                tracing::error!(%error, "event stream failed");
            }
            if tx.send(line).await.is_err() || failed {
                break; // the client went away, or the stream is over
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}
