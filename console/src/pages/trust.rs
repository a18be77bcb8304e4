//! Trust lists: an end user's own allow and deny lists of senders, and an admin's at each level it keeps — a
//! user's (from its panel), a domain's, the tenant's, every tenant's (the operator) — as the `lists` filter
//! reads them.

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::i18n::tr;
use crate::ops;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::routing::{get, post};
use maud::html;
use moat_directory::{ListScope, Listing};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/lists", get(page).post(add)).route("/lists/remove", post(remove))
}

#[derive(Deserialize, Default)]
struct Q {
    owner: Option<String>,
    done: Option<String>,
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let owner = owner_of(&signed, &q.owner);
    if owner.is_none() && signed.access.admin().is_some() {
        return index(&state, &signed).await;
    }
    may_open(&signed, &owner)?;
    let (tenant, scope) = ops::list_scope(&signed.access, &state, owner.as_deref()).await?;
    let entries = state.directory.list_entries(&tenant, Some(&scope)).await?;
    let whose = match &scope {
        ListScope::User(u) | ListScope::Domain(u) => u.clone(),
        ListScope::Tenant if tenant == ops::GLOBAL_LISTS => t("every tenant").to_owned(),
        ListScope::Tenant => format!("{} {tenant}", t("tenant")),
    };
    let body = html! {
        (notice(q.done.as_deref(), None))
        p { (t("Mail from senders on the allow list skips the spam filters; mail from senders on the deny list is refused.")) }
        table #trust-list {
            thead { tr { th { (t("List")) } th { (t("Sender, domain or IP")) } th {} } }
            tbody { @for e in &entries { tr {
                td { (if e.listing == Listing::Allow { t("allow") } else { t("deny") }) }
                td { (e.value) }
                td { form.inline method="post" action="/lists/remove" {
                    (csrf(&signed))
                    input type="hidden" name="owner" value=(owner.clone().unwrap_or_default());
                    input type="hidden" name="value" value=(e.value);
                    button.danger.small type="submit" { (t("Remove")) }
                } }
            } } }
        }
        form #trust-add method="post" action="/lists" {
            (csrf(&signed))
            input type="hidden" name="owner" value=(owner.clone().unwrap_or_default());
            label { (t("List")) select name="list" { option value="allow" { (t("allow")) } option value="deny" { (t("deny")) } } }
            label { (t("Sender, domain or IP")) input name="value" required; }
            button type="submit" { (t("Add")) }
        }
    };
    Ok(frame(&signed, &format!("{} · {whose}", t("Trust lists")), body))
}

/// An admin's way into the lists it keeps: the operator's (platform), each tenant's own level, each domain's.
async fn index(state: &AppState, signed: &Signed) -> PageResult {
    let t = |s| tr(signed.language, s);
    let domains = ops::visible_domains(&signed.access, state).await?;
    let tenants: Vec<String> = if signed.access.manages_tenant() {
        state
            .store
            .tenant_list()
            .await?
            .into_iter()
            .filter(|x| signed.access.sees_tenant(x.id))
            .map(|x| x.name)
            .collect()
    } else {
        Vec::new()
    };
    let link = |owner: &str| format!("/lists?owner={}", url_encode(owner));
    let body = html! {
        p { (t("Mail from senders on the allow list skips the spam filters; mail from senders on the deny list is refused.")) " "
            (t("The most specific list decides: a user's, then its domain's, its tenant's, then every tenant's.")) }
        ul #list-owners {
            @if signed.access.is_platform() { li { a href=(link(ops::GLOBAL_LISTS)) { (t("Every tenant")) } } }
            @for name in &tenants { li { a href=(link(&format!("{}{name}", ops::TENANT_LISTS))) { (t("Tenant")) " " (name) } } }
            @for d in &domains { li { a href=(link(&d.name)) { (t("Domain")) " " (d.name) } } }
        }
        p.hint { (t("A user's own lists open from the user's page.")) }
    };
    Ok(frame(signed, t("Trust lists"), body))
}

/// Whose lists an admin asked for; an end user's are always its own.
fn owner_of(signed: &Signed, requested: &Option<String>) -> Option<String> {
    signed.access.admin().and_then(|_| filled(requested))
}

/// An admin opens a user's lists only with the panel permission (an end user's are always its own).
fn may_open(signed: &Signed, owner: &Option<String>) -> Result<(), AppError> {
    let a_users = owner.as_deref().is_some_and(|o| o.contains('@'));
    if a_users && signed.access.admin().is_some() && !signed.access.delegation().open_panels {
        return Err(AppError::Forbidden(tr(signed.language, "you may not open users' panels").into()));
    }
    Ok(())
}

#[derive(Deserialize)]
struct EntryForm {
    csrf: String,
    owner: Option<String>,
    #[serde(default)]
    list: String,
    value: String,
    /// Removing: only the confirmation page's form (`yes`) removes.
    #[serde(default)]
    confirm: Option<String>,
}

fn back(owner: &Option<String>) -> String {
    match filled(owner) {
        Some(o) => format!("/lists?owner={}", url_encode(&o)),
        None => "/lists".into(),
    }
}

async fn add(State(state): State<AppState>, signed: Signed, Form(form): Form<EntryForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let owner = owner_of(&signed, &form.owner);
    may_open(&signed, &owner)?;
    let listing = if form.list == "deny" { Listing::Deny } else { Listing::Allow };
    ops::list_add(&signed.access, &state, owner.as_deref(), listing, &form.value).await?;
    Ok(done(&back(&form.owner), tr(signed.language, "Entry added.")))
}

async fn remove(State(state): State<AppState>, signed: Signed, Form(form): Form<EntryForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let owner = owner_of(&signed, &form.owner);
    may_open(&signed, &owner)?;
    let (tenant, scope) = ops::list_scope(&signed.access, &state, owner.as_deref()).await?;
    if form.confirm.as_deref() != Some("yes") {
        let warning = html! {
            strong { (form.value) } " " (t("leaves this list: its mail is judged by the filters again (or by a less specific list)."))
        };
        let fields = [("owner", owner.as_deref().unwrap_or_default()), ("value", form.value.as_str())];
        return Ok(super::confirmation(
            &signed,
            super::Confirmation {
                title: t("Remove a list entry"),
                warning,
                action: "/lists/remove".into(),
                fields: &fields,
                button: t("Remove"),
                back: back(&form.owner),
            },
        ));
    }
    state.directory.list_remove(&tenant, &scope, &form.value).await?;
    Ok(done(&back(&form.owner), tr(signed.language, "Entry removed.")))
}
