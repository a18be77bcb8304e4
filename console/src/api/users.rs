//! Users (mailboxes) of the caller's domains, their aliases, imports and exports.

use super::Done;
use super::accounts::{PasswordAnswer, PasswordReset};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::ops::{self, NewUser, UserView};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users, create_user))
        .routes(routes!(export_users))
        .routes(routes!(user, edit_user, delete_user))
        .routes(routes!(reset_user_password))
        .routes(routes!(create_alias))
        .routes(routes!(delete_alias))
        .routes(routes!(start_import))
        .routes(routes!(import_job))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserQuery {
    /// Address or name containing this text.
    #[serde(default)]
    q: String,
    /// Only this domain's users.
    domain: Option<String>,
    /// At most this many (1–10,000; 100 when left out).
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Search the users of the caller's domains, by address.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery), responses((status = 200, body = Vec<UserView>)))]
async fn users(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<Json<Vec<UserView>>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(ops::users(&access, &state, &query.q, query.domain.as_deref(), limit, query.offset.unwrap_or(0)).await?))
}

/// Users as CSV, in the import's format (an export imports back).
#[utoipa::path(get, path = "/users/export.csv", tag = "users", params(UserQuery),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_users(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<impl IntoResponse, AppError> {
    let users = ops::users(&access, &state, &query.q, query.domain.as_deref(), i64::MAX, 0).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], ops::users_csv(&users)))
}

/// Create a user with its aliases, all or nothing (with a generated password, answered once, when none is
/// given).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 409, description = "Licenses exhausted, the domain full, or the address taken.", body = ErrorBody)))]
async fn create_user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    Ok((StatusCode::CREATED, Json(ops::create_user(&access, &state, request).await?)))
}

/// One user.
#[utoipa::path(get, path = "/users/{address}", tag = "users", responses((status = 200, body = ops::UserDetail)))]
async fn user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<ops::UserDetail>, AppError> {
    Ok(Json(ops::user(&access, &state, &address).await?))
}

/// Change a user's full name and language.
#[utoipa::path(put, path = "/users/{address}", tag = "users", request_body = ops::UserChange,
    responses((status = 200, body = ops::UserDetail), (status = 400, body = ErrorBody)))]
async fn edit_user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
    Json(change): Json<ops::UserChange>,
) -> Result<Json<ops::UserDetail>, AppError> {
    Ok(Json(ops::edit_user(&access, &state, &address, change).await?))
}

/// Delete a user and its aliases; mail for them is refused from then on.
#[utoipa::path(delete, path = "/users/{address}", tag = "users", responses((status = 204)))]
async fn delete_user(Caller(access): Caller, State(state): State<AppState>, Path(address): Path<String>) -> Done {
    ops::delete_user(&access, &state, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reset a user's console password; its sessions end. Without a body, a password is generated.
#[utoipa::path(post, path = "/users/{address}/password", tag = "users", request_body(content = Option<PasswordReset>),
    responses((status = 200, body = PasswordAnswer), (status = 400, body = ErrorBody)))]
async fn reset_user_password(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
    body: Option<Json<PasswordReset>>,
) -> Result<Json<PasswordAnswer>, AppError> {
    let reset = body.map(|Json(b)| b).unwrap_or_default();
    if reset.totp_off {
        return Err(AppError::BadRequest("users have no second factor".into()));
    }
    let generated_password = ops::reset_user_password(&access, &state, &address, reset.password).await?;
    Ok(Json(PasswordAnswer { generated_password }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAlias {
    /// The alias address, in one of the caller's domains.
    address: String,
    /// The user it delivers to.
    mailbox: String,
}

/// Create an alias of a user.
#[utoipa::path(post, path = "/aliases", tag = "users", request_body = NewAlias,
    responses((status = 201), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_alias(Caller(access): Caller, State(state): State<AppState>, Json(request): Json<NewAlias>) -> Done {
    ops::create_alias(&access, &state, &request.address, &request.mailbox).await?;
    Ok(StatusCode::CREATED)
}

/// Delete an alias.
#[utoipa::path(delete, path = "/aliases/{address}", tag = "users", responses((status = 204)))]
async fn delete_alias(Caller(access): Caller, State(state): State<AppState>, Path(address): Path<String>) -> Done {
    ops::delete_alias(&access, &state, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewImport {
    file_name: String,
    /// The file's text (CSV or one address per line).
    content: String,
    /// The domain of addresses written without one.
    domain: Option<String>,
    /// Platform operators: the tenant imported into.
    tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ImportStarted {
    id: i64,
    /// Where its progress is.
    progress: String,
}

/// Import users in the background.
#[utoipa::path(post, path = "/imports", tag = "users", request_body = NewImport,
    responses((status = 202, body = ImportStarted), (status = 400, description = "A file refused as a whole.", body = ErrorBody)))]
async fn start_import(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewImport>,
) -> Result<(StatusCode, Json<ImportStarted>), AppError> {
    let id = ops::start_import(
        &access,
        &state,
        &request.file_name,
        request.content.into_bytes(),
        request.domain,
        request.tenant,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(ImportStarted { id, progress: format!("{}/imports/{id}", super::BASE) })))
}

#[derive(Serialize, ToSchema)]
struct ImportProgress {
    id: i64,
    file_name: String,
    /// `running`, `finished` or `interrupted` (Moat stopped while it ran).
    status: &'static str,
    total: i64,
    processed: i64,
    imported: i64,
    unchanged: i64,
    errors: Vec<moat_store::ImportLineError>,
}

/// An import's progress and its refused lines.
#[utoipa::path(get, path = "/imports/{id}", tag = "users", responses((status = 200, body = ImportProgress)))]
async fn import_job(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ImportProgress>, AppError> {
    let job = ops::import_job(&access, &state, id).await?;
    let status = match job.status {
        moat_store::ImportStatus::Running => "running",
        moat_store::ImportStatus::Finished => "finished",
        moat_store::ImportStatus::Interrupted => "interrupted",
    };
    Ok(Json(ImportProgress {
        id: job.id,
        imported: job.imported(),
        file_name: job.file_name,
        status,
        total: job.total,
        processed: job.processed,
        unchanged: job.unchanged,
        errors: job.errors,
    }))
}
