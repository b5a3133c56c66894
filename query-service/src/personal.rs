//! Opening personal fields on read. The read models hold owners, references
//! and freeze reasons as the log does: sealed for their data subject (or clear
//! text, from commits written before sealing). A field whose subject is
//! erased reads `null`, and the account says `erased: true`.
//!
//! The key store is opened on first use: the command service creates it, and
//! this service's read-only role cannot.

use std::sync::Arc;

use events::personal::{self, Personal};
use ledger_runtime::keys::{Kek, SubjectKeys};
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::Error;

/// A personal field as a reader sees it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opened {
    pub text: Option<String>,
    /// Sealed for a subject whose key is gone.
    pub erased: bool,
}

#[derive(Clone)]
pub struct Opener {
    pool: PgPool,
    kek: Arc<Kek>,
    keys: Arc<OnceCell<SubjectKeys>>,
}

impl Opener {
    pub fn new(pool: PgPool, kek: Kek) -> Self {
        Self { pool, kek: Arc::new(kek), keys: Arc::default() }
    }

    async fn keys(&self) -> Result<&SubjectKeys, Error> {
        self.keys.get_or_try_init(|| SubjectKeys::open(self.pool.clone(), (*self.kek).clone())).await.map_err(|e| {
            tracing::warn!(error = %e, "the key store cannot be opened");
            Error::KeysUnavailable
        })
    }

    /// The live subject of an owner name, if the key store knows one. A
    /// cached "none" is asked again: the subject is created with the owner's
    /// first account, and a list made just before must not hide that account
    /// for the cache's lifetime.
    pub async fn subject_of(&self, name: &str) -> Result<Option<Uuid>, Error> {
        let keys = self.keys().await?;
        Ok(keys.find_fresh(name).await.map_err(|_| Error::KeysUnavailable)?.map(|(subject, _)| subject))
    }

    /// Opens `stored` (a JSON string, a sealed object or `null`) as the field
    /// `field` of one of `places` (the aggregate it was sealed for).
    pub async fn open(&self, stored: &serde_json::Value, places: &[Uuid], field: &str) -> Result<Opened, Error> {
        match serde_json::from_value::<Personal>(stored.clone()) {
            Ok(Personal::Clear(text)) => Ok(Opened { text: Some(text), erased: false }),
            Ok(Personal::Sealed(sealed)) => {
                let key = self.keys().await?.key(sealed.subject).await.map_err(|_| Error::KeysUnavailable)?;
                let text =
                    key.and_then(|key| places.iter().find_map(|p| personal::open(&key, *p, field, &sealed).ok()));
                Ok(Opened { erased: text.is_none(), text })
            }
            Err(_) => Ok(Opened::default()),
        }
    }
}
