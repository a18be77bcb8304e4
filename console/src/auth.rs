//! Who is calling the REST API: the account behind the request's bearer token.

use crate::access::Access;
use crate::{AppError, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The authenticated caller of an API route.
pub struct Caller(pub Access);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthenticated)?;
        let digest = moat_directory::token_digest(token);
        let admin = state.store.api_token_admin(&digest, crate::now()).await?.ok_or(AppError::Unauthenticated)?;
        Ok(Caller(Access::of_admin(&state.store, admin).await?))
    }
}
