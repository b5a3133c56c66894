//! SQL of `webhook_endpoints`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Error;

/// An endpoint as stored (its secrets sealed).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub owner_sub: String,
    pub scope: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret_sealed: String,
    pub kek_id: String,
    pub previous_sealed: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Does it take messages of this type?
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

const COLUMNS: &str = "id, owner_sub, scope, url, description, event_types, enabled, disabled_reason, secret_sealed,
    kek_id, previous_sealed, previous_until, failing_since, created_at, updated_at";

/// What a new endpoint is made of.
pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub owner_sub: &'a str,
    pub scope: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub secret_sealed: &'a str,
    pub kek_id: &'a str,
}

pub async fn insert(pool: &PgPool, new: &NewEndpoint<'_>) -> Result<Endpoint, Error> {
    let sql = format!(
        "insert into webhook_endpoints (id, owner_sub, scope, url, description, event_types, secret_sealed, kek_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(new.id)
        .bind(new.owner_sub)
        .bind(new.scope)
        .bind(new.url)
        .bind(new.description)
        .bind(new.event_types)
        .bind(new.secret_sealed)
        .bind(new.kek_id)
        .fetch_one(pool)
        .await?)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Endpoint>, Error> {
    let sql = format!("select {COLUMNS} from webhook_endpoints where id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// A page of endpoints by id, after `after`; only `owner`'s when given.
pub async fn list(pool: &PgPool, owner: Option<&str>, after: Option<Uuid>, limit: i64) -> Result<Vec<Endpoint>, Error> {
    let sql = format!(
        "select {COLUMNS} from webhook_endpoints
          where ($1::text is null or owner_sub = $1) and ($2::uuid is null or id > $2)
          order by id limit $3"
    );
    Ok(sqlx::query_as(&sql).bind(owner).bind(after).bind(limit).fetch_all(pool).await?)
}

/// The channel every change of an endpoint is announced on: each dispatcher
/// reads the endpoints again (a rotated secret signs at once, everywhere).
pub const CHANNEL: &str = "webhook_endpoints";

/// Announces that endpoint `id` changed.
pub async fn announce(pool: &PgPool, id: Uuid) -> Result<(), Error> {
    sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(id.to_string()).execute(pool).await?;
    Ok(())
}

/// Every enabled endpoint: what a batch of the log is matched against.
pub async fn enabled(pool: &PgPool) -> Result<Vec<Endpoint>, Error> {
    let sql = format!("select {COLUMNS} from webhook_endpoints where enabled");
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

/// What an update changes (`None`: unchanged).
#[derive(Default)]
pub struct Changes<'a> {
    pub url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub event_types: Option<&'a [String]>,
    pub enabled: Option<bool>,
}

pub async fn update(pool: &PgPool, id: Uuid, changes: &Changes<'_>) -> Result<Option<Endpoint>, Error> {
    let sql = format!(
        "update webhook_endpoints set
            url = coalesce($2, url),
            description = coalesce($3, description),
            event_types = coalesce($4, event_types),
            enabled = coalesce($5, enabled),
            disabled_reason = case when $5 then null when $5 = false then 'disabled by request' else disabled_reason end,
            failing_since = case when $5 then null else failing_since end,
            updated_at = now()
          where id = $1 returning {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .bind(changes.url)
        .bind(changes.description)
        .bind(changes.event_types)
        .bind(changes.enabled)
        .fetch_optional(pool)
        .await?)
}

pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, Error> {
    let deleted = sqlx::query("delete from webhook_endpoints where id = $1").bind(id).execute(pool).await?;
    Ok(deleted.rows_affected() == 1)
}

/// A new secret; the current one stays valid until `until`.
pub async fn rotate(
    pool: &PgPool,
    id: Uuid,
    sealed: &str,
    kek_id: &str,
    until: DateTime<Utc>,
) -> Result<Option<Endpoint>, Error> {
    let sql = format!(
        "update webhook_endpoints
            set previous_sealed = secret_sealed, previous_until = $4, secret_sealed = $2, kek_id = $3, updated_at = now()
          where id = $1 returning {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql).bind(id).bind(sealed).bind(kek_id).bind(until).fetch_optional(pool).await?)
}

/// Disables an endpoint, saying why.
pub async fn disable(pool: &PgPool, id: Uuid, reason: &str) -> Result<(), Error> {
    sqlx::query("update webhook_endpoints set enabled = false, disabled_reason = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(())
}

/// An attempt failed: since when has every one failed?
pub async fn failed(pool: &PgPool, id: Uuid) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(sqlx::query_scalar(
        "update webhook_endpoints set failing_since = coalesce(failing_since, now()) where id = $1 returning failing_since",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// An attempt succeeded: the endpoint is not failing.
pub async fn succeeded(pool: &PgPool, id: Uuid) -> Result<(), Error> {
    sqlx::query("update webhook_endpoints set failing_since = null where id = $1 and failing_since is not null")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Endpoints disabled, for the metrics.
pub async fn count_disabled(pool: &PgPool) -> Result<i64, Error> {
    Ok(sqlx::query_scalar("select count(*) from webhook_endpoints where not enabled").fetch_one(pool).await?)
}
