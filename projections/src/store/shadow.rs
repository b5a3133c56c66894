//! SQL of a replay: the shadow schema, the live checkpoints it chases, the
//! atomic swap, and the comparison of a dry run.
//!
//! Table and schema names are identifiers, which Postgres cannot bind; they
//! come only from the projectors' `tables()` and the constants below, never
//! from input.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::{PgConnection, Postgres, Transaction};

use crate::error::Error;

/// Where a replay builds its tables.
pub const SHADOW: &str = "ledger_shadow";
/// Where the swapped-out live tables go (dropped after the swap unless kept).
pub const RETIRED: &str = "ledger_retired";
/// The schema of the live read models.
pub const LIVE: &str = "public";
/// How long one attempt to freeze the live read models waits for a lock.
const FREEZE_ATTEMPT: Duration = Duration::from_millis(200);
/// How long a replay tries to freeze them before it gives up.
const FREEZE_DEADLINE: Duration = Duration::from_secs(60);
/// Advisory lock key: one replay per database at a time.
const REPLAY_LOCK: i64 = 0x0001_ed9e_71e7_e91a;

/// Takes the replay lock for the life of `conn`; false if another replay still
/// holds it after 10 s. (It waits because a replay that just ended may not have
/// released it yet: its server process exits after the client has gone.)
pub async fn lock(conn: &mut PgConnection) -> Result<bool, Error> {
    sqlx::query("set lock_timeout = '10s'").execute(&mut *conn).await?;
    let locked = match sqlx::query("select pg_advisory_lock($1)").bind(REPLAY_LOCK).execute(&mut *conn).await {
        Ok(_) => true,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => false,
        Err(e) => return Err(e.into()),
    };
    sqlx::query("set lock_timeout = 0").execute(&mut *conn).await?;
    Ok(locked)
}

/// A fresh shadow schema holding empty copies (columns, keys, indexes) of `tables`.
pub async fn create(conn: &mut PgConnection, tables: &[&str]) -> Result<(), Error> {
    sqlx::query(&format!("drop schema if exists {SHADOW} cascade")).execute(&mut *conn).await?;
    sqlx::query(&format!("create schema {SHADOW}")).execute(&mut *conn).await?;
    for table in tables {
        sqlx::query(&format!("create table {SHADOW}.{table} (like {LIVE}.{table} including all)"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Makes unqualified table names on `conn` resolve to the shadow first, so the
/// projectors' own SQL writes the shadow.
pub async fn use_shadow(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query(&format!("set search_path to {SHADOW}, {LIVE}")).execute(conn).await?;
    Ok(())
}

/// Drops `schema` and what is in it. Readers whose cached plans still name the
/// retired tables lock them in their own order, so this backs off as
/// [`freeze`] does rather than risk a deadlock that could fail a reader.
pub async fn drop_schema(conn: &mut PgConnection, schema: &str) -> Result<(), Error> {
    let mut backoff = Backoff::new();
    loop {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(&format!("set local lock_timeout = {}", FREEZE_ATTEMPT.as_millis())).execute(&mut *tx).await?;
        match sqlx::query(&format!("drop schema if exists {schema} cascade")).execute(&mut *tx).await {
            Ok(_) => return Ok(tx.commit().await?),
            Err(error) if contended(&error) && !backoff.expired() => {
                tx.rollback().await?;
                backoff.wait(&error).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Pauses between attempts to take contended locks, doubling up to 200 ms,
/// until [`FREEZE_DEADLINE`].
struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { deadline: Instant::now() + FREEZE_DEADLINE, pause: Duration::from_millis(10) }
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    async fn wait(&mut self, error: &sqlx::Error) {
        tracing::info!(%error, "the live read models are busy; trying again shortly");
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(200));
    }
}

/// Per partition, the lowest live checkpoint of `names`: where the live read models are.
pub async fn live_checkpoints(
    conn: &mut PgConnection,
    topic: &str,
    names: &[&str],
) -> Result<HashMap<i32, i64>, Error> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "select partition, min(next_offset)::int8 from public.projection_checkpoints
          where topic = $1 and projection = any($2) group by partition",
    )
    .bind(topic)
    .bind(names)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Freezes the live read models: workers cannot commit until `tx` ends. With
/// `swap`, readers of `tables` wait too (the swap needs them exclusively).
///
/// No one lock order suits everyone: a worker may write `erased_subjects`
/// before `account_entries`, and a reader of entries takes them the other way
/// round. So the replay never waits long while holding a lock: each attempt, in
/// a savepoint, gives up after [`FREEZE_ATTEMPT`] (well before Postgres's
/// deadlock check, which could pick a reader as its victim), rolls back to the
/// savepoint (which lets go of its locks), and tries again, for at most
/// [`FREEZE_DEADLINE`]. A reader waits at most one attempt.
pub async fn freeze(tx: &mut Transaction<'_, Postgres>, tables: &[&str], swap: bool) -> Result<(), Error> {
    let mut backoff = Backoff::new();
    sqlx::query(&format!("set local lock_timeout = {}", FREEZE_ATTEMPT.as_millis())).execute(&mut **tx).await?;
    loop {
        let mut attempt = sqlx::Connection::begin(&mut **tx).await?;
        match lock_all(&mut attempt, tables, swap).await {
            Ok(()) => {
                attempt.commit().await?;
                break;
            }
            Err(error) if contended(&error) && !backoff.expired() => {
                attempt.rollback().await?;
                backoff.wait(&error).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    sqlx::query("set local lock_timeout = '30s'").execute(&mut **tx).await?;
    Ok(())
}

async fn lock_all(tx: &mut Transaction<'_, Postgres>, tables: &[&str], swap: bool) -> Result<(), sqlx::Error> {
    if swap {
        let list: Vec<String> = tables.iter().map(|t| format!("{LIVE}.{t}")).collect();
        sqlx::query(&format!("lock table {} in access exclusive mode", list.join(", "))).execute(&mut **tx).await?;
    }
    sqlx::query("lock table public.projection_checkpoints in exclusive mode").execute(&mut **tx).await?;
    Ok(())
}

/// A lock not granted in time (`55P03`) or a deadlock (`40P01`): worth another try.
fn contended(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("55P03" | "40P01")))
}

/// Moves the live `tables` out to the retired schema and the shadow ones in, in `tx`.
pub async fn swap(tx: &mut Transaction<'_, Postgres>, tables: &[&str]) -> Result<(), Error> {
    sqlx::query(&format!("drop schema if exists {RETIRED} cascade")).execute(&mut **tx).await?;
    sqlx::query(&format!("create schema {RETIRED}")).execute(&mut **tx).await?;
    for table in tables {
        sqlx::query(&format!("alter table {LIVE}.{table} set schema {RETIRED}")).execute(&mut **tx).await?;
        sqlx::query(&format!("alter table {SHADOW}.{table} set schema {LIVE}")).execute(&mut **tx).await?;
        sqlx::query(&format!("grant select on {LIVE}.{table} to ledger_query")).execute(&mut **tx).await?;
    }
    sqlx::query(&format!("drop schema {SHADOW} cascade")).execute(&mut **tx).await?;
    Ok(())
}

/// Rows of `table` that are in `left` and not in `right` (as many times as they
/// differ): how many, and the first `sample` as JSON.
pub async fn missing_from(
    conn: &mut PgConnection,
    table: &str,
    left: &str,
    right: &str,
    sample: i64,
) -> Result<(i64, Vec<String>), Error> {
    let only = format!("select * from {left}.{table} except all select * from {right}.{table}");
    let (count,): (i64,) = sqlx::query_as(&format!("select count(*) from ({only}) d")).fetch_one(&mut *conn).await?;
    let rows: Vec<(String,)> = sqlx::query_as(&format!("select to_jsonb(d)::text from ({only}) d limit $1"))
        .bind(sample)
        .fetch_all(&mut *conn)
        .await?;
    Ok((count, rows.into_iter().map(|(r,)| r).collect()))
}
