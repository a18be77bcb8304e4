//! An admin's own REST API tokens: listed by label with when each was made and last used, made (the value
//! shown once, on the answer to the form, never in a URL or a banner), revoked after a confirmation.

use super::{Id, PageResult, csrf, done, frame, notice};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppState, ops};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/tokens", get(page).post(create))
        .route("/account/tokens/{id}/revoke", get(confirm_revoke).post(revoke))
}

#[derive(Deserialize, Default)]
struct Q {
    done: Option<String>,
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Q>) -> PageResult {
    render(&state, &signed, notice(q.done.as_deref(), None)).await
}

async fn render(state: &AppState, signed: &Signed, above: Markup) -> PageResult {
    let t = |s| tr(signed.language, s);
    let tokens = ops::api_tokens(&signed.access, state).await?;
    let time = crate::dates::shown;
    let body = html! {
        (above)
        p { (t("A token lets a script use the REST API as you: send it as Authorization: Bearer TOKEN.")) }
        @if tokens.is_empty() {
            p #tokens-none { (t("You have no API tokens.")) }
        } @else {
            table #tokens {
                thead { tr { th { (t("Label")) } th { (t("Made")) } th { (t("Last used")) } th {} } }
                tbody { @for token in &tokens { tr {
                    td { (token.name) }
                    td { (time(token.created_at)) }
                    td { @match token.last_used_at { Some(at) => (time(at)), None => (t("never")) } }
                    td { a href=(format!("/account/tokens/{}/revoke", token.id)) { (t("Revoke")) } }
                } } }
            }
        }
        form method="post" action="/account/tokens" {
            (csrf(signed))
            label { (t("Label")) input name="label" maxlength="64" required placeholder=(t("what uses it")); }
            button type="submit" { (t("Make a token")) }
        }
    };
    Ok(frame(signed, t("API tokens"), body))
}

#[derive(Deserialize)]
struct NewToken {
    csrf: String,
    label: String,
}

/// The new token is on this answer only: pages are sent `no-store`, so no cache keeps it.
async fn create(State(state): State<AppState>, signed: Signed, Form(form): Form<NewToken>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let shown = match ops::api_token_create(&signed.access, &state, &form.label).await {
        Ok(token) => html! {
            section #new-token {
                p.done role="status" { (t("Token made. Copy it now: it is not shown again.")) }
                pre { code { (token) } }
            }
        },
        Err(e) => notice(None, Some(&e.message_in(signed.language))),
    };
    render(&state, &signed, shown).await
}

async fn confirm_revoke(State(state): State<AppState>, signed: Signed, Id(id): Id) -> PageResult {
    let t = |s| tr(signed.language, s);
    let tokens = ops::api_tokens(&signed.access, &state).await?;
    let token = tokens.iter().find(|tk| tk.id == id).ok_or(crate::AppError::NotFound)?;
    let warning = html! {
        (t("Scripts using the token")) " " strong { (token.name) } " " (t("stop working at once. This cannot be undone."))
    };
    Ok(super::confirmation(
        &signed,
        super::Confirmation {
            title: &format!("{} {}", t("Revoke token"), token.name),
            warning,
            action: format!("/account/tokens/{id}/revoke"),
            fields: &[],
            button: t("Revoke token"),
            back: "/account/tokens".into(),
        },
    ))
}

async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Id(id): Id,
    Form(form): Form<super::ConfirmedForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/account/tokens/{id}/revoke")).into_response());
    }
    ops::api_token_revoke(&signed.access, &state, id).await?;
    Ok(done("/account/tokens", tr(signed.language, "Token revoked.")))
}
