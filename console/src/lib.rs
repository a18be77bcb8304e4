//! Moat's web console and REST API: [`app`] builds the router `moat serve` serves on `[console] listen`.
//! This first part is the REST API's spine: bearer-token authentication, scoping by role (a platform admin
//! sees every tenant, a tenant admin only its own), errors that never leak internals, and the OpenAPI
//! document. Every route goes through `moat-store`'s repositories; no SQL here.

mod api;
mod auth;
mod error;

pub use error::AppError;

use axum::Router;
use moat_store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
}

/// The console's router: `/api/v1/…` (bearer token) and `/api/openapi.json`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes())
        .route("/api/openapi.json", axum::routing::get(api::openapi))
        .with_state(state)
}

/// Unix time in seconds.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
