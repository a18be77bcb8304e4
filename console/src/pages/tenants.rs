//! The MSP overview: every customer (tenant) at a glance — licenses, domains, users, today's mail by verdict,
//! what is held and what waits — and each customer's domains. The platform's operators only.

use super::{PageResult, frame, url_encode};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppState, ops};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new().route("/tenants", get(overview)).route("/tenants/{name}", get(detail))
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

async fn overview(State(state): State<AppState>, signed: Signed) -> PageResult {
    let t = |s| tr(signed.language, s);
    let tenants = ops::tenants_overview(&signed.access, &state).await?;
    let unlimited = t("unlimited");
    let body = html! {
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
    };
    Ok(frame(&signed, t("Customers"), body))
}

async fn detail(State(state): State<AppState>, signed: Signed, Path(name): Path<String>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let (tenant, domains) = ops::tenant_detail(&signed.access, &state, &name).await?;
    let unlimited = t("unlimited");
    let body = html! {
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
        p { a href="/tenants" { (t("All customers")) } }
    };
    Ok(frame(&signed, &format!("{} {}", t("Customer"), tenant.name), body))
}
