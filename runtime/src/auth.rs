//! Authentication shared by the services: bearer JWTs checked in one layer,
//! roles read from the `roles` claim.
//!
//! HS256 with `JWT_SECRET` (development), or RS256/ES256 with a PEM public key
//! in `JWT_PUBLIC_KEY` (production). Exactly one algorithm is accepted, the one
//! the key is for, so `alg: none` and HS/RS confusion fail verification.
//! `exp`, `nbf`, `iss` and `aud` are checked with a small leeway.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::problem::problem;
use crate::secret::Secret;

/// Paths anyone may call: liveness, readiness, the API description.
pub const PUBLIC_PATHS: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends commands for, and reads, its own accounts.
    Client,
    /// Reads everything; sends no command.
    Analyst,
    /// Admin and metrics endpoints; may move money between any accounts.
    Ops,
    /// The transfer driver: records the legs a transfer's source cannot
    /// (credits, reversals, expiries). Never give it to a person.
    System,
}

/// The caller, as its token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub roles: Vec<Role>,
    /// False only when auth is disabled: no ownership checks then.
    pub restricted: bool,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// 403 `forbidden` unless the principal has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }

    /// The role names, as recorded in commit metadata.
    pub fn role_names(&self) -> Vec<&'static str> {
        self.roles
            .iter()
            .map(|r| match r {
                Role::Client => "client",
                Role::Analyst => "analyst",
                Role::Ops => "ops",
                Role::System => "system",
            })
            .collect()
    }
}

/// The claims of a token. Unknown role names are ignored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<serde_json::Value>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Why a request is not let through.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    #[error("the token's roles do not allow this")]
    Forbidden,
    #[error("auth configuration: {0}")]
    Config(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code, challenge) = match &self {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "unauthorized", r#"Bearer realm="ledgerline""#),
            AuthError::Invalid(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", r#"Bearer realm="ledgerline", error="invalid_token""#)
            }
            AuthError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", ""),
            AuthError::Config(_) => {
                tracing::error!(error = %self, "auth misconfigured");
                return problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into());
            }
        };
        let mut response = problem(status, code, self.to_string());
        if !challenge.is_empty() {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// Auth flags, shared by every service.
#[derive(Clone, clap::Args)]
pub struct AuthArgs {
    /// HS256 secret for bearer tokens (development).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// PEM public key (RSA → RS256, EC P-256 → ES256) for bearer tokens (production).
    #[arg(long, env = "JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Required `iss`.
    #[arg(long, env = "JWT_ISSUER", default_value = "ledgerline")]
    pub jwt_issuer: String,
    /// Required `aud`.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "ledgerline")]
    pub jwt_audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
    /// Let every request through as an all-roles `anonymous` (local play only).
    #[arg(long, env = "AUTH_DISABLED")]
    pub auth_disabled: bool,
    /// Serve `/metrics` without a token (a scraper inside a private network).
    #[arg(long, env = "METRICS_PUBLIC")]
    pub metrics_public: bool,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &self.jwt_secret)
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_leeway_secs", &self.jwt_leeway_secs)
            .field("auth_disabled", &self.auth_disabled)
            .field("metrics_public", &self.metrics_public)
            .finish()
    }
}

impl AuthArgs {
    /// HS256 with `secret`, default issuer and audience: for tests and `Config::local`.
    pub fn hs256(secret: &str) -> Self {
        AuthArgs {
            jwt_secret: Some(Secret::new(secret)),
            jwt_public_key: None,
            jwt_issuer: "ledgerline".into(),
            jwt_audience: "ledgerline".into(),
            jwt_leeway_secs: 30,
            auth_disabled: false,
            metrics_public: false,
        }
    }
}

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Checks bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    /// `None`: auth disabled.
    verifier: Option<Arc<Verifier>>,
    metrics_public: bool,
}

impl Authenticator {
    pub fn new(args: &AuthArgs) -> Result<Self, AuthError> {
        if args.auth_disabled {
            tracing::warn!("AUTH IS DISABLED (AUTH_DISABLED=true): every request is let in with every role; never do this outside local play");
            return Ok(Authenticator { verifier: None, metrics_public: args.metrics_public });
        }
        let (key, algorithm) = match (&args.jwt_secret, &args.jwt_public_key) {
            (Some(secret), None) => (DecodingKey::from_secret(secret.expose().as_bytes()), Algorithm::HS256),
            (None, Some(path)) => {
                let pem = std::fs::read(path)
                    .map_err(|e| AuthError::Config(format!("cannot read JWT_PUBLIC_KEY {}: {e}", path.display())))?;
                if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                    (key, Algorithm::ES256)
                } else {
                    return Err(AuthError::Config("JWT_PUBLIC_KEY is neither an RSA nor an EC public key".into()));
                }
            }
            (Some(_), Some(_)) => return Err(AuthError::Config("set JWT_SECRET or JWT_PUBLIC_KEY, not both".into())),
            (None, None) => {
                return Err(AuthError::Config(
                    "no token key: set JWT_SECRET (development) or JWT_PUBLIC_KEY, or AUTH_DISABLED=true".into(),
                ))
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = args.jwt_leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&args.jwt_issuer]);
        validation.set_audience(&[&args.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        if args.metrics_public {
            tracing::info!("METRICS_PUBLIC=true: /metrics is served without a token");
        }
        let verifier = Some(Arc::new(Verifier { key, validation }));
        Ok(Authenticator { verifier, metrics_public: args.metrics_public })
    }

    /// The principal of a request's `Authorization: Bearer` header.
    pub fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<Principal, AuthError> {
        let Some(verifier) = &self.verifier else {
            // Every role, as the start-up warning says: `system` too, or the
            // transfer driver's legs are refused and transfers stay pending.
            let roles = vec![Role::Client, Role::Analyst, Role::Ops, Role::System];
            return Ok(Principal { sub: "anonymous".into(), roles, restricted: false });
        };
        let value = headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Invalid("not ASCII".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Invalid("not a bearer token".into()))?;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &verifier.key, &verifier.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.len() > 256 {
            return Err(AuthError::Invalid("sub must be 1 to 256 characters".into()));
        }
        let roles = claims.roles.into_iter().filter_map(|r| serde_json::from_value(r).ok()).collect();
        Ok(Principal { sub: claims.sub, roles, restricted: true })
    }
}

/// The layer: public paths pass; every other request needs a valid token, and
/// its principal is put in the request's extensions.
pub async fn require_token(State(auth): State<Authenticator>, mut request: Request, next: Next) -> Response {
    if PUBLIC_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    if auth.metrics_public && request.uri().path() == "/metrics" {
        let scraper = Principal { sub: "metrics-scraper".into(), roles: vec![Role::Ops], restricted: true };
        request.extensions_mut().insert(scraper);
        return next.run(request).await;
    }
    match auth.authenticate(request.headers()) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or(AuthError::Missing)
    }
}

/// Adds the `bearer` security scheme to an OpenAPI document.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Signs an HS256 token (development tokens, tests).
pub fn mint_hs256(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing cannot fail")
}

/// Claims for `sub` with `roles`, valid for `ttl_secs` from now, default issuer and audience.
pub fn claims(sub: &str, roles: &[&str], ttl_secs: i64) -> Claims {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Claims {
        sub: sub.to_owned(),
        roles: roles.iter().map(|r| serde_json::Value::from(*r)).collect(),
        iss: "ledgerline".into(),
        aud: "ledgerline".into(),
        exp: now + ttl_secs,
        nbf: Some(now),
        iat: Some(now),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
