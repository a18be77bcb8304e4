//! Domain admins: who administers which domains, with which delegated permissions.

use super::{PageResult, csrf, done, filled, frame, notice};
use crate::AppState;
use crate::i18n::tr;
use crate::ops::{self, NewDomainAdmin};
use crate::session::Signed;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use maud::html;
use moat_store::Role;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admins", get(page).post(create))
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
    crate::ops::tenant_admin_only(&signed.access)?;
    let domains = ops::visible_domains(&signed.access, state).await?;
    let mut rows = Vec::new();
    for admin in state.store.admin_list().await? {
        let Role::Domain(tenant) = admin.role else { continue };
        if !signed.access.sees_tenant(tenant) {
            continue;
        }
        let ids = state.store.admin_domains(admin.id).await?;
        let names: Vec<String> = domains.iter().filter(|d| ids.contains(&d.id)).map(|d| d.name.clone()).collect();
        rows.push((admin, names));
    }
    let yes_no = |b: bool| if b { t("yes") } else { t("no") };
    let body = html! {
        (notice(done_message, error))
        table #domain-admins {
            thead { tr { th { (t("Name")) } th { (t("Domains")) } th { (t("May open users' panels")) } th { (t("May view emails from the email log")) } th { (t("May view headers from the email log")) } } }
            tbody { @for (a, names) in &rows { tr {
                td { (a.name) } td { (names.join(", ")) }
                td { (yes_no(a.delegation.open_panels)) } td { (yes_no(a.delegation.view_emails)) } td { (yes_no(a.delegation.view_headers)) }
            } } }
        }
        h2 { (t("New domain admin")) }
        form #new-domain-admin method="post" action="/admins" {
            (csrf(signed))
            label { (t("Name")) input name="name" required autocomplete="off"; }
            label { (t("Password")) input name="password" type="password" required autocomplete="new-password"; }
            label { (t("Email")) input name="email" type="email"; }
            fieldset { legend { (t("Domains")) }
                @for d in &domains { label.check { input type="checkbox" name="domains" value=(d.name); (d.name) } }
            }
            label.check { input type="checkbox" name="open_panels"; (t("May open users' panels")) }
            label.check { input type="checkbox" name="view_emails"; (t("May view emails from the email log")) }
            label.check { input type="checkbox" name="view_headers"; (t("May view headers from the email log")) }
            button type="submit" { (t("Create domain admin")) }
        }
    };
    let mut response = frame(signed, t("Domain admins"), body);
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
