//! `/api/v1`: the console's operations ([`crate::ops`]) as JSON, for automation (bearer tokens).
//!
//! Each handler carries its OpenAPI description (`#[utoipa::path]`) and registers with `routes!`, so the
//! route table and the document served at `/api/openapi.json` are one: a route cannot exist undocumented,
//! and the request and response schemas are the Rust types the handlers read and write.

mod accounts;
mod domains;
mod mail;
mod platform;
mod users;

use crate::error::ErrorBody;
use crate::{AppError, AppState};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder, SecurityRequirement};
use utoipa_axum::router::OpenApiRouter;

/// Where the API lives; the document's paths are relative to it (its `servers` entry).
const BASE: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Moat REST API",
        version = "1",
        description = "Automation for Moat's console: every route acts as the admin whose bearer token it carries \
                       (`moat token create ADMIN`, or Account → API tokens), within what that admin may see. \
                       Another tenant's or domain's objects answer 404, as if they did not exist. Every error is \
                       `{\"error\": \"…\"}`."
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// What every operation shares: the bearer token, and the refusals any route can answer.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        doc.components.get_or_insert_with(Default::default).add_security_scheme("bearer", scheme);
        doc.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
        let error = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        };
        for item in doc.paths.paths.values_mut() {
            for operation in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                let responses = &mut operation.responses.responses;
                // A response's description is required; a handler's own is kept, else its status' name.
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("Done.")
                            .to_owned();
                    }
                }
                responses.entry("401".into()).or_insert_with(|| error("No token, or an unknown or revoked one."));
                responses.entry("403".into()).or_insert_with(|| error("The caller's role may not do this."));
                responses.entry("404".into()).or_insert_with(|| error("Not found, or not the caller's."));
            }
        }
    }
}

/// The API's routes and `/api/openapi.json`, the document generated with them.
pub fn routes() -> Router<AppState> {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(platform::routes())
        .merge(domains::routes())
        .merge(users::routes())
        .merge(accounts::routes())
        .merge(mail::routes())
        .split_for_parts();
    // After the routes are in: a modifier given to the derive would run before there are any.
    utoipa::Modify::modify(&Conventions, &mut doc);
    let document: Arc<str> = doc.to_pretty_json().expect("the OpenAPI document serializes").into();
    let api = api.fallback(not_found).layer(axum::middleware::map_response(json_errors));
    Router::new().nest(BASE, api).route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], document.to_string()) }
        }),
    )
}

async fn not_found() -> AppError {
    AppError::NotFound
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
    let mut json = (status, Json(ErrorBody { error: message })).into_response();
    for (name, value) in
        parts.headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH)
    {
        json.headers_mut().insert(name.clone(), value.clone());
    }
    json
}

/// A created object's answer has no body but its status; a removal's is `204 No Content`.
type Done = Result<axum::http::StatusCode, AppError>;
