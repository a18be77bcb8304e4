//! `/api/v1`: the same operations the console's pages use, as JSON.

use crate::auth::Caller;
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use moat_directory::{Directory, DomainSpec};
use moat_store::Role;
use serde::Deserialize;
use serde::Serialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/domains", get(domains).post(create_domain))
        .route("/domains/{name}", get(domain))
        .route("/users", post(create_user))
        .route("/users/{address}", delete(delete_user))
}

#[derive(Serialize)]
struct Status {
    tenants: usize,
    domains: usize,
    mailboxes: usize,
    licenses: Licenses,
}

/// The license pool of the tenants the caller administers; `pool` and `available` are null when any of them
/// has no limit.
#[derive(Serialize)]
struct Licenses {
    pool: Option<i64>,
    used: i64,
    available: Option<i64>,
}

/// What the caller administers, counted.
async fn status(caller: Caller, State(state): State<AppState>) -> Result<Json<Status>, AppError> {
    let tenants: Vec<_> = state.store.tenant_list().await?.into_iter().filter(|t| caller.sees(t.id)).collect();
    let directory = moat_directory::Directory::new(state.store.clone());
    let mut licenses = Licenses { pool: Some(0), used: 0, available: Some(0) };
    for tenant in &tenants {
        let usage = directory.license_usage(tenant.id).await?;
        licenses.used += usage.used;
        licenses.pool = licenses.pool.zip(usage.pool).map(|(a, b)| a + b);
        licenses.available = licenses.available.zip(usage.available()).map(|(a, b)| a + b);
    }
    let domains: Vec<_> =
        state.store.domain_list(None).await?.into_iter().filter(|d| caller.sees(d.tenant_id)).collect();
    let mut mailboxes = 0;
    for domain in domains.iter().filter(|d| d.alias_of.is_none()) {
        mailboxes += state.store.mailbox_list(Some(domain.id)).await?.len();
    }
    Ok(Json(Status { tenants: tenants.len(), domains: domains.len(), mailboxes, licenses }))
}

#[derive(Serialize)]
struct DomainView {
    name: String,
    tenant: String,
    alias_of: Option<String>,
    contact_email: Option<String>,
    max_users: Option<i64>,
    language: String,
    downstream: Vec<Downstream>,
}

#[derive(Serialize)]
struct Downstream {
    host: String,
    port: u16,
    priority: u32,
}

async fn view(state: &AppState, domain: moat_store::Domain) -> Result<DomainView, AppError> {
    let tenant = state.store.tenant_list().await?.into_iter().find(|t| t.id == domain.tenant_id);
    let alias_of = match domain.alias_of {
        Some(id) => state.store.domain_by_id(id).await?.map(|d| d.name),
        None => None,
    };
    let downstream = state
        .store
        .downstream_hosts(domain.id)
        .await?
        .into_iter()
        .map(|h| Downstream { host: h.host, port: h.port, priority: h.priority })
        .collect();
    Ok(DomainView {
        name: domain.name,
        tenant: tenant.map(|t| t.name).unwrap_or_default(),
        alias_of,
        contact_email: domain.contact_email,
        max_users: domain.max_users,
        language: domain.language,
        downstream,
    })
}

/// The domains the caller administers.
async fn domains(caller: Caller, State(state): State<AppState>) -> Result<Json<Vec<DomainView>>, AppError> {
    let mut out = Vec::new();
    for domain in state.store.domain_list(None).await?.into_iter().filter(|d| caller.sees(d.tenant_id)) {
        out.push(view(&state, domain).await?);
    }
    Ok(Json(out))
}

/// One domain; another tenant's is "not found", as if it did not exist.
async fn domain(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, AppError> {
    let domain = state.store.domain_by_name(&name.to_ascii_lowercase()).await?.ok_or(AppError::NotFound)?;
    if !caller.sees(domain.tenant_id) {
        return Err(AppError::NotFound);
    }
    Ok(Json(view(&state, domain).await?))
}

/// A new domain, as the console's form and automation send it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomainRequest {
    name: String,
    /// The tenant's name; a tenant admin's own tenant when left out (the default tenant for a platform admin).
    tenant: Option<String>,
    alias_of: Option<String>,
    contact_email: Option<String>,
    max_users: Option<i64>,
    language: Option<String>,
    /// `HOST[:PORT[:PRIORITY]]`, as `moat domain add --downstream` takes them.
    #[serde(default)]
    downstream: Vec<String>,
}

/// The tenant a caller acts in: its own for a tenant admin (another tenant's name is "not found").
async fn acting_tenant(
    caller: &Caller,
    state: &AppState,
    requested: Option<String>,
) -> Result<Option<String>, AppError> {
    match caller.0.role {
        Role::Platform => Ok(requested),
        Role::Tenant(own) => {
            let own = state.store.tenant_list().await?.into_iter().find(|t| t.id == own).ok_or(AppError::NotFound)?;
            match requested {
                Some(name) if name != own.name => Err(AppError::NotFound),
                _ => Ok(Some(own.name)),
            }
        }
    }
}

/// The domain of an address, if the caller administers it (else "not found").
async fn visible_domain(caller: &Caller, state: &AppState, domain: &str) -> Result<moat_store::Domain, AppError> {
    let domain = Directory::new(state.store.clone()).domain(domain).await?;
    if caller.sees(domain.tenant_id) { Ok(domain) } else { Err(AppError::NotFound) }
}

fn domain_of(address: &str) -> Result<&str, AppError> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .ok_or_else(|| AppError::BadRequest(format!("{address:?} is not an address")))
}

async fn create_domain(
    caller: Caller,
    State(state): State<AppState>,
    Json(request): Json<NewDomainRequest>,
) -> Result<(StatusCode, Json<DomainView>), AppError> {
    let tenant = acting_tenant(&caller, &state, request.tenant).await?;
    if let Some(primary) = &request.alias_of {
        visible_domain(&caller, &state, primary).await?;
    }
    let downstream =
        request.downstream.iter().map(|d| moat_directory::parse_downstream(d)).collect::<Result<Vec<_>, _>>()?;
    let spec = DomainSpec {
        tenant,
        name: request.name,
        alias_of: request.alias_of,
        contact_email: request.contact_email,
        max_users: request.max_users,
        language: request.language,
        downstream,
    };
    let directory = Directory::new(state.store.clone());
    let id = directory.add_domain(&spec).await?;
    let domain = state.store.domain_by_id(id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(view(&state, domain).await?)))
}

/// A new user: a mailbox and, optionally, its aliases (all made, or none).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    address: String,
    full_name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Serialize)]
struct UserView {
    address: String,
    full_name: Option<String>,
    aliases: Vec<String>,
}

async fn create_user(
    caller: Caller,
    State(state): State<AppState>,
    Json(request): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    visible_domain(&caller, &state, domain_of(&request.address)?).await?;
    for alias in &request.aliases {
        visible_domain(&caller, &state, domain_of(alias)?).await?;
    }
    let directory = Directory::new(state.store.clone());
    directory.add_mailbox(&request.address, request.full_name.as_deref()).await?;
    for (made, alias) in request.aliases.iter().enumerate() {
        if let Err(e) = directory.add_alias(alias, &request.address).await {
            // All or nothing: undo the aliases and the mailbox made for this request.
            for earlier in &request.aliases[..made] {
                let _ = directory.remove_alias(earlier).await;
            }
            let _ = directory.remove_mailbox(&request.address).await;
            return Err(e.into());
        }
    }
    let address = request.address.trim().to_ascii_lowercase();
    let view = UserView { address, full_name: request.full_name, aliases: request.aliases };
    Ok((StatusCode::CREATED, Json(view)))
}

async fn delete_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<StatusCode, AppError> {
    visible_domain(&caller, &state, domain_of(&address)?).await?;
    Directory::new(state.store.clone()).remove_mailbox(&address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI 3 description of `/api/v1`.
pub async fn openapi() -> Json<serde_json::Value> {
    let bearer = serde_json::json!([{ "bearer": [] }]);
    let op = |summary: &str| {
        serde_json::json!({ "summary": summary, "security": bearer,
            "responses": { "200": { "description": "OK" }, "401": { "description": "no or unknown token" },
                           "404": { "description": "not found, or not the caller's" } } })
    };
    Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": { "title": "Moat REST API", "version": "1" },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": {
            "/api/v1/status": { "get": op("Tenants, domains, mailboxes and licenses the caller administers") },
            "/api/v1/domains": {
                "get": op("The domains the caller administers, with downstream hosts"),
                "post": op("Protect a domain: {name, tenant?, alias_of?, contact_email?, max_users?, language?, \
                            downstream: [HOST:PORT:PRIORITY]} (201; 400 bad input; 409 exists)"),
            },
            "/api/v1/domains/{name}": { "get": op("One domain") },
            "/api/v1/users": {
                "post": op("Create a user: {address, full_name?, aliases?}, all or nothing \
                            (201; 409 licenses exhausted, domain full, or exists)"),
            },
            "/api/v1/users/{address}": { "delete": op("Delete a user and its aliases (204)") },
        }
    }))
}
