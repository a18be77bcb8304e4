//! The MSP overview: every customer (tenant) at a glance — licenses, domains, users, today's mail by verdict,
//! what is held and what waits — and each customer's domains; a new customer with its license pool and first
//! admin, a pool changed, another admin. The platform's operators only.

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppError, AppState, ops};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(overview).post(create))
        .route("/tenants/{name}", get(detail))
        .route("/tenants/{name}/licenses", post(licenses))
        .route("/tenants/{name}/admins", post(add_admin))
}

/// A license pool as typed: a number, or empty for unlimited.
fn pool(typed: &Option<String>) -> Result<Option<i64>, AppError> {
    match filled(typed) {
        None => Ok(None),
        Some(n) => n.parse().map(Some).map_err(|_| AppError::BadRequest(format!("licenses: {n:?} is not a number"))),
    }
}

fn count(n: Option<i64>, unlimited: &str) -> String {
    n.map_or(unlimited.to_owned(), |n| n.to_string())
}

/// Today's verdicts, compactly: "clean 120 · quarantined 3".
fn verdicts(today: &[(String, i64)], lang: moat_directory::Language) -> Markup {
    html! {
        @if today.is_empty() { (tr(lang, "none")) }
        @for (i, (verdict, n)) in today.iter().enumerate() {
            @if i > 0 { " · " }
            (super::said(lang, verdict)) " " strong { (n) }
        }
    }
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

async fn overview(State(state): State<AppState>, signed: Signed, Query(q): Query<Done>) -> PageResult {
    render(&state, &signed, notice(q.done.as_deref(), None), StatusCode::OK).await
}

async fn render(state: &AppState, signed: &Signed, above: Markup, status: StatusCode) -> PageResult {
    let t = |s| tr(signed.language, s);
    let tenants = ops::tenants_overview(&signed.access, state).await?;
    let unlimited = t("unlimited");
    let body = html! {
        (above)
        table #tenants {
            thead { tr {
                th { (t("Customer")) } th { (t("Licenses in use")) } th { (t("Licenses available")) }
                th { (t("Domains")) } th { (t("Users")) } th { (t("Messages today")) } th { (t("Held")) } th { (t("Queue")) }
            } }
            tbody { @for tenant in &tenants { tr {
                td { a href=(format!("/tenants/{}", url_encode(&tenant.name))) { (tenant.name) } }
                td.count { (tenant.licenses.used) " / " (count(tenant.licenses.pool, unlimited)) }
                td.count { (count(tenant.licenses.available, unlimited)) }
                td.count { (tenant.domains) }
                td.count { (tenant.users) }
                td { (verdicts(&tenant.today, signed.language)) }
                td.count { (tenant.held) }
                td.count { (tenant.queued) }
            } } }
        }
        h2 { (t("New customer")) }
        form #new-tenant method="post" action="/tenants" {
            (csrf(signed))
            label { (t("Name")) input name="name" required maxlength="64" pattern="[A-Za-z0-9._-]+"; }
            label { (t("Licenses (empty: unlimited)")) input name="licenses" type="number" min="0"; }
            fieldset { legend { (t("Tenant admin (optional)")) }
                label { (t("Name")) input name="admin_name" autocomplete="off"; }
                label { (t("Password")) input name="admin_password" type="password" autocomplete="new-password"; }
                label { (t("Email")) input name="admin_email" type="email"; }
            }
            button type="submit" { (t("Create customer")) }
        }
    };
    let mut response = frame(signed, t("Customers"), body);
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
struct NewTenantForm {
    csrf: String,
    name: String,
    licenses: Option<String>,
    admin_name: Option<String>,
    admin_password: Option<String>,
    admin_email: Option<String>,
}

async fn create(State(state): State<AppState>, signed: Signed, Form(form): Form<NewTenantForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let created = match pool(&form.licenses) {
        Ok(licenses) => {
            let admin = filled(&form.admin_name).map(|name| ops::NewTenantAdmin {
                name,
                password: form.admin_password.clone().unwrap_or_default(),
                email: filled(&form.admin_email),
            });
            let request = ops::NewTenant { name: form.name.clone(), licenses, admin };
            ops::create_tenant(&signed.access, &state, request).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => Ok(done(&format!("/tenants/{}", url_encode(form.name.trim())), t("Customer created."))),
        // The form again, with what was wrong in it.
        Err(e) if matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            render(&state, &signed, notice(None, Some(&e.message_in(signed.language))), e.status()).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct LicensesForm {
    csrf: String,
    licenses: Option<String>,
}

async fn licenses(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<LicensesForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let pool = pool(&form.licenses)?;
    ops::set_tenant_licenses(&signed.access, &state, &name, pool).await?;
    Ok(done(&format!("/tenants/{}", url_encode(&name)), tr(signed.language, "License pool saved.")))
}

#[derive(Deserialize)]
struct AdminForm {
    csrf: String,
    name: String,
    password: String,
    email: Option<String>,
}

async fn add_admin(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<AdminForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let admin = ops::NewTenantAdmin { name: form.name.clone(), password: form.password, email: filled(&form.email) };
    ops::add_tenant_admin(&signed.access, &state, &name, admin).await?;
    Ok(done(
        &format!("/tenants/{}", url_encode(&name)),
        &format!("{} {}", tr(signed.language, "Tenant admin created:"), form.name.trim()),
    ))
}

async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let (tenant, domains) = ops::tenant_detail(&signed.access, &state, &name).await?;
    let unlimited = t("unlimited");
    let here = format!("/tenants/{}", url_encode(&tenant.name));
    let body = html! {
        (notice(q.done.as_deref(), None))
        section.cards {
            div.card { h2 { (t("Licenses in use")) } p.big { (tenant.licenses.used) " / " (count(tenant.licenses.pool, unlimited)) } }
            div.card { h2 { (t("Users")) } p.big { (tenant.users) } }
            div.card { h2 { (t("Held")) } p.big { (tenant.held) } }
            div.card { h2 { (t("Queue")) } p.big { (tenant.queued) } }
        }
        p { (t("Messages today")) ": " (verdicts(&tenant.today, signed.language)) }
        @if domains.is_empty() {
            p { (t("No domains yet.")) }
        } @else {
            table #tenant-domains {
                thead { tr { th { (t("Domain")) } th { (t("Users")) } th { (t("Messages today")) } th { (t("Held")) } } }
                tbody { @for domain in &domains { tr {
                    td { a href=(format!("/domains/{}", url_encode(&domain.name))) { (domain.name) } }
                    td.count { (domain.users) }
                    td.count { (domain.today) }
                    td.count { (domain.held) }
                } } }
            }
        }
        h2 { (t("License pool")) }
        form.search #licenses method="post" action=(format!("{here}/licenses")) {
            (csrf(&signed))
            label { (t("Licenses (empty: unlimited)")) " " input name="licenses" type="number" min="0" value=(tenant.licenses.pool.map(|p| p.to_string()).unwrap_or_default()); }
            button type="submit" { (t("Save")) }
        }
        h2 { (t("New tenant admin")) }
        form #new-tenant-admin method="post" action=(format!("{here}/admins")) {
            (csrf(&signed))
            label { (t("Name")) input name="name" required autocomplete="off"; }
            label { (t("Password")) input name="password" type="password" required autocomplete="new-password"; }
            label { (t("Email")) input name="email" type="email"; }
            button type="submit" { (t("Create tenant admin")) }
        }
        p { a href="/tenants" { (t("All customers")) } }
    };
    Ok(frame(&signed, &format!("{} {}", t("Customer"), tenant.name), body))
}
