//! The OpenAPI document of the query API, generated from the code.
//! The types here only describe; they are never built.
#![allow(dead_code)]

use ledger_runtime::auth::BearerAuth;
use ledger_runtime::contract::{self, Link, Links};
use ledger_runtime::problem::ProblemDoc;
use utoipa::{IntoParams, IntoResponses, OpenApi};

use super::accounts::{AccountPage, EntryPage};
use super::events::EventPage;
use super::history::AccountAsOf;
use super::ledger::{LedgerTotalsList, TotalsAnswer};
use super::transfers::TransferPage;
use crate::store::transfers::{LedgerTotals, StepView, TransferDetail, TransferView};
use crate::store::{AccountView, EntryView, EventView};

/// Read-your-writes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct TokenHeader {
    /// A consistency token from a command response: the read waits (at most
    /// CONSISTENCY_WAIT_MS) until it shows that write.
    #[param(rename = "Consistency-Token", schema_with = token_schema)]
    pub consistency_token: Option<String>,
}

/// A consistency token (`v1.<partition>.<offset>.<mac>`), as the command service issues it.
pub fn token_schema() -> utoipa::openapi::schema::Object {
    contract::opaque_string(
        contract::TOKEN_PATTERN,
        "consistency_token",
        "Issued by the command service and signed: a token it did not issue is refused (400 validation_failed).",
    )
}

/// Links from pages to the reads of their rows, and from one page to the next.
const LINKS: Links = Links(&[
    Link::new(ACCOUNTS, "account", "get_account", FIRST_ACCOUNT),
    Link::new(ACCOUNTS, "entries", "list_account_entries", FIRST_ACCOUNT),
    Link::new(ACCOUNTS, "history", "get_account_history", FIRST_ACCOUNT),
    Link::new(ACCOUNTS, "transfers", "list_account_transfers", FIRST_ACCOUNT),
    Link::new(ACCOUNTS, "next_page", "list_accounts", &[("cursor", "$response.body#/next_cursor")]),
    Link::new(
        ("get", "/v1/accounts/{id}/entries", "200"),
        "next_page",
        "list_account_entries",
        &[("id", "$request.path.id"), ("cursor", "$response.body#/next_cursor")],
    ),
    Link::new(
        ("get", "/v1/accounts/{id}/transfers", "200"),
        "transfer",
        "get_transfer",
        &[("id", "$response.body#/items/0/transfer_id")],
    ),
    Link::new(("get", "/v1/events", "200"), "next_page", "list_events", &[("after", "$response.body#/next_cursor")]),
]);
const ACCOUNTS: (&str, &str, &str) = ("get", "/v1/accounts", "200");
const FIRST_ACCOUNT: &[(&str, &str)] = &[("id", "$response.body#/items/0/id")];

/// Every error, as application/problem+json with a stable `code`.
#[derive(IntoResponses)]
pub enum ReadErrors {
    /// `validation_failed` (bad parameter or token) or `bad_cursor`.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// `unauthorized`: no bearer token, or a bad one. Has WWW-Authenticate.
    #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
    Unauthorized(ProblemDoc),
    /// `forbidden`: the token's roles do not allow this read.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDoc),
    /// `not_found` (also: an account or transfer the caller may not see).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemDoc),
    /// `unavailable`: the read models do not answer. Has Retry-After.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    Unavailable(ProblemDoc),
    /// `not_yet_consistent`: the read models did not reach the token's position in time. Has Retry-After.
    #[response(status = 504, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    NotYetConsistent(ProblemDoc),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ledgerline query API",
        version = "1",
        description = "Read-only views of accounts and transfers, folded from the events log by the \
                       projection workers, the ledger totals, and the archive of accepted events for analysts. \
                       Send a command's consistency_token to read your own write."
    ),
    paths(
        super::accounts::one,
        super::accounts::list,
        super::accounts::entries,
        super::history::as_of,
        super::transfers::of_account,
        super::transfers::one,
        super::ledger::totals,
        super::events::list,
        super::healthz,
        super::readyz
    ),
    components(schemas(
        AccountView,
        EntryView,
        AccountPage,
        EntryPage,
        AccountAsOf,
        TransferView,
        StepView,
        TransferDetail,
        TransferPage,
        LedgerTotals,
        LedgerTotalsList,
        TotalsAnswer,
        EventView,
        EventPage,
        ProblemDoc
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The document as served on `/openapi.json` and committed in `docs/openapi/query-service.json`.
pub fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    LINKS.add_to(&mut document);
    document
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
