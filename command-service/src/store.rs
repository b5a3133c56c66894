//! SQL of the command service: write-side snapshots. Lowercase SQL, binds only.

use sqlx::PgPool;

use crate::error::Error;

/// Runs this crate's migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    // Several crates migrate the same database: each ignores the others' versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    ledger_runtime::keys::migrate(pool).await?;
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

/// One live instance as it last published itself.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InstanceRow {
    pub instance_id: uuid::Uuid,
    pub url: String,
    pub partitions: Vec<i32>,
    pub generation: i64,
    pub aggregates: i64,
    pub age_ms: i64,
}

/// A new ownership generation, above every one handed out before.
pub async fn next_generation(pool: &PgPool) -> Result<i64, Error> {
    let (generation,): (i64,) =
        sqlx::query_as("select nextval('command_instance_generations')").fetch_one(pool).await?;
    Ok(generation)
}

/// Publishes (or refreshes) this instance's row.
pub async fn publish_instance(pool: &PgPool, row: &InstanceRow, topic: &str) -> Result<(), Error> {
    sqlx::query(
        "insert into command_instances (instance_id, topic, url, partitions, generation, aggregates)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (instance_id) do update
           set url = excluded.url, partitions = excluded.partitions, generation = excluded.generation,
               aggregates = excluded.aggregates, seen_at = now()",
    )
    .bind(row.instance_id)
    .bind(topic)
    .bind(&row.url)
    .bind(&row.partitions)
    .bind(row.generation)
    .bind(row.aggregates)
    .execute(pool)
    .await?;
    Ok(())
}

/// The instances of `topic` seen within `live_ms`, and how long ago.
pub async fn live_instances(pool: &PgPool, topic: &str, live_ms: i64) -> Result<Vec<InstanceRow>, Error> {
    let rows = sqlx::query_as(
        "select instance_id, url, partitions, generation, aggregates,
                (extract(epoch from (now() - seen_at)) * 1000)::bigint as age_ms
           from command_instances
          where topic = $1 and seen_at > now() - make_interval(secs => $2::double precision / 1000)
          order by url",
    )
    .bind(topic)
    .bind(live_ms)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Removes this instance's row (on the way out), and rows long dead.
pub async fn retire_instance(pool: &PgPool, instance_id: uuid::Uuid) -> Result<(), Error> {
    sqlx::query("delete from command_instances where instance_id = $1 or seen_at < now() - interval '1 day'")
        .bind(instance_id)
        .execute(pool)
        .await?;
    Ok(())
}
