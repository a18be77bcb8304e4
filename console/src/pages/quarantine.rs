//! Quarantine: held messages an admin's domains (or one user's, from a user's panel) or an end user's own
//! received, searched by text and date; release (into the delivery queue), release and allow the sender, or
//! delete — one message, or the ticked ones at once.

use super::{PageResult, csrf, done, filled, frame, notice, url_encode};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppError, AppState, ops};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/quarantine", get(page))
        .route("/quarantine/act", post(act))
        .route("/quarantine/{id}", get(preview))
}

#[derive(Deserialize, Default)]
struct Q {
    user: Option<String>,
    done: Option<String>,
    #[serde(flatten)]
    filter: ops::HeldFilter,
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let user = filled(&q.user);
    let (held, error) = match ops::quarantine(&signed.access, &state, user.as_deref(), &q.filter).await {
        Ok(held) => (held, None),
        Err(e @ AppError::BadRequest(_)) => (Vec::new(), Some(e.message_in(signed.language))),
        Err(e) => return Err(e.into()),
    };
    let end_user = matches!(signed.access.account, crate::access::Account::User { .. });
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        (notice(q.done.as_deref(), error.as_deref()))
        @if let Some(u) = &user {
            p { (t("Panel of")) " " strong { (u) } " · " a href=(format!("/lists?owner={}", url_encode(u))) { (t("Trust lists")) } }
        }
        form.search method="get" action="/quarantine" {
            @if let Some(u) = &user { input type="hidden" name="user" value=(u); }
            input name="q" type="search" value=(value(&q.filter.q)) placeholder=(t("Sender, recipient or subject")) aria-label=(t("Search"));
            label { (t("From")) " " input name="from" type="date" value=(value(&q.filter.from)); }
            label { (t("To")) " " input name="to" type="date" value=(value(&q.filter.to)); }
            button type="submit" { (t("Search")) }
        }
        @if held.is_empty() {
            p #quarantine-empty { (t("No messages in quarantine.")) }
        } @else {
            form #held method="post" action="/quarantine/act" {
                (csrf(&signed))
                input type="hidden" name="user" value=(user.clone().unwrap_or_default());
                p.bulk {
                    (t("Selected:")) " "
                    button type="submit" name="action" value="release" { (t("Release")) } " "
                    button type="submit" name="action" value="release-allow" { (t("Release and allow sender")) } " "
                    button.danger type="submit" name="action" value="delete" { (t("Delete")) }
                }
                table #quarantine.stack {
                    thead { tr { th { span.visually-hidden { (t("Select")) } } th { (t("Received")) } th { (t("From")) } th { (t("To")) } th { (t("Subject")) } th { (t("Score")) } th { (t("Reason")) } th {} } }
                    tbody { @for m in &held {
                        @let releasable = !m.held_by_antivirus() || !end_user;
                        tr {
                            td { input type="checkbox" name="ids" value=(m.id) aria-label=(format!("{} {}", t("Select"), m.subject.clone().unwrap_or_default())); }
                            td data-label=(t("Received")) { (crate::dates::shown(m.received_at)) }
                            td data-label=(t("From")) { (m.sender) }
                            td data-label=(t("To")) { (m.recipients.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")) }
                            td data-label=(t("Subject")) { a href=(preview_link(&m.id, user.as_deref())) { (m.subject.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| t("(no subject)").to_owned())) } }
                            td data-label=(t("Score")) { (format!("{:.1}", m.score)) }
                            td.reason data-label=(t("Reason")) { (m.reason) }
                            td.actions {
                                @if m.held_by_antivirus() && !end_user {
                                    span.warning { (t("Held by the antivirus: release only if you are sure it is safe.")) } " "
                                }
                                @if releasable {
                                    button type="submit" name="action" value=(format!("release:{}", m.id)) { (t("Release")) } " "
                                    @if !m.sender.is_empty() && m.direction == moat_store::Direction::Inbound {
                                        button type="submit" name="action" value=(format!("release-allow:{}", m.id)) { (t("Release and allow sender")) } " "
                                    }
                                }
                                button.danger type="submit" name="action" value=(format!("delete:{}", m.id)) { (t("Delete")) }
                            }
                        }
                    } }
                }
            }
        }
    };
    Ok(frame(&signed, t("Quarantine"), body))
}

fn preview_link(id: &str, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("/quarantine/{}?user={}", url_encode(id), url_encode(u)),
        None => format!("/quarantine/{}", url_encode(id)),
    }
}

/// One held message, shown safely: who it is from and for, why it is held, its text and its HTML sanitized
/// (no images, no live links: their targets are listed as text), what it carries; release or delete.
async fn preview(
    State(state): State<AppState>,
    signed: Signed,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<Q>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let user = filled(&q.user);
    let (held, preview) = ops::held_preview(&signed.access, &state, user.as_deref(), &id).await?;
    let end_user = matches!(signed.access.account, crate::access::Account::User { .. });
    let body = html! {
        dl.facts {
            dt { (t("From")) } dd { (preview.from) " <" (held.sender) ">" }
            dt { (t("To")) } dd { (preview.to) }
            dt { (t("Subject")) } dd { (preview.subject) }
            dt { (t("Received")) } dd { (crate::dates::shown(held.received_at)) }
            dt { (t("Score")) } dd { (format!("{:.1}", held.score)) }
            dt { (t("Reason")) } dd { (held.reason) }
        }
        @if !preview.attachments.is_empty() {
            h2 { (t("Attachments")) }
            ul #attachments { @for a in &preview.attachments { li { (a.name) " · " (a.content_type) " · " (a.size) " " (t("bytes")) } } }
        }
        @if !preview.links.is_empty() {
            h2 { (t("Links in this message (not followed)")) }
            ul #links { @for link in &preview.links { li { code { (link) } } } }
        }
        @if let Some(html) = &preview.html {
            h2 { (t("Message")) }
            // Sanitized by ammonia (`preview.rs`): no script, style, image, form or link target survives.
            div #preview.preview { (maud::PreEscaped(html)) }
        } @else if let Some(text) = &preview.text {
            h2 { (t("Message")) }
            pre #preview.preview { (text) }
        }
        form method="post" action="/quarantine/act" {
            (csrf(&signed))
            input type="hidden" name="user" value=(user.clone().unwrap_or_default());
            @if !held.held_by_antivirus() || !end_user {
                button type="submit" name="action" value=(format!("release:{}", held.id)) { (t("Release")) } " "
                @if !held.sender.is_empty() && held.direction == moat_store::Direction::Inbound {
                    button type="submit" name="action" value=(format!("release-allow:{}", held.id)) { (t("Release and allow sender")) } " "
                }
            }
            button.danger type="submit" name="action" value=(format!("delete:{}", held.id)) { (t("Delete")) }
        }
        p { a href=(user.as_deref().map(|u| format!("/quarantine?user={}", url_encode(u))).unwrap_or_else(|| "/quarantine".into())) { (t("Back to the quarantine")) } }
    };
    Ok(frame(&signed, t("Held message"), body))
}

/// Deleted held mail can never be released: the admin or user sees which messages go, and confirms.
async fn confirm_delete(
    state: &AppState,
    signed: &Signed,
    user: Option<&str>,
    ids: &[String],
    back: String,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let mut subjects = Vec::new();
    for id in ids.iter().take(super::BULK_MAX) {
        // One that is not the caller's is named by nothing here, and refused again when confirmed.
        if let Ok(held) = ops::held(&signed.access, state, user, id).await {
            subjects.push(held.subject.filter(|s| !s.is_empty()).unwrap_or_else(|| t("(no subject)").to_owned()));
        }
    }
    let warning = html! {
        (t("These held messages are deleted and can never be released:")) " " strong { (subjects.len()) }
        ul { @for subject in subjects.iter().take(20) { li { (subject) } } @if subjects.len() > 20 { li { "…" } } }
    };
    let mut fields: Vec<(&str, &str)> = ids.iter().map(|id| ("ids", id.as_str())).collect();
    fields.push(("action", "delete"));
    fields.push(("user", user.unwrap_or_default()));
    Ok(super::confirmation(
        signed,
        super::Confirmation {
            title: t("Delete held messages"),
            warning,
            action: "/quarantine/act".into(),
            fields: &fields,
            button: t("Delete"),
            back,
        },
    ))
}

/// The quarantine's one form: `action` is `VERB:ID` for one message's button, or `VERB` for the ticked `ids`
/// (read by hand: `ids` repeats). Each message is acted on by itself; the banner says what was done and what
/// was refused, and why.
async fn act(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    signed.check(&get("csrf").unwrap_or_default())?;
    let t = |s| tr(signed.language, s);
    let user = filled(&get("user"));
    let back =
        user.as_deref().map(|u| format!("/quarantine?user={}", url_encode(u))).unwrap_or_else(|| "/quarantine".into());
    let action = get("action").unwrap_or_default();
    let (verb, ids): (&str, Vec<String>) = match action.split_once(':') {
        Some((verb, id)) => (verb, vec![id.to_owned()]),
        None => (action.as_str(), pairs.iter().filter(|(n, _)| n == "ids").map(|(_, v)| v.clone()).collect()),
    };
    if ids.is_empty() {
        return Ok(done(&back, t("Select messages first.")));
    }
    if verb == "delete" && get("confirm").as_deref() != Some("yes") {
        return confirm_delete(&state, &signed, user.as_deref(), &ids, back).await;
    }
    let (mut acted, mut refused) = (0, Vec::new());
    for id in ids.iter().take(super::BULK_MAX) {
        let outcome = match verb {
            "release" => ops::release(&signed.access, &state, user.as_deref(), id).await.map(drop),
            "release-allow" => ops::release_and_allow(&signed.access, &state, user.as_deref(), id).await.map(drop),
            "delete" => ops::delete_held(&signed.access, &state, user.as_deref(), id).await,
            _ => return Err(AppError::BadRequest("unknown action".into()).into()),
        };
        match outcome {
            Ok(()) => acted += 1,
            Err(e) => refused.push(e.message_in(signed.language)),
        }
    }
    let did = match verb {
        "delete" => t("Messages deleted:"),
        "release-allow" => t("Messages released and senders allowed:"),
        _ => t("Messages released:"),
    };
    let mut message = format!("{did} {acted}");
    if !refused.is_empty() {
        refused.dedup();
        message.push_str(&format!(". {} {}", t("Not done:"), refused.join("; ")));
    }
    Ok(done(&back, &message))
}
