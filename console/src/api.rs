//! `/api/v1`: the same operations the console's pages use, as JSON.

use crate::auth::Caller;
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/status", get(status)).route("/domains", get(domains)).route("/domains/{name}", get(domain))
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

/// The OpenAPI 3 description of `/api/v1`.
pub async fn openapi() -> Json<serde_json::Value> {
    let bearer = serde_json::json!([{ "bearer": [] }]);
    let op = |summary: &str| {
        serde_json::json!({ "get": { "summary": summary, "security": bearer,
        "responses": { "200": { "description": "OK" }, "401": { "description": "no or unknown token" } } } })
    };
    Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": { "title": "Moat REST API", "version": "1" },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": {
            "/api/v1/status": op("Tenants, domains and mailboxes the caller administers, counted"),
            "/api/v1/domains": op("The domains the caller administers, with downstream hosts"),
            "/api/v1/domains/{name}": op("One domain (404 when the caller does not administer it)"),
        }
    }))
}
