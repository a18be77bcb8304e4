//! Admins below the signed-in one: a tenant's domain admins (which domains, which delegated permissions) and,
//! for the platform's operators, the tenants' admins; each one's page edits it, resets its password and
//! removes it (after a confirmation).

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::AppState;
use crate::i18n::tr;
use crate::ops::{self, NewDomainAdmin};
use crate::session::Signed;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admins", get(page).post(create))
        .route("/admins/{name}", get(show).post(edit))
        .route("/admins/{name}/password", post(reset_password))
        .route("/admins/{name}/delete", get(confirm_delete).post(delete))
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<super::domains::Done>) -> PageResult {
    render(&state, &signed, q.done.as_deref(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let admins = ops::admins(&signed.access, state).await?;
    let domains = ops::delegable_domains(&signed.access, state).await?;
    let yes_no = |b: bool| if b { t("yes") } else { t("no") };
    let platform = signed.access.is_platform();
    let body = html! {
        (notice(done_message, error))
        table #domain-admins {
            thead { tr {
                th { (t("Name")) } th { (t("Role")) } @if platform { th { (t("Tenant")) } } th { (t("Domains")) }
                th { (t("May open users' panels")) } th { (t("May view emails from the email log")) } th { (t("May view headers from the email log")) }
            } }
            tbody { @for a in &admins { tr {
                td { a href=(format!("/admins/{}", url_encode(&a.name))) { (a.name) } }
                td { (role_name(signed, a.role)) }
                @if platform { td { (a.tenant) } }
                @if a.role == "domain" {
                    td { (a.domains.join(", ")) }
                    td { (yes_no(a.open_panels)) } td { (yes_no(a.view_emails)) } td { (yes_no(a.view_headers)) }
                } @else {
                    td { (t("all of the tenant's")) } td {} td {} td {}
                }
            } } }
        }
        h2 { (t("New domain admin")) }
        form #new-domain-admin method="post" action="/admins" {
            (csrf(signed))
            label { (t("Name")) input name="name" required autocomplete="off"; }
            label { (t("Password")) input name="password" type="password" required autocomplete="new-password"; }
            label { (t("Email")) input name="email" type="email"; }
            fieldset { legend { (t("Domains")) }
                @for d in &domains { label.check { input type="checkbox" name="domains" value=(d); (d) } }
            }
            label.check { input type="checkbox" name="open_panels"; (t("May open users' panels")) }
            label.check { input type="checkbox" name="view_emails"; (t("May view emails from the email log")) }
            label.check { input type="checkbox" name="view_headers"; (t("May view headers from the email log")) }
            button type="submit" { (t("Create domain admin")) }
        }
    };
    let mut response = frame(signed, t("Admins"), body);
    *response.status_mut() = status;
    Ok(response)
}

/// The form, read by hand: the `domains` checkboxes repeat.
async fn create(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    signed.check(&get("csrf").unwrap_or_default())?;
    let admin = NewDomainAdmin {
        name: get("name").unwrap_or_default(),
        password: get("password").unwrap_or_default(),
        email: filled(&get("email")),
        open_panels: get("open_panels").is_some(),
        view_emails: get("view_emails").is_some(),
        view_headers: get("view_headers").is_some(),
    };
    let domains: Vec<String> = pairs.iter().filter(|(n, _)| n == "domains").map(|(_, v)| v.clone()).collect();
    match ops::add_domain_admin(&signed.access, &state, admin, &domains).await {
        Ok(()) => Ok(done("/admins", tr(signed.language, "Domain admin created."))),
        Err(e) => render(&state, &signed, None, Some(&e.message_in(signed.language)), e.status()).await,
    }
}

fn role_name(signed: &Signed, role: &str) -> &'static str {
    tr(signed.language, if role == "domain" { "Domain admin" } else { "Tenant admin" })
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<super::domains::Done>,
) -> PageResult {
    let admin = ops::admin(&signed.access, &state, &name).await?;
    let domains = ops::delegable_domains(&signed.access, &state).await?;
    Ok(admin_page(&signed, &admin, &domains, notice(q.done.as_deref(), None), StatusCode::OK))
}

fn admin_page(
    signed: &Signed,
    admin: &ops::AdminView,
    domains: &[String],
    above: Markup,
    status: StatusCode,
) -> axum::response::Response {
    let t = |s| tr(signed.language, s);
    let here = format!("/admins/{}", url_encode(&admin.name));
    let body = html! {
        (above)
        dl {
            dt { (t("Role")) } dd { (role_name(signed, admin.role)) }
            dt { (t("Tenant")) } dd { (admin.tenant) }
            dt { (t("Second factor")) } dd { (if admin.totp { t("on") } else { t("off") }) }
        }
        h2 { (t("Details")) }
        form #edit-admin method="post" action=(here) {
            (csrf(signed))
            label { (t("Email")) input name="email" type="email" value=(admin.email.clone().unwrap_or_default()); }
            @if admin.role == "domain" {
                fieldset { legend { (t("Domains")) }
                    @for d in domains { label.check { input type="checkbox" name="domains" value=(d) checked[admin.domains.contains(d)]; (d) } }
                }
                label.check { input type="checkbox" name="open_panels" checked[admin.open_panels]; (t("May open users' panels")) }
                label.check { input type="checkbox" name="view_emails" checked[admin.view_emails]; (t("May view emails from the email log")) }
                label.check { input type="checkbox" name="view_headers" checked[admin.view_headers]; (t("May view headers from the email log")) }
            }
            button type="submit" { (t("Save")) }
        }
        h2 { (t("Reset password")) }
        form #reset-password method="post" action=(format!("{here}/password")) {
            (csrf(signed))
            label { (t("New password (empty: generated)")) input name="password" type="password" autocomplete="new-password"; }
            @if admin.totp {
                label.check { input type="checkbox" name="totp_off"; (t("Also turn the second factor off (a lost phone)")) }
            }
            button type="submit" { (t("Reset password")) }
        }
        p { a.button.danger href=(format!("{here}/delete")) { (t("Remove admin")) } }
    };
    let mut response = frame(signed, &admin.name, body);
    *response.status_mut() = status;
    response
}

/// The form, read by hand: the `domains` checkboxes repeat.
async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    signed.check(&get("csrf").unwrap_or_default())?;
    let change = ops::AdminChange {
        email: filled(&get("email")),
        domains: pairs.iter().filter(|(n, _)| n == "domains").map(|(_, v)| v.clone()).collect(),
        open_panels: get("open_panels").is_some(),
        view_emails: get("view_emails").is_some(),
        view_headers: get("view_headers").is_some(),
    };
    match ops::edit_admin(&signed.access, &state, &name, change).await {
        Ok(admin) => Ok(done(&format!("/admins/{}", url_encode(&admin.name)), tr(signed.language, "Admin saved."))),
        Err(e @ (crate::AppError::BadRequest(_) | crate::AppError::Directory(_))) => {
            let admin = ops::admin(&signed.access, &state, &name).await?;
            let domains = ops::delegable_domains(&signed.access, &state).await?;
            let error = notice(None, Some(&e.message_in(signed.language)));
            Ok(admin_page(&signed, &admin, &domains, error, e.status()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    csrf: String,
    password: Option<String>,
    totp_off: Option<String>,
}

/// A generated password is on this answer only (pages are `no-store`).
async fn reset_password(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let reset =
        ops::reset_admin_password(&signed.access, &state, &name, filled(&form.password), form.totp_off.is_some()).await;
    let (above, status) = match reset {
        Ok(generated) => (super::new_password_shown(signed.language, generated.as_deref()), StatusCode::OK),
        Err(e @ crate::AppError::Password(_)) => (notice(None, Some(&e.message_in(signed.language))), e.status()),
        Err(e) => return Err(e.into()),
    };
    let admin = ops::admin(&signed.access, &state, &name).await?;
    let domains = ops::delegable_domains(&signed.access, &state).await?;
    Ok(admin_page(&signed, &admin, &domains, above, status))
}

async fn confirm_delete(State(state): State<AppState>, signed: Signed, Path(name): Path<String>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let admin = ops::admin(&signed.access, &state, &name).await?;
    let warning = html! {
        strong { (admin.name) } " " (t("can no longer sign in; its sessions and API tokens end. Its domains and users stay. This cannot be undone."))
    };
    let here = format!("/admins/{}", url_encode(&admin.name));
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {}", t("Remove admin"), admin.name),
            warning,
            action: format!("{here}/delete"),
            fields: &[],
            button: t("Remove admin"),
            back: here,
        },
    ))
}

async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<super::ConfirmedForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/admins/{}/delete", url_encode(&name))).into_response());
    }
    ops::remove_admin(&signed.access, &state, &name).await?;
    Ok(done("/admins", &format!("{} {name}", tr(signed.language, "Admin removed:"))))
}
