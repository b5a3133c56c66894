//! Request extraction: JSON bodies with strict schemas, and the command headers.
//! Every failure becomes a `Refusal`, so clients get problem+json, never a bare 4xx.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use events::Metadata;
use ledger_runtime::auth::{Principal, Role};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::Refusal;

/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A JSON body; unknown fields and malformed JSON are a 400. An empty body reads as `{}`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let empty = !headers.contains_key(header::CONTENT_TYPE)
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && headers.get(header::CONTENT_LENGTH).is_none_or(|v| v == "0");
        if empty {
            return serde_json::from_str("{}")
                .map(Body)
                .map_err(|e| Refusal::BadRequest(format!("a body is required: {e}")));
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Refusal::UnsupportedMediaType),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Refusal::PayloadTooLarge),
            Err(rejection) => Err(Refusal::BadRequest(rejection.body_text())),
        }
    }
}

/// The headers every command reads, and who sends it (from the bearer token).
pub struct CommandHeaders {
    pub idempotency_key: Option<String>,
    pub if_match: Option<u64>,
    /// Carries the actor (`sub`) and the roles used, so the log says who did what.
    pub metadata: Metadata,
    pub principal: Principal,
    /// The client the account must belong to (`None` when auth is disabled).
    pub owner: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(Refusal::Forbidden("the request carries no principal"))?;
        principal
            .require_any(&[Role::Client, Role::Ops, Role::System])
            .map_err(|_| Refusal::Forbidden("commands need the client role"))?;
        let headers = &parts.headers;
        let idempotency_key = text(headers, "idempotency-key")?;
        if let Some(key) = &idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(Refusal::BadRequest(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
                )));
            }
        }
        let if_match =
            match text(headers, "if-match")? {
                None => None,
                Some(raw) => Some(parse_etag(&raw).ok_or_else(|| {
                    Refusal::BadRequest("If-Match must be a quoted account version, like \"3\"".into())
                })?),
            };
        let correlation_id = text(headers, "x-correlation-id")?.unwrap_or_else(|| Uuid::now_v7().to_string());
        let mut metadata =
            Metadata { correlation_id, causation_id: text(headers, "x-request-id")?, ..Default::default() };
        text(headers, "traceparent")?; // visible ASCII, like every header we read
        if let Some(traceparent) = ledger_runtime::trace::traceparent(headers) {
            metadata.extra.insert("traceparent".into(), traceparent.into());
        }
        metadata.extra.insert("actor".into(), principal.sub.clone().into());
        metadata.extra.insert("roles".into(), principal.role_names().into());
        let owner = principal.restricted.then(|| principal.sub.clone());
        Ok(CommandHeaders { idempotency_key, if_match, metadata, principal, owner })
    }
}

impl CommandHeaders {
    /// 403 `forbidden` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], why: &'static str) -> Result<(), Refusal> {
        self.principal.require_any(roles).map_err(|_| Refusal::Forbidden(why))
    }
}

fn parse_etag(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    raw.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// A header as visible ASCII text (at most 255 characters), or a 400.
fn text(headers: &HeaderMap, name: &str) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text =
        value.to_str().ok().filter(|t| t.len() <= 255 && t.bytes().all(|b| (0x20..0x7f).contains(&b))).ok_or_else(
            || Refusal::BadRequest(format!("header {name} must be at most 255 visible ASCII characters")),
        )?;
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_etag;

    #[test]
    fn if_match_takes_a_quoted_version_strong_or_weak() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("\"x\""), None);
    }
}
