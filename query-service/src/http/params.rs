//! Query-string extraction with problem+json errors, and the consistency token.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Records not yet applied (worst partition), sent on reads without a token.
pub const LAG_HEADER: &str = "read-lag-records";
/// The header carrying a consistency token from a command response.
pub const TOKEN_HEADER: &str = "consistency-token";

/// Typed query parameters; unknown or malformed ones are a 400 `validation_failed`.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| Error::Validation(e.body_text()))
    }
}
