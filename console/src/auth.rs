//! Who is calling: the account behind the request's bearer token.

use crate::{AppError, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use moat_store::{Admin, Role, TenantId};

/// The authenticated caller of an API route.
pub struct Caller(pub Admin);

impl Caller {
    /// Whether the caller may see `tenant`'s data.
    pub fn sees(&self, tenant: TenantId) -> bool {
        match self.0.role {
            Role::Platform => true,
            Role::Tenant(own) => own == tenant,
        }
    }
}

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
        Ok(Caller(admin))
    }
}
