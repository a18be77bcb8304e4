//! Customization: a logo and the welcome message, for every domain or per domain ("settings for"). The logo
//! shows in the console's frame; the welcome message (off by default) is mailed to new users with their
//! console credentials.

use super::{PageResult, csrf, done, filled, frame, multipart_fields, notice};
use crate::i18n::tr;
use crate::session::{self, Signed};
use crate::{AppError, AppState, ops};
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use moat_store::{Branding, EVERY_DOMAIN};
use serde::Deserialize;

/// Logos are small pictures: anything bigger is refused.
const MAX_LOGO: usize = 512 * 1024;
const DEFAULT_LOGO: &str = include_str!("logo.svg");

pub fn routes() -> Router<AppState> {
    Router::new().route("/branding", get(page).post(save)).route("/logo", get(logo)).route("/branding/logo", post(save))
}

#[derive(Deserialize, Default)]
struct For {
    scope: Option<String>,
    done: Option<String>,
}

/// The branding that applies to a domain: its own, else the one for every domain.
async fn effective(state: &AppState, domain: Option<&str>) -> Result<Branding, AppError> {
    if let Some(domain) = domain
        && let Some(own) = state.store.branding_get(domain).await?
    {
        let every = state.store.branding_get(EVERY_DOMAIN).await?.unwrap_or_default();
        return Ok(Branding {
            logo: own.logo.or(every.logo),
            welcome: own.welcome.or(every.welcome),
            send_welcome: own.send_welcome.or(every.send_welcome),
        });
    }
    Ok(state.store.branding_get(EVERY_DOMAIN).await?.unwrap_or_default())
}

/// The logo of the signed-in account's domain (end users), or the one for every domain.
async fn logo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut domain = None;
    if let Some(id) = session::cookie(&headers, session::SESSION_COOKIE)
        && let Ok(Some(s)) = state.store.session_get(&moat_directory::token_digest(&id), crate::now()).await
        && let moat_store::Principal::User(m) = s.principal
        && let Ok(Some(mailbox)) = state.store.mailbox_by_id(m).await
    {
        domain = mailbox.address.rsplit_once('@').map(|(_, d)| d.to_owned());
    }
    match effective(&state, domain.as_deref()).await.ok().and_then(|b| b.logo) {
        // An uploaded SVG opened on its own must not run scripts on the console's origin.
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        None => {
            ([(header::CONTENT_TYPE, "image/svg+xml".to_owned())], DEFAULT_LOGO.as_bytes().to_vec()).into_response()
        }
    }
}

async fn scopes(state: &AppState, signed: &Signed) -> Result<Vec<String>, AppError> {
    let mut scopes = Vec::new();
    if signed.access.is_platform() {
        scopes.push(EVERY_DOMAIN.to_owned());
    }
    scopes.extend(ops::visible_domains(&signed.access, state).await?.into_iter().map(|d| d.name));
    Ok(scopes)
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<For>) -> PageResult {
    render(&state, &signed, q.scope, q.done.as_deref(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    scope: Option<String>,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    crate::ops::tenant_admin_only(&signed.access)?;
    let scopes = scopes(state, signed).await?;
    let scope = filled(&scope).or_else(|| scopes.first().cloned()).unwrap_or_default();
    if !scopes.contains(&scope) {
        return Err(AppError::NotFound.into());
    }
    let current = state.store.branding_get(&scope).await?.unwrap_or_default();
    let label = |s: &str| if s == EVERY_DOMAIN { t("Every domain").to_owned() } else { s.to_owned() };
    let body = html! {
        (notice(done_message, error))
        form.search method="get" action="/branding" {
            label { (t("Settings for")) select name="scope" {
                @for s in &scopes { option value=(s) selected[*s == scope] { (label(s)) } }
            } }
            button type="submit" { (t("Show")) }
        }
        form #branding method="post" action="/branding" enctype="multipart/form-data" {
            (csrf(signed))
            input type="hidden" name="scope" value=(scope);
            p { (t("Current logo:")) " " @if current.logo.is_some() { (t("own logo")) } @else { (t("inherited")) } }
            label { (t("Logo (PNG, JPEG, GIF or SVG, at most 512 KB)")) input type="file" name="logo" accept="image/png,image/jpeg,image/gif,image/svg+xml"; }
            label.check { input type="checkbox" name="remove_logo"; (t("Remove this logo")) }
            label { (t("Send new users the welcome message")) select name="send_welcome" {
                @if scope != EVERY_DOMAIN { option value="" selected[current.send_welcome.is_none()] { (t("as for every domain")) } }
                option value="no" selected[current.send_welcome == Some(false) || (scope == EVERY_DOMAIN && current.send_welcome.is_none())] { (t("no")) }
                option value="yes" selected[current.send_welcome == Some(true)] { (t("yes")) }
            } }
            label { (t("Welcome message ({name}, {address}, {password} and {console} are replaced; empty: the standard text)")) textarea name="welcome" rows="6" { (current.welcome.clone().unwrap_or_default()) } }
            button type="submit" { (t("Save")) }
        }
    };
    let mut response = frame(signed, t("Customization"), body);
    *response.status_mut() = status;
    Ok(response)
}

/// The picture type of a logo, by its first bytes (never by what the browser claims).
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
        // SVG is served as an image (never inline HTML), so scripts in it do not run on the console's origin.
        (head.contains("<svg")).then_some("image/svg+xml")
    }
}

async fn save(State(state): State<AppState>, signed: Signed, form: Multipart) -> PageResult {
    let (fields, file) = multipart_fields(form).await?;
    signed.check(fields.get("csrf").map_or("", String::as_str))?;
    let t = |s| tr(signed.language, s);
    let scope = fields.get("scope").cloned().unwrap_or_default();
    if !signed.access.manages_tenant() || !scopes(&state, &signed).await?.contains(&scope) {
        return Err(AppError::NotFound.into());
    }
    let mut branding = state.store.branding_get(&scope).await?.unwrap_or_default();
    if let Some((_, _, bytes)) = file {
        let problem = if bytes.len() > MAX_LOGO {
            Some(t("The logo is larger than 512 KB."))
        } else if image_type(&bytes).is_none() {
            Some(t("The logo is not a PNG, JPEG, GIF or SVG picture."))
        } else {
            None
        };
        if let Some(problem) = problem {
            return render(&state, &signed, Some(scope.clone()), None, Some(problem), StatusCode::BAD_REQUEST).await;
        }
        let kind = image_type(&bytes).expect("checked above");
        branding.logo = Some((kind.to_owned(), bytes));
    }
    if fields.contains_key("remove_logo") {
        branding.logo = None;
    }
    branding.welcome = filled(&fields.get("welcome").cloned());
    branding.send_welcome = match fields.get("send_welcome").map(String::as_str) {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    state.store.branding_set(&scope, &branding, crate::now()).await?;
    Ok(done(&format!("/branding?scope={}", super::url_encode(&scope)), t("Customization saved.")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn logos_are_recognized_by_their_bytes() {
        assert_eq!(super::image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(super::image_type(b"<?xml version=\"1.0\"?><svg></svg>"), Some("image/svg+xml"));
        assert_eq!(super::image_type(b"<html><script>"), None);
    }
}
