//! The status page: licenses, today's messages by verdict (a bar chart), the queue, and (for the platform's
//! operators) the nodes sharing the database.

use super::{PageResult, frame};
use crate::AppState;
use crate::i18n::tr;
use crate::ops;
use crate::session::Signed;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use maud::html;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(status))
}

async fn status(State(state): State<AppState>, signed: Signed) -> PageResult {
    if signed.access.admin().is_none() {
        return Ok(Redirect::to("/quarantine").into_response());
    }
    let t = |s| tr(signed.language, s);
    let status = ops::status(&signed.access, &state).await?;
    let nodes = match signed.access.role() {
        Some(moat_store::Role::Platform) => ops::nodes(&signed.access, &state).await?,
        _ => Vec::new(),
    };
    let unlimited = t("unlimited");
    let max = status.today.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let body = html! {
        section.cards {
            div.card #licenses-pool { h2 { (t("Licenses in the pool")) } p.big { (status.licenses.pool.map_or(unlimited.to_owned(), |p| p.to_string())) } }
            div.card #licenses-used { h2 { (t("Licenses in use")) } p.big { (status.licenses.used) } }
            div.card #licenses-available { h2 { (t("Licenses available")) } p.big { (status.licenses.available.map_or(unlimited.to_owned(), |p| p.to_string())) } }
            div.card { h2 { (t("Domains")) } p.big { (status.domains) } }
            div.card { h2 { (t("Users")) } p.big { (status.mailboxes) } }
            div.card #queue { h2 { (t("Queue")) } p.big { (status.queue.messages) } p { (status.queue.recipients) " " (t("recipients waiting")) } }
        }
        section {
            h2 { (t("Messages today")) }
            @if status.today.is_empty() {
                p { (t("No messages yet today.")) }
            } @else {
                table.chart aria-label=(t("Messages today by verdict")) {
                    @for (verdict, count) in &status.today {
                        tr {
                            th scope="row" { (verdict) }
                            td { div.bar style=(format!("width: {}%", count * 100 / max)) {} }
                            td.count { (count) }
                        }
                    }
                }
            }
        }
        @if !nodes.is_empty() {
            section #nodes {
                h2 { (t("Nodes")) }
                table {
                    thead { tr {
                        th { (t("Node")) } th { (t("Version")) } th { (t("Started")) } th { (t("Last heartbeat")) }
                        th { (t("State")) } th { (t("Delivering now")) }
                    } }
                    tbody {
                        @for node in &nodes {
                            tr {
                                td { (node.name) } td { (node.version) }
                                td { (super::quarantine::time(node.started_at)) }
                                td { (super::quarantine::time(node.heartbeat_at)) }
                                td { @if node.alive { (t("alive")) } @else { strong { (t("not responding")) } } }
                                td.count { (node.delivering) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(frame(&signed, t("Status"), body))
}
