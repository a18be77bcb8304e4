//! Moat's web console and REST API: [`app`] builds the router `moat serve` serves on `[console] listen`.
//!
//! Server-rendered pages (no JavaScript build step) for platform, tenant and domain admins and for end users,
//! and a JSON REST API under `/api/v1` for automation. Both go through the same access model ([`access`]):
//! every route checks what the caller may see, and another tenant's or domain's objects are "not found".
//! Pages use sessions (HttpOnly, SameSite=Strict cookies; only a SHA-256 of each is stored), a CSRF token in
//! every form, login throttling and an optional TOTP second factor; the API uses bearer tokens. Every store
//! access goes through `moat-store`'s repositories; no SQL here.

mod access;
mod api;
mod auth;
mod dates;
mod error;
mod gateway;
mod i18n;
mod ops;
mod pages;
mod preview;
mod session;
mod throttle;
pub mod totp;

pub use error::AppError;
pub use gateway::{BoxFuture, Gateway, GatewayError, Lesson, NoGreeting, RegisteredPlugin};

use axum::Router;
use moat_directory::Directory;
use moat_store::Store;
use std::sync::Arc;

/// What the console tells admins about publishing their domains (the configuration information page).
#[derive(Debug, Clone, Default)]
pub struct Publishing {
    /// The MX hosts a protected domain publishes.
    pub mx_hosts: Vec<String>,
    /// The addresses Moat sends from (for SPF and the downstream's allow list).
    pub ip_ranges: Vec<String>,
    /// The host a company's server relays outgoing mail through.
    pub smart_host: String,
    /// Its submission ports: STARTTLS (587), and TLS from the first byte (465).
    pub submission_ports: Vec<u16>,
    pub submission_tls_ports: Vec<u16>,
    /// What the operator has not configured yet and customers would be told wrongly (the status page warns).
    pub gaps: Vec<SetupGap>,
}

/// A setting whose default is only right on a test machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupGap {
    /// `[console] mx_hosts`: domains are told to publish this server's host name.
    MxHosts,
    /// `[console] ip_ranges`: the SPF record and allow lists name no address.
    IpRanges,
    /// `[console] public_url`: welcome messages point at the console's listen address.
    PublicUrl,
    /// `[server] hostname` is not a fully qualified name (greetings, `Received:`, bounces carry it).
    Hostname,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub directory: Directory,
    pub gateway: Option<Arc<dyn Gateway>>,
    /// Where message bodies are (queued, held, kept copies): every node's, when they share one store.
    pub bodies: moat_bodies::Bodies,
    pub publishing: Publishing,
    /// Mark session cookies `Secure` (when the console is served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(store: Store, directory: Directory, bodies: moat_bodies::Bodies) -> Self {
        Self { store, directory, gateway: None, bodies, publishing: Publishing::default(), secure_cookies: false }
    }

    pub fn with_gateway(mut self, gateway: Arc<dyn Gateway>) -> Self {
        self.gateway = Some(gateway);
        self
    }

    pub fn with_publishing(mut self, publishing: Publishing) -> Self {
        self.publishing = publishing;
        self
    }
}

/// The console's router: the pages, `/api/v1/…` (bearer token) and `/api/openapi.json` (its description).
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Pages may not be framed (clickjacking) or load anything from elsewhere; browsers must not guess types.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages hold private data (and once, a generated password): no cache keeps them.
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ));
    response
}

use moat_store::unix_now as now;
