//! SQL of `webhook_deliveries`, `webhook_messages` and `webhook_attempts`:
//! which deliveries are due, how each attempt ended, and replays.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Error;

/// A delivery that may be attempted now: the first pending one of its
/// (endpoint, account), due.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Due {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub account_id: Uuid,
    pub attempts: i32,
}

/// Up to `limit` due heads of the partitions `owned`, the longest waiting first.
pub async fn due(pool: &PgPool, owned: &[i32], limit: i64) -> Result<Vec<Due>, Error> {
    Ok(sqlx::query_as(
        "select d.endpoint_id, d.event_id, d.account_id, d.attempts
           from webhook_deliveries d
           join webhook_endpoints p on p.id = d.endpoint_id and p.enabled
          where d.status = 'pending' and d.partition = any($1) and d.next_attempt_at <= now()
            and not exists (
                select 1 from webhook_deliveries e
                 where e.endpoint_id = d.endpoint_id and e.account_id = d.account_id and e.status = 'pending'
                   and (e.\"offset\", e.event_index) < (d.\"offset\", d.event_index))
          order by d.next_attempt_at
          limit $2",
    )
    .bind(owned)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// When the next pending delivery of the partitions `owned` is due.
pub async fn next_due(pool: &PgPool, owned: &[i32]) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(sqlx::query_scalar(
        "select min(next_attempt_at) from webhook_deliveries where status = 'pending' and partition = any($1)",
    )
    .bind(owned)
    .fetch_one(pool)
    .await?)
}

/// A message's type and stored body.
pub async fn message(pool: &PgPool, event_id: Uuid) -> Result<Option<(String, serde_json::Value)>, Error> {
    Ok(sqlx::query_as("select event_type, body from webhook_messages where event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await?)
}

/// How an attempt ended, for the endpoint's list of attempts.
pub struct Attempt<'a> {
    pub endpoint_id: Uuid,
    pub event_id: Option<Uuid>,
    pub event_type: &'a str,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub outcome: &'a str,
    pub duration_ms: i32,
    pub response: &'a str,
    pub error: Option<&'a str>,
}

pub async fn record(pool: &PgPool, a: &Attempt<'_>) -> Result<(), Error> {
    sqlx::query(
        "insert into webhook_attempts
             (endpoint_id, event_id, event_type, attempt, status_code, outcome, duration_ms, response, error)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.endpoint_id)
    .bind(a.event_id)
    .bind(a.event_type)
    .bind(a.attempt)
    .bind(a.status_code)
    .bind(a.outcome)
    .bind(a.duration_ms)
    .bind(a.response)
    .bind(a.error)
    .execute(pool)
    .await?;
    Ok(())
}

/// The receiver answered 2xx.
pub async fn delivered(pool: &PgPool, endpoint: Uuid, event: Uuid, attempts: i32) -> Result<(), Error> {
    sqlx::query(
        "update webhook_deliveries set status = 'delivered', attempts = $3, delivered_at = now()
          where endpoint_id = $1 and event_id = $2 and status = 'pending'",
    )
    .bind(endpoint)
    .bind(event)
    .bind(attempts)
    .execute(pool)
    .await?;
    Ok(())
}

/// It failed: try again at `at`, or (`None`) give up.
pub async fn failed(
    pool: &PgPool,
    endpoint: Uuid,
    event: Uuid,
    attempts: i32,
    at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    sqlx::query(
        "update webhook_deliveries
            set attempts = $3, next_attempt_at = coalesce($4, next_attempt_at),
                status = case when $4::timestamptz is null then 'failed' else status end
          where endpoint_id = $1 and event_id = $2 and status = 'pending'",
    )
    .bind(endpoint)
    .bind(event)
    .bind(attempts)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One attempt as listed.
#[derive(Debug, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: i64,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub outcome: String,
    pub duration_ms: i32,
    pub response: String,
    pub error: Option<String>,
}

/// An endpoint's attempts, newest first, before the id `before`.
pub async fn attempts(
    pool: &PgPool,
    endpoint: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AttemptRow>, Error> {
    Ok(sqlx::query_as(
        "select id, event_id, event_type, attempt, at, status_code, outcome, duration_ms, response, error
           from webhook_attempts
          where endpoint_id = $1 and ($2::int8 is null or id < $2)
          order by id desc limit $3",
    )
    .bind(endpoint)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Delivers again every message since `since` that the endpoint's scope and
/// filter admit (`subject`/`owner`: a client endpoint's; `None`: every account),
/// whether it was delivered, given up, or never made for it. Returns how many.
pub async fn replay(
    pool: &PgPool,
    endpoint: Uuid,
    scope: Option<(Option<Uuid>, &str)>,
    types: &[String],
    since: DateTime<Utc>,
) -> Result<u64, Error> {
    let (subject, owner) = match scope {
        Some((subject, owner)) => (subject, Some(owner)),
        None => (None, None),
    };
    let replayed = sqlx::query(
        "insert into webhook_deliveries (endpoint_id, event_id, account_id, partition, \"offset\", event_index)
         select $1, m.event_id, m.account_id, m.partition, m.\"offset\", m.event_index
           from webhook_messages m
          where m.occurred_at >= $5
            and ('*' = any($4) or m.event_type = any($4))
            and ($3::text is null or m.owner_subject = $2 or m.owner_clear = $3)
         on conflict (endpoint_id, event_id)
         do update set status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = null",
    )
    .bind(endpoint)
    .bind(subject)
    .bind(owner)
    .bind(types)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(replayed.rows_affected())
}

/// Per endpoint: pending deliveries and the age of the oldest, in seconds.
pub async fn backlog(pool: &PgPool) -> Result<Vec<(Uuid, i64, f64)>, Error> {
    Ok(sqlx::query_as(
        "select d.endpoint_id, count(*), coalesce(extract(epoch from now() - min(m.occurred_at))::float8, 0)
           from webhook_deliveries d join webhook_messages m on m.event_id = d.event_id
          where d.status = 'pending'
          group by d.endpoint_id",
    )
    .fetch_all(pool)
    .await?)
}
