//! SQL of the command service: write-side snapshots. Lowercase SQL, binds only.

use sqlx::PgPool;

use crate::error::Error;

/// Runs this crate's migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    // Several crates migrate the same database: each ignores the others' versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// The stored snapshot of a partition: `(next_offset, state bytes)`.
pub async fn load_snapshot(pool: &PgPool, topic: &str, partition: i32) -> Result<Option<(i64, Vec<u8>)>, Error> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select next_offset, state from command_snapshots where topic = $1 and partition = $2")
            .bind(topic)
            .bind(partition)
            .fetch_optional(pool)
            .await?;
    Ok(row)
}

/// Stores a snapshot unless a newer one is already there (another writer may be ahead).
pub async fn save_snapshot(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    next_offset: i64,
    state: &[u8],
) -> Result<bool, Error> {
    let result = sqlx::query(
        "insert into command_snapshots (topic, partition, next_offset, state) values ($1, $2, $3, $4)
         on conflict (topic, partition) do update
           set next_offset = excluded.next_offset, state = excluded.state, taken_at = now()
           where command_snapshots.next_offset < excluded.next_offset",
    )
    .bind(topic)
    .bind(partition)
    .bind(next_offset)
    .bind(state)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}
