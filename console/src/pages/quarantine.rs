//! Quarantine: held messages an admin's domains (or one user's, from a user's panel) or an end user's own
//! received; release (into the delivery queue) or delete.

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
}

pub fn time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let user = filled(&q.user);
    let held = ops::quarantine(&signed.access, &state, user.as_deref()).await?;
    let end_user = matches!(signed.access.account, crate::access::Account::User { .. });
    let body = html! {
        (notice(q.done.as_deref(), None))
        @if let Some(u) = &user {
            p { (t("Panel of")) " " strong { (u) } " · " a href=(format!("/lists?owner={}", url_encode(u))) { (t("Trust lists")) } }
        }
        @if held.is_empty() {
            p #quarantine-empty { (t("No messages in quarantine.")) }
        } @else {
            table #quarantine {
                thead { tr { th { (t("Received")) } th { (t("From")) } th { (t("To")) } th { (t("Subject")) } th { (t("Score")) } th { (t("Reason")) } th {} } }
                tbody { @for m in &held { tr {
                    td { (time(m.received_at)) }
                    td { (m.sender) }
                    td { (m.recipients.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")) }
                    td { a href=(preview_link(&m.id, user.as_deref())) { (m.subject.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| t("(no subject)").to_owned())) } }
                    td { (format!("{:.1}", m.score)) }
                    td { (m.reason) }
                    td { form.inline method="post" action="/quarantine/act" {
                        (csrf(&signed))
                        input type="hidden" name="id" value=(m.id);
                        input type="hidden" name="user" value=(user.clone().unwrap_or_default());
                        @if !m.held_by_antivirus() {
                            button type="submit" name="action" value="release" { (t("Release")) }
                            " "
                        } @else if !end_user {
                            span.warning { (t("Held by the antivirus: release only if you are sure it is safe.")) } " "
                            button type="submit" name="action" value="release" { (t("Release")) }
                            " "
                        }
                        button.danger type="submit" name="action" value="delete" { (t("Delete")) }
                    } }
                } } }
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
            dt { (t("Received")) } dd { (time(held.received_at)) }
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
            input type="hidden" name="id" value=(held.id);
            input type="hidden" name="user" value=(user.clone().unwrap_or_default());
            @if !held.held_by_antivirus() || !end_user {
                button type="submit" name="action" value="release" { (t("Release")) } " "
            }
            button.danger type="submit" name="action" value="delete" { (t("Delete")) }
        }
        p { a href=(user.as_deref().map(|u| format!("/quarantine?user={}", url_encode(u))).unwrap_or_else(|| "/quarantine".into())) { (t("Back to the quarantine")) } }
    };
    Ok(frame(&signed, t("Held message"), body))
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    id: String,
    action: String,
    user: Option<String>,
}

async fn act(State(state): State<AppState>, signed: Signed, Form(form): Form<ActForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let user = filled(&form.user);
    let back =
        user.as_deref().map(|u| format!("/quarantine?user={}", url_encode(u))).unwrap_or_else(|| "/quarantine".into());
    match form.action.as_str() {
        "release" => {
            ops::release(&signed.access, &state, user.as_deref(), &form.id).await?;
            Ok(done(&back, t("Message released.")))
        }
        "delete" => {
            ops::delete_held(&signed.access, &state, user.as_deref(), &form.id).await?;
            Ok(done(&back, t("Message deleted.")))
        }
        _ => Err(AppError::BadRequest("unknown action".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_as_utc_dates() {
        assert_eq!(super::time(0), "1970-01-01 00:00");
        assert_eq!(super::time(1_795_000_000), "2026-11-18 11:06");
    }
}
