//! The delivery queue, as the caller may see it: what waits, for whom, why (the downstream's last reply), which
//! node is delivering it now; retry now, or delete (confirmed first).

use super::{PageResult, csrf, done, frame, notice, url_encode};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppState, ops};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/queue", get(page))
        .route("/queue/{id}/retry", post(retry))
        .route("/queue/{id}/delete", get(confirm_delete).post(delete))
}

#[derive(Deserialize, Default)]
struct Q {
    done: Option<String>,
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let queued = ops::queue(&signed.access, &state).await?;
    let time = crate::dates::shown;
    let body = html! {
        (notice(q.done.as_deref(), None))
        @if queued.is_empty() {
            p #queue-empty { (t("The queue is empty.")) }
        } @else {
            table #queue {
                thead { tr { th { (t("Received")) } th { (t("From")) } th { (t("Recipients")) } th {} } }
                tbody { @for m in &queued { tr {
                    td { (time(m.received_at)) br; small { (m.id) } }
                    td { @if m.sender.is_empty() { "<>" } @else { (m.sender) } }
                    td { ul.recipients { @for r in &m.recipients { li {
                        strong { (r.address) } " · " (t(r.status))
                        @if r.status == "queued" {
                            " · " (r.attempts) " " (t("attempts"))
                            @if let Some(node) = &r.delivering_node {
                                " · " (t("being delivered by")) " " (node)
                            } @else {
                                " · " (t("next attempt")) " " (time(r.next_attempt_at))
                            }
                        }
                        @if let Some(reply) = &r.last_reply { br; small.reply { (reply) } }
                    } } } }
                    td.actions {
                        form method="post" action=(format!("/queue/{}/retry", url_encode(&m.id))) {
                            (csrf(&signed))
                            button type="submit" { (t("Retry now")) }
                        }
                        a href=(format!("/queue/{}/delete", url_encode(&m.id))) { (t("Delete")) }
                    }
                } } }
            }
        }
    };
    Ok(frame(&signed, t("Queue"), body))
}

async fn retry(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<super::CsrfOnly>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let due = ops::queue_retry(&signed.access, &state, &id).await?;
    let message = if due == 0 {
        t("Nothing to retry now: its recipients are being delivered or already done.").to_owned()
    } else {
        format!("{} {id}: {due} {}", t("Retrying"), t("recipient(s) due now"))
    };
    Ok(done("/queue", &message))
}

/// Deleting a queued message means it is never delivered: the admin sees to whom, and confirms.
async fn confirm_delete(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let message = ops::queued(&signed.access, &state, &id).await?;
    let waiting: Vec<&str> =
        message.recipients.iter().filter(|r| r.status == "queued").map(|r| r.address.as_str()).collect();
    let warning = html! {
        (t("This message will never be delivered to")) " " strong { (waiting.join(", ")) } ". "
        (t("Its sender is not told. This cannot be undone."))
    };
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {id}", t("Delete queued message")),
            warning,
            action: format!("/queue/{}/delete", url_encode(&id)),
            fields: &[],
            button: t("Delete queued message"),
            back: "/queue".into(),
        },
    ))
}

async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<super::ConfirmedForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/queue/{}/delete", url_encode(&id))).into_response());
    }
    ops::queue_delete(&signed.access, &state, &id).await?;
    Ok(done("/queue", &format!("{} {id}", tr(signed.language, "Deleted from the queue:"))))
}
