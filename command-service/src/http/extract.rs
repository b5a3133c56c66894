//! Request extraction: JSON bodies with strict schemas, and the command headers.
//! Every failure becomes a `Refusal`, so clients get problem+json, never a bare 4xx.

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
        if !is_json(headers) {
            return Err(Refusal::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::PayloadTooLarge
            } else {
                Refusal::BadRequest(rejection.body_text())
            }
        })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Body(value)),
            // JSON Schema's `integer` admits `1.0`: read such numbers as the integers they are.
            Err(rejection) => integral(&bytes)
                .and_then(|value| serde_json::from_value(value).ok())
                .map(Body)
                .ok_or_else(|| Refusal::BadRequest(rejection.body_text())),
        }
    }
}

/// An optional field that, when present, has a value: with `#[serde(default)]`
/// a missing field is `None`, and an explicit `null` is refused like any other
/// wrong type (the documents say these fields are never null).
pub(super) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    // Compared in place, case-insensitively: no allocation on every command.
    let essence = value.split(';').next().unwrap_or_default().trim().as_bytes();
    let plus_json = essence.len() >= "application/+json".len()
        && essence[..12].eq_ignore_ascii_case(b"application/")
        && essence[essence.len() - 5..].eq_ignore_ascii_case(b"+json");
    essence.eq_ignore_ascii_case(b"application/json") || plus_json
}

/// The body with every whole-valued float (`1.0`, `1e3`) written as an
/// integer, or `None` when it has none (or is not JSON).
fn integral(bytes: &[u8]) -> Option<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let float = n.as_f64().unwrap_or(f64::NAN);
                let whole = float.fract() == 0.0 && float >= i64::MIN as f64 && float < i64::MAX as f64;
                if whole {
                    *value = serde_json::Value::from(float as i64);
                }
                whole
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |changed, item| walk(item) | changed),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |changed, item| walk(item) | changed),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut value).then_some(value)
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
            match text(headers, "if-match")?.filter(|tags| !tags.is_empty()) {
                None => None,
                Some(raw) => Some(parse_etag(&raw).ok_or_else(|| {
                    Refusal::BadRequest("If-Match must be a quoted account version, like \"3\"".into())
                })?),
            };
        let correlation_id = match text(headers, "x-correlation-id")? {
            Some(id) if id.is_empty() => return Err(Refusal::BadRequest("X-Correlation-Id must not be empty".into())),
            Some(id) => id,
            None => Uuid::now_v7().to_string(),
        };
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
    use super::{integral, is_json, parse_etag};
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn a_whole_valued_float_reads_as_the_integer_it_is_and_a_fraction_does_not() {
        let read = integral(br#"{"amount": 1.0, "legs": [2e3, 3]}"#);
        assert_eq!(read, Some(serde_json::json!({"amount": 1, "legs": [2000, 3]})));
        assert_eq!(integral(br#"{"amount": 1}"#), None, "nothing to change");
        assert_eq!(integral(br#"{"amount": 1.5}"#), None, "a fraction stays a fraction");
        assert_eq!(integral(b"not json"), None);
    }

    #[test]
    fn json_is_application_json_or_any_plus_json_with_parameters() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            is_json(&headers)
        };
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/merge-patch+json")
        );
        assert!(!with("text/json") && !with("application/jsonx") && !with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn if_match_takes_a_quoted_version_strong_or_weak() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(parse_etag("\"x\""), None);
    }
}
