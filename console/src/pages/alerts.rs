//! Alerts: what Moat needs an admin to know — a filter that keeps failing and is skipped, an SMTP credential
//! suspended for what it sent, an account locked after failed logins — newest first, the admin's tenant's
//! (every tenant's, and the operator's own, for the platform's operators).

use super::{PageResult, frame};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppState, ops};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use maud::html;

pub fn routes() -> Router<AppState> {
    Router::new().route("/alerts", get(page))
}

async fn page(State(state): State<AppState>, signed: Signed) -> PageResult {
    let t = |s| tr(signed.language, s);
    let alerts = ops::alerts(&signed.access, &state).await?;
    let platform = signed.access.is_platform();
    let body = html! {
        @if alerts.is_empty() {
            p #alerts-none { (t("No alerts.")) }
        } @else {
            table #alerts.stack {
                thead { tr { th { (t("When")) } @if platform { th { (t("Tenant")) } } th { (t("Kind")) } th { (t("What happened")) } } }
                tbody { @for a in &alerts { tr {
                    td data-label=(t("When")) { (crate::dates::shown(a.at)) }
                    @if platform { td data-label=(t("Tenant")) { (a.tenant.clone().unwrap_or_else(|| "—".into())) } }
                    td data-label=(t("Kind")) { (t(ops::alert_kind_name(&a.kind))) }
                    td.reason data-label=(t("What happened")) { (a.text) }
                } } }
            }
        }
    };
    Ok(frame(&signed, t("Alerts"), body))
}
