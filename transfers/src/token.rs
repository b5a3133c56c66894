//! The driver's bearer token for the command service: minted from
//! `JWT_SECRET` (HS256, re-minted well before it expires) or given ready in
//! `TRANSFERS_TOKEN` (RS256/ES256 deployments).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ledger_runtime::auth::{claims, mint_hs256};
use ledger_runtime::secret::Secret;
use tracing::{info, warn};

use crate::config::Config;
use crate::error::Error;

/// The `sub` of a minted token.
pub const SUBJECT: &str = "ledger-transfers";
/// Lifetime of a minted token, in seconds.
pub const TOKEN_TTL_SECS: i64 = 3600;
/// A minted token is replaced once it is this old: half its lifetime.
const REMINT_AFTER: Duration = Duration::from_secs(TOKEN_TTL_SECS as u64 / 2);

/// Where the `Authorization` header comes from.
pub enum Token {
    /// A token given in `TRANSFERS_TOKEN`; renewing it is the deployment's job.
    Fixed(Secret),
    /// Minted here with the HS256 secret, issuer and audience the services check.
    Minted { secret: Secret, issuer: String, audience: String, cached: Mutex<Option<(String, Instant)>> },
    /// No token at all (`AUTH_DISABLED`, local play).
    None,
}

impl Token {
    /// The token the configuration calls for. `TRANSFERS_TOKEN` wins over `JWT_SECRET`.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        if let Some(token) = &config.transfers_token {
            info!("using the token in TRANSFERS_TOKEN");
            return Ok(Token::Fixed(token.clone()));
        }
        if let Some(secret) = &config.auth.jwt_secret {
            return Ok(Token::Minted {
                secret: secret.clone(),
                issuer: config.auth.jwt_issuer.clone(),
                audience: config.auth.jwt_audience.clone(),
                cached: Mutex::new(None),
            });
        }
        if config.auth.auth_disabled {
            warn!("no JWT_SECRET nor TRANSFERS_TOKEN: calling the command service without a token");
            return Ok(Token::None);
        }
        Err(Error::Config("set JWT_SECRET (to mint a system token) or TRANSFERS_TOKEN".into()))
    }

    /// The bearer token to send now, if any.
    pub fn bearer(&self) -> Option<String> {
        match self {
            Token::Fixed(token) => Some(token.expose().to_owned()),
            Token::None => None,
            Token::Minted { secret, issuer, audience, cached } => {
                let mut cached = cached.lock().unwrap_or_else(PoisonError::into_inner);
                match cached.as_ref() {
                    Some((token, minted)) if minted.elapsed() < REMINT_AFTER => Some(token.clone()),
                    _ => {
                        let mut claims = claims(SUBJECT, &["system"], TOKEN_TTL_SECS);
                        claims.iss.clone_from(issuer);
                        claims.aud.clone_from(audience);
                        let token = mint_hs256(secret.expose(), &claims);
                        *cached = Some((token.clone(), Instant::now()));
                        Some(token)
                    }
                }
            }
        }
    }
}
