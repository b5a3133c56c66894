//! Opening the personal fields of what the tools print. With the key store
//! (`--keys-database-url` and `KEY_ENCRYPTION_KEY`), a sealed field opens to
//! its text, or `null` once its subject is erased; without it, fields are
//! written as the log holds them (sealed).

use std::collections::HashMap;

use ledger_runtime::keys::{KeyArgs, SubjectKeys};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// Where the key store is, for tools that open personal fields.
#[derive(Clone, Debug, clap::Args)]
pub struct KeySource {
    /// Postgres URL of the key store (the command service's database). Unset or empty: print fields sealed.
    #[arg(long, env = "KEYS_DATABASE_URL")]
    pub keys_database_url: Option<String>,
    #[command(flatten)]
    pub kek: KeyArgs,
}

pub struct Opener {
    keys: Option<SubjectKeys>,
}

impl Opener {
    pub async fn new(source: &KeySource) -> anyhow::Result<Self> {
        let Some(url) = source.keys_database_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(Self { keys: None });
        };
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        Ok(Self { keys: Some(SubjectKeys::open(pool, source.kek.kek()?).await?) })
    }

    /// `data` (an event's) with its personal fields opened, or as it was without keys.
    pub async fn open(&self, mut data: serde_json::Value, aggregate: Uuid) -> anyhow::Result<serde_json::Value> {
        let Some(keys) = &self.keys else { return Ok(data) };
        let mut found = HashMap::new();
        for subject in events::personal::subjects_in(&data) {
            found.insert(subject, keys.key(subject).await?);
        }
        if !found.is_empty() {
            events::personal::open_in(&mut data, aggregate, &|s| found.get(&s).cloned().flatten());
        }
        Ok(data)
    }
}
