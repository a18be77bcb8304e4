//! A domain's directory (LDAP, Active Directory, Lotus Domino): the settings for the domain or the whole
//! tenant, the three checks (connection and bind, a user, an alias) and a synchronization on demand.

use super::{CsrfOnly, PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::i18n::tr;
use crate::ops;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use maud::{Markup, html};
use moat_directory::{LdapCheck, LdapSettings, SearchScope, ServerType, SyncReport};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{name}/directory", get(show).post(save))
        .route("/domains/{name}/directory/check", post(check))
        .route("/domains/{name}/directory/sync", post(sync))
}

/// What the page shows besides the form: a check's or a synchronization's findings.
enum Findings {
    None,
    Check(LdapCheck),
    Sync(SyncReport),
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<super::domains::Done>,
) -> PageResult {
    page(&state, &signed, &name, q.done.as_deref(), None, Findings::None).await
}

async fn page(
    state: &AppState,
    signed: &Signed,
    name: &str,
    done_message: Option<&str>,
    error: Option<&str>,
    findings: Findings,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let own = ops::ldap_settings(&signed.access, state, Some(name), None).await?;
    let tenant_wide = ops::ldap_settings(&signed.access, state, None, None).await.ok().flatten();
    let for_domain = own.is_some();
    let s = own.or(tenant_wide).unwrap_or_default();
    let action = format!("/domains/{}/directory", url_encode(name));
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        (notice(done_message, error))
        p { a href=(format!("/domains/{}", url_encode(name))) { (t("Back to the domain")) } }
        (findings_markup(signed, &findings))
        form #directory method="post" action=(action) {
            (csrf(signed))
            fieldset {
                legend { (t("These settings are for")) }
                label { input type="radio" name="scope" value="domain" checked[for_domain]; " " (t("this domain only")) }
                label { input type="radio" name="scope" value="tenant" checked[!for_domain]; " " (t("every domain of the tenant")) }
            }
            label { (t("Server type")) select name="server_type" {
                @for (value, label) in [(ServerType::ActiveDirectory, "Active Directory"), (ServerType::Openldap, "OpenLDAP"), (ServerType::Domino, "Lotus Domino")] {
                    option value=(server_type(value)) selected[s.server_type == value] { (label) }
                }
            } }
            label { (t("Server URL (ldap:// or ldaps://)")) input name="url" required value=(s.url) placeholder="ldaps://dc1.example.com"; }
            label { input type="checkbox" name="starttls" value="on" checked[s.starttls]; " " (t("Use StartTLS")) }
            label { input type="checkbox" name="verify_certificate" value="on" checked[s.verifies_certificate()]; " " (t("Verify the server's certificate")) }
            label { (t("Certificate authority (PEM), if the directory has its own")) textarea name="ca_pem" rows="3" { (text(&s.ca_pem)) } }
            label { (t("Bind DN (empty: anonymous)")) input name="bind_dn" value=(text(&s.bind_dn)); }
            label { (t("Bind password (empty: keep the one saved)")) input name="bind_password" type="password" autocomplete="new-password"; }
            label { (t("Base DN")) input name="base_dn" required value=(s.base_dn); }
            label { (t("Search scope")) select name="scope_depth" {
                option value="subtree" selected[s.scope == SearchScope::Subtree] { (t("Subtree")) }
                option value="one_level" selected[s.scope == SearchScope::OneLevel] { (t("One level")) }
            } }
            label { (t("User search attributes (comma separated)")) input name="user_attributes" value=(s.user_attributes.join(", ")); }
            label { (t("User filter")) input name="user_filter" value=(text(&s.user_filter)); }
            label { (t("Alias attribute")) input name="alias_attribute" value=(text(&s.alias_attribute)); }
            label { (t("Alias filter (aliases in other entries; %d the user's DN)")) input name="alias_filter" value=(text(&s.alias_filter)); }
            label { (t("Alias delimiter")) input name="alias_delimiter" value=(s.alias_delimiter); }
            label { (t("Name attribute")) input name="name_attribute" value=(text(&s.name_attribute)); }
            label { (t("Synchronize every (e.g. 1h; empty: never)")) input name="sync_every" value=(text(&s.sync_every)); }
            label { input type="checkbox" name="remove_departed" value="on" checked[s.remove_departed]; " " (t("Remove users who left the directory (else only report them)")) }
            button type="submit" { (t("Save directory settings")) }
        }
        h2 { (t("Checks")) }
        form #directory-check method="post" action=(format!("{action}/check")) {
            (csrf(signed))
            label { (t("A user's primary address")) input name="user" type="email"; }
            label { (t("An alias")) input name="alias" type="email"; }
            button type="submit" { (t("Check")) }
        }
        form method="post" action=(format!("{action}/sync")) {
            (csrf(signed))
            button type="submit" { (t("Synchronize now")) }
        }
    };
    Ok(frame(signed, &format!("{} · {name}", t("Directory (LDAP)")), body))
}

fn server_type(value: ServerType) -> &'static str {
    match value {
        ServerType::ActiveDirectory => "active_directory",
        ServerType::Openldap => "openldap",
        ServerType::Domino => "domino",
    }
}

fn findings_markup(signed: &Signed, findings: &Findings) -> Markup {
    let t = |s| tr(signed.language, s);
    let line = |ok: bool, what: &str, text: &str| {
        html! { li class=(if ok { "ok" } else { "failed" }) { strong { (what) } ": " (text) } }
    };
    match findings {
        Findings::None => html! {},
        Findings::Check(check) => html! {
            ul #check-results {
                @match &check.connection_error {
                    None => (line(true, t("Connection"), t("connected and bound"))),
                    Some(why) => (line(false, t("Connection"), why)),
                }
                @if let Some(user) = &check.user {
                    @match user {
                        Ok((primary, name)) => (line(true, t("User"), &format!("{primary} ({})", name.clone().unwrap_or_default()))),
                        Err(why) => (line(false, t("User"), why)),
                    }
                }
                @if let Some(alias) = &check.alias {
                    @match alias {
                        Ok(primary) => (line(true, t("Alias"), &format!("{} {primary}", t("an alias of")))),
                        Err(why) => (line(false, t("Alias"), why)),
                    }
                }
            }
        },
        Findings::Sync(report) => html! {
            ul #sync-results {
                li { (t("New users")) ": " (report.added.len()) }
                li { (t("Names changed")) ": " (report.renamed.len()) }
                li { (t("Aliases added")) ": " (report.aliases_added) }
                li { (t("No longer in the directory")) ": " (report.departed.join(", ")) }
            }
        },
    }
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf: String,
    scope: String,
    server_type: String,
    url: String,
    starttls: Option<String>,
    verify_certificate: Option<String>,
    ca_pem: Option<String>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    base_dn: String,
    scope_depth: String,
    user_attributes: Option<String>,
    user_filter: Option<String>,
    alias_attribute: Option<String>,
    alias_filter: Option<String>,
    alias_delimiter: Option<String>,
    name_attribute: Option<String>,
    sync_every: Option<String>,
    remove_departed: Option<String>,
}

impl SettingsForm {
    fn settings(&self) -> LdapSettings {
        LdapSettings {
            server_type: match self.server_type.as_str() {
                "openldap" => ServerType::Openldap,
                "domino" => ServerType::Domino,
                _ => ServerType::ActiveDirectory,
            },
            url: self.url.trim().to_owned(),
            starttls: self.starttls.is_some(),
            verify_certificate: Some(self.verify_certificate.is_some()),
            ca_pem: filled(&self.ca_pem),
            bind_dn: filled(&self.bind_dn),
            bind_password: self.bind_password.clone().filter(|p| !p.is_empty()),
            bind_password_sealed: None,
            base_dn: self.base_dn.trim().to_owned(),
            scope: if self.scope_depth == "one_level" { SearchScope::OneLevel } else { SearchScope::Subtree },
            user_attributes: filled(&self.user_attributes)
                .map(|a| a.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect())
                .unwrap_or_default(),
            user_filter: filled(&self.user_filter),
            alias_attribute: filled(&self.alias_attribute),
            alias_filter: filled(&self.alias_filter),
            alias_delimiter: filled(&self.alias_delimiter).unwrap_or_default(),
            name_attribute: filled(&self.name_attribute),
            given_name_attribute: None,
            surname_attribute: None,
            sync_every: filled(&self.sync_every),
            remove_departed: self.remove_departed.is_some(),
            page_size: None,
        }
    }
}

async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let change = ops::LdapChange {
        domain: (form.scope == "domain").then(|| name.clone()),
        tenant: None,
        settings: form.settings(),
    };
    match ops::set_ldap(&signed.access, &state, change).await {
        Ok(()) => Ok(done(
            &format!("/domains/{}/directory", url_encode(&name)),
            tr(signed.language, "Directory settings saved."),
        )),
        Err(e @ AppError::Directory(_)) => failed(&state, &signed, &name, e).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CheckForm {
    csrf: String,
    user: Option<String>,
    alias: Option<String>,
}

async fn check(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<CheckForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    match ops::check_ldap(&signed.access, &state, &name, form.user.as_deref(), form.alias.as_deref()).await {
        Ok(check) => page(&state, &signed, &name, None, None, Findings::Check(check)).await,
        Err(e @ AppError::Directory(_)) => failed(&state, &signed, &name, e).await,
        Err(e) => Err(e.into()),
    }
}

async fn sync(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    signed.check(&form.csrf)?;
    match ops::sync_ldap(&signed.access, &state, &name).await {
        Ok(report) => page(&state, &signed, &name, None, None, Findings::Sync(report)).await,
        Err(e @ AppError::Directory(_)) => failed(&state, &signed, &name, e).await,
        Err(e) => Err(e.into()),
    }
}

/// The directory's refusal on its page, with the status it deserves.
async fn failed(state: &AppState, signed: &Signed, name: &str, e: AppError) -> PageResult {
    let mut page = page(state, signed, name, None, Some(&e.message_in(signed.language)), Findings::None).await?;
    *page.status_mut() = e.status();
    Ok(page.into_response())
}
