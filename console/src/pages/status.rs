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

/// A verdict class's name as a `'static` text the translation table knows.
fn class_name(class: &str) -> &'static str {
    ops::VERDICT_CLASSES.into_iter().find(|c| *c == class).unwrap_or("other")
}

/// What each unset setting means for customers, in the words the status page uses.
fn gap_text(gap: crate::SetupGap) -> &'static str {
    match gap {
        crate::SetupGap::MxHosts => {
            "[console] mx_hosts is not set: domains are told to point their MX records at this server's host name."
        }
        crate::SetupGap::IpRanges => {
            "[console] ip_ranges is not set: the SPF record and the downstream allow lists name no address of Moat's."
        }
        crate::SetupGap::PublicUrl => {
            "[console] public_url is not set: welcome messages send users to the console's listen address."
        }
        crate::SetupGap::Hostname => {
            "[server] hostname is not a fully qualified name: greetings, Received: headers and bounces carry it."
        }
    }
}

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
    let platform = signed.access.role() == Some(moat_store::Role::Platform);
    let gaps = if platform { state.publishing.gaps.as_slice() } else { &[] };
    let body = html! {
        @if !gaps.is_empty() {
            section #setup-gaps.warning {
                h2 { (t("Finish the set-up")) }
                ul { @for gap in gaps { li { (t(gap_text(*gap))) } } }
            }
        }
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
                            th scope="row" { (t(class_name(verdict))) }
                            td { div.bar style=(format!("width: {}%", count * 100 / max)) {} }
                            td.count { (count) }
                        }
                    }
                }
            }
        }
        section #last-24-hours {
            h2 { (t("Last 24 hours")) }
            (super::chart::stacked_bars("chart-hourly", &status.hourly, 4, |at| crate::dates::shown(at)[11..].to_owned(), t))
        }
        section #last-30-days {
            h2 { (t("Last 30 days")) }
            (super::chart::stacked_bars("chart-daily", &status.daily, 5, |at| crate::dates::shown(at)[5..10].to_owned(), t))
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
                                td { (crate::dates::shown(node.started_at)) }
                                td { (crate::dates::shown(node.heartbeat_at)) }
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
