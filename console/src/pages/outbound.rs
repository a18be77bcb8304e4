//! A domain's outgoing mail, on its page: where its server relays (the smart host and its ports), the SMTP
//! credentials it authenticates with (made here, the secret shown once; revoked; a suspension lifted), and
//! the DKIM keys its mail is signed with (the records to publish, rotation, retirement).

use super::{PageResult, csrf, done, url_encode};
use crate::i18n::tr;
use crate::ops::{self, Configuration, SmtpCredentialView};
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::routing::post;
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{name}/smtp-credentials", post(create_credential))
        .route("/domains/{name}/smtp-credentials/revoke", post(revoke_credential))
        .route("/domains/{name}/smtp-credentials/resume", post(resume_credential))
        .route("/domains/{name}/dkim/rotate", post(rotate_dkim))
        .route("/domains/{name}/dkim/retire", post(retire_dkim))
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
                    td { (c.last_used_at.map(super::quarantine::time).unwrap_or_else(|| t("never").into())) }
                    td { (c.sent_today.0) " / " (c.sent_today.1) }
                    td { @match &c.suspended { Some(why) => { span.failed { (t("Suspended")) ": " (why) } } None => { (t("Active")) } } }
                    td {
                        @if c.suspended.is_some() {
                            form.inline method="post" action=(format!("{base}/smtp-credentials/resume")) {
                                (csrf(signed)) input type="hidden" name="username" value=(c.username);
                                button type="submit" { (t("Lift suspension")) }
                            }
                        }
                        form.inline method="post" action=(format!("{base}/smtp-credentials/revoke")) {
                            (csrf(signed)) input type="hidden" name="username" value=(c.username);
                            button.danger type="submit" { (t("Revoke")) }
                        }
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
                        form.inline method="post" action=(format!("{base}/dkim/retire")) {
                            (csrf(signed)) input type="hidden" name="selector" value=(r.selector);
                            button type="submit" { (t("Retire")) }
                        }
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
}

async fn revoke_credential(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<UsernameForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
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
}

async fn retire_dkim(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<SelectorForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    ops::dkim_retire(&signed.access, &state, &name, &form.selector).await.map_err(|e| match e {
        AppError::Directory(_) => AppError::BadRequest("only a rotated key can be retired".into()),
        other => other,
    })?;
    Ok(done(&format!("/domains/{}", url_encode(&name)), tr(signed.language, "DKIM key retired.")))
}
