//! `DELETE /v1/subjects/{subject}` (role `ops`): erases a data subject.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger_runtime::auth::Role;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::erasure::Erasure;
use crate::error::Refusal;
use crate::http::CommandHeaders;

/// Why the subject is erased.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EraseParams {
    /// A reason code (lowercase letters, digits, `_`; at most 64), such as `gdpr_art17`. Never free text: the log keeps it.
    #[param(pattern = "^[a-z0-9_]{1,64}$")]
    reason: String,
}

/// Erases a data subject: the erasure goes into the log (who, when, why; no
/// personal data), then the subject's key is destroyed, so every personal
/// field sealed with it, in every copy of the log, reads `null` from then on.
/// Idempotent: erasing an erased subject answers the first erasure.
#[utoipa::path(delete, path = "/v1/subjects/{subject}", operation_id = "erase_subject", tag = "ops", summary = "Erase a data subject's personal data",
    params(("subject" = String, Path, description = "The subject id, or the owner name (a client's token `sub`)"), EraseParams),
    responses((status = 200, description = "Erased (now, or by an earlier request: `already_erased`)", body = Erasure),
              (status = 400, description = "`validation_failed`: no `reason`, or a bad header", body = ledger_runtime::problem::ProblemDoc, content_type = "application/problem+json"),
              (status = 401, description = "`unauthorized`: no bearer token, or a bad one", body = ledger_runtime::problem::ProblemDoc, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: needs the ops role"),
              (status = 404, description = "`subject_not_found`"),
              (status = 422, description = "`validation_failed`: the reason is not a code"),
              (status = 503, description = "`unavailable`: the log or the key store; retry")))]
pub async fn erase(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    params: Result<Query<EraseParams>, QueryRejection>,
    headers: CommandHeaders,
) -> Result<Response, Refusal> {
    let Query(params) = params.map_err(|rejection| Refusal::BadRequest(rejection.body_text()))?;
    headers.require(&[Role::Ops], "erasing a data subject needs the ops role")?;
    let by = headers.principal.sub.clone();
    let erasure = state.eraser.erase(&subject, &by, &params.reason, headers.metadata).await?;
    Ok(Json(erasure).into_response())
}
