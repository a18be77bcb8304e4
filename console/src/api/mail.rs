//! The mail itself: the delivery queue, the quarantine, the email log, and the trust lists it feeds.

use super::Done;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::ops;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moat_directory::Listing;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue))
        .routes(routes!(queued, delete_queued))
        .routes(routes!(retry_queued))
        .routes(routes!(quarantine))
        .routes(routes!(delete_held))
        .routes(routes!(release))
        .routes(routes!(log))
        .routes(routes!(log_entry))
        .routes(routes!(classify))
        .routes(routes!(list_from_log))
        .routes(routes!(list_add))
}

/// The delivery queue the caller may see, oldest first (at most 500).
#[utoipa::path(get, path = "/queue", tag = "queue", responses((status = 200, body = Vec<ops::QueuedView>)))]
async fn queue(Caller(access): Caller, State(state): State<AppState>) -> Result<Json<Vec<ops::QueuedView>>, AppError> {
    Ok(Json(ops::queue(&access, &state).await?))
}

/// One queued message: each recipient's attempts, next attempt, last reply and the node delivering it.
#[utoipa::path(get, path = "/queue/{id}", tag = "queue", responses((status = 200, body = ops::QueuedView)))]
async fn queued(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ops::QueuedView>, AppError> {
    Ok(Json(ops::queued(&access, &state, &id).await?))
}

/// Drop a queued message without delivering it.
#[utoipa::path(delete, path = "/queue/{id}", tag = "queue", responses((status = 204)))]
async fn delete_queued(Caller(access): Caller, State(state): State<AppState>, Path(id): Path<String>) -> Done {
    ops::queue_delete(&access, &state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Retried {
    /// Recipients made due now (those a node is delivering are left alone).
    due_now: u64,
}

/// Make a queued message's waiting recipients due now.
#[utoipa::path(post, path = "/queue/{id}/retry", tag = "queue", responses((status = 200, body = Retried)))]
async fn retry_queued(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Retried>, AppError> {
    Ok(Json(Retried { due_now: ops::queue_retry(&access, &state, &id).await? }))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct HeldQuery {
    /// One user's held mail (an admin with the panel permission).
    user: Option<String>,
}

/// A held message.
#[derive(Serialize, ToSchema)]
struct HeldView {
    id: String,
    sender: String,
    /// The recipients it is held for.
    recipients: Vec<String>,
    subject: Option<String>,
    score: f64,
    /// The symbols it was held for.
    reason: String,
    size: u64,
    received_at: i64,
}

/// Held messages of the caller's domains, newest first (at most 500).
#[utoipa::path(get, path = "/quarantine", tag = "quarantine", params(HeldQuery, ops::HeldFilter),
    responses((status = 200, body = Vec<HeldView>), (status = 400, body = ErrorBody)))]
async fn quarantine(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<HeldQuery>,
    Query(filter): Query<ops::HeldFilter>,
) -> Result<Json<Vec<HeldView>>, AppError> {
    let held = ops::quarantine(&access, &state, query.user.as_deref(), &filter).await?;
    Ok(Json(
        held.into_iter()
            .map(|m| HeldView {
                id: m.id,
                sender: m.sender,
                recipients: m.recipients.into_iter().map(|r| r.0).collect(),
                subject: m.subject,
                score: m.score,
                reason: m.reason,
                size: m.size,
                received_at: m.received_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReleaseQuery {
    /// Also allow the sender from then on (the user's list, or the domain's).
    #[serde(default)]
    allow_sender: bool,
}

#[derive(Serialize, ToSchema)]
struct Released {
    /// The message's id in the delivery queue.
    queue_id: String,
    /// Whose allow list the sender went on (`allow_sender`): a user's address or a domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_on: Option<String>,
}

/// Release a held message into the delivery queue (to the caller's recipients of it).
#[utoipa::path(post, path = "/quarantine/{id}/release", tag = "quarantine", params(HeldQuery, ReleaseQuery),
    responses((status = 200, body = Released), (status = 400, body = ErrorBody)))]
async fn release(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HeldQuery>,
    Query(release): Query<ReleaseQuery>,
) -> Result<Json<Released>, AppError> {
    let user = query.user.as_deref();
    Ok(Json(if release.allow_sender {
        let (queue_id, owner) = ops::release_and_allow(&access, &state, user, &id).await?;
        Released { queue_id, allowed_on: Some(owner) }
    } else {
        Released { queue_id: ops::release(&access, &state, user, &id).await?, allowed_on: None }
    }))
}

/// Delete a held message.
#[utoipa::path(delete, path = "/quarantine/{id}", tag = "quarantine", params(HeldQuery), responses((status = 204)))]
async fn delete_held(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HeldQuery>,
) -> Done {
    ops::delete_held(&access, &state, query.user.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A logged message; `headers` and `text` only on the one-entry route, as the caller's permissions allow,
/// while Moat keeps a copy.
#[derive(Serialize, ToSchema)]
struct LogView {
    id: i64,
    received_at: i64,
    client_ip: String,
    helo: String,
    tls: bool,
    sender: String,
    recipients: String,
    size: u64,
    subject: Option<String>,
    message_id: Option<String>,
    verdict: String,
    score: Option<f64>,
    /// Each filter symbol with its score: `NAME(score)`, comma-separated.
    symbols: Option<String>,
    delivery_status: String,
    last_reply: Option<String>,
    /// `spam` or `valid`, once an admin said so.
    classified: Option<&'static str>,
    /// `inbound` or `outbound`.
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// Each filter layer's findings and every delivery attempt (the one-entry route only).
    #[serde(skip_serializing_if = "Option::is_none")]
    journey: Option<ops::Journey>,
}

impl From<&moat_store::LogEntry> for LogView {
    fn from(e: &moat_store::LogEntry) -> Self {
        Self {
            id: e.id,
            received_at: e.received_at,
            client_ip: e.client_ip.clone(),
            helo: e.helo.clone(),
            tls: e.tls,
            sender: e.sender.clone(),
            recipients: e.recipients.clone(),
            size: e.size,
            subject: e.subject.clone(),
            message_id: e.message_id.clone(),
            verdict: e.verdict.clone(),
            score: e.score,
            symbols: e.symbols.clone(),
            delivery_status: e.delivery_status.clone(),
            last_reply: e.last_reply.clone(),
            classified: e.classified.map(|c| c.as_str()),
            direction: e.direction.as_str(),
            headers: None,
            text: None,
            journey: None,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// Sender, recipient, subject or client IP containing this text.
    q: Option<String>,
    /// Only this verdict (`clean`, `tagged`, `quarantined`, `rejected`, …).
    verdict: Option<String>,
    /// `inbound` or `outbound`.
    direction: Option<String>,
    /// Only this one of the caller's domains.
    domain: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`, UTC).
    from: Option<String>,
    /// Received on or before this day.
    to: Option<String>,
    /// At most this many (1–1,000; 100 when left out).
    limit: Option<i64>,
}

/// The email log of the caller's domains, newest first.
#[utoipa::path(get, path = "/log", tag = "email log", params(LogQuery),
    responses((status = 200, body = Vec<LogView>), (status = 400, body = ErrorBody)))]
async fn log(
    Caller(access): Caller,
    State(state): State<AppState>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Vec<LogView>>, AppError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let search = ops::LogSearch {
        q: query.q,
        verdict: query.verdict,
        direction: query.direction,
        domain: query.domain,
        from: query.from,
        to: query.to,
    };
    let entries = ops::log(&access, &state, &search, limit).await?;
    Ok(Json(entries.iter().map(LogView::from).collect()))
}

/// One logged message and its journey (each layer's findings, every delivery attempt), with its headers and
/// text while Moat has it, as the caller's permissions allow.
#[utoipa::path(get, path = "/log/{id}", tag = "email log", responses((status = 200, body = LogView)))]
async fn log_entry(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<LogView>, AppError> {
    let (entry, bytes) = ops::log_entry(&access, &state, id).await?;
    let mut view = LogView::from(&entry);
    view.journey = Some(ops::log_journey(&access, &state, id).await?);
    if let Some(bytes) = bytes {
        let (headers, text) = ops::headers_and_text(&bytes);
        let delegation = access.delegation();
        view.headers = delegation.view_headers.then_some(headers);
        view.text = delegation.view_emails.then_some(text);
    }
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Classify {
    /// `spam` or `valid`.
    classification: String,
}

/// Classify a logged message as spam or valid: the tenant's filters learn it.
#[utoipa::path(post, path = "/log/{id}/classify", tag = "email log", request_body = Classify,
    responses((status = 200, body = LogView), (status = 400, body = ErrorBody)))]
async fn classify(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(request): Json<Classify>,
) -> Result<Json<LogView>, AppError> {
    let classification = moat_store::Classification::parse(&request.classification).ok_or_else(|| {
        AppError::BadRequest(format!("classification is spam or valid, not {:?}", request.classification))
    })?;
    Ok(Json(LogView::from(&ops::classify(&access, &state, id, classification).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ListFromLog {
    /// `allow` or `deny`.
    list: String,
    party: ops::LogParty,
}

#[derive(Serialize, ToSchema)]
struct Listed {
    /// The sender address or client IP listed.
    value: String,
    /// The domain whose list it is on.
    domain: String,
    list: String,
}

/// Allow or deny a logged message's sender or client IP for its recipients' domain.
#[utoipa::path(post, path = "/log/{id}/list", tag = "email log", request_body = ListFromLog,
    responses((status = 201, body = Listed), (status = 400, body = ErrorBody)))]
async fn list_from_log(
    Caller(access): Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(request): Json<ListFromLog>,
) -> Result<(StatusCode, Json<Listed>), AppError> {
    let listing = parse_listing(&request.list)?;
    let (value, domain) = ops::list_from_log(&access, &state, id, request.party, listing).await?;
    Ok((StatusCode::CREATED, Json(Listed { value, domain, list: request.list })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewListEntry {
    /// `allow` or `deny`.
    list: String,
    /// A sender address, a sender domain, or an IP address or network.
    value: String,
    /// Whose list: a user's address or a domain.
    owner: String,
}

/// Add a trust-list entry.
#[utoipa::path(post, path = "/lists", tag = "trust lists", request_body = NewListEntry,
    responses((status = 201), (status = 400, body = ErrorBody)))]
async fn list_add(Caller(access): Caller, State(state): State<AppState>, Json(request): Json<NewListEntry>) -> Done {
    let listing = parse_listing(&request.list)?;
    ops::list_add(&access, &state, Some(&request.owner), listing, &request.value).await?;
    Ok(StatusCode::CREATED)
}

fn parse_listing(list: &str) -> Result<Listing, AppError> {
    match list {
        "allow" => Ok(Listing::Allow),
        "deny" => Ok(Listing::Deny),
        other => Err(AppError::BadRequest(format!("list is allow or deny, not {other:?}"))),
    }
}
