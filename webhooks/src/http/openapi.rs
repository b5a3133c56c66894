//! The OpenAPI document of the webhooks API, generated from the code, with
//! every message type as an OpenAPI 3.1 `webhooks` entry. The types here only
//! describe; they are never built.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use ledger_runtime::auth::BearerAuth;
use ledger_runtime::problem::ProblemDoc;
use serde_json::{json, Value};
use utoipa::{IntoResponses, OpenApi, ToSchema};
use uuid::Uuid;

use super::views::{
    AttemptPage, AttemptView, CreatedEndpoint, EndpointChanges, EndpointPage, EndpointView, NewEndpointBody,
    ReplayBody, ReplayPosition, ReplaySince, Replayed, RotatedSecret, Scope,
};
use crate::payload::TYPES;

/// One message, as POSTed to an endpoint (Standard Webhooks: signed in the
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers).
#[derive(ToSchema)]
pub struct WebhookMessage {
    /// The event's id: the same on every attempt (the `webhook-id` is `msg_` and this id, without dashes).
    id: Uuid,
    /// The message type, e.g. `transfer.completed`.
    #[schema(rename = "type")]
    kind: String,
    /// The version of this payload's shape.
    api_version: String,
    /// When the event occurred.
    created_at: DateTime<Utc>,
    /// The account it happened to.
    account_id: Uuid,
    /// The account's version after the event: consecutive per account, so a gap shows.
    account_version: i64,
    /// A cursor for `GET /v1/events?after=`: catch up from here.
    position: String,
    /// Where the event is in the log.
    log: LogPlace,
    /// The event's fields, amounts in integer minor units, with `balance_after`,
    /// `held_after` and `currency`. Personal fields (`owner`, `reference`,
    /// `reason`) are opened only for an endpoint of their owner, and are null
    /// for any other and once their owner is erased.
    data: Value,
}

/// Every error, as application/problem+json with a stable `code`.
#[derive(IntoResponses)]
pub enum ApiErrors {
    /// `validation_failed` (malformed JSON, unknown fields, wrong types, bad parameters) or `bad_cursor`.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// `unauthorized`: no bearer token, or a bad one. Has WWW-Authenticate.
    #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
    Unauthorized(ProblemDoc),
    /// `forbidden`: neither `client` nor `ops`, or a client asking for scope `all`.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDoc),
    /// `not_found`: no such endpoint (or not the caller's).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemDoc),
    /// `payload_too_large`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(ProblemDoc),
    /// `unsupported_media_type`: the body is not application/json.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(ProblemDoc),
    /// `validation_failed` (a rule on a value), or the URL refused: `url_invalid`,
    /// `url_scheme_refused`, `url_address_refused`.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(ProblemDoc),
    /// `unavailable`: the database does not answer. Has Retry-After.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    Unavailable(ProblemDoc),
}

#[derive(ToSchema)]
pub struct LogPlace {
    partition: i32,
    offset: i64,
    /// The event's index in its commit.
    index: i32,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ledgerline webhooks API",
        version = "1",
        description = "Endpoints that receive the log's accepted events as signed webhooks (Standard Webhooks), \
                       at least once and in log order per account and endpoint."
    ),
    paths(
        super::endpoints::create,
        super::endpoints::list,
        super::endpoints::one,
        super::endpoints::update,
        super::endpoints::delete,
        super::actions::rotate,
        super::actions::test,
        super::actions::attempts,
        super::actions::replay,
        super::healthz,
        super::readyz
    ),
    components(schemas(
        NewEndpointBody,
        EndpointChanges,
        EndpointView,
        CreatedEndpoint,
        EndpointPage,
        RotatedSecret,
        AttemptView,
        AttemptPage,
        ReplayBody,
        ReplaySince,
        ReplayPosition,
        Replayed,
        Scope,
        WebhookMessage,
        LogPlace,
        ProblemDoc
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// A `webhooks` entry per message type: what the partner's receiver accepts.
fn webhooks() -> Value {
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": { "type": "string" } });
    let entries = TYPES.iter().chain([crate::payload::TEST_TYPE].iter()).map(|t| {
        let operation = json!({
            "post": {
                "operationId": format!("webhook_{}", t.replace('.', "_")),
                "summary": format!("A `{t}` message"),
                "parameters": [
                    header("webhook-id", "The same on every attempt of this message: deduplicate on it"),
                    header("webhook-timestamp", "Seconds since the epoch when it was signed"),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated during a rotation")
                ],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WebhookMessage" } } }
                },
                "responses": {
                    "2XX": { "description": "Delivered: not sent again (unless replayed)" },
                    "410": { "description": "Gone: the endpoint is disabled" },
                    "default": { "description": "Failed: tried again on the retry schedule" }
                },
                "security": []
            }
        });
        (t.to_string(), operation)
    });
    Value::Object(entries.collect())
}

/// What JSON Schema can say of a message-type filter, and the URL's mark:
/// whether a URL is admitted depends on where it points (the egress rules),
/// which no schema can say (`x-ledgerline-egress`: checked at run time).
fn refine(document: &mut Value) {
    let mut types: Vec<&str> = TYPES.to_vec();
    types.push("*");
    for schema in ["NewEndpointBody", "EndpointChanges"] {
        let properties = &mut document["components"]["schemas"][schema]["properties"];
        let filter = &mut properties["event_types"];
        filter["items"] = json!({ "type": "string", "enum": types });
        filter["minItems"] = json!(1);
        filter["maxItems"] = json!(super::views::MAX_TYPES);
        properties["url"]["x-ledgerline-egress"] =
            json!("https to a public address, or a host WEBHOOKS_ALLOWED_HOSTS admits");
    }
}

/// The document as served on `/openapi.json` and committed in `docs/openapi/webhooks.json`.
pub fn document() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    refine(&mut document);
    document["webhooks"] = webhooks();
    document
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_type_is_a_webhooks_entry_of_an_openapi_3_1_document() {
        let document = super::document();
        assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", document["openapi"]);
        for t in crate::payload::TYPES {
            assert!(document["webhooks"][t]["post"]["requestBody"].is_object(), "{t}");
        }
    }
}
