//! Domains: the list, a new domain (with Get SMTP to fill its downstream hosts from its MX records, and an
//! optional domain admin), one domain's page (downstream hosts, Test SMTP, configuration information, and
//! its outgoing mail: see `outbound.rs`).

use super::{CsrfOnly, PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::i18n::tr;
use crate::ops::{self, NewDomain, NewDomainAdmin};
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use maud::{Markup, html};
use moat_directory::Language;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains", get(list).post(create))
        .route("/domains/{name}", get(show))
        .route("/domains/{name}/test-smtp", post(test_smtp))
        .route("/domains/{name}/signup", post(signup))
        .route("/domains/{name}/edit", get(edit_form).post(edit))
        .route("/domains/{name}/delete", get(confirm_delete).post(delete))
}

#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
struct DomainForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    is_alias: Option<String>,
    alias_of: Option<String>,
    tenant: Option<String>,
    contact_email: Option<String>,
    max_users: Option<String>,
    language: Option<String>,
    #[serde(default)]
    downstream: String,
    admin_name: Option<String>,
    admin_password: Option<String>,
    admin_email: Option<String>,
    open_panels: Option<String>,
    view_emails: Option<String>,
    view_headers: Option<String>,
}

async fn list(State(state): State<AppState>, signed: Signed, Query(q): Query<Done>) -> PageResult {
    page(&state, &signed, &DomainForm::default(), q.done.as_deref(), None, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    signed: &Signed,
    form: &DomainForm,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let domains = ops::domains(&signed.access, state).await?;
    let tenants = match signed.access.is_platform() {
        true => Some(super::tenant_select(state, signed.language, form.tenant.as_deref(), "the default tenant").await?),
        false => None,
    };
    let body = html! {
        (notice(done_message, error))
        table #domains {
            thead { tr { th { (t("Domain")) } th { (t("Alias of")) } th { (t("Contact")) } th { (t("Max users")) } th { (t("Downstream hosts")) } th { (t("Sign-up")) } } }
            tbody {
                @for d in &domains {
                    tr {
                        td { a href=(format!("/domains/{}", d.name)) { (d.name) } }
                        td { (d.alias_of.clone().unwrap_or_default()) }
                        td { (d.contact_email.clone().unwrap_or_default()) }
                        td { (d.max_users.map(|m| m.to_string()).unwrap_or_default()) }
                        td { @for h in &d.downstream { (format!("{}:{} ({})", h.host, h.port, h.priority)) br; } }
                        td { @if d.alias_of.is_none() { (t(match d.signup.as_str() { "smtp" => "SMTP", "ldap" => "Directory (LDAP)", _ => "Manual" })) } }
                    }
                }
            }
        }
        @if signed.access.manages_tenant() {
            h2 { (t("New domain")) }
            (new_domain_form(signed, form, &domains.iter().filter(|d| d.alias_of.is_none()).map(|d| d.name.clone()).collect::<Vec<_>>(), tenants))
        }
    };
    let mut response = frame(signed, t("Domains"), body);
    *response.status_mut() = status;
    Ok(response)
}

fn new_domain_form(signed: &Signed, f: &DomainForm, primaries: &[String], tenants: Option<Markup>) -> Markup {
    let t = |s| tr(signed.language, s);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form #new-domain method="post" action="/domains" {
            (csrf(signed))
            label { (t("Domain name")) input name="name" value=(f.name) required; }
            label.check { input type="checkbox" name="is_alias" checked[f.is_alias.is_some()]; (t("Alias domain of")) }
            select name="alias_of" aria-label=(t("Alias domain of")) {
                option value="" { "—" }
                @for p in primaries { option value=(p) selected[f.alias_of.as_deref() == Some(p)] { (p) } }
            }
            @if let Some(tenants) = tenants { (tenants) }
            label { (t("Contact email")) input name="contact_email" type="email" value=(value(&f.contact_email)); }
            label { (t("Max users")) input name="max_users" type="number" min="0" value=(value(&f.max_users)); }
            label { (t("Language")) select name="language" {
                @for l in Language::ALL { option value=(l.code()) selected[f.language.as_deref() == Some(l.code())] { (language_name(l)) } }
            } }
            label { (t("Downstream hosts (HOST:PORT:PRIORITY, one per line)")) textarea name="downstream" rows="3" { (f.downstream) } }
            button type="submit" name="action" value="get-smtp" formnovalidate { (t("Get SMTP")) }
            fieldset {
                legend { (t("Domain admin (optional)")) }
                label { (t("Name")) input name="admin_name" value=(value(&f.admin_name)) autocomplete="off"; }
                label { (t("Password")) input name="admin_password" type="password" autocomplete="new-password"; }
                label { (t("Email")) input name="admin_email" type="email" value=(value(&f.admin_email)); }
                label.check { input type="checkbox" name="open_panels" checked[f.open_panels.is_some()]; (t("May open users' panels")) }
                label.check { input type="checkbox" name="view_emails" checked[f.view_emails.is_some()]; (t("May view emails from the email log")) }
                label.check { input type="checkbox" name="view_headers" checked[f.view_headers.is_some()]; (t("May view headers from the email log")) }
            }
            button type="submit" name="action" value="create" { (t("Create domain")) }
        }
    }
}

pub fn language_name(l: Language) -> &'static str {
    match l {
        Language::English => "English",
        Language::Spanish => "Español",
    }
}

async fn create(State(state): State<AppState>, signed: Signed, Form(mut form): Form<DomainForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    if form.action == "get-smtp" {
        return match ops::mx_downstream(&signed.access, &state, &form.name).await {
            Ok(hosts) if hosts.is_empty() => {
                page(&state, &signed, &form, None, Some(t("No MX records found for this domain.")), StatusCode::OK)
                    .await
            }
            Ok(hosts) => {
                form.downstream = hosts
                    .iter()
                    .map(|h| format!("{}:{}:{}", h.host, h.port, h.priority))
                    .collect::<Vec<_>>()
                    .join("\n");
                page(
                    &state,
                    &signed,
                    &form,
                    Some(t("Downstream hosts filled from the MX records.")),
                    None,
                    StatusCode::OK,
                )
                .await
            }
            Err(e) => page(&state, &signed, &form, None, Some(&e.message_in(signed.language)), e.status()).await,
        };
    }
    let max_users = match filled(&form.max_users) {
        Some(m) => {
            Some(m.parse::<i64>().map_err(|_| AppError::BadRequest(format!("max users: {m:?} is not a number")))?)
        }
        None => None,
    };
    let admin = filled(&form.admin_name).map(|name| NewDomainAdmin {
        name,
        password: form.admin_password.clone().unwrap_or_default(),
        email: filled(&form.admin_email),
        open_panels: form.open_panels.is_some(),
        view_emails: form.view_emails.is_some(),
        view_headers: form.view_headers.is_some(),
    });
    let request = NewDomain {
        name: form.name.clone(),
        tenant: filled(&form.tenant),
        alias_of: if form.is_alias.is_some() { filled(&form.alias_of) } else { None },
        contact_email: filled(&form.contact_email),
        max_users,
        language: filled(&form.language),
        downstream: form.downstream.lines().map(str::to_owned).collect(),
        admin,
    };
    if form.is_alias.is_some() && request.alias_of.is_none() {
        return page(
            &state,
            &signed,
            &form,
            None,
            Some(t("Choose the primary domain of the alias domain.")),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match ops::create_domain(&signed.access, &state, request).await {
        Ok(view) => Ok(done(&format!("/domains/{}", url_encode(&view.name)), t("Domain created."))),
        Err(e) => {
            form.admin_password = None;
            page(&state, &signed, &form, None, Some(&e.message_in(signed.language)), e.status()).await
        }
    }
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> PageResult {
    domain_page(&state, &signed, &name, q.done.as_deref(), None, None).await
}

pub(super) async fn domain_page(
    state: &AppState,
    signed: &Signed,
    name: &str,
    done_message: Option<&str>,
    error: Option<&str>,
    tests: Option<Vec<ops::SmtpTest>>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let view = ops::domain(&signed.access, state, name).await?;
    let config = ops::configuration(&signed.access, state, name).await?;
    let credentials =
        if view.alias_of.is_none() { ops::smtp_credentials(&signed.access, state, name).await? } else { Vec::new() };
    let body = html! {
        (notice(done_message, error))
        dl {
            dt { (t("Tenant")) } dd { (view.tenant) }
            @if let Some(primary) = &view.alias_of { dt { (t("Alias of")) } dd { (primary) } }
            dt { (t("Contact email")) } dd { (view.contact_email.clone().unwrap_or_default()) }
            dt { (t("Max users")) } dd { (view.max_users.map(|m| m.to_string()).unwrap_or_else(|| t("unlimited").into())) }
            dt { (t("Language")) } dd { (language_name(Language::parse(&view.language))) }
        }
        @if signed.access.manages_tenant() {
            p { a.button href=(format!("/domains/{}/edit", url_encode(&view.name))) { (t("Edit domain")) } }
        }
        @if view.alias_of.is_none() {
            h2 { (t("Downstream hosts")) }
            table #downstream {
                thead { tr { th { (t("Host")) } th { (t("Port")) } th { (t("Priority")) } th { (t("Test result")) } } }
                tbody {
                    @for h in &view.downstream {
                        tr {
                            td { (h.host) } td { (h.port) } td { (h.priority) }
                            td.result {
                                @if let Some(test) = tests.as_ref().and_then(|ts| ts.iter().find(|x| x.host == h.host && x.port == h.port)) {
                                    span class=(if test.ok { "ok" } else { "failed" }) { (if test.ok { t("OK") } else { t("Failed") }) ": " (test.answer) }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action=(format!("/domains/{}/test-smtp", view.name)) {
                (csrf(signed))
                button type="submit" { (t("Test SMTP")) }
            }
            @if signed.access.manages_tenant() {
            h2 { (t("Sign-up mode")) }
            form #signup method="post" action=(format!("/domains/{}/signup", view.name)) {
                (csrf(signed))
                label { input type="radio" name="mode" value="manual" checked[view.signup == "manual"]; " " (t("Manual: users are added by admins")) }
                label { input type="radio" name="mode" value="smtp" checked[view.signup == "smtp"]; " " (t("SMTP: users are signed up on their first message, if the domain's server accepts them")) }
                label { input type="radio" name="mode" value="ldap" checked[view.signup == "ldap"]; " " (t("Directory (LDAP): users are signed up on their first message, if the directory knows them")) " · " a href=(format!("/domains/{}/directory", url_encode(&view.name))) { (t("Directory settings")) } }
                label { (t("An existing address of the domain, to check that its server refuses unknown recipients")) input type="email" name="check"; }
                button type="submit" { (t("Save sign-up mode")) }
            }
            }
        }
        h2 { (t("Configuration information")) }
        dl #configuration {
            dt { (t("MX records to publish")) } dd { @for mx in &config.mx { code { (view.name) ". MX " (mx) } br; } }
            dt { (t("Moat's IP ranges")) } dd { @for r in &config.ip_ranges { code { (r) } br; } }
            dt { (t("SPF record to publish")) } dd { code #spf { (view.name) ". TXT \"" (config.spf) "\"" } }
        }
        (super::outbound::section(signed, &config, &credentials))
        @if signed.access.manages_tenant() {
            p { a.button.danger href=(format!("/domains/{}/delete", url_encode(&view.name))) { (t("Delete domain")) } }
        }
    };
    Ok(frame(signed, &view.name, body))
}

async fn test_smtp(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let tests = ops::test_smtp(&signed.access, &state, &name).await?;
    domain_page(&state, &signed, &name, None, None, Some(tests)).await
}

#[derive(Deserialize)]
struct SignupForm {
    csrf: String,
    mode: String,
    #[serde(default)]
    check: Option<String>,
}

async fn signup(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<SignupForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let change = ops::SignupChange { mode: form.mode, check: form.check };
    match ops::set_signup(&signed.access, &state, &name, &change).await {
        Ok(_) => Ok(done(&format!("/domains/{name}"), tr(signed.language, "Sign-up mode saved.")).into_response()),
        // The check's finding belongs on the domain's page, next to the form.
        Err(e @ AppError::Directory(_)) => {
            let mut page =
                domain_page(&state, &signed, &name, None, Some(&e.message_in(signed.language)), None).await?;
            *page.status_mut() = e.status();
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct EditForm {
    #[serde(default)]
    csrf: String,
    contact_email: Option<String>,
    max_users: Option<String>,
    language: Option<String>,
    #[serde(default)]
    downstream: String,
}

async fn edit_form(State(state): State<AppState>, signed: Signed, Path(name): Path<String>) -> PageResult {
    crate::ops::tenant_admin_only(&signed.access)?;
    let view = ops::domain(&signed.access, &state, &name).await?;
    let form = EditForm {
        csrf: String::new(),
        contact_email: view.contact_email.clone(),
        max_users: view.max_users.map(|m| m.to_string()),
        language: Some(view.language.clone()),
        downstream: view
            .downstream
            .iter()
            .map(|h| format!("{}:{}:{}", h.host, h.port, h.priority))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Ok(edit_page(&signed, &view, &form, None, StatusCode::OK))
}

fn edit_page(
    signed: &Signed,
    view: &ops::DomainView,
    f: &EditForm,
    error: Option<&str>,
    status: StatusCode,
) -> axum::response::Response {
    let t = |s| tr(signed.language, s);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let back = format!("/domains/{}", url_encode(&view.name));
    let body = html! {
        (notice(None, error))
        form #edit-domain method="post" action=(format!("{back}/edit")) {
            (csrf(signed))
            label { (t("Contact email")) input name="contact_email" type="email" value=(value(&f.contact_email)); }
            @if view.alias_of.is_none() {
                label { (t("Max users")) input name="max_users" type="number" min="0" value=(value(&f.max_users)) placeholder=(t("unlimited")); }
            }
            label { (t("Language")) select name="language" {
                @for l in Language::ALL { option value=(l.code()) selected[f.language.as_deref() == Some(l.code())] { (language_name(l)) } }
            } }
            @if view.alias_of.is_none() {
                label { (t("Downstream hosts (HOST:PORT:PRIORITY, one per line)")) textarea name="downstream" rows="3" required { (f.downstream) } }
            }
            button type="submit" { (t("Save")) }
            " " a href=(back) { (t("Cancel")) }
        }
    };
    let mut response = frame(signed, &format!("{} {}", t("Edit domain"), view.name), body);
    *response.status_mut() = status;
    response
}

async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<EditForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let view = ops::domain(&signed.access, &state, &name).await?;
    let max_users = match filled(&form.max_users) {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(m) => Some(m),
            Err(_) => {
                let error = format!("{}: {m:?}", t("Max users is a whole number, or empty for no limit"));
                return Ok(edit_page(&signed, &view, &form, Some(&error), StatusCode::BAD_REQUEST));
            }
        },
    };
    let change = ops::DomainChange {
        contact_email: filled(&form.contact_email),
        max_users,
        language: filled(&form.language),
        downstream: form.downstream.lines().map(str::to_owned).collect(),
    };
    match ops::edit_domain(&signed.access, &state, &name, change).await {
        Ok(view) => Ok(done(&format!("/domains/{}", url_encode(&view.name)), t("Domain saved."))),
        Err(e @ (AppError::Directory(_) | AppError::BadRequest(_))) => {
            Ok(edit_page(&signed, &view, &form, Some(&e.message_in(signed.language)), e.status()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deleting a domain deletes its users, aliases and alias domains: the admin sees exactly that, and confirms.
async fn confirm_delete(State(state): State<AppState>, signed: Signed, Path(name): Path<String>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let removal = ops::domain_removal(&signed.access, &state, &name).await?;
    let warning = html! {
        (t("Deleting this domain also deletes")) " "
        strong { (removal.mailboxes) " " (t("users")) } ", "
        strong { (removal.aliases) " " (t("aliases")) }
        @if !removal.alias_domains.is_empty() {
            ", " (t("and its alias domains")) " " strong { (removal.alias_domains.join(", ")) }
        }
        ". " (t("Mail for it is refused from then on. This cannot be undone."))
    };
    let back = format!("/domains/{}", url_encode(&removal.name));
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {}", t("Delete domain"), removal.name),
            warning,
            action: format!("{back}/delete"),
            fields: &[],
            button: t("Delete domain"),
            back,
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
        // Only the confirmation page's form deletes.
        return Ok(axum::response::Redirect::to(&format!("/domains/{}/delete", url_encode(&name))).into_response());
    }
    ops::delete_domain(&signed.access, &state, &name).await?;
    Ok(done("/domains", tr(signed.language, "Domain deleted.")).into_response())
}
