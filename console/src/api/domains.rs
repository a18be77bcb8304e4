//! Protected domains: their settings and downstream hosts, what they publish, how their users sign up (SMTP
//! callout, LDAP), and their outgoing mail (SMTP credentials, DKIM keys).

use super::Done;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::ops::{self, DomainView, NewDomain};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(domains, create_domain))
        .routes(routes!(domain, edit_domain, delete_domain))
        .routes(routes!(configuration))
        .routes(routes!(test_smtp))
        .routes(routes!(set_signup))
        .routes(routes!(mx))
        .routes(routes!(smtp_credentials, create_smtp_credential))
        .routes(routes!(revoke_smtp_credential))
        .routes(routes!(resume_smtp_credential))
        .routes(routes!(rotate_dkim))
        .routes(routes!(retire_dkim))
        .routes(routes!(ldap_settings, set_ldap))
        .routes(routes!(check_ldap))
        .routes(routes!(sync_ldap))
}

/// The domains the caller administers, with their downstream hosts.
#[utoipa::path(get, path = "/domains", tag = "domains", responses((status = 200, body = Vec<DomainView>)))]
async fn domains(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<DomainView>>, AppError> {
    Ok(Json(ops::domains(&access, &state).await?))
}

/// Protect a domain (and, optionally, make its domain admin with it: both or neither).
#[utoipa::path(post, path = "/domains", tag = "domains", request_body = NewDomain,
    responses((status = 201, body = DomainView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewDomain>,
) -> Result<(StatusCode, Json<DomainView>), AppError> {
    Ok((StatusCode::CREATED, Json(ops::create_domain(&access, &state, request).await?)))
}

/// One domain.
#[utoipa::path(get, path = "/domains/{name}", tag = "domains", responses((status = 200, body = DomainView)))]
async fn domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::domain(&access, &state, &name).await?))
}

/// Change a domain's contact, user limit, language and downstream hosts (every field written).
#[utoipa::path(put, path = "/domains/{name}", tag = "domains", request_body = ops::DomainChange,
    responses((status = 200, body = DomainView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn edit_domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::DomainChange>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::edit_domain(&access, &state, &name, change).await?))
}

/// Stop protecting a domain: its users, aliases and alias domains go with it.
#[utoipa::path(delete, path = "/domains/{name}", tag = "domains", responses((status = 204)))]
async fn delete_domain(Caller(access): Caller, State(state): State<AppState>, Path(name): Path<String>) -> Done {
    ops::delete_domain(&access, &state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// MX hosts, IP ranges, smart host and its ports, SPF and DKIM records to publish.
#[utoipa::path(get, path = "/domains/{name}/configuration", tag = "domains",
    responses((status = 200, body = ops::Configuration)))]
async fn configuration(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ops::Configuration>, AppError> {
    Ok(Json(ops::configuration(&access, &state, &name).await?))
}

/// Greet each downstream host over SMTP and report what it answered.
#[utoipa::path(post, path = "/domains/{name}/test-smtp", tag = "domains",
    responses((status = 200, body = Vec<ops::SmtpTest>)))]
async fn test_smtp(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::SmtpTest>>, AppError> {
    Ok(Json(ops::test_smtp(&access, &state, &name).await?))
}

/// How the domain's users come to exist: `smtp` needs an existing address its server accepts (and an unknown
/// one it refuses), `ldap` a directory that answers.
#[utoipa::path(put, path = "/domains/{name}/signup", tag = "domains", request_body = ops::SignupChange,
    responses((status = 200, body = DomainView), (status = 400, body = ErrorBody)))]
async fn set_signup(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::SignupChange>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::set_signup(&access, &state, &name, &change).await?))
}

/// Get SMTP: downstream hosts from the domain's current MX records.
#[utoipa::path(get, path = "/mx/{name}", tag = "domains", responses((status = 200, body = Vec<ops::Downstream>)))]
async fn mx(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::Downstream>>, AppError> {
    Ok(Json(ops::mx_downstream(&access, &state, &name).await?))
}

/// SMTP credentials the domain's server relays outgoing mail with (never their secrets; today's counts).
#[utoipa::path(get, path = "/domains/{name}/smtp-credentials", tag = "outgoing mail",
    responses((status = 200, body = Vec<ops::SmtpCredentialView>)))]
async fn smtp_credentials(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::SmtpCredentialView>>, AppError> {
    Ok(Json(ops::smtp_credentials(&access, &state, &name).await?))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    /// What sends with it (a server's name).
    #[serde(default)]
    label: String,
}

/// Make a credential; its secret is in this answer only.
#[utoipa::path(post, path = "/domains/{name}/smtp-credentials", tag = "outgoing mail",
    request_body(content = Option<NewCredential>),
    responses((status = 201, body = ops::SmtpCredentialView), (status = 400, body = ErrorBody)))]
async fn create_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<NewCredential>>,
) -> Result<(StatusCode, Json<ops::SmtpCredentialView>), AppError> {
    let label = body.map(|Json(b)| b.label).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(ops::smtp_credential_create(&access, &state, &name, &label).await?)))
}

/// Revoke a credential.
#[utoipa::path(delete, path = "/smtp-credentials/{username}", tag = "outgoing mail", responses((status = 204)))]
async fn revoke_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Done {
    ops::smtp_credential_revoke(&access, &state, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a credential's suspension.
#[utoipa::path(post, path = "/smtp-credentials/{username}/resume", tag = "outgoing mail", responses((status = 204)))]
async fn resume_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Done {
    ops::smtp_credential_resume(&access, &state, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New DKIM keys (RSA-2048, Ed25519) that sign from now on; the records to publish.
#[utoipa::path(post, path = "/domains/{name}/dkim/rotate", tag = "outgoing mail",
    responses((status = 200, body = Vec<ops::DkimRecordView>)))]
async fn rotate_dkim(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::DkimRecordView>>, AppError> {
    Ok(Json(ops::dkim_rotate(&access, &state, &name).await?))
}

/// Retire a rotated DKIM key.
#[utoipa::path(delete, path = "/domains/{name}/dkim/{selector}", tag = "outgoing mail", responses((status = 204)))]
async fn retire_dkim(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path((name, selector)): Path<(String, String)>,
) -> Done {
    ops::dkim_retire(&access, &state, &name, &selector).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whose directory settings: a domain's, or a tenant's (the caller's own when left out).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LdapScopeQuery {
    domain: Option<String>,
    /// Platform operators: the tenant's name.
    tenant: Option<String>,
}

/// The directory settings of a domain or tenant, never the bind password.
#[utoipa::path(get, path = "/ldap", tag = "directory", params(LdapScopeQuery),
    responses((status = 200, body = moat_directory::LdapSettings)))]
async fn ldap_settings(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(scope): Query<LdapScopeQuery>,
) -> Result<Json<moat_directory::LdapSettings>, AppError> {
    let settings = ops::ldap_settings(&access, &state, scope.domain.as_deref(), scope.tenant.as_deref()).await?;
    Ok(Json(settings.ok_or(AppError::NotFound)?))
}

/// Set the directory (LDAP, Active Directory) of a domain or tenant; a password left out keeps the stored one.
#[utoipa::path(put, path = "/ldap", tag = "directory", request_body = ops::LdapChange,
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn set_ldap(Caller(access): Caller, State(state): State<AppState>, Json(change): Json<ops::LdapChange>) -> Done {
    ops::set_ldap(&access, &state, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct LdapCheckRequest {
    /// An address the directory should know.
    #[serde(default)]
    user: Option<String>,
    /// An alias the directory should know.
    #[serde(default)]
    alias: Option<String>,
}

/// Check the domain's directory: the connection and bind, a user, an alias.
#[utoipa::path(post, path = "/domains/{name}/ldap/check", tag = "directory", request_body = LdapCheckRequest,
    responses((status = 200, body = moat_directory::LdapCheck)))]
async fn check_ldap(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<LdapCheckRequest>,
) -> Result<Json<moat_directory::LdapCheck>, AppError> {
    Ok(Json(ops::check_ldap(&access, &state, &name, request.user.as_deref(), request.alias.as_deref()).await?))
}

/// Synchronize the domain's directory now.
#[utoipa::path(post, path = "/domains/{name}/ldap/sync", tag = "directory",
    responses((status = 200, body = moat_directory::SyncReport)))]
async fn sync_ldap(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<moat_directory::SyncReport>, AppError> {
    Ok(Json(ops::sync_ldap(&access, &state, &name).await?))
}
