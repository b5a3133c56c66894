//! What the HTTP APIs promise in their OpenAPI documents beyond what the
//! types say: the patterns of the values they read, the opaque cursors' text
//! form, the mark of a value only a service can issue, and the links between
//! operations.
//!
//! A pattern here is exact: every value it admits is one the service accepts,
//! and no other (the services' tests check this against their parsers).

use chrono::{DateTime, Utc};
use serde_json::Value;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use uuid::Uuid;

/// A consistency token: `v1.<partition>.<offset>.<mac>` (see `events::position`).
pub const TOKEN_PATTERN: &str = r"^v1\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,18})\.[0-9a-f]{32}$";

/// The extension that marks a value only a service issues (it is signed), so
/// a generator cannot make a valid one from the pattern: its value names the
/// response field to take one from.
pub const OPAQUE: &str = "x-ledgerline-opaque";

/// The extension on an object schema that lists groups of properties whose
/// values must all differ (a transfer's `from` and `to`): a rule no JSON
/// Schema keyword expresses. A request that breaks it is refused (422).
pub const DISTINCT: &str = "x-ledgerline-distinct";

/// A string only a service issues: its pattern, and where to take one from.
pub fn opaque_string(pattern: &str, issued_as: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .extensions(Some(ExtensionsBuilder::new().add(OPAQUE, issued_as).build()))
        .build()
}

/// An OpenAPI link: from a response of one operation to another operation,
/// with runtime expressions for its parameters.
pub struct Link {
    pub path: &'static str,
    pub method: &'static str,
    pub status: &'static str,
    pub name: &'static str,
    pub operation_id: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
}

impl Link {
    pub const fn new(
        (method, path, status): (&'static str, &'static str, &'static str),
        name: &'static str,
        operation_id: &'static str,
        parameters: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self { path, method, status, name, operation_id, parameters }
    }
}

/// A document's links.
pub struct Links(pub &'static [Link]);

impl Links {
    /// Adds the links to the responses they start from (written as JSON:
    /// utoipa 5.5 serialises a link's `operationId` as `operation_id`).
    pub fn add_to(&self, document: &mut Value) {
        for link in self.0 {
            let response = &mut document["paths"][link.path][link.method]["responses"][link.status];
            if !response.is_object() {
                continue;
            }
            let parameters: serde_json::Map<String, Value> =
                link.parameters.iter().map(|(name, value)| ((*name).to_owned(), Value::from(*value))).collect();
            response["links"][link.name] =
                serde_json::json!({"operationId": link.operation_id, "parameters": parameters});
        }
    }
}

/// Every link in `document` that names an operation the document does not
/// have, as `path method status name`: empty when the links are sound.
pub fn dangling_links(document: &Value) -> Vec<String> {
    let ids: Vec<&str> = operations(document).filter_map(|(_, _, op)| op["operationId"].as_str()).collect();
    let mut dangling = Vec::new();
    for (path, method, operation) in operations(document) {
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                if !link["operationId"].as_str().is_some_and(|id| ids.contains(&id)) {
                    dangling.push(format!("{path} {method} {status} {name}"));
                }
            }
        }
    }
    dangling
}

fn operations(document: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    document["paths"].as_object().into_iter().flatten().flat_map(|(path, item)| {
        item.as_object().into_iter().flatten().map(move |(method, op)| (path.as_str(), method.as_str(), op))
    })
}

/// A cursor over the event archive (`GET /v1/events?after=`, and a webhook
/// message's `position`): the `(occurred_at, event_id)` of an event.
pub fn event_cursor(occurred_at: DateTime<Utc>, event_id: Uuid) -> String {
    format!("t1.{:x}.{}", occurred_at.timestamp_micros(), event_id.simple())
}

/// Reads an [`event_cursor`]; anything else is `None`.
pub fn parse_event_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = cursor.strip_prefix("t1.")?.split_once('.')?;
    Some((hex_number(micros).and_then(DateTime::from_timestamp_micros)?, hex_uuid(id)?))
}

fn is_hex_digit(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// 32 lowercase hex digits, as in a cursor.
pub fn hex_uuid(hex: &str) -> Option<Uuid> {
    (hex.len() == 32 && hex.bytes().all(is_hex_digit)).then(|| Uuid::try_parse(hex).ok()).flatten()
}

/// 1 to 15 lowercase hex digits, no leading zero: never past `i64`, so every such number reads.
pub fn hex_number(hex: &str) -> Option<i64> {
    let canonical =
        (1..=15).contains(&hex.len()) && hex.bytes().all(is_hex_digit) && (hex == "0" || !hex.starts_with('0'));
    canonical.then(|| i64::from_str_radix(hex, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_to_an_operation_the_document_lacks_is_reported() {
        let document = serde_json::json!({"paths": {"/a": {"post": {"operationId": "make", "responses": {"201": {"links": {
            "good": {"operationId": "make"}, "bad": {"operationId": "nowhere"}
        }}}}}}});
        assert_eq!(dangling_links(&document), vec!["/a post 201 bad".to_owned()]);
    }
}
