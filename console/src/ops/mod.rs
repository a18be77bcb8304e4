//! The console's operations, each with its access check, shared by the REST API and the pages so both do
//! exactly the same thing.

mod accounts;
mod tenants;

pub use accounts::{
    AdminChange, AdminView, UserChange, UserDetail, admin, admins, delegable_domains, edit_admin, edit_user,
    remove_admin, reset_admin_password, reset_user_password, user,
};
pub use tenants::{LicensePool, NewTenant, NewTenantAdmin, add_tenant_admin, create_tenant, set_tenant_licenses};

use crate::access::Access;
use crate::{AppError, AppState};
use moat_directory::{DomainSpec, ImportRequest, Language, ListScope, Listing};
use moat_store::{Delegation, Domain, DomainId, Role, TenantId};
use serde::{Deserialize, Serialize};

/// Messages of one hour or day by verdict class (`clean`, `tagged`, `quarantined`, `rejected`,
/// `deferred`, `accepted` — unfiltered —, `other`).
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct VerdictBucket {
    pub start: i64,
    pub counts: Vec<(String, i64)>,
}

/// The classes logged verdicts fall in, in the order charts stack them.
pub const VERDICT_CLASSES: [&str; 7] = ["clean", "tagged", "quarantined", "rejected", "deferred", "accepted", "other"];

/// The class a logged verdict falls in ("rejected at RCPT: 550 …" is `rejected`).
pub fn verdict_class(verdict: &str) -> &'static str {
    let word = verdict.split([':', ' ']).next().unwrap_or_default();
    VERDICT_CLASSES.into_iter().find(|class| *class == word).unwrap_or("other")
}

/// Counts by verdict, summed by class, in the classes' order.
fn by_class(counts: impl IntoIterator<Item = (String, i64)>) -> Vec<(String, i64)> {
    let mut classes: Vec<(String, i64)> = Vec::new();
    for (verdict, n) in counts {
        let class = verdict_class(&verdict);
        match classes.iter_mut().find(|(c, _)| c == class) {
            Some(slot) => slot.1 += n,
            None => classes.push((class.to_owned(), n)),
        }
    }
    classes.sort_by_key(|(c, _)| VERDICT_CLASSES.iter().position(|o| o == c));
    classes
}

/// A histogram as buckets from `since`, every bucket present (empty ones too).
fn buckets(since: i64, size: i64, count: usize, rows: Vec<(i64, String, i64)>) -> Vec<VerdictBucket> {
    (0..count as i64)
        .map(|i| {
            let start = since + i * size;
            let rows = rows.iter().filter(|(b, _, _)| *b == start).map(|(_, v, n)| (v.clone(), *n));
            VerdictBucket { start, counts: by_class(rows) }
        })
        .collect()
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct Status {
    pub tenants: usize,
    pub domains: usize,
    pub mailboxes: usize,
    pub licenses: Licenses,
    /// Messages logged since midnight (UTC), by verdict class.
    pub today: Vec<(String, i64)>,
    pub queue: QueueSize,
    /// The last 24 hours, hour by hour (the current hour last).
    pub hourly: Vec<VerdictBucket>,
    /// The last 30 days, day by day (today last).
    pub daily: Vec<VerdictBucket>,
}

/// A node sharing the database, as the status page shows it.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub version: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// It beat within its last three intervals.
    pub alive: bool,
    /// Recipients it is delivering now (its live leases).
    pub delivering: u64,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct QueueSize {
    pub messages: u64,
    pub recipients: u64,
}

/// The license pool of the tenants the caller administers; `pool` and `available` are null when any of them
/// has no limit.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct Licenses {
    pub pool: Option<i64>,
    pub used: i64,
    pub available: Option<i64>,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct DomainView {
    pub name: String,
    pub tenant: String,
    pub alias_of: Option<String>,
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    pub language: String,
    pub downstream: Vec<Downstream>,
    /// How users come to exist: `manual`, or `smtp` (signed up on their first message).
    pub signup: String,
}

#[derive(utoipa::ToSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Downstream {
    pub host: String,
    pub port: u16,
    pub priority: u32,
}

/// A new domain, as the console's form and automation send it.
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    pub name: String,
    /// The tenant's name; a tenant admin's own tenant when left out (the default tenant for a platform admin).
    pub tenant: Option<String>,
    pub alias_of: Option<String>,
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    pub language: Option<String>,
    /// `HOST[:PORT[:PRIORITY]]`, as `moat domain add --downstream` takes them.
    #[serde(default)]
    pub downstream: Vec<String>,
    /// A domain admin created with the domain.
    pub admin: Option<NewDomainAdmin>,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct NewDomainAdmin {
    pub name: String,
    pub password: String,
    pub email: Option<String>,
    #[serde(default)]
    pub open_panels: bool,
    #[serde(default)]
    pub view_emails: bool,
    #[serde(default)]
    pub view_headers: bool,
}

/// A new user: a mailbox, its console password and language, and its aliases (all made, or none).
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub address: String,
    pub full_name: Option<String>,
    /// Generated when left out (and returned once in the answer).
    pub password: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct UserView {
    pub address: String,
    pub full_name: Option<String>,
    pub aliases: Vec<String>,
    /// Only in the answer to a creation that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// What a domain publishes to use Moat (the configuration information page).
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct Configuration {
    pub domain: String,
    pub mx: Vec<String>,
    pub ip_ranges: Vec<String>,
    pub smart_host: String,
    /// Where the domain's server relays outgoing mail: STARTTLS ports, and implicit-TLS ports.
    pub submission_ports: Vec<u16>,
    pub submission_tls_ports: Vec<u16>,
    pub spf: String,
    /// The DKIM records to publish, signing keys first.
    pub dkim: Vec<DkimRecordView>,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct DkimRecordView {
    pub selector: String,
    pub algorithm: String,
    /// `SELECTOR._domainkey.DOMAIN`
    pub name: String,
    pub value: String,
    /// False once rotated: keep it published until it is retired.
    pub signing: bool,
}

/// An SMTP credential as admins see it (never its secret, which is shown once at creation).
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct SmtpCredentialView {
    pub username: String,
    pub domain: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Why it may not send, when suspended.
    pub suspended: Option<String>,
    /// Messages and recipients it sent today.
    pub sent_today: (u64, u64),
    /// Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct SmtpTest {
    pub host: String,
    pub port: u16,
    pub ok: bool,
    pub answer: String,
}

/// Held messages shown at most.
const SHOWN: i64 = 500;

fn today_start(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

fn admin_only(access: &Access) -> Result<(), AppError> {
    if access.admin().is_some() { Ok(()) } else { Err(AppError::Forbidden("this is for administrators".into())) }
}

pub fn tenant_admin_only(access: &Access) -> Result<(), AppError> {
    if access.manages_tenant() { Ok(()) } else { Err(not_for_this_role()) }
}

pub fn not_for_this_role() -> AppError {
    AppError::Forbidden("only platform and tenant administrators may do this".into())
}

pub async fn visible_domains(access: &Access, state: &AppState) -> Result<Vec<Domain>, AppError> {
    Ok(state.store.domain_list(access.tenant()).await?.into_iter().filter(|d| access.sees_domain(d)).collect())
}

/// A domain the caller administers (another's is "not found", as if it did not exist).
pub async fn visible_domain(access: &Access, state: &AppState, name: &str) -> Result<Domain, AppError> {
    let domain = state.directory.domain(name).await.map_err(|_| AppError::NotFound)?;
    if access.sees_domain(&domain) { Ok(domain) } else { Err(AppError::NotFound) }
}

fn domain_of(address: &str) -> Result<&str, AppError> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .ok_or_else(|| AppError::BadRequest(format!("{address:?} is not an address")))
}

pub async fn status(access: &Access, state: &AppState) -> Result<Status, AppError> {
    admin_only(access)?;
    let tenants: Vec<_> = state.store.tenant_list().await?.into_iter().filter(|t| access.sees_tenant(t.id)).collect();
    let mut licenses = Licenses { pool: Some(0), used: 0, available: Some(0) };
    let tenant_ids: Vec<TenantId> = match access.role() {
        Some(Role::Domain(t)) => vec![t],
        _ => tenants.iter().map(|t| t.id).collect(),
    };
    for tenant in tenant_ids {
        let usage = state.directory.license_usage(tenant).await?;
        licenses.used += usage.used;
        licenses.pool = licenses.pool.zip(usage.pool).map(|(a, b)| a + b);
        licenses.available = licenses.available.zip(usage.available()).map(|(a, b)| a + b);
    }
    let domains = visible_domains(access, state).await?;
    let ids: Vec<DomainId> = domains.iter().map(|d| d.id).collect();
    let mailboxes = state.store.mailbox_count(&ids).await? as usize;
    let now = crate::now();
    let since = today_start(now);
    // Each admin counts the mail of what they see: all of it, their tenant's, or their domains'.
    let (tenant, scope) = match access.role() {
        Some(Role::Platform) => (None, None),
        Some(Role::Tenant(t)) => (Some(t), None),
        _ => (access.tenant(), Some(ids.as_slice())),
    };
    let today = by_class(state.store.log_verdict_counts(since, tenant, scope).await?);
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    let hours_since = now - now.rem_euclid(HOUR) - 23 * HOUR;
    let hourly = state.store.log_verdict_histogram(hours_since, HOUR, tenant, scope).await?;
    let days_since = since - 29 * DAY;
    let daily = state.store.log_verdict_histogram(days_since, DAY, tenant, scope).await?;
    // Each admin sees the queue of what they see: all of it, their tenant's, or their domains'.
    let queue = match access.role() {
        Some(Role::Platform) => state.store.queue_status().await?,
        Some(Role::Tenant(t)) => state.store.queue_status_of(Some(t), None).await?,
        _ => state.store.queue_status_of(access.tenant(), Some(&ids)).await?,
    };
    Ok(Status {
        tenants: tenants.len(),
        domains: domains.len(),
        mailboxes,
        licenses,
        today,
        queue: QueueSize { messages: queue.messages, recipients: queue.recipients },
        hourly: buckets(hours_since, HOUR, 24, hourly),
        daily: buckets(days_since, DAY, 30, daily),
    })
}

/// The caller's own REST API tokens (labels and use; their values were shown once, when made).
/// Something Moat needs an admin to know.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct AlertView {
    pub at: i64,
    /// The tenant's name; none for the operator's own.
    pub tenant: Option<String>,
    /// `plugin-tripped`, `sender-suspended`, `smtp-auth-locked`, …
    pub kind: String,
    pub text: String,
}

/// The newest alerts (at most 200): a tenant admin's tenant's, or every one for the platform's operators.
pub async fn alerts(access: &Access, state: &AppState) -> Result<Vec<AlertView>, AppError> {
    tenant_admin_only(access)?;
    let tenants = state.store.tenant_list().await?;
    let rows = state.store.alerts(access.tenant(), 200).await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, kind, text, at)| AlertView {
            at,
            tenant: tenant.and_then(|t| tenants.iter().find(|x| x.id == t)).map(|t| t.name.clone()),
            kind,
            text,
        })
        .collect())
}

/// An alert kind in words (the console translates them).
pub fn alert_kind_name(kind: &str) -> &'static str {
    match kind {
        "plugin-tripped" => "A filter keeps failing",
        "sender-suspended" => "Sending suspended",
        "smtp-auth-locked" => "Sign-ins locked",
        _ => "Other",
    }
}

pub async fn api_tokens(access: &Access, state: &AppState) -> Result<Vec<moat_store::ApiToken>, AppError> {
    let admin = access.admin().ok_or_else(not_for_this_role)?;
    Ok(state.store.api_token_list(admin.id).await?)
}

/// Makes a REST API token for the caller; its value is returned this once (only its SHA-256 is kept).
pub async fn api_token_create(access: &Access, state: &AppState, label: &str) -> Result<String, AppError> {
    let admin = access.admin().ok_or_else(not_for_this_role)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(AppError::BadRequest("a token's label is 1 to 64 characters (what uses it, say)".into()));
    }
    let (token, digest) = moat_directory::generate_token();
    state.store.api_token_add(admin.id, label, &digest, crate::now()).await?;
    tracing::info!(admin = %admin.name, label, "API token made in the console");
    Ok(token)
}

/// Revokes one of the caller's tokens (another's is "not found").
pub async fn api_token_revoke(access: &Access, state: &AppState, id: i64) -> Result<(), AppError> {
    let admin = access.admin().ok_or_else(not_for_this_role)?;
    if !state.store.api_token_revoke(admin.id, id).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(admin = %admin.name, token = id, "API token revoked in the console");
    Ok(())
}

/// One customer at a glance, for the MSP overview: licenses, domains, users, today's mail by verdict, what
/// is held and what waits.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct TenantOverview {
    pub name: String,
    pub licenses: Licenses,
    pub domains: usize,
    pub users: i64,
    /// Messages logged since midnight (UTC), by verdict.
    pub today: Vec<(String, i64)>,
    pub held: i64,
    pub queued: u64,
}

/// One domain of a customer, for the overview's drill-down.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct DomainOverview {
    pub name: String,
    pub users: i64,
    pub today: i64,
    pub held: i64,
}

/// Every customer at a glance: the platform's operators only.
pub async fn tenants_overview(access: &Access, state: &AppState) -> Result<Vec<TenantOverview>, AppError> {
    if access.role() != Some(Role::Platform) {
        return Err(not_for_this_role());
    }
    let mut overview = Vec::new();
    for tenant in state.store.tenant_list().await? {
        overview.push(tenant_overview(state, tenant.id, tenant.name).await?);
    }
    Ok(overview)
}

async fn tenant_overview(state: &AppState, id: TenantId, name: String) -> Result<TenantOverview, AppError> {
    let usage = state.directory.license_usage(id).await?;
    let domains = state.store.domain_list(Some(id)).await?;
    let ids: Vec<DomainId> = domains.iter().map(|d| d.id).collect();
    let since = today_start(crate::now());
    Ok(TenantOverview {
        name,
        licenses: Licenses { pool: usage.pool, used: usage.used, available: usage.available() },
        domains: domains.len(),
        users: state.store.mailbox_count(&ids).await?,
        today: by_class(state.store.log_verdict_counts(since, Some(id), None).await?),
        held: state.store.quarantine_count(id, None).await?,
        queued: state.store.queue_status_of(Some(id), None).await?.messages,
    })
}

/// One customer and its domains (the overview's drill-down): the platform's operators only.
pub async fn tenant_detail(
    access: &Access,
    state: &AppState,
    name: &str,
) -> Result<(TenantOverview, Vec<DomainOverview>), AppError> {
    if access.role() != Some(Role::Platform) {
        return Err(not_for_this_role());
    }
    let tenant = state.store.tenant_by_name(name).await?.ok_or(AppError::NotFound)?;
    let overview = tenant_overview(state, tenant.id, tenant.name).await?;
    let since = today_start(crate::now());
    let mut domains = Vec::new();
    for domain in state.store.domain_list(Some(tenant.id)).await? {
        let one = [domain.id];
        let today = state.store.log_verdict_counts(since, Some(tenant.id), Some(&one)).await?;
        domains.push(DomainOverview {
            users: state.store.mailbox_count(&one).await?,
            today: today.iter().map(|(_, n)| n).sum(),
            held: state.store.quarantine_count(tenant.id, Some(&one)).await?,
            name: domain.name,
        });
    }
    Ok((overview, domains))
}

/// A queued message as the queue page shows it.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct QueuedView {
    pub id: String,
    pub received_at: i64,
    /// Empty for the null sender `<>` (a bounce, a notice).
    pub sender: String,
    pub size: u64,
    pub recipients: Vec<QueuedRecipientView>,
}

#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct QueuedRecipientView {
    pub address: String,
    /// "queued", "delivered" or "failed".
    pub status: &'static str,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_reply: Option<String>,
    /// The node delivering it right now.
    pub delivering_node: Option<String>,
}

/// The most queued messages one page or answer lists.
const QUEUE_PAGE: i64 = 500;

/// The queue as the caller may see it, oldest first: all of it, its tenant's, or its domains'.
pub async fn queue(access: &Access, state: &AppState) -> Result<Vec<QueuedView>, AppError> {
    admin_only(access)?;
    let messages = match access.role() {
        Some(Role::Platform) => state.store.queue_list(None, None, QUEUE_PAGE).await?,
        Some(Role::Tenant(t)) => state.store.queue_list(Some(t), None, QUEUE_PAGE).await?,
        _ => {
            let ids: Vec<DomainId> = visible_domains(access, state).await?.into_iter().map(|d| d.id).collect();
            state.store.queue_list(access.tenant(), Some(&ids), QUEUE_PAGE).await?
        }
    };
    let now = crate::now();
    Ok(messages.into_iter().map(|m| queued_view(m, now)).collect())
}

fn queued_view(m: moat_store::QueuedMessage, now: i64) -> QueuedView {
    use moat_store::RecipientStatus;
    QueuedView {
        id: m.id,
        received_at: m.received_at,
        sender: m.sender,
        size: m.size,
        recipients: m
            .recipients
            .into_iter()
            .map(|r| QueuedRecipientView {
                status: match r.status {
                    RecipientStatus::Queued => "queued",
                    RecipientStatus::Delivered => "delivered",
                    RecipientStatus::Failed => "failed",
                },
                // A lease past its time belongs to nobody: another node may take it now.
                delivering_node: r
                    .lease_owner
                    .filter(|_| r.status == RecipientStatus::Queued && r.next_attempt_at > now),
                address: r.address,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_reply: r.last_reply,
            })
            .collect(),
    }
}

/// A queued message the caller may act on: its log row must be the caller's (another's is "not found").
async fn visible_queued(access: &Access, state: &AppState, id: &str) -> Result<moat_store::QueuedMessage, AppError> {
    let message = state.store.queue_get(id).await?.ok_or(AppError::NotFound)?;
    if access.role() != Some(Role::Platform) {
        let log_id = message.log_id.ok_or(AppError::NotFound)?;
        visible_log_entry(access, state, log_id).await?;
    }
    Ok(message)
}

/// One queued message the caller may see.
pub async fn queued(access: &Access, state: &AppState, id: &str) -> Result<QueuedView, AppError> {
    admin_only(access)?;
    Ok(queued_view(visible_queued(access, state, id).await?, crate::now()))
}

/// "Retry now": the message's waiting recipients are due at once (a node picks them up within its poll
/// interval); recipients a node is delivering right now are left to it. Returns how many were made due.
pub async fn queue_retry(access: &Access, state: &AppState, id: &str) -> Result<u64, AppError> {
    admin_only(access)?;
    visible_queued(access, state, id).await?;
    Ok(state.store.queue_retry(id, crate::now()).await?)
}

/// Drops a message from the queue without delivering it (its body goes with the next sweep).
pub async fn queue_delete(access: &Access, state: &AppState, id: &str) -> Result<(), AppError> {
    admin_only(access)?;
    visible_queued(access, state, id).await?;
    state.store.queue_delete(id).await.map_err(|e| match e {
        // Delivered or deleted meanwhile.
        moat_store::StoreError::NotFound { .. } => AppError::NotFound,
        e => e.into(),
    })?;
    tracing::info!(queue_id = id, "deleted from the queue in the console");
    Ok(())
}

/// Every node that runs on this database, and what each is delivering: the platform's operators only (a
/// tenant's admins have no business with the machines).
pub async fn nodes(access: &Access, state: &AppState) -> Result<Vec<NodeView>, AppError> {
    if access.role() != Some(Role::Platform) {
        return Err(not_for_this_role());
    }
    let now = crate::now();
    let leases = state.store.queue_leases(now).await?;
    Ok(state
        .store
        .nodes()
        .await?
        .into_iter()
        .map(|n| NodeView {
            delivering: leases.iter().find(|(owner, _)| *owner == n.name).map_or(0, |(_, count)| *count),
            alive: n.alive(now),
            name: n.name,
            version: n.version,
            started_at: n.started_at,
            heartbeat_at: n.heartbeat_at,
        })
        .collect())
}

pub async fn domain_view(state: &AppState, domain: Domain) -> Result<DomainView, AppError> {
    let tenant = state.store.tenant_list().await?.into_iter().find(|t| t.id == domain.tenant_id);
    let alias_of = match domain.alias_of {
        Some(id) => state.store.domain_by_id(id).await?.map(|d| d.name),
        None => None,
    };
    let downstream = state
        .store
        .downstream_hosts(domain.id)
        .await?
        .into_iter()
        .map(|h| Downstream { host: h.host, port: h.port, priority: h.priority })
        .collect();
    Ok(DomainView {
        name: domain.name,
        tenant: tenant.map(|t| t.name).unwrap_or_default(),
        alias_of,
        contact_email: domain.contact_email,
        max_users: domain.max_users,
        language: domain.language,
        downstream,
        signup: domain.signup.as_str().to_owned(),
    })
}

/// A sign-up mode change, as the console's form and automation send it.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SignupChange {
    /// `manual`, `smtp` or `ldap`.
    pub mode: String,
    /// For `smtp`: an existing address of the domain, to check that its server validates recipients.
    #[serde(default)]
    pub check: Option<String>,
}

/// Sets how a domain's users come to exist; `smtp` only once the domain's server passes the check.
pub async fn set_signup(
    access: &Access,
    state: &AppState,
    name: &str,
    change: &SignupChange,
) -> Result<DomainView, AppError> {
    admin_only(access)?;
    // Sign-up spends the tenant's licenses on whoever the domain's server accepts: the tenant decides.
    tenant_admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let signup = moat_store::Signup::parse(&change.mode)
        .ok_or_else(|| AppError::BadRequest(format!("sign-up mode is manual, smtp or ldap, not {:?}", change.mode)))?;
    let check = change.check.as_deref().map(str::trim).filter(|c| !c.is_empty());
    state.directory.set_signup(&domain.name, signup, check).await?;
    domain_view(state, state.directory.domain(&domain.name).await?).await
}

/// A directory's settings as the API and the console take them: the scope (a domain, or without one the
/// tenant's every domain) and the settings, the bind password included (never given back).
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LdapChange {
    /// Set for one domain; left out, for every domain of the caller's tenant (`tenant` for a platform admin).
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    pub settings: moat_directory::LdapSettings,
}

/// Where a directory change applies: a domain the caller sees, or the caller's tenant. Tenant admins only:
/// the directory signs users up on the tenant's licenses and holds a bind credential.
async fn ldap_scope(
    access: &Access,
    state: &AppState,
    domain: Option<&str>,
    tenant: Option<&str>,
) -> Result<moat_directory::LdapScope, AppError> {
    admin_only(access)?;
    tenant_admin_only(access)?;
    if let Some(domain) = domain.map(str::trim).filter(|d| !d.is_empty()) {
        return Ok(moat_directory::LdapScope::Domain(visible_domain(access, state, domain).await?.name));
    }
    let id = match (access.tenant(), tenant) {
        (Some(own), _) => own,
        (None, Some(name)) => state.store.tenant_by_name(name).await?.ok_or(AppError::NotFound)?.id,
        (None, None) => moat_store::DEFAULT_TENANT,
    };
    let name = state.store.tenant_list().await?.into_iter().find(|t| t.id == id).ok_or(AppError::NotFound)?.name;
    Ok(moat_directory::LdapScope::Tenant(name))
}

/// Sets a directory (tenant-wide or one domain's).
pub async fn set_ldap(access: &Access, state: &AppState, change: LdapChange) -> Result<(), AppError> {
    let scope = ldap_scope(access, state, change.domain.as_deref(), change.tenant.as_deref()).await?;
    Ok(state.directory.set_ldap(&scope, change.settings).await?)
}

/// The directory settings of a scope, without the password.
pub async fn ldap_settings(
    access: &Access,
    state: &AppState,
    domain: Option<&str>,
    tenant: Option<&str>,
) -> Result<Option<moat_directory::LdapSettings>, AppError> {
    let scope = ldap_scope(access, state, domain, tenant).await?;
    Ok(state.directory.ldap_settings(&scope).await?)
}

/// The three checks of the directory that applies to a domain.
pub async fn check_ldap(
    access: &Access,
    state: &AppState,
    domain: &str,
    user: Option<&str>,
    alias: Option<&str>,
) -> Result<moat_directory::LdapCheck, AppError> {
    let moat_directory::LdapScope::Domain(name) = ldap_scope(access, state, Some(domain), None).await? else {
        return Err(AppError::NotFound);
    };
    let filled = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(state.directory.check_ldap(&name, filled(user).as_deref(), filled(alias).as_deref()).await?)
}

/// Synchronizes the directory that applies to a domain now.
pub async fn sync_ldap(
    access: &Access,
    state: &AppState,
    domain: &str,
) -> Result<moat_directory::SyncReport, AppError> {
    let moat_directory::LdapScope::Domain(name) = ldap_scope(access, state, Some(domain), None).await? else {
        return Err(AppError::NotFound);
    };
    Ok(state.directory.sync_ldap_of(&name).await?)
}

pub async fn domains(access: &Access, state: &AppState) -> Result<Vec<DomainView>, AppError> {
    admin_only(access)?;
    let mut out = Vec::new();
    for domain in visible_domains(access, state).await? {
        out.push(domain_view(state, domain).await?);
    }
    Ok(out)
}

pub async fn domain(access: &Access, state: &AppState, name: &str) -> Result<DomainView, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    domain_view(state, domain).await
}

/// The tenant a caller acts in: its own for a tenant admin (another tenant's name is "not found").
async fn acting_tenant(
    access: &Access,
    state: &AppState,
    requested: Option<String>,
) -> Result<Option<String>, AppError> {
    match access.role() {
        Some(Role::Platform) => Ok(requested.filter(|t| !t.trim().is_empty())),
        Some(Role::Tenant(own)) => {
            let own = state.store.tenant_list().await?.into_iter().find(|t| t.id == own).ok_or(AppError::NotFound)?;
            match requested.filter(|t| !t.trim().is_empty()) {
                Some(name) if name != own.name => Err(AppError::NotFound),
                _ => Ok(Some(own.name)),
            }
        }
        _ => Err(not_for_this_role()),
    }
}

pub async fn create_domain(access: &Access, state: &AppState, request: NewDomain) -> Result<DomainView, AppError> {
    tenant_admin_only(access)?;
    let tenant = acting_tenant(access, state, request.tenant).await?;
    if let Some(primary) = &request.alias_of {
        visible_domain(access, state, primary).await?;
    }
    let downstream = request
        .downstream
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| moat_directory::parse_downstream(d.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(admin) = &request.admin {
        moat_directory::check_password(&admin.password)?;
        if state.store.admin_by_name(&admin.name).await?.is_some() {
            return Err(AppError::BadRequest(format!("an account named {} exists already", admin.name)));
        }
    }
    let spec = DomainSpec {
        tenant,
        name: request.name,
        alias_of: request.alias_of.filter(|a| !a.trim().is_empty()),
        contact_email: request.contact_email.filter(|c| !c.trim().is_empty()),
        max_users: request.max_users,
        language: request.language.map(|l| Language::parse(&l).code().to_owned()),
        downstream,
    };
    let id = state.directory.add_domain(&spec).await?;
    let domain = state.store.domain_by_id(id).await?.ok_or(AppError::NotFound)?;
    if let Some(admin) = request.admin {
        let delegation = Delegation {
            open_panels: admin.open_panels,
            view_emails: admin.view_emails,
            view_headers: admin.view_headers,
        };
        let made = create_domain_admin(state, domain.tenant_id, &admin, &[domain.id], delegation).await;
        if let Err(e) = made {
            // The domain and its admin come together, or neither.
            let _ = state.directory.remove_domain(&domain.name).await;
            return Err(e);
        }
    }
    domain_view(state, domain).await
}

/// A change to a domain's settings, as its edit form and `PUT /api/v1/domains/{name}` send it: every field
/// is written (absent contact or limit: none).
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DomainChange {
    pub contact_email: Option<String>,
    pub max_users: Option<i64>,
    /// A language code; the domain's current one when absent.
    pub language: Option<String>,
    /// `HOST[:PORT[:PRIORITY]]`, replacing the downstream hosts (none on an alias domain).
    #[serde(default)]
    pub downstream: Vec<String>,
}

pub async fn edit_domain(
    access: &Access,
    state: &AppState,
    name: &str,
    change: DomainChange,
) -> Result<DomainView, AppError> {
    tenant_admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let downstream = change
        .downstream
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| moat_directory::parse_downstream(d.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = moat_directory::DomainSettings {
        contact_email: change.contact_email,
        max_users: change.max_users,
        language: change.language.unwrap_or_else(|| domain.language.clone()),
        downstream,
    };
    state.directory.edit_domain(&domain.name, &settings).await?;
    let domain = state.store.domain_by_id(domain.id).await?.ok_or(AppError::NotFound)?;
    domain_view(state, domain).await
}

async fn create_domain_admin(
    state: &AppState,
    tenant: TenantId,
    admin: &NewDomainAdmin,
    domains: &[DomainId],
    delegation: Delegation,
) -> Result<(), AppError> {
    let account = NewAccount { name: &admin.name, password: &admin.password, email: admin.email.as_deref() };
    create_admin(state, Role::Domain(tenant), account, Some((domains, delegation))).await
}

/// An admin account as a form or a request gives it.
pub(crate) struct NewAccount<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub email: Option<&'a str>,
}

/// Makes an admin account of `role`, with a domain admin's domains and permissions.
pub(crate) async fn create_admin(
    state: &AppState,
    role: Role,
    account: NewAccount<'_>,
    delegated: Option<(&[DomainId], Delegation)>,
) -> Result<(), AppError> {
    let name = account.name.trim();
    moat_directory::check_account_name(name)?;
    // Checked before the account is made, so a bad address leaves nothing half-made.
    if let Some(email) = account.email.map(str::trim).filter(|e| !e.is_empty()) {
        moat_directory::Address::parse_mailbox(email).map_err(moat_directory::DirectoryError::from)?;
    }
    let hash = accounts::Password::chosen(account.password.to_owned()).await?;
    let id = state.store.admin_add(name, &hash, role, crate::now()).await?;
    if let Some((domains, delegation)) = delegated {
        state.store.admin_delegate(id, domains, delegation).await?;
    }
    state.directory.set_notification_address(id, account.email).await?;
    Ok(())
}

/// A domain admin for existing domains of the caller's.
pub async fn add_domain_admin(
    access: &Access,
    state: &AppState,
    admin: NewDomainAdmin,
    domains: &[String],
) -> Result<(), AppError> {
    tenant_admin_only(access)?;
    let mut ids = Vec::new();
    let mut tenant = None;
    for name in domains {
        let domain = visible_domain(access, state, name).await?;
        if tenant.is_some_and(|t| t != domain.tenant_id) {
            return Err(AppError::BadRequest("a domain admin's domains belong to one tenant".into()));
        }
        tenant = Some(domain.tenant_id);
        ids.push(domain.id);
    }
    let tenant = tenant.ok_or_else(|| AppError::BadRequest("choose at least one domain".into()))?;
    let delegation =
        Delegation { open_panels: admin.open_panels, view_emails: admin.view_emails, view_headers: admin.view_headers };
    create_domain_admin(state, tenant, &admin, &ids, delegation).await
}

/// What deleting a domain takes with it, for the confirmation an admin sees first.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct DomainRemoval {
    pub name: String,
    pub mailboxes: usize,
    pub aliases: usize,
    pub alias_domains: Vec<String>,
}

pub async fn domain_removal(access: &Access, state: &AppState, name: &str) -> Result<DomainRemoval, AppError> {
    tenant_admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let alias_domains: Vec<String> = state
        .store
        .domain_list(Some(domain.tenant_id))
        .await?
        .into_iter()
        .filter(|d| d.alias_of == Some(domain.id))
        .map(|d| d.name)
        .collect();
    Ok(DomainRemoval {
        mailboxes: state.store.mailbox_list(Some(domain.id)).await?.len(),
        aliases: state.store.alias_list(Some(domain.id)).await?.len(),
        alias_domains,
        name: domain.name,
    })
}

pub async fn delete_domain(access: &Access, state: &AppState, name: &str) -> Result<(), AppError> {
    tenant_admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    state.directory.remove_domain(&domain.name).await?;
    Ok(())
}

pub async fn users(
    access: &Access,
    state: &AppState,
    query: &str,
    domain: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserView>, AppError> {
    admin_only(access)?;
    let ids: Vec<DomainId> = match domain.filter(|d| !d.is_empty()) {
        Some(name) => vec![visible_domain(access, state, name).await?.id],
        None => visible_domains(access, state).await?.into_iter().map(|d| d.id).collect(),
    };
    let mailboxes = state.store.mailbox_search(&ids, query.trim(), limit, offset).await?;
    let aliases = state.store.alias_list_of(&mailboxes.iter().map(|m| m.id).collect::<Vec<_>>()).await?;
    Ok(mailboxes
        .into_iter()
        .map(|m| UserView {
            aliases: aliases.iter().filter(|a| a.mailbox == m.address).map(|a| a.address.clone()).collect(),
            address: m.address,
            full_name: m.full_name,
            generated_password: None,
        })
        .collect())
}

pub async fn create_user(access: &Access, state: &AppState, request: NewUser) -> Result<UserView, AppError> {
    admin_only(access)?;
    visible_domain(access, state, domain_of(&request.address)?).await?;
    for alias in &request.aliases {
        visible_domain(access, state, domain_of(alias)?).await?;
    }
    let password = accounts::Password::new(request.password).await?;
    let directory = &state.directory;
    let id = directory.add_mailbox(&request.address, request.full_name.as_deref().filter(|n| !n.is_empty())).await?;
    for (made, alias) in request.aliases.iter().enumerate() {
        if let Err(e) = directory.add_alias(alias, &request.address).await {
            // All or nothing: undo the aliases and the mailbox made for this request.
            for earlier in &request.aliases[..made] {
                let _ = directory.remove_alias(earlier).await;
            }
            let _ = directory.remove_mailbox(&request.address).await;
            return Err(e.into());
        }
    }
    state.store.mailbox_set_password(id, &password.hash).await?;
    if let Some(language) = request.language.as_deref().filter(|l| !l.is_empty()) {
        state.store.mailbox_set_language(id, Some(Language::parse(language).code())).await?;
    }
    let address = request.address.trim().to_ascii_lowercase();
    let full_name = request.full_name.as_deref().filter(|n| !n.is_empty());
    // The user exists now; a welcome that cannot be sent is logged, not a failure of the creation.
    if let Err(e) = directory.welcome(&address, full_name, password.generated.as_deref()).await {
        tracing::warn!(%address, "no welcome message: {e}");
    }
    Ok(UserView {
        address,
        full_name: request.full_name.clone(),
        aliases: request.aliases.iter().map(|a| a.trim().to_ascii_lowercase()).collect(),
        generated_password: password.generated,
    })
}

pub async fn delete_user(access: &Access, state: &AppState, address: &str) -> Result<(), AppError> {
    admin_only(access)?;
    visible_domain(access, state, domain_of(address)?).await?;
    state.directory.remove_mailbox(address).await?;
    Ok(())
}

pub async fn create_alias(access: &Access, state: &AppState, alias: &str, mailbox: &str) -> Result<(), AppError> {
    admin_only(access)?;
    visible_domain(access, state, domain_of(alias)?).await?;
    visible_domain(access, state, domain_of(mailbox)?).await?;
    state.directory.add_alias(alias, mailbox).await?;
    Ok(())
}

/// The mailbox an alias of the caller's delivers to.
pub async fn alias_target(access: &Access, state: &AppState, alias: &str) -> Result<String, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, domain_of(alias)?).await?;
    let alias = moat_directory::Address::parse(alias).map_err(|_| AppError::NotFound)?;
    let target = state.store.alias_target(domain.id, alias.local()).await?.ok_or(AppError::NotFound)?;
    Ok(state.store.mailbox_by_id(target).await?.ok_or(AppError::NotFound)?.address)
}

pub async fn delete_alias(access: &Access, state: &AppState, alias: &str) -> Result<(), AppError> {
    admin_only(access)?;
    visible_domain(access, state, domain_of(alias)?).await?;
    state.directory.remove_alias(alias).await?;
    Ok(())
}

/// Users as CSV, in the import's third format (`Full name, email, , alias…`): an export imports back.
pub fn users_csv(users: &[UserView]) -> String {
    let field = |s: &str| {
        // A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is written as text: a
        // user's name is theirs to choose, the export is opened by an admin. The import takes the quote off.
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
    };
    let mut out = String::from("Full name,Email,Password,Aliases\n");
    for user in users {
        let mut row = vec![field(user.full_name.as_deref().unwrap_or("")), field(&user.address), String::new()];
        row.extend(user.aliases.iter().map(|a| field(a)));
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

pub async fn start_import(
    access: &Access,
    state: &AppState,
    file_name: &str,
    bytes: Vec<u8>,
    domain: Option<String>,
    tenant: Option<String>,
) -> Result<i64, AppError> {
    tenant_admin_only(access)?;
    let domain = domain.filter(|d| !d.trim().is_empty());
    let tenant = match &domain {
        Some(name) => visible_domain(access, state, name).await?.tenant_id,
        None => match acting_tenant(access, state, tenant).await? {
            Some(name) => state.store.tenant_by_name(&name).await?.ok_or(AppError::NotFound)?.id,
            None => TenantId(1),
        },
    };
    let admin = access.admin().ok_or(AppError::NotFound)?;
    let report_to = admin.email.clone().or_else(|| admin.name.contains('@').then(|| admin.name.clone()));
    let request = ImportRequest {
        tenant,
        admin: Some(admin.id),
        file_name: file_name.to_owned(),
        bytes,
        domain,
        report_to,
        language: Language::parse(&admin.language),
    };
    Ok(state.directory.start_import(request).await?)
}

pub async fn import_job(access: &Access, state: &AppState, id: i64) -> Result<moat_store::ImportJob, AppError> {
    tenant_admin_only(access)?;
    let job = state.store.import_job_get(id).await.map_err(|_| AppError::NotFound)?;
    if access.sees_tenant(job.tenant) { Ok(job) } else { Err(AppError::NotFound) }
}

pub async fn import_jobs(access: &Access, state: &AppState) -> Result<Vec<moat_store::ImportJob>, AppError> {
    tenant_admin_only(access)?;
    Ok(state.store.import_jobs(access.tenant(), 20).await?)
}

/// The SPF record a domain publishes so that its mail sent through Moat passes: Moat's address ranges, or
/// (when the operator has not listed them) the smart host's own addresses.
pub fn spf_record(ip_ranges: &[String], smart_host: &str) -> String {
    let mut spf = String::from("v=spf1");
    for range in ip_ranges {
        let kind = if range.contains(':') { "ip6" } else { "ip4" };
        spf.push_str(&format!(" {kind}:{range}"));
    }
    if ip_ranges.is_empty() {
        spf.push_str(&format!(" a:{smart_host}"));
    }
    spf.push_str(" ~all");
    spf
}

pub async fn configuration(access: &Access, state: &AppState, name: &str) -> Result<Configuration, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let publishing = &state.publishing;
    let dkim = dkim_views(state.directory.dkim_records(&domain.name).await?);
    Ok(Configuration {
        domain: domain.name,
        mx: publishing.mx_hosts.iter().enumerate().map(|(i, h)| format!("{} {h}", 10 * (i + 1))).collect(),
        ip_ranges: publishing.ip_ranges.clone(),
        smart_host: publishing.smart_host.clone(),
        submission_ports: publishing.submission_ports.clone(),
        submission_tls_ports: publishing.submission_tls_ports.clone(),
        spf: spf_record(&publishing.ip_ranges, &publishing.smart_host),
        dkim,
    })
}

fn dkim_views(records: Vec<moat_directory::DkimRecord>) -> Vec<DkimRecordView> {
    records
        .into_iter()
        .map(|r| DkimRecordView {
            algorithm: r.algorithm.as_str().into(),
            selector: r.selector,
            name: r.name,
            value: r.value,
            signing: r.signing,
        })
        .collect()
}

/// New DKIM keys for a domain the caller administers (the old ones stop signing, stay to publish).
pub async fn dkim_rotate(access: &Access, state: &AppState, name: &str) -> Result<Vec<DkimRecordView>, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    Ok(dkim_views(state.directory.dkim_rotate(&domain.name).await?))
}

/// Forgets a rotated DKIM key of a domain the caller administers.
pub async fn dkim_retire(access: &Access, state: &AppState, name: &str, selector: &str) -> Result<(), AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    Ok(state.directory.dkim_retire(&domain.name, selector).await?)
}

async fn credential_view(state: &AppState, c: moat_store::SmtpCredential) -> Result<SmtpCredentialView, AppError> {
    let now = moat_store::unix_now();
    let sent = state.store.sending_sent(&moat_store::SendingScope::Account(c.username.clone()), now).await?;
    Ok(SmtpCredentialView {
        username: c.username,
        domain: c.domain,
        label: c.label,
        created_at: c.created_at,
        last_used_at: c.last_used_at,
        suspended: c.suspended.map(|(_, why)| why),
        sent_today: sent.day,
        secret: None,
    })
}

/// The SMTP credentials of a domain the caller administers.
pub async fn smtp_credentials(
    access: &Access,
    state: &AppState,
    name: &str,
) -> Result<Vec<SmtpCredentialView>, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let mut views = Vec::new();
    for c in state.store.smtp_credential_list(Some(domain.tenant_id), Some(domain.id)).await? {
        views.push(credential_view(state, c).await?);
    }
    Ok(views)
}

/// A new SMTP credential of a domain the caller administers, with its secret (shown this once).
pub async fn smtp_credential_create(
    access: &Access,
    state: &AppState,
    name: &str,
    label: &str,
) -> Result<SmtpCredentialView, AppError> {
    admin_only(access)?;
    let domain = visible_domain(access, state, name).await?;
    let (credential, secret) = state.directory.smtp_credential_create(&domain.name, label).await?;
    Ok(SmtpCredentialView { secret: Some(secret), ..credential_view(state, credential).await? })
}

/// A credential the caller administers (another's is "not found").
async fn own_credential(
    access: &Access,
    state: &AppState,
    username: &str,
) -> Result<moat_store::SmtpCredential, AppError> {
    admin_only(access)?;
    let credential =
        state.store.smtp_credential_by_username(&username.to_ascii_lowercase()).await?.ok_or(AppError::NotFound)?;
    visible_domain(access, state, &credential.domain).await?;
    Ok(credential)
}

/// Revokes a credential: it authenticates no more.
pub async fn smtp_credential_revoke(access: &Access, state: &AppState, username: &str) -> Result<(), AppError> {
    let credential = own_credential(access, state, username).await?;
    Ok(state.store.smtp_credential_remove(&credential.username).await?)
}

/// Lifts a credential's suspension.
pub async fn smtp_credential_resume(access: &Access, state: &AppState, username: &str) -> Result<(), AppError> {
    let credential = own_credential(access, state, username).await?;
    state.store.smtp_credential_suspend(&credential.username, None).await?;
    Ok(())
}

pub fn gateway(state: &AppState) -> Result<&dyn crate::Gateway, AppError> {
    state.gateway.as_deref().ok_or_else(|| AppError::Unavailable("the gateway is not running with this console".into()))
}

/// Get SMTP: the downstream hosts a domain's MX records name today (before it points them at Moat).
pub async fn mx_downstream(access: &Access, state: &AppState, name: &str) -> Result<Vec<Downstream>, AppError> {
    admin_only(access)?;
    let name = moat_directory::normalize_domain(name).map_err(moat_directory::DirectoryError::from)?;
    let hosts = gateway(state)?.mx_hosts(&name).await?;
    let ours: Vec<String> =
        state.publishing.mx_hosts.iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
    Ok(hosts
        .into_iter()
        .map(|(host, preference)| (host.trim_end_matches('.').to_ascii_lowercase(), preference))
        .filter(|(host, _)| !ours.contains(host))
        .map(|(host, preference)| Downstream { host, port: 25, priority: u32::from(preference) })
        .collect())
}

/// Test SMTP: greets each downstream host of a domain. Only the operator (a platform admin) reads what the
/// host answered or why it failed: to anyone else a banner or "connection refused" versus "no greeting" is
/// a port scanner's answer, so they learn only whether an SMTP greeting came.
pub async fn test_smtp(access: &Access, state: &AppState, name: &str) -> Result<Vec<SmtpTest>, AppError> {
    let view = domain(access, state, name).await?;
    let gateway = gateway(state)?;
    let operator = matches!(access.role(), Some(Role::Platform));
    let mut out = Vec::new();
    for host in view.downstream {
        let result = gateway.test_smtp(&host.host, host.port).await;
        let ok = result.is_ok();
        let answer = match result {
            Ok(text) | Err(crate::NoGreeting(text)) if operator => text,
            Ok(_) => "SMTP greeting received".to_owned(),
            Err(_) => {
                "No SMTP greeting: the host could not be reached, or is not an SMTP server accepting Moat".to_owned()
            }
        };
        out.push(SmtpTest { host: host.host, port: host.port, ok, answer });
    }
    Ok(out)
}

/// The addresses whose held mail the caller sees: `None` for "every visible domain".
async fn quarantine_addresses(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
) -> Result<Option<Vec<String>>, AppError> {
    let mailbox = match &access.account {
        crate::access::Account::User { mailbox, .. } => mailbox.clone(),
        crate::access::Account::Admin { .. } => {
            let Some(user) = user else { return Ok(None) };
            if !access.delegation().open_panels {
                return Err(AppError::Forbidden("you may not open users' panels".into()));
            }
            let domain = visible_domain(access, state, domain_of(user)?).await?;
            let local = user.rsplit_once('@').map(|(l, _)| l.to_ascii_lowercase()).unwrap_or_default();
            state.store.mailbox_find(domain.id, &local).await?.ok_or(AppError::NotFound)?
        }
    };
    let mut own: Vec<String> = state.store.alias_list_of(&[mailbox.id]).await?.into_iter().map(|a| a.address).collect();
    own.push(mailbox.address);
    Ok(Some(own))
}

/// The held messages the caller may see: an end user's own, one user's (an admin with the panel
/// permission), or every visible domain's.
pub async fn quarantine(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
    filter: &HeldFilter,
) -> Result<Vec<moat_store::Quarantined>, AppError> {
    let mine = HeldFor::caller(access, state, user).await?;
    let (since, until) = crate::dates::period(filter.from.as_deref(), filter.to.as_deref())?;
    let search = moat_store::HeldSearch { tenant: access.tenant(), text: filter.q.clone(), since, until, limit: SHOWN };
    let held = state.store.quarantine_search(&search).await?;
    Ok(held.into_iter().filter(|q| !mine.recipients_of(q).is_empty()).collect())
}

/// What the quarantine is searched for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeldFilter {
    /// Sender, recipient or subject containing this text.
    #[serde(default)]
    pub q: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Received on or before this day.
    #[serde(default)]
    pub to: Option<String>,
}

/// Releases a held message and allows its sender from then on: on the user's own list (an end user, or an
/// admin in a user's panel), else on the list of the first of the caller's domains it was held for. Returns
/// the queue id and whose list the sender went on.
pub async fn release_and_allow(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
    id: &str,
) -> Result<(String, String), AppError> {
    let (held, recipients) = held_recipients(access, state, user, id).await?;
    if held.direction == moat_store::Direction::Outbound {
        return Err(AppError::BadRequest("a sender is allowed for incoming mail only".into()));
    }
    if held.sender.is_empty() {
        return Err(AppError::BadRequest("a message without a sender (a bounce) cannot be allowed by sender".into()));
    }
    let owner = match (&access.account, user) {
        (crate::access::Account::User { mailbox, .. }, _) => mailbox.address.clone(),
        (_, Some(user)) => user.to_ascii_lowercase(),
        (_, None) => recipients
            .first()
            .and_then(|(address, _)| address.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase())
            .ok_or(AppError::NotFound)?,
    };
    let queue_id = release(access, state, user, id).await?;
    list_add(access, state, Some(&owner), Listing::Allow, &held.sender).await?;
    Ok((queue_id, owner))
}

/// Whose held mail a caller acts on: some addresses (an end user's own, or one user's panel), or every
/// address of some domains.
enum HeldFor {
    Addresses(Vec<String>),
    Domains(Vec<String>),
}

impl HeldFor {
    async fn caller(access: &Access, state: &AppState, user: Option<&str>) -> Result<Self, AppError> {
        Ok(match quarantine_addresses(access, state, user).await? {
            Some(own) => HeldFor::Addresses(own),
            None => HeldFor::Domains(visible_domains(access, state).await?.into_iter().map(|d| d.name).collect()),
        })
    }

    fn covers(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        match self {
            HeldFor::Addresses(own) => own.contains(&address),
            HeldFor::Domains(domains) => address.rsplit_once('@').is_some_and(|(_, d)| domains.iter().any(|x| x == d)),
        }
    }

    /// The recipients of `held` the caller acts for: incoming mail's own recipients; outgoing mail (admins
    /// only) every recipient, when it was sent from one of the caller's domains.
    fn recipients_of(&self, held: &moat_store::Quarantined) -> Vec<(String, String)> {
        match (held.direction, self) {
            (moat_store::Direction::Inbound, _) => {
                held.recipients.iter().filter(|(address, _)| self.covers(address)).cloned().collect()
            }
            (moat_store::Direction::Outbound, HeldFor::Domains(_)) if self.covers(&held.sender) => {
                held.recipients.clone()
            }
            (moat_store::Direction::Outbound, _) => Vec::new(),
        }
    }
}

/// A held message the caller may see, and the recipients of it the caller acts for (never the others: an
/// end user releasing a message releases it to themselves only).
async fn held_recipients(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
    id: &str,
) -> Result<(moat_store::Quarantined, Vec<(String, String)>), AppError> {
    let mine = HeldFor::caller(access, state, user).await?;
    let held = state.store.quarantine_get(id).await?.ok_or(AppError::NotFound)?;
    if held.released_at.is_some() || access.tenant().is_some_and(|t| t != held.tenant) {
        return Err(AppError::NotFound);
    }
    let recipients = mine.recipients_of(&held);
    if recipients.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok((held, recipients))
}

/// What the email log is searched for.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
pub struct LogSearch {
    /// Sender, recipient, subject or client IP containing this text.
    #[serde(default)]
    pub q: Option<String>,
    /// Only this verdict (`clean`, `tagged`, `quarantined`, `rejected`, ...).
    #[serde(default)]
    pub verdict: Option<String>,
    /// Only `inbound` or only `outbound` mail.
    #[serde(default)]
    pub direction: Option<String>,
    /// Only mail for (or, outgoing, from) this one of the caller's domains.
    #[serde(default)]
    pub domain: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Received on or before this day.
    #[serde(default)]
    pub to: Option<String>,
}

/// The email log the caller may read, newest first: every message (platform), its tenant's, or those to
/// its domains.
pub async fn log(
    access: &Access,
    state: &AppState,
    search: &LogSearch,
    limit: i64,
) -> Result<Vec<moat_store::LogEntry>, AppError> {
    admin_only(access)?;
    let mut query = moat_store::LogQuery {
        text: search.q.clone(),
        verdict: search.verdict.clone().filter(|v| !v.is_empty()),
        direction: match search.direction.as_deref().filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(
                moat_store::Direction::parse(d)
                    .ok_or_else(|| AppError::BadRequest(format!("direction is inbound or outbound, not {d:?}")))?,
            ),
        },
        limit,
        ..Default::default()
    };
    (query.since, query.until) = crate::dates::period(search.from.as_deref(), search.to.as_deref())?;
    match access.role() {
        Some(Role::Platform) => {}
        Some(Role::Tenant(t)) => query.tenant = Some(t),
        _ => {
            query.tenant = access.tenant();
            query.domains = Some(visible_domains(access, state).await?.into_iter().map(|d| d.id).collect());
        }
    }
    if let Some(name) = search.domain.as_deref().filter(|d| !d.trim().is_empty()) {
        query.domains = Some(vec![visible_domain(access, state, name).await?.id]);
    }
    Ok(state.store.log_recent(&query).await?)
}

/// One log entry the caller may read (another's is "not found").
async fn visible_log_entry(access: &Access, state: &AppState, id: i64) -> Result<moat_store::LogEntry, AppError> {
    admin_only(access)?;
    let entry = state.store.log_get(id).await?.ok_or(AppError::NotFound)?;
    let visible = match access.role() {
        Some(Role::Platform) => true,
        Some(Role::Tenant(t)) => entry.tenant == Some(t.0),
        _ => {
            let mine: Vec<DomainId> = visible_domains(access, state).await?.into_iter().map(|d| d.id).collect();
            let for_domains = state.store.log_domains(entry.id).await?;
            entry.tenant == access.tenant().map(|t| t.0) && for_domains.iter().any(|d| mine.contains(d))
        }
    };
    if visible { Ok(entry) } else { Err(AppError::NotFound) }
}

/// The bytes of a logged message while Moat has them: held in quarantine, waiting in the queue, or kept as a
/// copy after delivery (`[retention] message_copies`).
async fn logged_message(state: &AppState, entry: &moat_store::LogEntry) -> Result<Option<Vec<u8>>, AppError> {
    let Some(key) = &entry.body else { return Ok(None) };
    // A body the store cannot give now (S3 out of reach) is shown as gone, not as an error page.
    Ok(state.bodies.get(key).await.unwrap_or_else(|e| {
        tracing::warn!("cannot read a message body: {e}");
        None
    }))
}

/// One log entry the caller may read, with the message's bytes when Moat still has them and the caller may
/// see them (the delegated "view emails" or "view headers" permission).
/// A logged message's way through Moat: each filter layer's finding, and every delivery attempt.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone, Default)]
pub struct Journey {
    pub layers: Vec<LayerView>,
    pub attempts: Vec<moat_store::DeliveryAttempt>,
}

/// What one layer of the chain found, as the log's report keeps it.
#[derive(utoipa::ToSchema, Serialize, Deserialize, Debug, Clone, Default)]
#[serde(default)]
pub struct LayerView {
    pub plugin: String,
    /// `connect`, `mail-from`, `rcpt-to` or `message`.
    pub stage: String,
    /// Run for its findings only: its action does not count.
    pub shadow: bool,
    pub symbols: Vec<SymbolView>,
    /// `reject`, `quarantine`, … when the layer decided more than a score.
    pub action: Option<String>,
    /// Why the layer failed (a trap, a timeout, an open circuit breaker).
    pub failure: Option<String>,
    /// Time the layer took, in microseconds.
    pub micros: u64,
}

#[derive(utoipa::ToSchema, Serialize, Deserialize, Debug, Clone, Default)]
#[serde(default)]
pub struct SymbolView {
    pub name: String,
    pub score: f64,
    pub reason: String,
}

/// The journey of a logged message the caller may see. The layers are read from the report the gateway
/// stored with the row (a report it cannot read shows no layers rather than failing the page).
pub async fn log_journey(access: &Access, state: &AppState, id: i64) -> Result<Journey, AppError> {
    let entry = visible_log_entry(access, state, id).await?;
    let layers = entry.report.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
    Ok(Journey { layers, attempts: state.store.log_attempts(entry.id).await? })
}

pub async fn log_entry(
    access: &Access,
    state: &AppState,
    id: i64,
) -> Result<(moat_store::LogEntry, Option<Vec<u8>>), AppError> {
    let entry = visible_log_entry(access, state, id).await?;
    let delegation = access.delegation();
    if !(delegation.view_emails || delegation.view_headers) {
        return Ok((entry, None));
    }
    let bytes = logged_message(state, &entry).await?;
    Ok((entry, bytes))
}

/// The header block of a message, and its first text part (what "view headers" and "view emails" show).
pub fn headers_and_text(bytes: &[u8]) -> (String, String) {
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| bytes.windows(2).position(|w| w == b"\n\n"));
    let headers = String::from_utf8_lossy(&bytes[..end.unwrap_or(bytes.len())]).into_owned();
    let text = parsed.and_then(|m| m.body_text(0).map(|t| t.into_owned())).unwrap_or_default();
    (headers, text)
}

/// Classifies a logged message as spam or valid: its tenant's filters learn it (the Bayesian classifier
/// above all), and the log remembers the classification. Needs the message's bytes, so only while Moat has
/// them; seeing them is not needed.
pub async fn classify(
    access: &Access,
    state: &AppState,
    id: i64,
    classification: moat_store::Classification,
) -> Result<moat_store::LogEntry, AppError> {
    let entry = visible_log_entry(access, state, id).await?;
    // A second click must not teach the same message twice.
    if entry.classified == Some(classification) {
        return Ok(entry);
    }
    let tenant = entry
        .tenant
        .map(TenantId)
        .ok_or_else(|| AppError::BadRequest("this message was for no protected domain".into()))?;
    let message = logged_message(state, &entry).await?.ok_or_else(|| {
        AppError::BadRequest("Moat no longer holds this message, so its filters cannot learn it".into())
    })?;
    let domains = visible_domains(access, state).await?;
    let recipients = entry
        .recipients
        .split(',')
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| r.rsplit_once('@').is_some_and(|(_, d)| domains.iter().any(|x| x.name == d)))
        .collect();
    let lesson = crate::Lesson {
        tenant,
        client_ip: entry.client_ip.clone(),
        sender: entry.sender.clone(),
        recipients,
        message,
        classification,
    };
    gateway(state)?.learn(lesson).await?;
    state.store.log_classify(id, classification).await?;
    Ok(moat_store::LogEntry { classified: Some(classification), ..entry })
}

/// What of a logged message to allow or deny for the recipients' domain.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogParty {
    Sender,
    Ip,
}

/// Allows or denies a logged message's sender or client IP for the first of the caller's domains among its
/// recipients; returns the value listed and the domain.
pub async fn list_from_log(
    access: &Access,
    state: &AppState,
    id: i64,
    party: LogParty,
    listing: Listing,
) -> Result<(String, String), AppError> {
    let entry = visible_log_entry(access, state, id).await?;
    let value = match party {
        LogParty::Sender => entry.sender.clone(),
        LogParty::Ip => entry.client_ip.clone(),
    };
    if value.is_empty() {
        return Err(AppError::BadRequest("this message has no sender to list (a bounce)".into()));
    }
    let recipients = entry.recipients.to_ascii_lowercase();
    let domain = visible_domains(access, state)
        .await?
        .into_iter()
        .find(|d| recipients.split(',').any(|r| r.trim().rsplit_once('@').is_some_and(|(_, x)| x == d.name)))
        .ok_or_else(|| AppError::BadRequest("no recipient of this message is in your domains".into()))?;
    list_add(access, state, Some(&domain.name), listing, &value).await?;
    Ok((value, domain.name))
}

/// Releases a held message into the delivery queue for the recipients the caller acts for; the others'
/// copies stay held. What the antivirus held (a virus, a dangerous attachment) only an admin may release.
pub async fn release(access: &Access, state: &AppState, user: Option<&str>, id: &str) -> Result<String, AppError> {
    let (held, recipients) = held_recipients(access, state, user, id).await?;
    if held.held_by_antivirus() && matches!(access.account, crate::access::Account::User { .. }) {
        return Err(AppError::Forbidden(
            "the antivirus held this message: only an administrator can release it".into(),
        ));
    }
    Ok(gateway(state)?.release(id, recipients).await?)
}

/// A held message shown safely (`preview`): to its own recipients, and to admins who may view emails (a
/// domain admin needs the delegated permission, as in the email log).
pub async fn held_preview(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
    id: &str,
) -> Result<(moat_store::Quarantined, crate::preview::Preview), AppError> {
    let (held, _) = held_recipients(access, state, user, id).await?;
    if access.admin().is_some() && !access.delegation().view_emails {
        return Err(AppError::Forbidden("you may not view emails".into()));
    }
    let bytes = match &held.body {
        Some(key) => state.bodies.get(key).await.unwrap_or_else(|e| {
            tracing::warn!("cannot read a held message's body: {e}");
            None
        }),
        None => None,
    };
    let preview = bytes.map(|b| crate::preview::of(&b)).unwrap_or_default();
    Ok((held, preview))
}

/// Deletes a held message for the recipients the caller acts for (the whole message once nobody's is left).
/// A held message the caller acts on (for the confirmation of a deletion).
pub async fn held(
    access: &Access,
    state: &AppState,
    user: Option<&str>,
    id: &str,
) -> Result<moat_store::Quarantined, AppError> {
    Ok(held_recipients(access, state, user, id).await?.0)
}

pub async fn delete_held(access: &Access, state: &AppState, user: Option<&str>, id: &str) -> Result<(), AppError> {
    let (_, recipients) = held_recipients(access, state, user, id).await?;
    Ok(state.store.quarantine_drop_recipients(id, &recipients, crate::now()).await?)
}

/// The trust-list scope a caller may edit: an end user its own address only.
/// The owner of the operator's lists, which apply to every tenant (the least specific level).
pub const GLOBAL_LISTS: &str = "*";
/// The prefix of a tenant-wide list's owner (`tenant:acme`).
pub const TENANT_LISTS: &str = "tenant:";

/// Whose lists `requested` names: a user's address, a domain, `tenant:NAME` (the tenant's own level) or `*`
/// (the operator's); an end user's are always its own.
pub async fn list_scope(
    access: &Access,
    state: &AppState,
    requested: Option<&str>,
) -> Result<(String, ListScope), AppError> {
    use crate::access::Account;
    match &access.account {
        Account::User { mailbox, tenant, .. } => {
            let tenant =
                state.store.tenant_list().await?.into_iter().find(|t| t.id == *tenant).ok_or(AppError::NotFound)?;
            Ok((tenant.name, ListScope::User(mailbox.address.clone())))
        }
        Account::Admin { .. } => {
            let requested = requested.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
                AppError::BadRequest("say whose list: a user's address, a domain, tenant:NAME or *".into())
            })?;
            if requested == GLOBAL_LISTS {
                if !access.is_platform() {
                    return Err(AppError::Forbidden("only the platform's operators keep the global lists".into()));
                }
                return Ok((GLOBAL_LISTS.to_owned(), ListScope::Tenant));
            }
            if let Some(name) = requested.strip_prefix(TENANT_LISTS) {
                tenant_admin_only(access)?;
                let tenant = acting_tenant(access, state, Some(name.to_owned())).await?.ok_or(AppError::NotFound)?;
                state.store.tenant_by_name(&tenant).await?.ok_or(AppError::NotFound)?;
                return Ok((tenant, ListScope::Tenant));
            }
            let (domain_name, scope) = match requested.split_once('@') {
                Some((_, d)) => (d.to_owned(), ListScope::User(requested.to_ascii_lowercase())),
                None => (requested.to_owned(), ListScope::Domain(requested.to_ascii_lowercase())),
            };
            let domain = visible_domain(access, state, &domain_name).await?;
            let tenant = state
                .store
                .tenant_list()
                .await?
                .into_iter()
                .find(|t| t.id == domain.tenant_id)
                .ok_or(AppError::NotFound)?;
            Ok((tenant.name, scope))
        }
    }
}

pub async fn list_add(
    access: &Access,
    state: &AppState,
    owner: Option<&str>,
    listing: Listing,
    value: &str,
) -> Result<(), AppError> {
    let (tenant, scope) = list_scope(access, state, owner).await?;
    state.directory.list_add(&tenant, &scope, listing, value).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spf_record_names_moats_addresses_or_its_smart_host() {
        let ranges = ["192.0.2.0/28".to_owned(), "2001:db8::/64".to_owned()];
        assert_eq!(super::spf_record(&ranges, "smtp.moat.test"), "v=spf1 ip4:192.0.2.0/28 ip6:2001:db8::/64 ~all");
        assert_eq!(super::spf_record(&[], "smtp.moat.test"), "v=spf1 a:smtp.moat.test ~all");
    }

    #[test]
    fn exported_users_quote_what_csv_needs() {
        let users = [super::UserView {
            address: "ann@a.test".into(),
            full_name: Some("Lee, \"Ann\"".into()),
            aliases: vec!["al@a.test".into()],
            generated_password: None,
        }];
        assert_eq!(
            super::users_csv(&users),
            "Full name,Email,Password,Aliases\n\"Lee, \"\"Ann\"\"\",ann@a.test,,al@a.test\n"
        );
        let formula = [super::UserView { full_name: Some("=HYPERLINK(\"http://x\")".into()), ..users[0].clone() }];
        let csv = super::users_csv(&formula);
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
        let at = [super::UserView { full_name: Some("@SUM(1)".into()), ..users[0].clone() }];
        assert!(super::users_csv(&at).contains("\n'@SUM(1),"));
    }
}
