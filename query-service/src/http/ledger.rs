//! `/v1/ledger/totals`: the money identity across all accounts, for analysts and ops.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger_runtime::auth::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::with_lag;
use super::openapi::{ReadErrors, TokenHeader};
use super::params::Params;
use crate::app::AppState;
use crate::error::Error;
use crate::store::transfers::{self, LedgerTotals};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TotalsQuery {
    /// One currency (ISO 4217, e.g. `EUR`); without it, every currency.
    #[param(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    /// A consistency token from a command response.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

/// The totals of every currency the ledger has seen, by currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerTotalsList {
    totals: Vec<LedgerTotals>,
}

/// One currency's totals (with `currency=`), or every currency's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TotalsAnswer {
    One(LedgerTotals),
    All(LedgerTotalsList),
}

/// A currency code as the ledger writes them: three uppercase ASCII letters.
fn currency(raw: &str) -> Result<&str, Error> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw)
    } else {
        Err(Error::Validation("currency must be three uppercase letters (ISO 4217)".into()))
    }
}

/// The ledger totals, each read in one statement (one snapshot), so that
/// `balances + in_transit = deposits - withdrawals` holds exactly on every answer.
/// A currency never seen is all zeros.
#[utoipa::path(get, path = "/v1/ledger/totals", tag = "ledger", operation_id = "get_ledger_totals",
    params(TotalsQuery, TokenHeader),
    responses((status = 200, body = TotalsAnswer, description = "One currency's totals, or `{totals: [...]}`",
               headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))), ReadErrors))]
pub async fn totals(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Params(query): Params<TotalsQuery>,
) -> Result<Response, Error> {
    principal.require_any(&[Role::Analyst, Role::Ops])?;
    let wanted = query.currency.as_deref().map(currency).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["ledger_totals"]).await?;
    let answer = match wanted {
        Some(currency) => TotalsAnswer::One(transfers::ledger_totals(&state.pool, currency).await?),
        None => TotalsAnswer::All(LedgerTotalsList { totals: transfers::all_ledger_totals(&state.pool).await? }),
    };
    Ok(with_lag(Json(answer).into_response(), lag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_currency_is_three_uppercase_letters_and_anything_else_is_a_validation_error() {
        assert_eq!(currency("EUR").ok(), Some("EUR"));
        for bad in ["", "eur", "EU", "EURO", "E1R", "ÉUR", "EU ", "' o"] {
            assert!(matches!(currency(bad), Err(Error::Validation(_))), "{bad}");
        }
    }

    #[test]
    fn one_currency_is_a_flat_object_and_all_of_them_are_a_list_under_totals() {
        let eur = || LedgerTotals {
            currency: "EUR".into(),
            balances: 90,
            held: 5,
            in_transit: 10,
            deposits: 120,
            withdrawals: 20,
        };
        let one = serde_json::to_value(TotalsAnswer::One(eur())).expect("json");
        assert_eq!(one["currency"], "EUR");
        assert_eq!(one["in_transit"], 10);
        let all = serde_json::to_value(TotalsAnswer::All(LedgerTotalsList { totals: vec![eur()] })).expect("json");
        assert_eq!(all["totals"][0]["balances"], 90);
    }
}
