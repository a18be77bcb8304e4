//! Users: search, create (with a generated password when none is given), aliases, export as CSV; a user's
//! page to edit its name and language, reset its password and delete it (after a confirmation).

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::AppState;
use crate::i18n::tr;
use crate::ops::{self, NewUser};
use crate::session::Signed;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use maud::html;
use moat_directory::Language;
use serde::Deserialize;

/// Users per page.
const PAGE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/alias", post(create_alias))
        .route("/users/alias/delete", get(confirm_delete_alias).post(delete_alias))
        .route("/users/export.csv", get(export))
        .route("/users/{address}", get(show).post(edit))
        .route("/users/{address}/password", post(reset_password))
        .route("/users/{address}/delete", get(confirm_delete).post(delete))
}

#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    q: String,
    domain: Option<String>,
    #[serde(default)]
    page: i64,
    done: Option<String>,
}

async fn list(State(state): State<AppState>, signed: Signed, Query(search): Query<Search>) -> PageResult {
    render(&state, &signed, &search, search.done.as_deref(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    search: &Search,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let domain = filled(&search.domain);
    let page = search.page.max(0);
    let users = ops::users(&signed.access, state, &search.q, domain.as_deref(), PAGE + 1, page * PAGE).await?;
    let more = users.len() as i64 > PAGE;
    let domains = ops::visible_domains(&signed.access, state).await?;
    let primaries: Vec<&str> = domains.iter().filter(|d| d.alias_of.is_none()).map(|d| d.name.as_str()).collect();
    let query = format!("q={}&domain={}", url_encode(&search.q), url_encode(domain.as_deref().unwrap_or("")));
    let panels = signed.access.delegation().open_panels;
    let body = html! {
        (notice(done_message, error))
        form.search method="get" action="/users" {
            input name="q" type="search" value=(search.q) placeholder=(t("Search by address or name")) aria-label=(t("Search"));
            select name="domain" aria-label=(t("Domain")) {
                option value="" { (t("All domains")) }
                @for d in &domains { option value=(d.name) selected[domain.as_deref() == Some(d.name.as_str())] { (d.name) } }
            }
            button type="submit" { (t("Search")) }
            a.button href=(format!("/users/export.csv?{query}")) download { (t("Export CSV")) }
        }
        table #users {
            thead { tr { th { (t("Address")) } th { (t("Full name")) } th { (t("Aliases")) } th {} } }
            tbody {
                @for u in users.iter().take(PAGE as usize) {
                    tr {
                        td { a href=(format!("/users/{}", url_encode(&u.address))) { (u.address) } }
                        td { (u.full_name.clone().unwrap_or_default()) }
                        td { @for a in &u.aliases {
                            (a) " " a.small href=(format!("/users/alias/delete?address={}", url_encode(a))) title=(t("Delete alias")) aria-label=(format!("{} {a}", t("Delete alias"))) { "×" } br;
                        } }
                        td.actions {
                            @if panels { a href=(format!("/quarantine?user={}", url_encode(&u.address))) { (t("Quarantine")) } " " }
                            a.danger href=(format!("/users/{}/delete", url_encode(&u.address))) { (t("Delete")) }
                        }
                    }
                }
            }
        }
        p.pager {
            @if page > 0 { a href=(format!("/users?{query}&page={}", page - 1)) { "← " (t("Previous")) } " " }
            @if more { a href=(format!("/users?{query}&page={}", page + 1)) { (t("Next")) " →" } }
        }
        h2 { (t("Create user")) }
        form #new-user method="post" action="/users" {
            (csrf(signed))
            label { (t("Domain")) select name="domain" { @for d in &primaries { option value=(d) { (d) } } } }
            label { (t("Login (without domain)")) input name="login" required autocomplete="off"; }
            label { (t("Full name")) input name="full_name"; }
            label { (t("Password (empty: generated)")) input name="password" type="password" autocomplete="new-password"; }
            label { (t("Language")) select name="language" {
                option value="" { (t("The domain's")) }
                @for l in Language::ALL { option value=(l.code()) { (super::domains::language_name(l)) } }
            } }
            button type="submit" { (t("Create user")) }
        }
        h2 { (t("Create alias")) }
        form #new-alias method="post" action="/users/alias" {
            (csrf(signed))
            label { (t("Alias (without domain)")) input name="alias" required autocomplete="off"; }
            label { (t("Alias domain")) select name="alias_domain" { @for d in &domains { option value=(d.name) { (d.name) } } } }
            label { (t("Of user (address)")) input name="mailbox" type="email" required; }
            button type="submit" { (t("Create alias")) }
        }
    };
    let mut response = frame(signed, t("Users"), body);
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
struct UserForm {
    csrf: String,
    domain: String,
    login: String,
    full_name: Option<String>,
    password: Option<String>,
    language: Option<String>,
}

async fn create(State(state): State<AppState>, signed: Signed, Form(form): Form<UserForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let request = NewUser {
        address: format!("{}@{}", form.login.trim(), form.domain.trim()),
        full_name: filled(&form.full_name),
        password: filled(&form.password),
        language: filled(&form.language),
        aliases: Vec::new(),
    };
    match ops::create_user(&signed.access, &state, request).await {
        Ok(user) => {
            let message = match &user.generated_password {
                Some(p) => format!("{} {}: {} {p}", t("User created"), user.address, t("generated password")),
                None => format!("{} {}", t("User created"), user.address),
            };
            Ok(done("/users", &message))
        }
        Err(e) => {
            render(&state, &signed, &Search::default(), None, Some(&e.message_in(signed.language)), e.status()).await
        }
    }
}

#[derive(Deserialize)]
struct AliasForm {
    csrf: String,
    alias: String,
    alias_domain: String,
    mailbox: String,
}

async fn create_alias(State(state): State<AppState>, signed: Signed, Form(form): Form<AliasForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let alias = format!("{}@{}", form.alias.trim(), form.alias_domain.trim());
    match ops::create_alias(&signed.access, &state, &alias, form.mailbox.trim()).await {
        Ok(()) => Ok(done("/users", &format!("{} {alias}", tr(signed.language, "Alias created")))),
        Err(e) => {
            render(&state, &signed, &Search::default(), None, Some(&e.message_in(signed.language)), e.status()).await
        }
    }
}

#[derive(Deserialize)]
struct AddressQuery {
    address: String,
}

async fn confirm_delete_alias(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AddressQuery>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let mailbox = ops::alias_target(&signed.access, &state, &q.address).await?;
    let warning = html! {
        (t("Mail to")) " " strong { (q.address) } " " (t("no longer reaches")) " " (mailbox) " " (t("and is refused from then on."))
    };
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {}", t("Delete alias"), q.address),
            warning,
            action: "/users/alias/delete".into(),
            fields: &[("address", &q.address)],
            button: t("Delete alias"),
            back: format!("/users/{}", url_encode(&mailbox)),
        },
    ))
}

#[derive(Deserialize)]
struct DeleteAliasForm {
    csrf: String,
    address: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn delete_alias(State(state): State<AppState>, signed: Signed, Form(form): Form<DeleteAliasForm>) -> PageResult {
    signed.check(&form.csrf)?;
    if form.confirm.as_deref() != Some("yes") {
        return Ok(Redirect::to(&format!("/users/alias/delete?address={}", url_encode(&form.address))).into_response());
    }
    ops::delete_alias(&signed.access, &state, &form.address).await?;
    Ok(done("/users", &format!("{} {}", tr(signed.language, "Alias deleted"), form.address)))
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(address): Path<String>,
    Query(q): Query<super::domains::Done>,
) -> PageResult {
    let user = ops::user(&signed.access, &state, &address).await?;
    Ok(user_page(&signed, &user, notice(q.done.as_deref(), None), StatusCode::OK))
}

fn user_page(
    signed: &Signed,
    user: &ops::UserDetail,
    above: maud::Markup,
    status: StatusCode,
) -> axum::response::Response {
    let t = |s| tr(signed.language, s);
    let here = format!("/users/{}", url_encode(&user.address));
    let body = html! {
        (above)
        @if !user.aliases.is_empty() {
            p { (t("Aliases")) ": " @for (i, a) in user.aliases.iter().enumerate() {
                @if i > 0 { ", " } (a) " " a.small href=(format!("/users/alias/delete?address={}", url_encode(a))) title=(t("Delete alias")) aria-label=(format!("{} {a}", t("Delete alias"))) { "×" }
            } }
        }
        @if signed.access.delegation().open_panels {
            p { a href=(format!("/quarantine?user={}", url_encode(&user.address))) { (t("Quarantine")) } " · "
                a href=(format!("/lists?owner={}", url_encode(&user.address))) { (t("Trust lists")) } }
        }
        h2 { (t("Details")) }
        form #edit-user method="post" action=(here) {
            (csrf(signed))
            label { (t("Full name")) input name="full_name" maxlength="200" value=(user.full_name.clone().unwrap_or_default()); }
            label { (t("Language")) select name="language" {
                option value="" { (t("The domain's")) }
                @for l in Language::ALL { option value=(l.code()) selected[user.language.as_deref() == Some(l.code())] { (super::domains::language_name(l)) } }
            } }
            button type="submit" { (t("Save")) }
        }
        h2 { (t("Reset password")) }
        form #reset-password method="post" action=(format!("{here}/password")) {
            (csrf(signed))
            label { (t("New password (empty: generated)")) input name="password" type="password" autocomplete="new-password"; }
            button type="submit" { (t("Reset password")) }
        }
        p { a.button.danger href=(format!("{here}/delete")) { (t("Delete user")) } }
    };
    let mut response = frame(signed, &user.address, body);
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
struct EditForm {
    csrf: String,
    full_name: Option<String>,
    language: Option<String>,
}

async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(address): Path<String>,
    Form(form): Form<EditForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let change = ops::UserChange { full_name: filled(&form.full_name), language: filled(&form.language) };
    match ops::edit_user(&signed.access, &state, &address, change).await {
        Ok(user) => Ok(done(&format!("/users/{}", url_encode(&user.address)), tr(signed.language, "User saved."))),
        Err(e @ crate::AppError::Directory(_)) => {
            let user = ops::user(&signed.access, &state, &address).await?;
            Ok(user_page(&signed, &user, notice(None, Some(&e.message_in(signed.language))), e.status()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    password: Option<String>,
}

/// A generated password is on this answer only (pages are `no-store`), never in a URL or a banner id.
async fn reset_password(
    State(state): State<AppState>,
    signed: Signed,
    Path(address): Path<String>,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let user = ops::user(&signed.access, &state, &address).await?;
    let (above, status) = match ops::reset_user_password(&signed.access, &state, &address, filled(&form.password)).await
    {
        Ok(generated) => (super::new_password_shown(signed.language, generated.as_deref()), StatusCode::OK),
        Err(e @ crate::AppError::Password(_)) => (notice(None, Some(&e.message_in(signed.language))), e.status()),
        Err(e) => return Err(e.into()),
    };
    Ok(user_page(&signed, &user, above, status))
}

async fn confirm_delete(State(state): State<AppState>, signed: Signed, Path(address): Path<String>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let user = ops::user(&signed.access, &state, &address).await?;
    let warning = html! {
        (t("Deleting this user also deletes"))
        @if user.aliases.is_empty() { " " (t("no aliases")) } @else { " " (t("its aliases")) " " strong { (user.aliases.join(", ")) } }
        ". " (t("Mail for it is refused from then on; mail already held stays in the quarantine for admins. This cannot be undone."))
    };
    let here = format!("/users/{}", url_encode(&user.address));
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {}", t("Delete user"), user.address),
            warning,
            action: format!("{here}/delete"),
            fields: &[],
            button: t("Delete user"),
            back: here,
        },
    ))
}

async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(address): Path<String>,
    Form(form): Form<super::ConfirmedForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/users/{}/delete", url_encode(&address))).into_response());
    }
    ops::delete_user(&signed.access, &state, &address).await?;
    Ok(done("/users", &format!("{} {}", tr(signed.language, "User deleted"), address)))
}

async fn export(State(state): State<AppState>, signed: Signed, Query(search): Query<Search>) -> PageResult {
    let users = ops::users(&signed.access, &state, &search.q, filled(&search.domain).as_deref(), i64::MAX, 0).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"users.csv\""),
        ],
        ops::users_csv(&users),
    )
        .into_response())
}
