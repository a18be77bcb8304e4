//! Accounts: the caller's own API tokens, and the admins below the caller (domain admins; for the platform's
//! operators also the tenants' admins).

use super::Done;
use crate::auth::Caller;
use crate::ops::{self, NewDomainAdmin};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(create_domain_admin))
        .routes(routes!(admins))
        .routes(routes!(admin, edit_admin, remove_admin))
        .routes(routes!(reset_admin_password))
}

/// The caller's own API tokens: id, label, made, last used (never their values).
#[utoipa::path(get, path = "/tokens", tag = "accounts", responses((status = 200, body = Vec<moat_store::ApiToken>)))]
async fn tokens(
    Caller(access): Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<moat_store::ApiToken>>, AppError> {
    Ok(Json(ops::api_tokens(&access, &state).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenLabel {
    /// What uses the token (1–64 characters).
    label: String,
}

#[derive(Serialize, ToSchema)]
struct NewToken {
    /// The token, shown this once: send it as `Authorization: Bearer TOKEN`.
    token: String,
}

/// Make a token for the caller.
#[utoipa::path(post, path = "/tokens", tag = "accounts", request_body = TokenLabel,
    responses((status = 201, body = NewToken), (status = 400, body = crate::error::ErrorBody)))]
async fn create_token(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(body): Json<TokenLabel>,
) -> Result<(StatusCode, Json<NewToken>), AppError> {
    let token = ops::api_token_create(&access, &state, &body.label).await?;
    Ok((StatusCode::CREATED, Json(NewToken { token })))
}

/// Revoke one of the caller's tokens.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "accounts", responses((status = 204)))]
async fn revoke_token(Caller(access): Caller, State(state): State<AppState>, Path(id): Path<i64>) -> Done {
    ops::api_token_revoke(&access, &state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new domain admin: its account and the caller's domains it administers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDomainAdminRequest {
    name: String,
    password: String,
    email: Option<String>,
    /// Domains of one tenant, at least one.
    domains: Vec<String>,
    #[serde(default)]
    open_panels: bool,
    #[serde(default)]
    view_emails: bool,
    #[serde(default)]
    view_headers: bool,
}

/// Create a domain admin.
#[utoipa::path(post, path = "/domain-admins", tag = "accounts", request_body = NewDomainAdminRequest,
    responses((status = 201), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_domain_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewDomainAdminRequest>,
) -> Done {
    let admin = NewDomainAdmin {
        name: request.name,
        password: request.password,
        email: request.email,
        open_panels: request.open_panels,
        view_emails: request.view_emails,
        view_headers: request.view_headers,
    };
    ops::add_domain_admin(&access, &state, admin, &request.domains).await?;
    Ok(StatusCode::CREATED)
}

/// The admin accounts the caller manages, tenant admins first.
#[utoipa::path(get, path = "/admins", tag = "accounts", responses((status = 200, body = Vec<ops::AdminView>)))]
async fn admins(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::AdminView>>, AppError> {
    Ok(Json(ops::admins(&access, &state).await?))
}

/// One admin the caller manages (never the caller itself: that is its own account).
#[utoipa::path(get, path = "/admins/{name}", tag = "accounts", responses((status = 200, body = ops::AdminView)))]
async fn admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ops::AdminView>, AppError> {
    Ok(Json(ops::admin(&access, &state, &name).await?))
}

/// Change an admin's notification address, and a domain admin's domains and permissions (all replaced).
#[utoipa::path(put, path = "/admins/{name}", tag = "accounts", request_body = ops::AdminChange,
    responses((status = 200, body = ops::AdminView), (status = 400, body = crate::error::ErrorBody)))]
async fn edit_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::AdminChange>,
) -> Result<Json<ops::AdminView>, AppError> {
    Ok(Json(ops::edit_admin(&access, &state, &name, change).await?))
}

/// Remove an admin: its sessions and tokens end; its domains and users stay.
#[utoipa::path(delete, path = "/admins/{name}", tag = "accounts", responses((status = 204)))]
async fn remove_admin(Caller(access): Caller, State(state): State<AppState>, Path(name): Path<String>) -> Done {
    ops::remove_admin(&access, &state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password reset: the new password, or none to have one generated (answered once).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordReset {
    pub password: Option<String>,
    /// Admins only: also turn the second factor off (a lost phone).
    #[serde(default)]
    pub totp_off: bool,
}

#[derive(Serialize, ToSchema)]
pub(super) struct PasswordAnswer {
    /// The generated password, when none was given: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// Reset an admin's password; its sessions and API tokens end. Without a body, a password is generated.
#[utoipa::path(post, path = "/admins/{name}/password", tag = "accounts", request_body(content = Option<PasswordReset>),
    responses((status = 200, body = PasswordAnswer), (status = 400, body = crate::error::ErrorBody)))]
async fn reset_admin_password(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<PasswordReset>>,
) -> Result<Json<PasswordAnswer>, AppError> {
    let reset = body.map(|Json(b)| b).unwrap_or_default();
    let generated_password = ops::reset_admin_password(&access, &state, &name, reset.password, reset.totp_off).await?;
    Ok(Json(PasswordAnswer { generated_password }))
}
