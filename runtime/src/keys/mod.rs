//! Data keys of data subjects, for sealing personal fields
//! ([`events::personal`]): created on first use, stored in Postgres sealed by
//! the key-encryption key, cached briefly by readers, destroyed on erasure.
//!
//! A subject (an account owner, by name) is found by a keyed hash of the
//! name, so no table holds the name. The KEK comes from configuration
//! (`KEY_ENCRYPTION_KEY`, base64 of 32 bytes); [`Kek::rotate`] re-seals every
//! key under a new one.
//!
//! # Layout
//! - [`kek`] — the key-encryption key: sealing and opening data keys.
//! - [`store`] — the SQL (lowercase, binds only) and the migrations.

pub mod kek;
mod store;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use events::personal::DataKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

pub use kek::Kek;
pub use store::{migrate, migrate_connection};

use crate::secret::Secret;

/// The key-encryption key, as every service that seals or opens takes it.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KeyArgs {
    /// Base64 of 32 random bytes (`openssl rand -base64 32`). Unset: the development key, with a warning.
    #[arg(long, env = "KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub key_encryption_key: Option<Secret>,
}

impl KeyArgs {
    /// The configured KEK, or the development one (with a warning).
    pub fn kek(&self) -> Result<Kek, KeyError> {
        match &self.key_encryption_key {
            Some(secret) => Kek::from_secret(secret),
            None => {
                tracing::warn!(
                    "KEY_ENCRYPTION_KEY is not set: personal data is sealed under the development key. Never in a deployment."
                );
                Ok(Kek::development())
            }
        }
    }
}

/// What the key store says of one subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectRecord {
    pub subject: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When, by whom and why it was erased; `None` while its key lives.
    pub erased: Option<(chrono::DateTime<chrono::Utc>, String, String)>,
}

/// How long a reader keeps a key it has unsealed. An erasure reaches every
/// reader within this time (the erasure event in the log evicts it sooner).
pub const CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored key does not open with the configured KEY_ENCRYPTION_KEY (kek {0})")]
    WrongKek(String),
    #[error("KEY_ENCRYPTION_KEY: {0}")]
    Config(String),
}

/// A live subject and its key.
type Found = (Uuid, DataKey);
/// What a lookup found (`None`: nothing live), and when.
type Cached<T> = (Instant, Option<T>);

/// The keys of every subject, as one process sees them.
pub struct SubjectKeys {
    pool: PgPool,
    kek: Kek,
    lookup: DataKey,
    cache: Mutex<HashMap<Uuid, Cached<DataKey>>>,
    /// Subjects by the keyed hash of their name.
    names: Mutex<HashMap<Vec<u8>, Cached<Found>>>,
}

impl SubjectKeys {
    /// Opens the key store (creating the lookup key on first use).
    pub async fn open(pool: PgPool, kek: Kek) -> Result<Self, KeyError> {
        let lookup = match store::lookup_key(&pool).await? {
            Some((sealed, kek_id)) => kek.open_key(Uuid::nil(), &kek_id, &sealed)?,
            None => {
                let fresh = DataKey::generate();
                store::insert_lookup_key(&pool, &kek.seal_key(Uuid::nil(), &fresh), kek.id()).await?;
                // Another process may have won the race: take what is stored.
                let (sealed, kek_id) = store::lookup_key(&pool).await?.expect("the lookup key was just stored");
                kek.open_key(Uuid::nil(), &kek_id, &sealed)?
            }
        };
        Ok(Self { pool, kek, lookup, cache: Mutex::default(), names: Mutex::default() })
    }

    /// A key store with the given lookup key, that touches the database only
    /// when a key is asked for: for in-process tests without one.
    pub fn detached(pool: PgPool, kek: Kek, lookup: DataKey) -> Self {
        Self { pool, kek, lookup, cache: Mutex::default(), names: Mutex::default() }
    }

    fn hash(&self, name: &str) -> Vec<u8> {
        self.mac(b"subject", name.as_bytes())
    }

    /// A keyed digest of `bytes` under the lookup key, in the domain `purpose`:
    /// the same in every process of the deployment, useless to anyone without
    /// the KEK (a command's fingerprint, so the log holds no plain digest of personal text).
    pub fn mac(&self, purpose: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.lookup.as_bytes()).expect("HMAC takes any key length");
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(bytes);
        mac.finalize().into_bytes().to_vec()
    }

    /// The subject `name` and its key, if it has a live one; never creates
    /// one. Cached like [`SubjectKeys::key`].
    pub async fn find(&self, name: &str) -> Result<Option<(Uuid, DataKey)>, KeyError> {
        self.look_up(name, true).await
    }

    /// As [`SubjectKeys::find`], but a cached "no such subject" is asked
    /// again: for a reader that has just seen a field sealed for a subject it
    /// cannot place yet (the subject may have been created since).
    pub async fn find_fresh(&self, name: &str) -> Result<Option<(Uuid, DataKey)>, KeyError> {
        self.look_up(name, false).await
    }

    /// `name`'s subject, from the cache when fresh (a cached "none" only if `trust_none`).
    async fn look_up(&self, name: &str, trust_none: bool) -> Result<Option<(Uuid, DataKey)>, KeyError> {
        let lookup = self.hash(name);
        if let Some((at, found)) = self.names.lock().unwrap_or_else(PoisonError::into_inner).get(&lookup) {
            if at.elapsed() < CACHE_TTL && (trust_none || found.is_some()) {
                return Ok(found.clone());
            }
        }
        let found = self.find_stored(&lookup).await?;
        self.names.lock().unwrap_or_else(PoisonError::into_inner).insert(lookup, (Instant::now(), found.clone()));
        Ok(found)
    }

    /// What the store says of `subject` (`None`: no such subject).
    pub async fn record(&self, subject: Uuid) -> Result<Option<SubjectRecord>, KeyError> {
        Ok(store::subject_record(&self.pool, subject).await?.map(|(created_at, erased_at, by, why)| SubjectRecord {
            subject,
            created_at,
            erased: erased_at.map(|at| (at, by.unwrap_or_default(), why.unwrap_or_default())),
        }))
    }

    /// The subject `name` and its key, created if it has none (or was erased).
    pub async fn subject(&self, name: &str) -> Result<(Uuid, DataKey), KeyError> {
        let lookup = self.hash(name);
        if let Some((at, Some(found))) = self.names.lock().unwrap_or_else(PoisonError::into_inner).get(&lookup) {
            if at.elapsed() < CACHE_TTL {
                return Ok(found.clone());
            }
        }
        if let Some(found) = self.find_stored(&lookup).await? {
            self.names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(lookup, (Instant::now(), Some(found.clone())));
            return Ok(found);
        }
        let (subject, key) = (Uuid::new_v4(), DataKey::generate());
        store::insert_subject(&self.pool, subject, &lookup, &self.kek.seal_key(subject, &key), self.kek.id()).await?;
        // Another writer may have created the subject first: the stored one wins.
        let found =
            self.find_stored(&lookup).await?.ok_or_else(|| KeyError::Config("a new subject key vanished".into()))?;
        self.names.lock().unwrap_or_else(PoisonError::into_inner).insert(lookup, (Instant::now(), Some(found.clone())));
        Ok(found)
    }

    async fn find_stored(&self, lookup: &[u8]) -> Result<Option<(Uuid, DataKey)>, KeyError> {
        match store::subject_by_lookup(&self.pool, lookup).await? {
            Some((subject, sealed, kek_id)) => Ok(Some((subject, self.kek.open_key(subject, &kek_id, &sealed)?))),
            None => Ok(None),
        }
    }

    /// The key of `subject`, or `None` once it is erased (or never existed).
    pub async fn key(&self, subject: Uuid) -> Result<Option<DataKey>, KeyError> {
        if let Some((at, key)) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&subject) {
            if at.elapsed() < CACHE_TTL {
                return Ok(key.clone());
            }
        }
        let key = match store::subject_key(&self.pool, subject).await? {
            Some((sealed, kek_id)) => Some(self.kek.open_key(subject, &kek_id, &sealed)?),
            None => None,
        };
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).insert(subject, (Instant::now(), key.clone()));
        Ok(key)
    }

    /// Forgets a cached key (an erasure was seen in the log).
    pub fn forget(&self, subject: Uuid) {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).insert(subject, (Instant::now(), None));
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, found)| found.as_ref().is_none_or(|(s, _)| *s != subject));
    }

    /// Destroys the key of `subject` and its lookup; records who and why.
    /// Returns `false` if it was already erased (erasing is idempotent).
    pub async fn erase(&self, subject: Uuid, by: &str, why: &str) -> Result<bool, KeyError> {
        let erased = store::erase(&self.pool, subject, by, why).await?;
        self.forget(subject);
        Ok(erased)
    }

    /// Re-seals every live key and the lookup key under `new`; returns how many.
    pub async fn rotate(&self, new: &Kek) -> Result<u64, KeyError> {
        let mut tx = self.pool.begin().await?;
        store::reseal_lookup_key(&mut tx, &new.seal_key(Uuid::nil(), &self.lookup), new.id()).await?;
        let mut rotated = 0;
        for (subject, sealed, kek_id) in store::live_keys(&mut tx).await? {
            let key = self.kek.open_key(subject, &kek_id, &sealed)?;
            store::reseal_subject(&mut tx, subject, &new.seal_key(subject, &key), new.id()).await?;
            rotated += 1;
        }
        tx.commit().await?;
        Ok(rotated)
    }
}
