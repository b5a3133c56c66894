//! The OpenAPI document of the query API, generated from the code.
//! The types here only describe; they are never built.
#![allow(dead_code)]

use ledger_runtime::auth::BearerAuth;
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
    #[param(rename = "Consistency-Token", pattern = r"^v1\.[0-9]+\.[0-9]+\.[0-9a-f]{32}$")]
    pub consistency_token: Option<String>,
}

/// Every error, as application/problem+json with a stable `code`.
#[derive(IntoResponses)]
pub enum ReadErrors {
    /// `validation_failed` (bad parameter or token) or `bad_cursor`.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] ProblemDoc),
    /// `unauthorized`: no bearer token, or a bad one. Has WWW-Authenticate.
    #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
    Unauthorized(#[to_schema] ProblemDoc),
    /// `forbidden`: the token's roles do not allow this read.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] ProblemDoc),
    /// `not_found` (also: an account or transfer the caller may not see).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] ProblemDoc),
    /// `unavailable`: the read models do not answer. Has Retry-After.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    Unavailable(#[to_schema] ProblemDoc),
    /// `not_yet_consistent`: the read models did not reach the token's position in time. Has Retry-After.
    #[response(status = 504, content_type = "application/problem+json", headers(("Retry-After" = String)))]
    NotYetConsistent(#[to_schema] ProblemDoc),
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
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
}
