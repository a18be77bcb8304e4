//! A domain's outgoing mail, on its page: where its server relays (the smart host and its ports), the SMTP
//! credentials it authenticates with (made here, the secret shown once; revoked; a suspension lifted), and
//! the DKIM keys its mail is signed with (the records to publish, rotation, retirement).

use super::{Confirmation, PageResult, confirmation, csrf, done, url_encode};
use crate::i18n::tr;
use crate::ops::{self, Configuration, SmtpCredentialView};
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{name}/smtp-credentials", post(create_credential))
        .route("/domains/{name}/smtp-credentials/revoke", get(confirm_revoke).post(revoke_credential))
        .route("/domains/{name}/smtp-credentials/resume", post(resume_credential))
        .route("/domains/{name}/dkim/rotate", post(rotate_dkim))
        .route("/domains/{name}/dkim/retire", get(confirm_retire).post(retire_dkim))
}

/// The "Outgoing mail" part of a domain's page.
pub fn section(signed: &Signed, config: &Configuration, credentials: &[SmtpCredentialView]) -> Markup {
    let t = |s| tr(signed.language, s);
    let ports = |ports: &[u16]| ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let base = format!("/domains/{}", url_encode(&config.domain));
    html! {
        h2 { (t("Outgoing mail")) }
        dl #smarthost {
            dt { (t("Smart host for outgoing mail")) } dd { code { (config.smart_host) } }
            dt { (t("Ports")) } dd {
                @if !config.submission_ports.is_empty() { (ports(&config.submission_ports)) " (STARTTLS)" br; }
                @if !config.submission_tls_ports.is_empty() { (ports(&config.submission_tls_ports)) " (TLS)" }
            }
            dt { (t("Authentication")) } dd { (t("An SMTP credential of this domain, or the console account of one of its admins (AUTH PLAIN or LOGIN, inside TLS only)")) }
        }
        h3 { (t("SMTP credentials")) }
        @if credentials.is_empty() { p { (t("No SMTP credentials yet.")) } }
        @else {
            table #credentials {
                thead { tr { th { (t("Username")) } th { (t("Label")) } th { (t("Last used")) } th { (t("Sent today")) } th { (t("State")) } th {} } }
                tbody { @for c in credentials { tr {
                    td { code { (c.username) } }
                    td { (c.label) }
                    td { (c.last_used_at.map(crate::dates::shown).unwrap_or_else(|| t("never").into())) }
                    td { (c.sent_today.0) " / " (c.sent_today.1) }
                    td { @match &c.suspended { Some(why) => { span.failed { (t("Suspended")) ": " (why) } } None => { (t("Active")) } } }
                    td {
                        @if c.suspended.is_some() {
                            form.inline method="post" action=(format!("{base}/smtp-credentials/resume")) {
                                (csrf(signed)) input type="hidden" name="username" value=(c.username);
                                button type="submit" { (t("Lift suspension")) }
                            }
                        }
                        a.button.danger href=(format!("{base}/smtp-credentials/revoke?username={}", url_encode(&c.username))) { (t("Revoke")) }
                    }
                } } }
            }
        }
        form #new-credential method="post" action=(format!("{base}/smtp-credentials")) {
            (csrf(signed))
            label { (t("Label")) input name="label" maxlength="100" placeholder=(t("e.g. office mail server")); }
            button type="submit" { (t("Create SMTP credential")) }
        }
        h3 { (t("DKIM keys")) }
        @if config.dkim.is_empty() { p { (t("No DKIM key: this domain's mail is sent unsigned.")) } }
        @else {
            table #dkim {
                thead { tr { th { (t("Record to publish")) } th { (t("Algorithm")) } th { (t("State")) } th {} } }
                tbody { @for r in &config.dkim { tr {
                    td { code { (r.name) ". TXT \"" (r.value) "\"" } }
                    td { (r.algorithm) }
                    td { @if r.signing { (t("Signing")) } @else { (t("Rotated: keep published until retired")) } }
                    td { @if !r.signing {
                        a.button href=(format!("{base}/dkim/retire?selector={}", url_encode(&r.selector))) { (t("Retire")) }
                    } }
                } } }
            }
        }
        form method="post" action=(format!("{base}/dkim/rotate")) {
            (csrf(signed))
            button type="submit" { @if config.dkim.is_empty() { (t("Create DKIM keys")) } @else { (t("Rotate DKIM keys")) } }
        }
    }
}

#[derive(Deserialize)]
struct LabelForm {
    csrf: String,
    #[serde(default)]
    label: String,
}

/// The secret is shown on the page this answer renders (never cached, never in a URL), and only here.
async fn create_credential(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<LabelForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let made = ops::smtp_credential_create(&signed.access, &state, &name, &form.label).await?;
    let message = format!(
        "{} {}: {} {} — {}",
        t("SMTP credential created"),
        made.username,
        t("password"),
        made.secret.unwrap_or_default(),
        t("copy it now, it is not shown again")
    );
    let shown_once = super::flash::put(&message);
    super::domains::domain_page(&state, &signed, &name, Some(&shown_once), None, None).await
}

#[derive(Deserialize)]
struct UsernameForm {
    csrf: String,
    username: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
struct Username {
    username: String,
}

/// What revoking a credential does, said before it is done (no JavaScript: a page of its own).
async fn confirm_revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<Username>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let known = ops::smtp_credentials(&signed.access, &state, &name).await?;
    let credential = known.iter().find(|c| c.username == q.username).ok_or(AppError::NotFound)?;
    let back = format!("/domains/{}", url_encode(&name));
    let warning = maud::html! {
        (t("Revoking")) " " code { (credential.username) } " (" (credential.label) "): "
        (t("the server that authenticates with it can no longer send mail through Moat. This cannot be undone; a new credential means a new password on that server."))
    };
    Ok(confirmation(
        &signed,
        Confirmation {
            title: t("Revoke SMTP credential"),
            warning,
            action: format!("{back}/smtp-credentials/revoke"),
            fields: &[("username", &credential.username)],
            button: t("Revoke"),
            back,
        },
    ))
}

async fn revoke_credential(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<UsernameForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if form.confirm.as_deref() != Some("yes") {
        // Only the confirmation page's form revokes.
        let to =
            format!("/domains/{}/smtp-credentials/revoke?username={}", url_encode(&name), url_encode(&form.username));
        return Ok(axum::response::Redirect::to(&to).into_response());
    }
    ops::smtp_credential_revoke(&signed.access, &state, &form.username).await?;
    Ok(done(&format!("/domains/{}", url_encode(&name)), tr(signed.language, "SMTP credential revoked.")))
}

async fn resume_credential(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<UsernameForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    ops::smtp_credential_resume(&signed.access, &state, &form.username).await?;
    Ok(done(&format!("/domains/{}", url_encode(&name)), tr(signed.language, "The credential may send again.")))
}

async fn rotate_dkim(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<super::CsrfOnly>,
) -> PageResult {
    signed.check(&form.csrf)?;
    ops::dkim_rotate(&signed.access, &state, &name).await?;
    let message = tr(signed.language, "New DKIM keys sign this domain's mail: publish their records.");
    Ok(done(&format!("/domains/{}", url_encode(&name)), message))
}

#[derive(Deserialize)]
struct SelectorForm {
    csrf: String,
    selector: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
struct Selector {
    selector: String,
}

/// What retiring a DKIM key means, said before it is done.
async fn confirm_retire(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<Selector>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let config = ops::configuration(&signed.access, &state, &name).await?;
    let record = config.dkim.iter().find(|r| r.selector == q.selector && !r.signing).ok_or(AppError::NotFound)?;
    let back = format!("/domains/{}", url_encode(&name));
    let warning = maud::html! {
        (t("Retiring")) " " code { (record.name) } ": "
        (t("Moat forgets this rotated key, and its record may leave the DNS. Mail it signed before the rotation no longer verifies once the record is gone."))
    };
    Ok(confirmation(
        &signed,
        Confirmation {
            title: t("Retire DKIM key"),
            warning,
            action: format!("{back}/dkim/retire"),
            fields: &[("selector", &record.selector)],
            button: t("Retire"),
            back,
        },
    ))
}

async fn retire_dkim(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<SelectorForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    if form.confirm.as_deref() != Some("yes") {
        let to = format!("/domains/{}/dkim/retire?selector={}", url_encode(&name), url_encode(&form.selector));
        return Ok(axum::response::Redirect::to(&to).into_response());
    }
    ops::dkim_retire(&signed.access, &state, &name, &form.selector).await?;
    Ok(done(&format!("/domains/{}", url_encode(&name)), tr(signed.language, "DKIM key retired.")))
}
