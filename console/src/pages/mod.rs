//! The console's server-rendered pages: plain HTML forms (no JavaScript needed), each POST carrying the
//! session's CSRF token and answered with a redirect (or the form again, with the error in it).

mod account;
mod admins;
mod alerts;
mod branding;
mod chart;
mod directory;
mod domains;
mod filtering;
mod import;
mod log;
mod login;
mod outbound;
mod quarantine;
mod queue;
mod status;
mod tenants;
mod tokens;
mod trust;
mod users;

use crate::access::Access;
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use moat_directory::Language;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/console.css", get(stylesheet))
        .merge(login::routes())
        .merge(log::routes())
        .merge(status::routes())
        .merge(domains::routes())
        .merge(outbound::routes())
        .merge(directory::routes())
        .merge(users::routes())
        .merge(import::routes())
        .merge(admins::routes())
        .merge(alerts::routes())
        .merge(filtering::routes())
        .merge(branding::routes())
        .merge(account::routes())
        .merge(quarantine::routes())
        .merge(queue::routes())
        .merge(tenants::routes())
        .merge(tokens::routes())
        .merge(trust::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(localize_failures))
}

/// A page nobody has: the console's own 404, not an empty answer (in the account's language when signed in).
async fn not_found(State(state): State<AppState>, request: axum::extract::Request) -> Failure {
    let (mut parts, _) = request.into_parts();
    let _ = <Signed as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await;
    Failure(AppError::NotFound)
}

/// Messages one bulk action acts on at most (a page lists 500).
pub const BULK_MAX: usize = 500;

/// A numeric id in a page's path: anything else is "not found", never a raw parse error.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Failure> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state).await.map_err(|_| Failure(AppError::NotFound))?;
        raw.parse().map(Id).map_err(|_| Failure(AppError::NotFound))
    }
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, "max-age=3600")], include_str!("console.css"))
}

/// A page's failure: the error in the page frame, with its status.
pub struct Failure(pub AppError);

impl<E: Into<AppError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let error = std::sync::Arc::new(self.0);
        let mut response = (status, Html(failure_page(&error, Language::English))).into_response();
        response.extensions_mut().insert(Failed(error));
        response
    }
}

/// A failure on its way out, for [`localize_failures`] to say in the account's language.
#[derive(Clone)]
struct Failed(std::sync::Arc<AppError>);

fn failure_page(error: &AppError, language: Language) -> String {
    let page = html! {
        (DOCTYPE)
        html lang=(language.code()) {
            (head("Moat"))
            body { main { p.error role="alert" { (error.message_in(language)) } p { a href="/" { "Moat" } } } }
        }
    };
    page.into_string()
}

/// Renders a page's failure in the language of the account that met it: the handler's `Signed` leaves the
/// language in the request's [`LanguageSlot`].
pub async fn localize_failures(mut request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let slot = crate::session::LanguageSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let Some(Failed(error)) = response.extensions_mut().remove::<Failed>() else { return response };
    match slot.0.get() {
        Some(&language) if language != Language::English => {
            (response.status(), Html(failure_page(&error, language))).into_response()
        }
        _ => response,
    }
}

pub type PageResult = Result<Response, Failure>;

/// Every page's `<head>`.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Moat" }
            link rel="stylesheet" href="/static/console.css";
        }
    }
}

/// The page frame: navigation for the account's role, the sign-out form, the language.
pub fn frame(signed: &Signed, title: &str, body: Markup) -> Response {
    let lang = signed.language;
    let t = |s| tr(lang, s);
    let access = &signed.access;
    let page = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(title))
            body {
                header {
                    a.brand href="/" { img src="/logo" alt="" height="28"; span { "Moat" } }
                    nav { (navigation(access, lang, &signed.path)) }
                    form.signout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        span.who { a href="/account" aria-current=[signed.path.starts_with("/account").then_some("page")] title=(t("Account")) { (account_name(access)) } }
                        button type="submit" { (t("Sign out")) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(page.into_string()).into_response()
}

pub fn account_name(access: &Access) -> String {
    match &access.account {
        crate::access::Account::Admin { admin, .. } => admin.name.clone(),
        crate::access::Account::User { mailbox, .. } => mailbox.address.clone(),
    }
}

fn navigation(access: &Access, lang: Language, path: &str) -> Markup {
    let t = |s| tr(lang, s);
    // The section a path belongs to: its first segment ("/domains/acme.test" is in "/domains").
    let section = format!("/{}", path.trim_start_matches('/').split('/').next().unwrap_or_default());
    let link = |href: &'static str, label: &'static str| {
        let here = section == href;
        html! { a href=(href) aria-current=[here.then_some("page")] { (t(label)) } }
    };
    html! {
        @if access.admin().is_some() {
            (link("/", "Status"))
            @if access.role() == Some(moat_store::Role::Platform) {
                (link("/tenants", "Customers"))
            }
            (link("/domains", "Domains"))
            (link("/users", "Users"))
            @if access.manages_tenant() {
                (link("/import", "Import"))
                (link("/admins", "Admins"))
                (link("/filtering", "Filtering"))
                (link("/branding", "Customization"))
            }
            (link("/quarantine", "Quarantine"))
            (link("/log", "Email log"))
            (link("/queue", "Queue"))
            (link("/lists", "Trust lists"))
            @if access.manages_tenant() {
                (link("/alerts", "Alerts"))
            }
        } @else {
            (link("/quarantine", "Quarantine"))
            (link("/lists", "Trust lists"))
        }
    }
}

/// A destructive action's confirmation page (no JavaScript needed): what it does, then the one form that does
/// it (`fields` and `confirm=yes`, posted to `action`) and a way back.
pub struct Confirmation<'a> {
    pub title: &'a str,
    pub warning: Markup,
    pub action: String,
    pub fields: &'a [(&'a str, &'a str)],
    pub button: &'a str,
    pub back: String,
}

pub fn confirmation(signed: &Signed, page: Confirmation<'_>) -> Response {
    let body = html! {
        div.warning { (page.warning) }
        form method="post" action=(page.action) {
            (csrf(signed))
            @for (name, value) in page.fields { input type="hidden" name=(name) value=(value); }
            input type="hidden" name="confirm" value="yes";
            button.danger type="submit" { (page.button) }
            " " a href=(page.back) { (tr(signed.language, "Cancel")) }
        }
    };
    frame(signed, page.title, body)
}

/// The answer to a password reset: a generated password, shown on this page only (pages are `no-store`).
pub fn new_password_shown(lang: Language, generated: Option<&str>) -> Markup {
    let t = |s| tr(lang, s);
    html! {
        @match generated {
            Some(password) => section #new-password {
                p.done role="status" { (t("Password reset. Copy the new password now: it is not shown again.")) }
                pre { code { (password) } }
            },
            None => p.done role="status" { (t("Password reset.")) },
        }
    }
}

/// A word the store wrote — a verdict, a delivery state — in the account's language, with what follows it
/// kept as is (`rejected: 550 5.7.1 …` → `rechazado: 550 5.7.1 …`: the reply is the remote server's).
pub fn said(lang: Language, text: &str) -> String {
    let (head, rest) = text.split_at(text.find(':').unwrap_or(text.len()));
    format!("{}{rest}", crate::i18n::tr_text(lang, head))
}

/// A platform operator's choice of tenant, by name (`empty`: what an empty choice means on this form).
pub async fn tenant_select(
    state: &AppState,
    lang: Language,
    selected: Option<&str>,
    empty: &'static str,
) -> Result<Markup, AppError> {
    let tenants = state.store.tenant_list().await?;
    Ok(html! {
        label { (tr(lang, "Tenant")) select name="tenant" {
            option value="" { (tr(lang, empty)) }
            @for tenant in &tenants { option value=(tenant.name) selected[selected == Some(tenant.name.as_str())] { (tenant.name) } }
        } }
    })
}

/// The hidden CSRF field every form carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A notice after a redirect (`?done=ID`, a flash message) or an error shown in a form.
pub fn notice(done: Option<&str>, error: Option<&str>) -> Markup {
    let done = done.and_then(flash::take);
    html! {
        @if let Some(done) = done { p.done role="status" { (done) } }
        @if let Some(error) = error { p.error role="alert" { (error) } }
    }
}

/// Redirect after a successful POST, with a message for the next page. The message stays on the server
/// (it may hold a generated password); the URL carries only a random id, shown once.
pub fn done(to: &str, message: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let location = format!("{to}{sep}done={}", flash::put(message));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Messages for the page after a redirect, kept in memory until shown once (or ten minutes), so nobody can
/// put words on a console page through a link, and no secret travels in a URL. Per node: a deployment
/// behind a load balancer keeps a browser on one node (sticky sessions) or loses only the banner.
mod flash {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::{Duration, Instant};

    const KEPT: Duration = Duration::from_secs(600);
    const AT_MOST: usize = 10_000;
    static MESSAGES: LazyLock<Mutex<HashMap<String, (String, Instant)>>> = LazyLock::new(Mutex::default);

    pub fn put(message: &str) -> String {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let mut messages = MESSAGES.lock().expect("flash lock");
        if messages.len() >= AT_MOST {
            messages.retain(|_, (_, at)| at.elapsed() < KEPT);
            if messages.len() >= AT_MOST {
                messages.clear();
            }
        }
        messages.insert(id.clone(), (message.to_owned(), Instant::now()));
        id
    }

    pub fn take(id: &str) -> Option<String> {
        let (message, at) = MESSAGES.lock().expect("flash lock").remove(id)?;
        (at.elapsed() < KEPT).then_some(message)
    }
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A destructive action's form: only the confirmation page's (with `confirm=yes`) acts; anything else is
/// sent to that page first.
#[derive(serde::Deserialize)]
pub struct ConfirmedForm {
    pub csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

impl ConfirmedForm {
    pub fn confirmed(&self) -> bool {
        self.confirm.as_deref() == Some("yes")
    }
}

/// A form whose only field is its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// An optional form field: empty means absent.
pub fn filled(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads a multipart form into (name → text) and the one file it carries (field name, file name, bytes).
pub async fn multipart_fields(
    mut form: axum::extract::Multipart,
) -> Result<(std::collections::HashMap<String, String>, Option<(String, String, Vec<u8>)>), AppError> {
    let mut fields = std::collections::HashMap::new();
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(|e| AppError::BadRequest(e.to_string()))? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes = field.bytes().await.map_err(|e| AppError::BadRequest(e.to_string()))?;
                if !bytes.is_empty() {
                    file = Some((name, file_name, bytes.to_vec()));
                }
            }
            None => {
                let text = field.text().await.map_err(|e| AppError::BadRequest(e.to_string()))?;
                fields.insert(name, text);
            }
        }
    }
    Ok((fields, file))
}
