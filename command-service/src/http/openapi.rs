//! The OpenAPI document of the command API, generated from the code.
//! The types here only describe; they are never built.
#![allow(dead_code)]

use ledger_runtime::auth::BearerAuth;
use ledger_runtime::contract::{self, Link, Links};
use ledger_runtime::problem::ProblemDoc;
use utoipa::{IntoParams, IntoResponses, OpenApi};

use super::routes::{Accepted, FreezeBody, MoneyBody, NoBody, OpenAccountBody};
use super::transfers::{CreditBody, PostBody, SourceBody, TransferAccepted, TransferBody, VoidBody};

/// The headers every command reads.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct CommandHeadersDoc {
    /// Retry safely: the same key and body get the original answer and no new event
    /// (1–255 visible ASCII characters and spaces; honoured for at least 24 h).
    #[param(rename = "Idempotency-Key", nullable = false, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$")]
    pub idempotency_key: Option<String>,
    /// Only apply if the account is at this version: a quoted version, e.g. `"3"` (or weak, `W/"3"`).
    /// Empty: no precondition (a list of no entity tags).
    #[param(rename = "If-Match", nullable = false, pattern = r#"^((W/)?"[0-9]{1,19}")?$"#)]
    pub if_match: Option<String>,
    /// Carried into the commit's metadata (1–255 visible ASCII characters and spaces).
    #[param(rename = "X-Correlation-Id", nullable = false, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$")]
    pub correlation_id: Option<String>,
}

/// `Prefer: wait=N`: answer when the transfer is final (a new hold: held), waiting at most N seconds (capped at 30).
/// The only preference this API reads; any other value is refused (400), so a typo never silently means "no wait".
/// Empty: no preference.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PreferDoc {
    #[param(rename = "Prefer", nullable = false, pattern = r#"^(wait=([0-9]{1,9}|"[0-9]{1,9}"))?$"#)]
    pub prefer: Option<String>,
}

/// A personal field as a commit holds it: clear text (an old log) or sealed for its subject.
pub fn personal_schema() -> utoipa::openapi::schema::OneOfBuilder {
    use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(256))
        .pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f]*$"));
    let uuid =
        ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    let sealed = ObjectBuilder::new()
        .property("subject", uuid)
        .property("scheme", ObjectBuilder::new().schema_type(Type::String))
        .property("data", ObjectBuilder::new().schema_type(Type::String))
        .required("subject")
        .required("scheme")
        .required("data")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    OneOfBuilder::new()
        .item(text)
        .item(sealed)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("Clear text (an old log), sealed for its subject, or null"))
}

/// The currencies an account may hold: exactly the codes the domain accepts.
pub fn currency_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("An active ISO-4217 code"))
        .enum_values(Some(events::currency::codes()))
        .examples([serde_json::json!("EUR")])
        .build()
}

/// 201: the account was opened (or this is a retry of the open).
#[derive(IntoResponses)]
#[response(
    status = 201,
    description = "Opened. A retry with the same Idempotency-Key gets the same answer with Idempotent-Replayed: true.",
    headers(("ETag" = String, description = "The account version, quoted"), ("Location" = String),
            ("Idempotent-Replayed" = String, description = "\"true\" when this answer is a replay"))
)]
pub struct Created(Accepted);

/// 200: the command was accepted and is in the log.
#[derive(IntoResponses)]
#[response(
    status = 200,
    description = "Accepted and durably in the events log.",
    headers(("ETag" = String, description = "The account version, quoted"),
            ("Idempotent-Replayed" = String, description = "\"true\" when this answer is a replay"))
)]
pub struct Done(Accepted);

/// 202: the transfer's first leg is in the log; it goes on by itself.
#[derive(IntoResponses)]
#[response(
    status = 202,
    description = "Accepted: this leg is durably in the log; `status` says where the transfer stands. \
                   Without Prefer, or when the wait ran out.",
    headers(("Location" = String, description = "/v1/transfers/{id}"),
            ("Idempotent-Replayed" = String, description = "\"true\" when this answer is a replay"))
)]
pub struct TransferAcceptedDoc(TransferAccepted);

/// 200: with `Prefer: wait=N`, the transfer reached the status waited for in time.
#[derive(IntoResponses)]
#[response(
    status = 200,
    description = "The transfer is final (a new hold: held) within the Prefer: wait time.",
    headers(("Location" = String), ("Preference-Applied" = String))
)]
pub struct TransferFinal(TransferAccepted);

/// Every refusal, as application/problem+json with a stable `code`.
#[derive(IntoResponses)]
pub enum CommandErrors {
    /// `validation_failed`: malformed JSON, unknown fields, wrong types, bad headers.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// `unauthorized`: no bearer token, or a bad one. Has WWW-Authenticate.
    #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
    Unauthorized(ProblemDoc),
    /// `forbidden`: the token has no `client` role, or the body names another owner.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDoc),
    /// `not_found`: no such account (or not one of the caller's).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemDoc),
    /// `insufficient_funds`, `account_frozen`, `account_not_frozen`, `account_closed`,
    /// `nonzero_balance`, `account_exists`, `write_conflict`, `transfer_exists`,
    /// `transfer_already_posted`, `transfer_already_voided`, `transfer_expired`,
    /// `transfer_not_pending`, `transfer_leg_recorded`, `transfer_not_expired`.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(ProblemDoc),
    /// `version_conflict`: If-Match does not match the account version.
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(ProblemDoc),
    /// `payload_too_large`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(ProblemDoc),
    /// `unsupported_media_type`: the body is not application/json.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(ProblemDoc),
    /// `validation_failed` (a rule on a value), `currency_mismatch` or `idempotency_key_reused`.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(ProblemDoc),
    /// `rate_limited`: over the client's command rate. Has Retry-After.
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    RateLimited(ProblemDoc),
    /// `unavailable`: the log is unreachable or the service is catching up. Has Retry-After.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    Unavailable(ProblemDoc),
}

/// Where the commit sits in the events topic.
#[derive(utoipa::ToSchema)]
#[schema(as = Position)]
pub struct PositionDoc {
    pub partition: i32,
    pub offset: i64,
}

/// Links from an opened account to the commands on it (and to erasing its
/// owner), and from a transfer to its resolution: the flows a client (or a
/// stateful test) follows.
const LINKS: Links = Links(&[
    Link::new(OPENED, "deposit", "deposit", NEW_ACCOUNT),
    Link::new(OPENED, "withdraw", "withdraw", NEW_ACCOUNT),
    Link::new(OPENED, "freeze", "freeze_account", NEW_ACCOUNT),
    Link::new(OPENED, "unfreeze", "unfreeze_account", NEW_ACCOUNT),
    Link::new(OPENED, "close", "close_account", NEW_ACCOUNT),
    Link::new(OPENED, "erase_owner", "erase_subject", &[("subject", "$request.body#/owner")]),
    Link::new(DEPOSITED, "withdraw", "withdraw", SAME_ACCOUNT),
    Link::new(DEPOSITED, "close", "close_account", SAME_ACCOUNT),
    Link::new(INITIATED, "post", "post_transfer", NEW_TRANSFER),
    Link::new(INITIATED, "void", "void_transfer", NEW_TRANSFER),
]);
const OPENED: (&str, &str, &str) = ("post", "/v1/accounts", "201");
const DEPOSITED: (&str, &str, &str) = ("post", "/v1/accounts/{id}/deposits", "200");
const INITIATED: (&str, &str, &str) = ("post", "/v1/transfers", "202");
const NEW_ACCOUNT: &[(&str, &str)] = &[("id", "$response.body#/account_id")];
const SAME_ACCOUNT: &[(&str, &str)] = &[("id", "$request.path.id")];
const NEW_TRANSFER: &[(&str, &str)] = &[("id", "$response.body#/transfer_id")];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ledgerline command API",
        version = "1",
        description = "Commands on accounts and transfers between them. Every accepted command is one commit in the Kafka events log; \
                       the answer comes only after the broker acknowledged it. Amounts are integer minor units."
    ),
    paths(
        super::routes::open_account,
        super::routes::deposit,
        super::routes::withdraw,
        super::routes::freeze,
        super::routes::unfreeze,
        super::routes::close,
        super::transfers::initiate,
        super::transfers::post,
        super::transfers::void,
        super::transfers::credit,
        super::transfers::reverse,
        super::transfers::expire,
        super::cluster::members,
        super::subjects::erase,
        super::healthz,
        super::readyz,
    ),
    components(schemas(
        OpenAccountBody, MoneyBody, FreezeBody, NoBody, Accepted, PositionDoc, ProblemDoc, TransferBody, PostBody,
        VoidBody, CreditBody, SourceBody, TransferAccepted, crate::erasure::Erasure
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The document as served on `/openapi.json` and committed in `docs/openapi/command-service.json`.
pub fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    LINKS.add_to(&mut document);
    let transfer = &mut document["components"]["schemas"]["TransferBody"];
    // A rule no JSON Schema keyword says: a transfer's two accounts differ.
    transfer[contract::DISTINCT] = serde_json::json!([["from", "to"]]);
    // `timeout_secs` applies to pending transfers only.
    transfer["if"] =
        serde_json::json!({"properties": {"timeout_secs": {"type": "integer"}}, "required": ["timeout_secs"]});
    transfer["then"] = serde_json::json!({"properties": {"pending": {"const": true}}, "required": ["pending"]});
    document
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
