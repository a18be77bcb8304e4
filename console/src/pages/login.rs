//! Sign-in (admins by name, end users by mailbox address), the TOTP step, sign-out.

use super::{CsrfOnly, Failure, PageResult, notice};
use crate::i18n::tr;
use crate::session::{self, AwaitingTotp, ClientIp, LOGIN_COOKIE, SESSION_COOKIE, Signed};
use crate::{AppError, AppState, throttle};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use moat_directory::{Language, verify_password};
use moat_store::Principal;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/totp", get(totp_form).post(totp))
        .route("/logout", post(logout))
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

fn bare(lang: Language, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (super::head(title))
            body.login { main { img src="/logo" alt="" height="48"; h1 { (title) } (body) } }
        }
    }
    .into_string()
}

async fn login_page(state: &AppState, lang: Language, error: Option<&str>, status: StatusCode) -> Response {
    let t = |s| tr(lang, s);
    let token = session::random_token();
    // A fresh install has no account to sign in with: say how to make one (it is made on the server, never
    // from this page, which anyone who reaches it could use).
    let first_run = state.store.admin_list().await.is_ok_and(|admins| admins.is_empty());
    let body = html! {
        (notice(None, error))
        @if first_run {
            section #first-run {
                p { (t("No account exists yet. Make the first one on the server, then sign in with it:")) }
                pre { code { "echo 'A_long.passw0rd' | moat admin add root --password-stdin --email you@example.com" } }
            }
        }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="lang" value=(lang.code());
            label { (t("Name or email address")) input name="name" autocomplete="username" required autofocus; }
            label { (t("Password")) input name="password" type="password" autocomplete="current-password" required; }
            button type="submit" { (t("Sign in")) }
        }
        p.languages { a href="/login?lang=en" { "English" } " · " a href="/login?lang=es" { "Español" } }
    };
    let cookie = session::set_cookie(state, LOGIN_COOKIE, &token, 3600);
    (status, [cookie], Html(bare(lang, t("Sign in"), body))).into_response()
}

async fn login_form(State(state): State<AppState>, Query(q): Query<LangQuery>) -> Response {
    login_page(&state, Language::parse(q.lang.as_deref().unwrap_or("en")), None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct Credentials {
    csrf: String,
    name: String,
    password: String,
    #[serde(default)]
    lang: String,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> PageResult {
    let lang = Language::parse(&form.lang);
    let t = |s| tr(lang, s);
    if !session::cookie(&headers, LOGIN_COOKIE).is_some_and(|c| session::same(&c, &form.csrf)) {
        return Ok(
            login_page(&state, lang, Some(t("The form expired; please sign in again.")), StatusCode::FORBIDDEN).await
        );
    }
    let now = crate::now();
    if let Some(wait) = throttle::locked(&state.store, &ip, &form.name, now).await? {
        let message = AppError::Throttled((wait + 59) / 60).to_string();
        return Ok(login_page(&state, lang, Some(&message), StatusCode::TOO_MANY_REQUESTS).await);
    }
    let name = form.name.trim();
    let (principal, hash, totp) = match state.store.admin_by_name(name).await? {
        Some(admin) => (Some(Principal::Admin(admin.id)), Some(admin.password_hash), admin.totp_secret),
        None => match user_by_address(&state, name).await? {
            Some((id, hash)) => (Some(Principal::User(id)), hash, None),
            None => (None, None, None),
        },
    };
    let password = form.password.clone();
    // An unknown name is checked against a dummy hash: a wrong name costs as long as a wrong password.
    let hash_for_check = hash.clone().unwrap_or_else(|| moat_directory::DUMMY_HASH.clone());
    let verified =
        tokio::task::spawn_blocking(move || verify_password(&password, &hash_for_check)).await.unwrap_or(false);
    let (Some(principal), true, true) = (principal, hash.is_some(), verified) else {
        throttle::failed(&state.store, &ip, name, now).await?;
        tracing::info!(%ip, account = name, "console sign-in refused");
        let message = t("Wrong name or password.");
        return Ok(login_page(&state, lang, Some(message), StatusCode::UNAUTHORIZED).await);
    };
    throttle::succeeded(&state.store, &ip, name, now).await?;
    let cookie = session::open(&state, principal, totp.is_some()).await?;
    let to = if totp.is_some() { "/login/totp" } else { "/" };
    tracing::info!(%ip, account = name, "console sign-in");
    Ok((StatusCode::SEE_OTHER, [cookie, (header::LOCATION, to.parse().expect("path"))]).into_response())
}

async fn user_by_address(
    state: &AppState,
    address: &str,
) -> Result<Option<(moat_store::MailboxId, Option<String>)>, Failure> {
    let Ok(address) = moat_directory::Address::parse(address) else { return Ok(None) };
    let Some(domain) = state.store.domain_by_name(address.domain()).await? else { return Ok(None) };
    let Some(mailbox) = state.store.mailbox_find(domain.id, address.local()).await? else { return Ok(None) };
    let (hash, _) = state.store.mailbox_credentials(mailbox.id).await?;
    Ok(Some((mailbox.id, hash)))
}

fn totp_page(pending: &AwaitingTotp, error: Option<&str>, status: StatusCode) -> Response {
    let lang = Language::English;
    let t = |s| tr(lang, s);
    let body = html! {
        (notice(None, error))
        form method="post" action="/login/totp" {
            input type="hidden" name="csrf" value=(pending.csrf);
            label { (t("Code from your authenticator app")) input name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus; }
            button type="submit" { (t("Verify")) }
        }
    };
    (status, Html(bare(lang, t("Second factor"), body))).into_response()
}

async fn totp_form(pending: AwaitingTotp) -> Response {
    totp_page(&pending, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct TotpForm {
    csrf: String,
    code: String,
}

async fn totp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    pending: AwaitingTotp,
    Form(form): Form<TotpForm>,
) -> PageResult {
    if !session::same(&form.csrf, &pending.csrf) {
        return Err(AppError::Forbidden("the form expired; reload the page".into()).into());
    }
    let Principal::Admin(id) = pending.principal else { return Ok(Redirect::to("/").into_response()) };
    let admin = state.store.admin_by_id(id).await?.ok_or(AppError::NotFound)?;
    let now = crate::now();
    if let Some(wait) = throttle::locked(&state.store, &ip, &admin.name, now).await? {
        return Err(AppError::Throttled((wait + 59) / 60).into());
    }
    let stored = admin.totp_secret.unwrap_or_default();
    let secret = state.directory.totp_secret(&stored).map_err(|e| AppError::Unavailable(e.to_string()))?;
    let step = crate::totp::matching_step(&secret, &form.code, now);
    // A code signs in once: one seen over someone's shoulder, or replayed from a log, is refused.
    let fresh = match step {
        Some(step) => state.store.admin_use_totp_step(admin.id, step).await?,
        None => false,
    };
    if !fresh {
        throttle::failed(&state.store, &ip, &admin.name, now).await?;
        return Ok(totp_page(&pending, Some("Wrong code."), StatusCode::UNAUTHORIZED));
    }
    state.store.session_confirm(&pending.session_hash).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(State(state): State<AppState>, signed: Signed, Form(form): Form<CsrfOnly>) -> PageResult {
    signed.check(&form.csrf)?;
    state.store.session_remove(&signed.session_hash).await?;
    let cookie = session::set_cookie(&state, SESSION_COOKIE, "", 0);
    Ok((StatusCode::SEE_OTHER, [cookie, (header::LOCATION, "/login".parse().expect("path"))]).into_response())
}
