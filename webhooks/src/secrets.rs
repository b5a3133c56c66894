//! Endpoints' signing secrets (sealed under the KEK, as subject keys are) and
//! the personal fields of messages (opened with the subject keys, for the
//! endpoint of the subject they belong to only).

use chrono::{DateTime, Utc};
use events::personal::{self, Personal};
use ledger_runtime::keys::{Kek, SubjectKeys};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::Error;
use crate::signing::SigningSecret;
use crate::store::endpoints::Endpoint;

/// What a sealed signing secret is bound to besides its endpoint.
const FIELD: &str = "webhook-secret";

#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    kek: Kek,
    keys: std::sync::Arc<OnceCell<SubjectKeys>>,
}

impl Vault {
    pub fn new(pool: PgPool, kek: Kek) -> Self {
        Vault { pool, kek, keys: Default::default() }
    }

    pub fn kek_id(&self) -> &str {
        self.kek.id()
    }

    /// A secret sealed for the endpoint `id`, as stored.
    pub fn seal(&self, id: Uuid, secret: &SigningSecret) -> String {
        self.kek.seal_text(id, FIELD, &secret.expose())
    }

    /// The secrets that sign for `endpoint` at `now`: the current one, and the
    /// previous one during a rotation's overlap.
    pub fn signing(&self, endpoint: &Endpoint, now: DateTime<Utc>) -> Result<Vec<SigningSecret>, Error> {
        let open = |sealed: &str| -> Result<SigningSecret, Error> {
            let text = self.kek.open_text(endpoint.id, FIELD, &endpoint.kek_id, sealed)?;
            SigningSecret::parse(&text).map_err(|e| Error::Config(e.to_string()))
        };
        let mut secrets = vec![open(&endpoint.secret_sealed)?];
        if let (Some(previous), Some(until)) = (&endpoint.previous_sealed, endpoint.previous_until) {
            if now < until {
                secrets.push(open(previous)?);
            }
        }
        Ok(secrets)
    }

    async fn keys(&self) -> Result<&SubjectKeys, Error> {
        Ok(self.keys.get_or_try_init(|| SubjectKeys::open(self.pool.clone(), self.kek.clone())).await?)
    }

    /// The live data subject of a token subject, if it has one.
    pub async fn subject_of(&self, owner_sub: &str) -> Result<Option<Uuid>, Error> {
        Ok(self.keys().await?.find(owner_sub).await?.map(|(subject, _)| subject))
    }

    /// The same, never from a cached "none".
    pub async fn subject_of_fresh(&self, owner_sub: &str) -> Result<Option<Uuid>, Error> {
        Ok(self.keys().await?.find_fresh(owner_sub).await?.map(|(subject, _)| subject))
    }

    /// The body as `endpoint` receives it: personal fields opened when they
    /// belong to the endpoint's own subject, `null` otherwise (and once erased).
    pub async fn render(&self, endpoint: &Endpoint, body: &Value) -> Result<Vec<u8>, Error> {
        if endpoint.scope != "own" {
            return Ok(crate::payload::render(body, |_, _| None));
        }
        let found = self.keys().await?.find_fresh(&endpoint.owner_sub).await?;
        let places: Vec<Uuid> = ["account_id"]
            .iter()
            .map(|k| &body[k])
            .chain(["from", "to"].iter().map(|k| &body["data"][k]))
            .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect();
        Ok(crate::payload::render(body, |field, stored| match (stored, &found) {
            (Personal::Sealed(sealed), Some((subject, key))) if sealed.subject == *subject => {
                places.iter().find_map(|p| personal::open(key, *p, field, sealed).ok())
            }
            (Personal::Clear(text), _) if field == "owner" && *text == endpoint.owner_sub => Some(text.clone()),
            _ => None,
        }))
    }
}
