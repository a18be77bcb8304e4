//! The installation at a glance: status, the nodes sharing the database, the MSP's customers.

use crate::auth::Caller;
use crate::ops;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(nodes))
        .routes(routes!(tenants, create_tenant))
        .routes(routes!(set_licenses))
        .routes(routes!(add_tenant_admin))
        .routes(routes!(alerts))
}

/// Licenses, counts, today's messages by verdict and the queue, within what the caller administers.
#[utoipa::path(get, path = "/status", tag = "platform", responses((status = 200, body = ops::Status)))]
async fn status(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<ops::Status>, AppError> {
    Ok(Json(ops::status(&access, &state).await?))
}

/// The nodes sharing the database: name, version, started, last heartbeat, alive, recipients being delivered
/// now (platform operators).
#[utoipa::path(get, path = "/nodes", tag = "platform", responses((status = 200, body = Vec<ops::NodeView>)))]
async fn nodes(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::NodeView>>, AppError> {
    Ok(Json(ops::nodes(&access, &state).await?))
}

/// Every customer at a glance: licenses, domains, users, today's messages by verdict, held, queued (platform
/// operators).
#[utoipa::path(get, path = "/tenants", tag = "platform", responses((status = 200, body = Vec<ops::TenantOverview>)))]
async fn tenants(
    Caller(access): Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<ops::TenantOverview>>, AppError> {
    Ok(Json(ops::tenants_overview(&access, &state).await?))
}

/// The newest alerts (at most 200): a failing filter skipped, a credential suspended, sign-ins locked — the
/// caller's tenant's, or every one for the platform's operators.
#[utoipa::path(get, path = "/alerts", tag = "platform", responses((status = 200, body = Vec<ops::AlertView>)))]
async fn alerts(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::AlertView>>, AppError> {
    Ok(Json(ops::alerts(&access, &state).await?))
}

/// Add a customer (tenant) with its license pool and, optionally, its first tenant admin.
#[utoipa::path(post, path = "/tenants", tag = "platform", request_body = ops::NewTenant,
    responses((status = 201), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_tenant(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<ops::NewTenant>,
) -> Result<StatusCode, AppError> {
    ops::create_tenant(&access, &state, request).await?;
    Ok(StatusCode::CREATED)
}

/// Set a customer's license pool (`{"licenses": null}`: unlimited); answers the pool and what is in use.
#[utoipa::path(put, path = "/tenants/{name}/licenses", tag = "platform", request_body = ops::LicensePool,
    responses((status = 200, body = ops::LicensePool), (status = 400, body = crate::error::ErrorBody)))]
async fn set_licenses(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(pool): Json<ops::LicensePool>,
) -> Result<Json<ops::LicensePool>, AppError> {
    Ok(Json(ops::set_tenant_licenses(&access, &state, &name, pool.licenses).await?))
}

/// Add a tenant admin to a customer.
#[utoipa::path(post, path = "/tenants/{name}/admins", tag = "platform", request_body = ops::NewTenantAdmin,
    responses((status = 201), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn add_tenant_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(admin): Json<ops::NewTenantAdmin>,
) -> Result<StatusCode, AppError> {
    ops::add_tenant_admin(&access, &state, &name, admin).await?;
    Ok(StatusCode::CREATED)
}
