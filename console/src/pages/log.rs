//! The email log: what arrived for the caller's domains and what became of it, searchable by text, verdict,
//! direction, domain and day. Opening a message shows its journey (each filter layer's findings with their
//! scores and reasons, every delivery attempt with the downstream's reply) and lets the admin allow or deny its sender or client IP for the domain and
//! classify it as valid or spam (the tenant's filters learn it). Its headers and text need the delegated
//! "view headers" / "view emails" permissions (platform and tenant admins have both), and only while Moat
//! still has the message (quarantine, queue, or a kept copy).

use super::{PageResult, csrf, done, frame, notice};
use crate::i18n::tr;
use crate::ops::{self, LogParty, LogSearch};
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::routing::{get, post};
use maud::html;
use moat_directory::Listing;
use moat_store::Classification;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/log", get(list))
        .route("/log/{id}", get(show))
        .route("/log/{id}/list", post(list_party))
        .route("/log/{id}/classify", post(classify))
}

/// Rows shown at most.
const SHOWN: i64 = 200;

/// The verdicts the search offers, as the log writes them.
const VERDICTS: [&str; 7] = ["clean", "tagged", "quarantined", "rejected", "tempfailed", "discarded", "accepted"];

async fn list(State(state): State<AppState>, signed: Signed, Query(search): Query<LogSearch>) -> PageResult {
    let t = |s| tr(signed.language, s);
    let (entries, error) = match ops::log(&signed.access, &state, &search, SHOWN).await {
        Ok(entries) => (entries, None),
        Err(e @ AppError::BadRequest(_)) => (Vec::new(), Some(e.message_in(signed.language))),
        Err(e) => return Err(e.into()),
    };
    let domains = ops::visible_domains(&signed.access, &state).await?;
    let verdict = search.verdict.as_deref().unwrap_or("");
    let direction = search.direction.as_deref().unwrap_or("");
    let domain = search.domain.as_deref().unwrap_or("");
    let body = html! {
        (notice(None, error.as_deref()))
        form.search method="get" action="/log" {
            input name="q" type="search" value=(search.q.as_deref().unwrap_or("")) placeholder=(t("Sender, recipient, subject or IP")) aria-label=(t("Search"));
            select name="verdict" aria-label=(t("Verdict")) {
                option value="" { (t("Every verdict")) }
                @for v in VERDICTS { option value=(v) selected[verdict == v] { (t(v)) } }
            }
            select name="direction" aria-label=(t("Direction")) {
                option value="" { (t("Both directions")) }
                @for d in ["inbound", "outbound"] { option value=(d) selected[direction == d] { (t(d)) } }
            }
            select name="domain" aria-label=(t("Domain")) {
                option value="" { (t("All domains")) }
                @for d in &domains { option value=(d.name) selected[domain == d.name] { (d.name) } }
            }
            label { (t("From")) " " input name="from" type="date" value=(search.from.as_deref().unwrap_or("")); }
            label { (t("To")) " " input name="to" type="date" value=(search.to.as_deref().unwrap_or("")); }
            button type="submit" { (t("Search")) }
        }
        @if entries.is_empty() { p { (t("No messages found.")) } }
        @else {
            table #log {
                thead { tr { th { (t("Received")) } th { (t("Direction")) } th { (t("From")) } th { (t("To")) } th { (t("Subject")) } th { (t("Verdict")) } th { (t("Score")) } th { (t("Delivery")) } th { (t("Classified")) } } }
                tbody { @for e in &entries { tr {
                    td { a href=(format!("/log/{}", e.id)) { (crate::dates::shown(e.received_at)) } }
                    td { (t(e.direction.as_str())) }
                    td { (e.sender) } td { (e.recipients) } td { (e.subject.clone().unwrap_or_default()) }
                    td { (super::said(signed.language, &e.verdict)) } td { (e.score.map(|s| format!("{s:.1}")).unwrap_or_default()) } td { (super::said(signed.language, &e.delivery_status)) }
                    td { @if let Some(c) = e.classified { (t(c.as_str())) } }
                } } }
            }
            @if entries.len() as i64 == SHOWN { p.hint { (t("Only the newest 200 are shown; search to narrow them down.")) } }
        }
    };
    Ok(frame(&signed, t("Email log"), body))
}

#[derive(Deserialize, Default)]
struct Q {
    done: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    super::Id(id): super::Id,
    Query(q): Query<Q>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let (entry, bytes) = ops::log_entry(&signed.access, &state, id).await?;
    let journey = ops::log_journey(&signed.access, &state, id).await?;
    let delegation = signed.access.delegation();
    let (headers, text) = bytes.as_deref().map(ops::headers_and_text).unwrap_or_default();
    let body = html! {
        (notice(q.done.as_deref(), None))
        dl #log-entry {
            dt { (t("Received")) } dd { (crate::dates::shown(entry.received_at)) }
            dt { (t("Client")) } dd { (entry.client_ip) " (" (entry.helo) ")" }
            dt { (t("From")) } dd { (entry.sender) }
            dt { (t("To")) } dd { (entry.recipients) }
            dt { (t("Subject")) } dd { (entry.subject.clone().unwrap_or_default()) }
            dt { (t("Verdict")) } dd #verdict { (super::said(signed.language, &entry.verdict)) @if let Some(s) = entry.score { " (" (format!("{s:.1}")) ")" } }
            dt { (t("Delivery")) } dd { (super::said(signed.language, &entry.delivery_status)) " " (entry.last_reply.clone().unwrap_or_default()) }
            dt { (t("Classified")) } dd #classified { @if let Some(c) = entry.classified { (t(c.as_str())) } @else { "—" } }
        }
        h2 { (t("Filtering")) }
        @if journey.layers.is_empty() {
            p { (t("Symbols")) ": " (entry.symbols.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())) }
        } @else {
            table #layers.stack {
                thead { tr { th { (t("Layer")) } th { (t("Stage")) } th { (t("Findings")) } th { (t("Decision")) } th { (t("Time")) } } }
                tbody { @for layer in &journey.layers { tr {
                    td data-label=(t("Layer")) { (layer.plugin) @if layer.shadow { " " small { "(" (t("shadow")) ")" } } }
                    td data-label=(t("Stage")) { (layer.stage) }
                    td data-label=(t("Findings")) {
                        @if layer.symbols.is_empty() { "—" }
                        @for symbol in &layer.symbols {
                            div { code { (symbol.name) } " " (format!("{:+.1}", symbol.score)) @if !symbol.reason.is_empty() { ": " (symbol.reason) } }
                        }
                    }
                    td data-label=(t("Decision")) {
                        @if let Some(failure) = &layer.failure { span.failed { (t("failed")) ": " (failure) } }
                        @else { (layer.action.clone().unwrap_or_else(|| t("score only").into())) }
                    }
                    td data-label=(t("Time")) { (format!("{:.1} ms", layer.micros as f64 / 1000.0)) }
                } } }
            }
        }
        h2 { (t("Delivery attempts")) }
        @if journey.attempts.is_empty() {
            p #attempts-none { (t("No delivery attempt (yet).")) }
        } @else {
            table #attempts.stack {
                thead { tr { th { (t("When")) } th { (t("Recipient")) } th { (t("Node")) } th { (t("Result")) } th { (t("Reply")) } } }
                tbody { @for a in &journey.attempts { tr {
                    td data-label=(t("When")) { (crate::dates::shown(a.attempted_at)) }
                    td data-label=(t("Recipient")) { (a.recipient) }
                    td data-label=(t("Node")) { (a.node) }
                    td data-label=(t("Result")) { (t(match a.status.as_str() { "delivered" => "delivered", "failed" => "failed", _ => "to be retried" })) }
                    td.reason data-label=(t("Reply")) { (a.reply) }
                } } }
            }
        }
        form.inline method="post" action=(format!("/log/{id}/list")) {
            (csrf(&signed))
            @if !entry.sender.is_empty() {
                button type="submit" name="what" value="allow-sender" { (t("Allow this sender")) }
                " "
                button.danger type="submit" name="what" value="deny-sender" { (t("Deny this sender")) }
                " "
            }
            button type="submit" name="what" value="allow-ip" { (t("Allow this IP")) }
            " "
            button.danger type="submit" name="what" value="deny-ip" { (t("Deny this IP")) }
        }
        form.inline method="post" action=(format!("/log/{id}/classify")) {
            (csrf(&signed))
            button type="submit" name="as" value="valid" { (t("Classify as valid")) }
            " "
            button.danger type="submit" name="as" value="spam" { (t("Classify as spam")) }
        }
        @if bytes.is_some() {
            @if delegation.view_headers { h2 { (t("Headers")) } pre #headers { (headers) } }
            @if delegation.view_emails { h2 { (t("Message")) } pre #message-text { (text) } }
        } @else if delegation.view_headers || delegation.view_emails {
            p { (t("Moat no longer has this message (delivered without a kept copy, aged out, or deleted).")) }
        }
    };
    Ok(frame(&signed, t("Message"), body))
}

#[derive(Deserialize)]
struct ListForm {
    csrf: String,
    /// `allow-sender`, `deny-sender`, `allow-ip` or `deny-ip`.
    what: String,
}

/// Allow or deny a logged message's sender or client IP for the recipients' domain.
async fn list_party(
    State(state): State<AppState>,
    signed: Signed,
    super::Id(id): super::Id,
    Form(form): Form<ListForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let (listing, party) = match form.what.as_str() {
        "allow-sender" => (Listing::Allow, LogParty::Sender),
        "deny-sender" => (Listing::Deny, LogParty::Sender),
        "allow-ip" => (Listing::Allow, LogParty::Ip),
        "deny-ip" => (Listing::Deny, LogParty::Ip),
        _ => return Err(AppError::BadRequest("choose allow or deny, sender or IP".into()).into()),
    };
    let (value, domain) = ops::list_from_log(&signed.access, &state, id, party, listing).await?;
    let said = if listing == Listing::Deny { "Denied for the domain:" } else { "Allowed for the domain:" };
    Ok(done(&format!("/log/{id}"), &format!("{} {value} ({domain})", tr(signed.language, said))))
}

#[derive(Deserialize)]
struct ClassifyForm {
    csrf: String,
    #[serde(rename = "as")]
    classification: String,
}

async fn classify(
    State(state): State<AppState>,
    signed: Signed,
    super::Id(id): super::Id,
    Form(form): Form<ClassifyForm>,
) -> PageResult {
    signed.check(&form.csrf)?;
    let classification = Classification::parse(&form.classification)
        .ok_or_else(|| AppError::BadRequest("classify as valid or spam".into()))?;
    ops::classify(&signed.access, &state, id, classification).await?;
    let said = match classification {
        Classification::Spam => "Classified as spam: the filters learned it.",
        Classification::Valid => "Classified as valid: the filters learned it.",
    };
    Ok(done(&format!("/log/{id}"), tr(signed.language, said)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_directory::Language;

    /// Verdict and classification words reach `t` through variables, out of the i18n test's sight.
    #[test]
    fn verdict_and_classification_words_have_their_spanish() {
        for word in VERDICTS.into_iter().chain(["valid"]) {
            assert_ne!(tr(Language::Spanish, word), word, "{word}");
        }
    }
}
