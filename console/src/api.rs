//! `/api/v1`: the console's operations ([`crate::ops`]) as JSON, for automation (bearer tokens).

use crate::auth::Caller;
use crate::ops::{self, DomainView, NewDomain, NewDomainAdmin, NewUser, UserView};
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use moat_directory::Listing;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/nodes", get(nodes))
        .route("/tenants", get(tenants))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/queue", get(queue))
        .route("/queue/{id}", get(queued).delete(delete_queued))
        .route("/queue/{id}/retry", post(retry_queued))
        .route("/domains", get(domains).post(create_domain))
        .route("/domains/{name}", get(domain).put(edit_domain).delete(delete_domain))
        .route("/domains/{name}/configuration", get(configuration))
        .route("/domains/{name}/test-smtp", post(test_smtp))
        .route("/domains/{name}/signup", put(set_signup))
        .route("/domains/{name}/smtp-credentials", get(smtp_credentials).post(create_smtp_credential))
        .route("/smtp-credentials/{username}", delete(revoke_smtp_credential))
        .route("/smtp-credentials/{username}/resume", post(resume_smtp_credential))
        .route("/domains/{name}/dkim/rotate", post(rotate_dkim))
        .route("/domains/{name}/dkim/{selector}", delete(retire_dkim))
        .route("/ldap", get(ldap_settings).put(set_ldap))
        .route("/domains/{name}/ldap/check", post(check_ldap))
        .route("/domains/{name}/ldap/sync", post(sync_ldap))
        .route("/mx/{name}", get(mx))
        .route("/domain-admins", post(create_domain_admin))
        .route("/admins", get(admins))
        .route("/admins/{name}", get(admin).put(edit_admin).delete(remove_admin))
        .route("/admins/{name}/password", post(reset_admin_password))
        .route("/users", get(users).post(create_user))
        .route("/users/export.csv", get(export_users))
        .route("/users/{address}", get(user).put(edit_user).delete(delete_user))
        .route("/users/{address}/password", post(reset_user_password))
        .route("/aliases", post(create_alias))
        .route("/aliases/{address}", delete(delete_alias))
        .route("/imports", post(start_import))
        .route("/imports/{id}", get(import_job))
        .route("/lists", post(list_add))
        .route("/quarantine", get(quarantine))
        .route("/quarantine/{id}", delete(delete_held))
        .route("/quarantine/{id}/release", post(release))
        .route("/log", get(log))
        .route("/log/{id}", get(log_entry))
        .route("/log/{id}/classify", post(classify))
        .route("/log/{id}/list", post(list_from_log))
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::map_response(json_errors))
}

/// Every error of the API is JSON `{"error": "…"}`: axum's own refusals (a body that is not JSON, a wrong
/// method) come as plain text, and are rewritten here with their text and status.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("application/json")));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let mut json = (status, Json(serde_json::json!({ "error": message }))).into_response();
    for (name, value) in
        parts.headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH)
    {
        json.headers_mut().insert(name.clone(), value.clone());
    }
    json
}

async fn status(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<ops::Status>, AppError> {
    Ok(Json(ops::status(&access, &state).await?))
}

async fn queue(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::QueuedView>>, AppError> {
    Ok(Json(ops::queue(&access, &state).await?))
}

async fn queued(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ops::QueuedView>, AppError> {
    Ok(Json(ops::queued(&access, &state, &id).await?))
}

async fn retry_queued(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let due = ops::queue_retry(&access, &state, &id).await?;
    Ok(Json(serde_json::json!({ "due_now": due })))
}

async fn delete_queued(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::queue_delete(&access, &state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tokens(
    Caller(access): Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<moat_store::ApiToken>>, AppError> {
    Ok(Json(ops::api_tokens(&access, &state).await?))
}

#[derive(Deserialize)]
struct TokenLabel {
    label: String,
}

async fn create_token(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(body): Json<TokenLabel>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let token = ops::api_token_create(&access, &state, &body.label).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "token": token }))))
}

async fn revoke_token(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    ops::api_token_revoke(&access, &state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tenants(
    Caller(access): Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<ops::TenantOverview>>, AppError> {
    Ok(Json(ops::tenants_overview(&access, &state).await?))
}

async fn nodes(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::NodeView>>, AppError> {
    Ok(Json(ops::nodes(&access, &state).await?))
}

async fn domains(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<DomainView>>, AppError> {
    Ok(Json(ops::domains(&access, &state).await?))
}

async fn domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::domain(&access, &state, &name).await?))
}

async fn create_domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewDomain>,
) -> Result<(StatusCode, Json<DomainView>), AppError> {
    Ok((StatusCode::CREATED, Json(ops::create_domain(&access, &state, request).await?)))
}

async fn edit_domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::DomainChange>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::edit_domain(&access, &state, &name, change).await?))
}

async fn set_signup(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::SignupChange>,
) -> Result<Json<DomainView>, AppError> {
    Ok(Json(ops::set_signup(&access, &state, &name, &change).await?))
}

#[derive(Deserialize)]
struct LdapScopeQuery {
    domain: Option<String>,
    tenant: Option<String>,
}

async fn ldap_settings(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(scope): Query<LdapScopeQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let settings = ops::ldap_settings(&access, &state, scope.domain.as_deref(), scope.tenant.as_deref()).await?;
    Ok(Json(serde_json::to_value(settings.ok_or(AppError::NotFound)?).unwrap_or_default()))
}

async fn set_ldap(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(change): Json<ops::LdapChange>,
) -> Result<StatusCode, AppError> {
    ops::set_ldap(&access, &state, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct LdapCheckRequest {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    alias: Option<String>,
}

async fn check_ldap(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<LdapCheckRequest>,
) -> Result<Json<moat_directory::LdapCheck>, AppError> {
    Ok(Json(ops::check_ldap(&access, &state, &name, request.user.as_deref(), request.alias.as_deref()).await?))
}

async fn sync_ldap(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<moat_directory::SyncReport>, AppError> {
    Ok(Json(ops::sync_ldap(&access, &state, &name).await?))
}

async fn delete_domain(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::delete_domain(&access, &state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn configuration(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ops::Configuration>, AppError> {
    Ok(Json(ops::configuration(&access, &state, &name).await?))
}

async fn smtp_credentials(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::SmtpCredentialView>>, AppError> {
    Ok(Json(ops::smtp_credentials(&access, &state, &name).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    #[serde(default)]
    label: String,
}

async fn create_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<NewCredential>>,
) -> Result<(StatusCode, Json<ops::SmtpCredentialView>), AppError> {
    let label = body.map(|Json(b)| b.label).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(ops::smtp_credential_create(&access, &state, &name, &label).await?)))
}

async fn revoke_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::smtp_credential_revoke(&access, &state, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume_smtp_credential(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::smtp_credential_resume(&access, &state, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_dkim(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::DkimRecordView>>, AppError> {
    Ok(Json(ops::dkim_rotate(&access, &state, &name).await?))
}

async fn retire_dkim(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path((name, selector)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    ops::dkim_retire(&access, &state, &name, &selector).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_smtp(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::SmtpTest>>, AppError> {
    Ok(Json(ops::test_smtp(&access, &state, &name).await?))
}

async fn mx(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ops::Downstream>>, AppError> {
    Ok(Json(ops::mx_downstream(&access, &state, &name).await?))
}

async fn create_domain_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<serde_json::Value>,
) -> Result<StatusCode, AppError> {
    // `flatten` and `deny_unknown_fields` do not mix in serde: split by hand.
    let mut value = request;
    let domains = value.as_object_mut().and_then(|o| o.remove("domains")).unwrap_or_default();
    let domains: Vec<String> = serde_json::from_value(domains).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let admin: NewDomainAdmin = serde_json::from_value(value).map_err(|e| AppError::BadRequest(e.to_string()))?;
    ops::add_domain_admin(&access, &state, admin, &domains).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize, Default)]
struct UserQuery {
    #[serde(default)]
    q: String,
    domain: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn users(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<Json<Vec<UserView>>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(ops::users(&access, &state, &query.q, query.domain.as_deref(), limit, query.offset.unwrap_or(0)).await?))
}

async fn export_users(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<impl IntoResponse, AppError> {
    let users = ops::users(&access, &state, &query.q, query.domain.as_deref(), i64::MAX, 0).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], ops::users_csv(&users)))
}

async fn create_user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    Ok((StatusCode::CREATED, Json(ops::create_user(&access, &state, request).await?)))
}

async fn delete_user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::delete_user(&access, &state, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<ops::UserDetail>, AppError> {
    Ok(Json(ops::user(&access, &state, &address).await?))
}

async fn edit_user(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
    Json(change): Json<ops::UserChange>,
) -> Result<Json<ops::UserDetail>, AppError> {
    Ok(Json(ops::edit_user(&access, &state, &address, change).await?))
}

/// A password reset: the new password, or none to have one generated (answered once).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    password: Option<String>,
    /// Admins only: also turn the second factor off.
    #[serde(default)]
    totp_off: bool,
}

#[derive(serde::Serialize)]
struct PasswordAnswer {
    /// The generated password, when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    generated_password: Option<String>,
}

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

async fn admins(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::AdminView>>, AppError> {
    Ok(Json(ops::admins(&access, &state).await?))
}

async fn admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ops::AdminView>, AppError> {
    Ok(Json(ops::admin(&access, &state, &name).await?))
}

async fn edit_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(change): Json<ops::AdminChange>,
) -> Result<Json<ops::AdminView>, AppError> {
    Ok(Json(ops::edit_admin(&access, &state, &name, change).await?))
}

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

async fn remove_admin(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::remove_admin(&access, &state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAlias {
    address: String,
    mailbox: String,
}

async fn create_alias(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewAlias>,
) -> Result<StatusCode, AppError> {
    ops::create_alias(&access, &state, &request.address, &request.mailbox).await?;
    Ok(StatusCode::CREATED)
}

async fn delete_alias(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::delete_alias(&access, &state, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewImport {
    file_name: String,
    /// The file's text.
    content: String,
    domain: Option<String>,
    tenant: Option<String>,
}

async fn start_import(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewImport>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let id = ops::start_import(
        &access,
        &state,
        &request.file_name,
        request.content.into_bytes(),
        request.domain,
        request.tenant,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id, "progress": format!("/api/v1/imports/{id}") }))))
}

async fn import_job(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, AppError> {
    let job = ops::import_job(&access, &state, id).await?;
    let status = match job.status {
        moat_store::ImportStatus::Running => "running",
        moat_store::ImportStatus::Finished => "finished",
        moat_store::ImportStatus::Interrupted => "interrupted",
    };
    Ok(Json(serde_json::json!({
        "id": job.id, "file_name": job.file_name, "status": status, "total": job.total,
        "processed": job.processed, "imported": job.imported(), "unchanged": job.unchanged,
        "errors": job.errors,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewListEntry {
    /// `allow` or `deny`.
    list: String,
    /// A sender address, a sender domain, or an IP or network.
    value: String,
    /// Whose list: a user's address or a domain.
    owner: String,
}

async fn list_add(
    Caller(access): Caller,
    State(state): State<AppState>,
    Json(request): Json<NewListEntry>,
) -> Result<StatusCode, AppError> {
    let listing = parse_listing(&request.list)?;
    ops::list_add(&access, &state, Some(&request.owner), listing, &request.value).await?;
    Ok(StatusCode::CREATED)
}

fn parse_listing(list: &str) -> Result<Listing, AppError> {
    match list {
        "allow" => Ok(Listing::Allow),
        "deny" => Ok(Listing::Deny),
        other => Err(AppError::BadRequest(format!("list is allow or deny, not {other:?}"))),
    }
}

#[derive(Deserialize, Default)]
struct HeldQuery {
    user: Option<String>,
}

async fn quarantine(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<HeldQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let held = ops::quarantine(&access, &state, query.user.as_deref()).await?;
    let held: Vec<_> = held
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id, "sender": m.sender, "recipients": m.recipients.into_iter().map(|r| r.0).collect::<Vec<_>>(),
                "subject": m.subject, "score": m.score, "reason": m.reason, "size": m.size, "received_at": m.received_at,
            })
        })
        .collect();
    Ok(Json(serde_json::Value::Array(held)))
}

async fn release(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HeldQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let queue_id = ops::release(&access, &state, query.user.as_deref(), &id).await?;
    Ok(Json(serde_json::json!({ "queue_id": queue_id })))
}

async fn delete_held(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HeldQuery>,
) -> Result<StatusCode, AppError> {
    ops::delete_held(&access, &state, query.user.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn log_json(e: &moat_store::LogEntry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id, "received_at": e.received_at, "client_ip": e.client_ip, "helo": e.helo, "tls": e.tls,
        "sender": e.sender, "recipients": e.recipients, "size": e.size, "subject": e.subject,
        "message_id": e.message_id, "verdict": e.verdict, "score": e.score, "symbols": e.symbols,
        "delivery_status": e.delivery_status, "last_reply": e.last_reply,
        "classified": e.classified.map(|c| c.as_str()),
        "direction": e.direction.as_str(),
    })
}

// Not `#[serde(flatten)]` of `LogSearch`: flattened query strings lose their numbers' types.
#[derive(Deserialize)]
struct LogQuery {
    q: Option<String>,
    verdict: Option<String>,
    direction: Option<String>,
    limit: Option<i64>,
}

async fn log(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<LogQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let search = ops::LogSearch { q: query.q, verdict: query.verdict, direction: query.direction };
    let entries = ops::log(&access, &state, &search, limit).await?;
    Ok(Json(entries.iter().map(log_json).collect()))
}

/// One entry; with the message's headers and text when Moat has it and the caller may see them.
async fn log_entry(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, AppError> {
    let (entry, bytes) = ops::log_entry(&access, &state, id).await?;
    let mut json = log_json(&entry);
    if let Some(bytes) = bytes {
        let (headers, text) = ops::headers_and_text(&bytes);
        let delegation = access.delegation();
        json["headers"] = delegation.view_headers.then_some(headers).into();
        json["text"] = delegation.view_emails.then_some(text).into();
    }
    Ok(Json(json))
}

#[derive(Deserialize)]
struct Classify {
    /// `spam` or `valid`.
    classification: String,
}

async fn classify(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(request): Json<Classify>,
) -> Result<Json<serde_json::Value>, AppError> {
    let classification = moat_store::Classification::parse(&request.classification).ok_or_else(|| {
        AppError::BadRequest(format!("classification is spam or valid, not {:?}", request.classification))
    })?;
    Ok(Json(log_json(&ops::classify(&access, &state, id, classification).await?)))
}

#[derive(Deserialize)]
struct ListFromLog {
    /// `allow` or `deny`.
    list: String,
    /// `sender` or `ip`.
    party: ops::LogParty,
}

async fn list_from_log(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(request): Json<ListFromLog>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let listing = parse_listing(&request.list)?;
    let (value, domain) = ops::list_from_log(&access, &state, id, request.party, listing).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "value": value, "domain": domain, "list": request.list }))))
}

/// The OpenAPI 3 description of `/api/v1`.
pub async fn openapi() -> Json<serde_json::Value> {
    let bearer = serde_json::json!([{ "bearer": [] }]);
    let op = |summary: &str| {
        serde_json::json!({ "summary": summary, "security": bearer,
            "responses": { "200": { "description": "OK" }, "401": { "description": "no or unknown token" },
                           "403": { "description": "the caller's role may not do this" },
                           "404": { "description": "not found, or not the caller's" } } })
    };
    Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": { "title": "Moat REST API", "version": "1" },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": {
            "/api/v1/status": { "get": op("Licenses, counts, today's messages by verdict and the queue") },
            "/api/v1/tokens": {
                "get": op("The caller's own API tokens: id, label, made, last used (never their values)"),
                "post": op("Make a token for the caller: {\"label\"} → 201 {token}, shown this once")
            },
            "/api/v1/tokens/{id}": { "delete": op("Revoke one of the caller's tokens (204)") },
            "/api/v1/tenants": { "get": op("Every customer at a glance: licenses, domains, users, today's messages by verdict, held, queued (platform operators)") },
            "/api/v1/queue": { "get": op("The delivery queue the caller may see, oldest first (at most 500): recipients, attempts, next attempt, last reply, the node delivering") },
            "/api/v1/queue/{id}": { "get": op("One queued message"), "delete": op("Drop a queued message without delivering it (204)") },
            "/api/v1/queue/{id}/retry": { "post": op("Make a queued message's waiting recipients due now → {due_now}") },
            "/api/v1/nodes": { "get": op("The nodes sharing the database: name, version, started, last heartbeat, alive, recipients delivering now (platform operators)") },
            "/api/v1/domains": {
                "get": op("The domains the caller administers, with downstream hosts"),
                "post": op("Protect a domain: {name, tenant?, alias_of?, contact_email?, max_users?, language?, \
                            downstream: [HOST:PORT:PRIORITY], admin?: {name, password, email?, open_panels?, \
                            view_emails?, view_headers?}} (201; 400 bad input; 409 exists)"),
            },
            "/api/v1/domains/{name}": { "get": op("One domain"), "delete": op("Stop protecting a domain (204)") },
            "/api/v1/domains/{name}/configuration": { "get": op("MX hosts, IP ranges, smart host and its ports, SPF and DKIM records to publish") },
            "/api/v1/domains/{name}/smtp-credentials": {
                "get": op("SMTP credentials the domain's server relays outgoing mail with (no secrets; today's sent counts)"),
                "post": op("Make a credential ({\"label\"}); 201 with its secret, shown this once")
            },
            "/api/v1/smtp-credentials/{username}": { "delete": op("Revoke a credential (204)") },
            "/api/v1/smtp-credentials/{username}/resume": { "post": op("Lift a credential's suspension (204)") },
            "/api/v1/domains/{name}/dkim/rotate": { "post": op("New DKIM keys (RSA-2048, Ed25519) that sign from now on; the records to publish") },
            "/api/v1/domains/{name}/dkim/{selector}": { "delete": op("Retire a rotated DKIM key (204)") },
            "/api/v1/domains/{name}/test-smtp": { "post": op("Greet each downstream host over SMTP and report") },
            "/api/v1/mx/{name}": { "get": op("Get SMTP: downstream hosts from the domain's current MX records") },
            "/api/v1/domain-admins": { "post": op("Create a domain admin: {name, password, email?, domains: [..], \
                                                   open_panels?, view_emails?, view_headers?} (201)") },
            "/api/v1/users": {
                "get": op("Search users: ?q=&domain=&limit=&offset="),
                "post": op("Create a user: {address, full_name?, password?, language?, aliases?}, all or nothing \
                            (201, with generated_password when none was given; 409 licenses exhausted, domain full, \
                            or exists)"),
            },
            "/api/v1/users/export.csv": { "get": op("Users as CSV (the import's format): ?q=&domain=") },
            "/api/v1/users/{address}": { "delete": op("Delete a user and its aliases (204)") },
            "/api/v1/aliases": { "post": op("Create an alias: {address, mailbox} (201)") },
            "/api/v1/aliases/{address}": { "delete": op("Delete an alias (204)") },
            "/api/v1/imports": { "post": op("Import users: {file_name, content, domain?, tenant?} (202, {id}); \
                                            400 for a file refused as a whole") },
            "/api/v1/imports/{id}": { "get": op("An import's progress and per-line errors") },
            "/api/v1/quarantine": { "get": op("Held messages of the caller's domains (?user= one user's)") },
            "/api/v1/quarantine/{id}": { "delete": op("Delete a held message (204)") },
            "/api/v1/quarantine/{id}/release": { "post": op("Release a held message into the delivery queue") },
            "/api/v1/domains/{name}/signup": { "put": op("Sign-up mode: {\"mode\": \"manual\"|\"smtp\"|\"ldap\", \"check\": an existing address (smtp: the server must accept it and refuse an unknown one; ldap: the directory must answer)}") },
            "/api/v1/ldap": {
                "get": op("The directory settings of ?domain= or the tenant (?tenant= for a platform admin), never the password"),
                "put": op("Set the directory (LDAP / Active Directory): {domain?, tenant?, settings: {server_type, url, starttls, verify_certificate, ca_pem, bind_dn, bind_password, base_dn, scope, user_attributes, user_filter, alias_attribute, alias_filter, alias_delimiter, name_attribute, given_name_attribute, surname_attribute, sync_every, remove_departed, page_size}} (204)"),
            },
            "/api/v1/domains/{name}/ldap/check": { "post": op("Check the domain's directory: {user?, alias?} → {connection_error, user, alias}") },
            "/api/v1/domains/{name}/ldap/sync": { "post": op("Synchronize the domain's directory now → {added, renamed, aliases_added, departed, removed}") },
            "/api/v1/log": { "get": op("The email log of the caller's domains, newest first (?q= text, ?verdict=, ?limit= up to 1000)") },
            "/api/v1/log/{id}": { "get": op("One logged message; headers and text while Moat has it, as the caller's permissions allow") },
            "/api/v1/log/{id}/classify": { "post": op("Classify as spam or valid ({\"classification\"}): the tenant's filters learn it") },
            "/api/v1/log/{id}/list": { "post": op("Allow or deny the message's sender or IP for its domain ({\"list\", \"party\": \"sender\"|\"ip\"})") },
            "/api/v1/lists": { "post": op("Add a trust-list entry: {list: allow|deny, value, owner: user or domain}") },
        }
    }))
}
