//! The signed-in account's own settings: password, language, notification address and (admins) the TOTP
//! second factor and a link to their API tokens.

use super::{PageResult, csrf, done, frame, notice};
use crate::access::Account;
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppError, AppState, totp};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use maud::html;
use moat_directory::{Language, hash_password, verify_password};
use moat_store::Principal;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(page))
        .route("/account/password", post(password))
        .route("/account/settings", post(settings))
        .route("/account/totp", post(totp_on))
        .route("/account/totp/off", post(totp_off))
}

#[derive(Deserialize, Default)]
struct Q {
    done: Option<String>,
    /// A TOTP secret being set up (shown until confirmed with a code).
    secret: Option<String>,
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    render(&state, &signed, q.done.as_deref(), None, q.secret, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    done_message: Option<&str>,
    error: Option<&str>,
    secret: Option<String>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let admin = signed.access.admin();
    let setup = secret
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))
        .unwrap_or_else(totp::generate_secret);
    let digest = match &signed.access.account {
        Account::User { mailbox, .. } => Some(state.store.mailbox_digest(mailbox.id).await?),
        Account::Admin { .. } => None,
    };
    let body = html! {
        (notice(done_message, error))
        @if admin.is_some() {
            p { a href="/account/tokens" { (t("API tokens")) } }
        }
        h2 { (t("Password")) }
        form #password method="post" action="/account/password" {
            (csrf(signed))
            label { (t("Current password")) input name="current" type="password" required autocomplete="current-password"; }
            label { (t("New password (8–64 letters, digits, _ . -)")) input name="new" type="password" required autocomplete="new-password"; }
            button type="submit" { (t("Change password")) }
        }
        h2 { (t("Settings")) }
        form #settings method="post" action="/account/settings" {
            (csrf(signed))
            label { (t("Language")) select name="language" {
                @for l in Language::ALL { option value=(l.code()) selected[signed.language == l] { (super::domains::language_name(l)) } }
            } }
            @if let Some(admin) = admin {
                label { (t("Email for notifications")) input name="email" type="email" value=(admin.email.clone().unwrap_or_default()); }
            }
            @if let Some(on) = digest {
                label { input name="digest" type="checkbox" value="on" checked[on]; " " (t("Email me a digest of the messages held in my quarantine")) }
            }
            button type="submit" { (t("Save")) }
        }
        @if let Some(admin) = admin {
            h2 { (t("Second factor (TOTP)")) }
            @if admin.totp_secret.is_some() {
                p #totp-state { (t("On: signing in asks for a code from your authenticator app.")) }
                form method="post" action="/account/totp/off" {
                    (csrf(signed))
                    label { (t("Current password")) input name="current" type="password" required; }
                    button.danger type="submit" { (t("Turn off")) }
                }
            } @else {
                p #totp-state { (t("Off. To turn it on, add this secret to your authenticator app, then enter the code it shows.")) }
                p { code #totp-secret { (setup) } }
                p { small { (totp::provisioning_uri(&setup, &admin.name)) } }
                form method="post" action="/account/totp" {
                    (csrf(signed))
                    input type="hidden" name="secret" value=(setup);
                    label { (t("Code")) input name="code" inputmode="numeric" required autocomplete="one-time-code"; }
                    button type="submit" { (t("Turn on")) }
                }
            }
        }
    };
    let mut response = frame(signed, t("Account"), body);
    *response.status_mut() = status;
    Ok(response)
}

fn principal(signed: &Signed) -> Principal {
    match &signed.access.account {
        Account::Admin { admin, .. } => Principal::Admin(admin.id),
        Account::User { mailbox, .. } => Principal::User(mailbox.id),
    }
}

async fn current_hash(state: &AppState, signed: &Signed) -> Result<Option<String>, AppError> {
    Ok(match &signed.access.account {
        Account::Admin { admin, .. } => Some(admin.password_hash.clone()),
        Account::User { mailbox, .. } => state.store.mailbox_credentials(mailbox.id).await?.0,
    })
}

async fn check_current(state: &AppState, signed: &Signed, given: &str) -> Result<bool, AppError> {
    let hash = current_hash(state, signed).await?.unwrap_or_default();
    let given = given.to_owned();
    Ok(tokio::task::spawn_blocking(move || verify_password(&given, &hash)).await.unwrap_or(false))
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

async fn password(State(state): State<AppState>, signed: Signed, Form(form): Form<PasswordForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    if !check_current(&state, &signed, &form.current).await? {
        return render(&state, &signed, None, Some(t("The current password is wrong.")), None, StatusCode::BAD_REQUEST)
            .await;
    }
    let new = form.new.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&new)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => {
            let message = AppError::from(e).message_in(signed.language);
            return render(&state, &signed, None, Some(&message), None, StatusCode::BAD_REQUEST).await;
        }
        Err(e) => return Err(AppError::Unavailable(e.to_string()).into()),
    };
    match &signed.access.account {
        Account::Admin { admin, .. } => state.store.admin_set_password(admin.id, &hash).await?,
        Account::User { mailbox, .. } => state.store.mailbox_set_password(mailbox.id, &hash).await?,
    }
    // Every other session of the account ends; this one is renewed by signing in again.
    state.store.sessions_remove_of(principal(&signed)).await?;
    Ok(done("/login", t("Password changed; sign in with the new one.")))
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf: String,
    language: String,
    email: Option<String>,
    /// A checkbox: present when ticked.
    digest: Option<String>,
}

async fn settings(State(state): State<AppState>, signed: Signed, Form(form): Form<SettingsForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let language = Language::parse(&form.language);
    match &signed.access.account {
        Account::Admin { admin, .. } => {
            state.store.admin_set_language(admin.id, language.code()).await?;
            state.directory.set_notification_address(admin.id, form.email.as_deref()).await?;
        }
        Account::User { mailbox, .. } => {
            state.store.mailbox_set_language(mailbox.id, Some(language.code())).await?;
            state.store.mailbox_set_digest(mailbox.id, form.digest.is_some()).await?;
        }
    }
    Ok(done("/account", tr(language, "Settings saved.")))
}

#[derive(Deserialize)]
struct TotpForm {
    csrf: String,
    secret: String,
    code: String,
}

async fn totp_on(State(state): State<AppState>, signed: Signed, Form(form): Form<TotpForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let admin = signed.access.admin().ok_or(AppError::NotFound)?;
    if !totp::verify(&form.secret, &form.code, crate::now()) {
        let secret = Some(form.secret.clone());
        return render(
            &state,
            &signed,
            None,
            Some(t("Wrong code: check the app's clock and try again.")),
            secret,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    state.directory.set_totp_secret(admin.id, Some(&form.secret)).await?;
    Ok(done("/account", t("Second factor on.")))
}

#[derive(Deserialize)]
struct OffForm {
    csrf: String,
    current: String,
}

async fn totp_off(State(state): State<AppState>, signed: Signed, Form(form): Form<OffForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let admin = signed.access.admin().ok_or(AppError::NotFound)?;
    if !check_current(&state, &signed, &form.current).await? {
        return render(&state, &signed, None, Some(t("The current password is wrong.")), None, StatusCode::BAD_REQUEST)
            .await;
    }
    state.directory.set_totp_secret(admin.id, None).await?;
    Ok(done("/account", t("Second factor off.")))
}
