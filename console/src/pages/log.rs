//! The email log: what arrived for the caller's domains and what became of it. Opening a message shows its
//! verdict; its headers and text need the delegated "view headers" / "view emails" permissions (platform
//! and tenant admins have both), and only while Moat still holds the message (quarantine or queue).

use super::{PageResult, csrf, done, frame, notice};
use crate::i18n::tr;
use crate::ops;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::routing::{get, post};
use maud::html;
use moat_directory::{ListScope, Listing};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/log", get(list)).route("/log/{id}", get(show)).route("/log/{id}/list", post(list_sender))
}

async fn list(State(state): State<AppState>, signed: Signed) -> PageResult {
    let t = |s| tr(signed.language, s);
    let entries = ops::log(&signed.access, &state, 200).await?;
    let body = html! {
        @if entries.is_empty() { p { (t("No messages yet.")) } }
        @else {
            table #log {
                thead { tr { th { (t("Received")) } th { (t("From")) } th { (t("To")) } th { (t("Subject")) } th { (t("Verdict")) } th { (t("Score")) } th { (t("Delivery")) } } }
                tbody { @for e in &entries { tr {
                    td { a href=(format!("/log/{}", e.id)) { (super::quarantine::time(e.received_at)) } }
                    td { (e.sender) } td { (e.recipients) } td { (e.subject.clone().unwrap_or_default()) }
                    td { (e.verdict) } td { (e.score.map(|s| format!("{s:.1}")).unwrap_or_default()) } td { (e.delivery_status) }
                } } }
            }
        }
    };
    Ok(frame(&signed, t("Email log"), body))
}

#[derive(Deserialize, Default)]
struct Q {
    done: Option<String>,
}

/// The header block of a message, and its first text part.
fn split(bytes: &[u8]) -> (String, String) {
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| bytes.windows(2).position(|w| w == b"\n\n"));
    let headers = String::from_utf8_lossy(&bytes[..end.unwrap_or(bytes.len())]).into_owned();
    let text = parsed.and_then(|m| m.body_text(0).map(|t| t.into_owned())).unwrap_or_default();
    (headers, text)
}

async fn show(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>, Query(q): Query<Q>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let (entry, bytes) = ops::log_entry(&signed.access, &state, id).await?;
    let delegation = signed.access.delegation();
    let (headers, text) = bytes.as_deref().map(split).unwrap_or_default();
    let body = html! {
        (notice(q.done.as_deref(), None))
        dl #log-entry {
            dt { (t("Received")) } dd { (super::quarantine::time(entry.received_at)) }
            dt { (t("Client")) } dd { (entry.client_ip) " (" (entry.helo) ")" }
            dt { (t("From")) } dd { (entry.sender) }
            dt { (t("To")) } dd { (entry.recipients) }
            dt { (t("Subject")) } dd { (entry.subject.clone().unwrap_or_default()) }
            dt { (t("Verdict")) } dd #verdict { (entry.verdict) @if let Some(s) = entry.score { " (" (format!("{s:.1}")) ")" } }
            dt { (t("Symbols")) } dd { (entry.symbols.clone().unwrap_or_default()) }
            dt { (t("Delivery")) } dd { (entry.delivery_status) " " (entry.last_reply.clone().unwrap_or_default()) }
        }
        @if !entry.sender.is_empty() {
            form.inline method="post" action=(format!("/log/{id}/list")) {
                (csrf(&signed))
                button type="submit" name="list" value="allow" { (t("Allow this sender")) }
                " "
                button.danger type="submit" name="list" value="deny" { (t("Deny this sender")) }
            }
        }
        @if bytes.is_some() {
            @if delegation.view_headers { h2 { (t("Headers")) } pre #headers { (headers) } }
            @if delegation.view_emails { h2 { (t("Message")) } pre #message-text { (text) } }
        } @else if delegation.view_headers || delegation.view_emails {
            p { (t("Moat no longer holds this message (it was delivered or deleted).")) }
        }
    };
    Ok(frame(&signed, t("Message"), body))
}

#[derive(Deserialize)]
struct ListForm {
    csrf: String,
    list: String,
}

/// Allow or deny a logged message's sender for the recipients' domain.
async fn list_sender(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<ListForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let (entry, _) = ops::log_entry(&signed.access, &state, id).await?;
    let domains = ops::visible_domains(&signed.access, &state).await?;
    let recipients = entry.recipients.to_ascii_lowercase();
    let domain = domains
        .iter()
        .find(|d| recipients.contains(&format!("@{}", d.name)))
        .ok_or_else(|| AppError::BadRequest("no recipient of this message is in your domains".into()))?;
    let tenant =
        state.store.tenant_list().await?.into_iter().find(|x| x.id == domain.tenant_id).ok_or(AppError::NotFound)?;
    let listing = if form.list == "deny" { Listing::Deny } else { Listing::Allow };
    state.directory.list_add(&tenant.name, &ListScope::Domain(domain.name.clone()), listing, &entry.sender).await?;
    let message = format!("{} {} ({})", tr(signed.language, "Listed for the domain:"), entry.sender, domain.name);
    Ok(done(&format!("/log/{id}"), &message))
}
