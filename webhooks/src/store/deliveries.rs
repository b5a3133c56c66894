//! SQL of `webhook_deliveries`, `webhook_messages` and `webhook_attempts`:
//! which deliveries are due, how each attempt ended, and replays.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Error;
use crate::send::Outcome;

impl Attempt {
    /// The row of attempt number `attempt` of an event (`None`: a test ping) that ended in `o`.
    pub fn of(endpoint_id: Uuid, event_id: Option<Uuid>, event_type: &str, attempt: i32, o: &Outcome) -> Self {
        Attempt {
            endpoint_id,
            event_id,
            event_type: event_type.to_owned(),
            attempt,
            status_code: o.status.map(i32::from),
            outcome: o.outcome,
            duration_ms: i32::try_from(o.duration.as_millis()).unwrap_or(i32::MAX),
            response: o.response.clone(),
            error: o.error.clone(),
        }
    }
}

/// Adds one attempt to its endpoint's list.
pub async fn record(pool: &PgPool, a: &Attempt) -> Result<(), Error> {
    sqlx::query(
        "insert into webhook_attempts
             (endpoint_id, event_id, event_type, attempt, status_code, outcome, duration_ms, response, error)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.endpoint_id)
    .bind(a.event_id)
    .bind(&a.event_type)
    .bind(a.attempt)
    .bind(a.status_code)
    .bind(a.outcome)
    .bind(a.duration_ms)
    .bind(&a.response)
    .bind(&a.error)
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

/// A pending delivery with its message, as the dispatcher fetches it.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingRow {
    pub endpoint_id: Uuid,
    pub account_id: Uuid,
    pub event_id: Uuid,
    pub partition: i32,
    pub offset: i64,
    pub event_index: i32,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub event_type: String,
    pub body: serde_json::Value,
}

/// The first `per_lane` pending deliveries of each (endpoint, account) of the
/// partitions `owned`, enabled endpoints only, at most `limit` in all.
pub async fn window(pool: &PgPool, owned: &[i32], per_lane: i64, limit: i64) -> Result<Vec<PendingRow>, Error> {
    Ok(sqlx::query_as(
        "select d.endpoint_id, d.account_id, d.event_id, d.partition, d.\"offset\", d.event_index, d.attempts,
                d.next_attempt_at, m.event_type, m.body
           from (select d.*, row_number() over (partition by d.endpoint_id, d.account_id
                                                order by d.\"offset\", d.event_index) as rn
                   from webhook_deliveries d
                   join webhook_endpoints p on p.id = d.endpoint_id and p.enabled
                  where d.status = 'pending' and d.partition = any($1)) d
           join webhook_messages m on m.event_id = d.event_id
          where d.rn <= $2
          order by d.next_attempt_at
          limit $3",
    )
    .bind(owned)
    .bind(per_lane)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// What one attempt changes: its row in the attempts, and its delivery
/// (`status` 'delivered', 'failed' when given up, or 'pending' with `next_at`).
pub struct Stored {
    pub attempt: Attempt,
    /// The delivery's account and place: with the endpoint, the exact key of
    /// the pending deliveries' index (a look-up by endpoint alone would scan
    /// every pending delivery of the endpoint for each row).
    pub account_id: Uuid,
    pub place: (i64, i32),
    pub status: &'static str,
    pub next_at: Option<DateTime<Utc>>,
}

/// How an attempt ended, for the endpoint's list of attempts.
pub struct Attempt {
    pub endpoint_id: Uuid,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub outcome: &'static str,
    pub duration_ms: i32,
    pub response: String,
    pub error: Option<String>,
}

/// Stores a batch of attempts and their deliveries' new state in one statement.
/// Attempts of endpoints deleted meanwhile are dropped.
pub async fn store_batch(pool: &PgPool, batch: &[Stored]) -> Result<(), Error> {
    let a = |f: fn(&Stored) -> Option<Uuid>| batch.iter().map(f).collect::<Vec<_>>();
    let endpoints: Vec<Uuid> = batch.iter().map(|s| s.attempt.endpoint_id).collect();
    let events = a(|s| s.attempt.event_id);
    let types: Vec<&str> = batch.iter().map(|s| s.attempt.event_type.as_str()).collect();
    let attempts: Vec<i32> = batch.iter().map(|s| s.attempt.attempt).collect();
    let codes: Vec<Option<i32>> = batch.iter().map(|s| s.attempt.status_code).collect();
    let outcomes: Vec<&str> = batch.iter().map(|s| s.attempt.outcome).collect();
    let durations: Vec<i32> = batch.iter().map(|s| s.attempt.duration_ms).collect();
    let responses: Vec<&str> = batch.iter().map(|s| s.attempt.response.as_str()).collect();
    let errors: Vec<Option<&str>> = batch.iter().map(|s| s.attempt.error.as_deref()).collect();
    let statuses: Vec<&str> = batch.iter().map(|s| s.status).collect();
    let next: Vec<Option<DateTime<Utc>>> = batch.iter().map(|s| s.next_at).collect();
    let accounts: Vec<Uuid> = batch.iter().map(|s| s.account_id).collect();
    let offsets: Vec<i64> = batch.iter().map(|s| s.place.0).collect();
    let indexes: Vec<i32> = batch.iter().map(|s| s.place.1).collect();
    sqlx::query(
        "with u as (
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::text[], $7::int[],
                                  $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::uuid[], $13::int8[],
                                  $14::int[])
                    with ordinality as u(e, m, t, n, code, outcome, ms, response, error, status, next_at, a, o, x, i)
         ),
         a as (
             insert into webhook_attempts
                 (endpoint_id, event_id, event_type, attempt, status_code, outcome, duration_ms, response, error)
             select u.e, u.m, u.t, u.n, u.code, u.outcome, u.ms, u.response, u.error
               from u join webhook_endpoints p on p.id = u.e
              order by u.i
         ),
         last as (
             select distinct on (u.e, u.m) u.* from u where u.m is not null order by u.e, u.m, u.i desc
         )
         update webhook_deliveries d
            set status = last.status, attempts = last.n,
                next_attempt_at = coalesce(last.next_at, d.next_attempt_at),
                delivered_at = case when last.status = 'delivered' then now() else d.delivered_at end
           from last
          where d.endpoint_id = last.e and d.account_id = last.a and d.\"offset\" = last.o
            and d.event_index = last.x and d.event_id = last.m and d.status = 'pending'",
    )
    .bind(&endpoints)
    .bind(&events)
    .bind(&types)
    .bind(&attempts)
    .bind(&codes)
    .bind(&outcomes)
    .bind(&durations)
    .bind(&responses)
    .bind(&errors)
    .bind(&statuses)
    .bind(&next)
    .bind(&accounts)
    .bind(&offsets)
    .bind(&indexes)
    .execute(pool)
    .await?;
    Ok(())
}
