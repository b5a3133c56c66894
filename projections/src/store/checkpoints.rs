//! The guarded checkpoints: where each projector is in each partition, and
//! the commit just before it, which the log must still hold for a worker to
//! carry on from there ([`events::resume`]).

use events::resume::Saved;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Error;

/// The channel workers notify on commit; the query service listens to it.
pub const CHECKPOINT_CHANNEL: &str = "ledger_checkpoints";

/// The checkpoint of a partition (the least advanced projector's), creating
/// missing rows. A projector with no row starts where the others are (its
/// history is filled by a replay).
pub async fn checkpoint(pool: &PgPool, names: &[&str], topic: &str, partition: i32) -> Result<Saved, Error> {
    let existing: Option<(i64, Option<Uuid>)> = sqlx::query_as(
        "select next_offset, last_commit from projection_checkpoints
          where projection = any($1) and topic = $2 and partition = $3
          order by next_offset limit 1",
    )
    .bind(names)
    .bind(topic)
    .bind(partition)
    .fetch_optional(pool)
    .await?;
    let (next_offset, last_commit) = existing.unwrap_or((0, None));
    sqlx::query(
        "insert into projection_checkpoints (projection, topic, partition, next_offset, last_commit)
         select unnest($1::text[]), $2, $3, $4, $5 on conflict do nothing",
    )
    .bind(names)
    .bind(topic)
    .bind(partition)
    .bind(next_offset)
    .bind(last_commit)
    .execute(pool)
    .await?;
    Ok(Saved { next_offset, last_commit })
}

/// Moves every projector's checkpoint from `from` to `to` (the record at
/// `to - 1` being commit `last_commit`), only if all are still at `from`.
/// Returns false when another worker moved them: the caller must roll back.
#[allow(clippy::too_many_arguments)]
pub async fn advance(
    tx: &mut PgConnection,
    names: &[&str],
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    log_end: i64,
    last_commit: Option<Uuid>,
) -> Result<bool, Error> {
    let result = sqlx::query(
        "update projection_checkpoints
            set next_offset = $5, log_end_offset = greatest($6, $5), last_commit = $7, updated_at = now()
          where projection = any($1) and topic = $2 and partition = $3 and next_offset = $4",
    )
    .bind(names)
    .bind(topic)
    .bind(partition)
    .bind(from)
    .bind(to)
    .bind(log_end)
    .bind(last_commit)
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() != names.len() as u64 {
        return Ok(false);
    }
    let payload = format!("{topic}\t{partition}\t{to}");
    sqlx::query("select pg_notify($1, $2)").bind(CHECKPOINT_CHANNEL).bind(payload).execute(&mut *tx).await?;
    Ok(true)
}
