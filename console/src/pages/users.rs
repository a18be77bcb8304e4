//! Users: search, create (with a generated password when none is given), aliases, delete, export as CSV.

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::AppState;
use crate::i18n::tr;
use crate::ops::{self, NewUser};
use crate::session::Signed;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
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
        .route("/users/delete", post(delete))
        .route("/users/alias/delete", post(delete_alias))
        .route("/users/export.csv", get(export))
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
                        td { @if panels { a href=(format!("/quarantine?user={}", url_encode(&u.address))) { (u.address) } } @else { (u.address) } }
                        td { (u.full_name.clone().unwrap_or_default()) }
                        td { @for a in &u.aliases {
                            form.inline method="post" action="/users/alias/delete" {
                                (csrf(signed)) input type="hidden" name="address" value=(a);
                                (a) " " button.small type="submit" title=(t("Delete alias")) { "×" }
                            }
                        } }
                        td { form.inline method="post" action="/users/delete" {
                            (csrf(signed)) input type="hidden" name="address" value=(u.address);
                            button.danger.small type="submit" { (t("Delete")) }
                        } }
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
struct AddressForm {
    csrf: String,
    address: String,
}

async fn delete(State(state): State<AppState>, signed: Signed, Form(form): Form<AddressForm>) -> PageResult {
    signed.check(&form.csrf)?;
    ops::delete_user(&signed.access, &state, &form.address).await?;
    Ok(done("/users", &format!("{} {}", tr(signed.language, "User deleted"), form.address)))
}

async fn delete_alias(State(state): State<AppState>, signed: Signed, Form(form): Form<AddressForm>) -> PageResult {
    signed.check(&form.csrf)?;
    ops::delete_alias(&signed.access, &state, &form.address).await?;
    Ok(done("/users", &format!("{} {}", tr(signed.language, "Alias deleted"), form.address)))
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
