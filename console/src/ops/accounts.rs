//! Accounts an admin manages besides its own: its domains' users (edit, reset the password, remove) and the
//! admins below it — a tenant's domain admins, and for the platform's operators the tenants' admins too (edit,
//! reset the password, remove). Another's account is "not found", as if it did not exist.

use super::{admin_only, domain_of, tenant_admin_only, visible_domain, visible_domains};
use crate::access::Access;
use crate::{AppError, AppState};
use moat_directory::Language;
use moat_store::{Admin, Delegation, Principal, Role};
use serde::{Deserialize, Serialize};

/// A password an admin typed, or one Moat generates (shown once to whoever asked for it).
pub(super) struct Password {
    pub hash: String,
    /// The password itself when Moat made it up.
    pub generated: Option<String>,
}

impl Password {
    /// Checks and hashes `given` (off the async workers: argon2 is slow on purpose), or generates one.
    pub async fn new(given: Option<String>) -> Result<Self, AppError> {
        match given.filter(|p| !p.is_empty()) {
            Some(password) => Ok(Self { hash: Self::chosen(password).await?, generated: None }),
            None => {
                let password = moat_directory::generate_password();
                Ok(Self { hash: moat_directory::hash_generated_password(&password), generated: Some(password) })
            }
        }
    }
}

impl Password {
    /// The hash of a password someone chose (checked against the policy: an empty one is refused).
    pub async fn chosen(password: String) -> Result<String, AppError> {
        tokio::task::spawn_blocking(move || moat_directory::hash_password(&password))
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?
            .map_err(AppError::from)
    }
}

/// A user as its edit page and `GET /api/v1/users/{address}` show it.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct UserDetail {
    pub address: String,
    pub full_name: Option<String>,
    /// The user's own language; `None` follows its domain's.
    pub language: Option<String>,
    pub aliases: Vec<String>,
}

/// A change to a user: `PUT /api/v1/users/{address}` and the user's page.
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub full_name: Option<String>,
    /// A language code; absent or empty: the domain's.
    pub language: Option<String>,
}

async fn visible_user(access: &Access, state: &AppState, address: &str) -> Result<moat_store::Mailbox, AppError> {
    admin_only(access)?;
    visible_domain(access, state, domain_of(address)?).await?;
    state.directory.mailbox(address).await.map_err(|_| AppError::NotFound)
}

pub async fn user(access: &Access, state: &AppState, address: &str) -> Result<UserDetail, AppError> {
    let mailbox = visible_user(access, state, address).await?;
    let (_, language) = state.store.mailbox_credentials(mailbox.id).await?;
    let aliases = state.store.alias_list_of(&[mailbox.id]).await?.into_iter().map(|a| a.address).collect();
    Ok(UserDetail { address: mailbox.address, full_name: mailbox.full_name, language, aliases })
}

pub async fn edit_user(
    access: &Access,
    state: &AppState,
    address: &str,
    change: UserChange,
) -> Result<UserDetail, AppError> {
    let mailbox = visible_user(access, state, address).await?;
    let language = change.language.as_deref().filter(|l| !l.trim().is_empty()).map(Language::parse);
    state.directory.edit_mailbox(&mailbox.address, change.full_name.as_deref(), language).await?;
    user(access, state, &mailbox.address).await
}

/// Sets a user's console password (`None`: a generated one, returned once); the user's sessions end.
pub async fn reset_user_password(
    access: &Access,
    state: &AppState,
    address: &str,
    password: Option<String>,
) -> Result<Option<String>, AppError> {
    let mailbox = visible_user(access, state, address).await?;
    let password = Password::new(password).await?;
    state.store.mailbox_set_password(mailbox.id, &password.hash).await?;
    state.store.sessions_remove_of(Principal::User(mailbox.id)).await?;
    Ok(password.generated)
}

/// An admin account as the Admins page and `GET /api/v1/admins` show it.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
pub struct AdminView {
    pub name: String,
    /// `tenant` or `domain`.
    pub role: &'static str,
    pub tenant: String,
    /// A domain admin's domains (a tenant admin has all its tenant's).
    pub domains: Vec<String>,
    pub open_panels: bool,
    pub view_emails: bool,
    pub view_headers: bool,
    pub email: Option<String>,
    /// Signs in with a second factor.
    pub totp: bool,
}

/// A change to an admin account: `PUT /api/v1/admins/{name}` and its page.
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AdminChange {
    pub email: Option<String>,
    /// A domain admin's domains, replacing the previous ones (at least one).
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub open_panels: bool,
    #[serde(default)]
    pub view_emails: bool,
    #[serde(default)]
    pub view_headers: bool,
}

/// Whether `access` manages the account `admin`: never its own (that is the Account page), a platform
/// operator every tenant's and domain admin, a tenant admin its tenant's domain admins.
fn manages(access: &Access, admin: &Admin) -> bool {
    let Some(me) = access.admin() else { return false };
    me.id != admin.id
        && match (me.role, admin.role) {
            (Role::Platform, Role::Tenant(_) | Role::Domain(_)) => true,
            (Role::Tenant(own), Role::Domain(tenant)) => own == tenant,
            _ => false,
        }
}

async fn managed_admin(access: &Access, state: &AppState, name: &str) -> Result<Admin, AppError> {
    tenant_admin_only(access)?;
    let admin = state.store.admin_by_name(name.trim()).await?.ok_or(AppError::NotFound)?;
    if manages(access, &admin) { Ok(admin) } else { Err(AppError::NotFound) }
}

/// `tenants`: every tenant, read once by the caller (a page lists many admins).
async fn admin_view(state: &AppState, admin: Admin, tenants: &[moat_store::Tenant]) -> Result<AdminView, AppError> {
    let tenant_id = admin.role.tenant();
    let tenant = tenants.iter().find(|t| Some(t.id) == tenant_id);
    let domains = match admin.role {
        Role::Domain(tenant) => {
            let ids = state.store.admin_domains(admin.id).await?;
            state
                .store
                .domain_list(Some(tenant))
                .await?
                .into_iter()
                .filter(|d| ids.contains(&d.id))
                .map(|d| d.name)
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(AdminView {
        name: admin.name,
        role: if matches!(admin.role, Role::Domain(_)) { "domain" } else { "tenant" },
        tenant: tenant.map(|t| t.name.clone()).unwrap_or_default(),
        domains,
        open_panels: admin.delegation.open_panels,
        view_emails: admin.delegation.view_emails,
        view_headers: admin.delegation.view_headers,
        email: admin.email,
        totp: admin.totp_secret.is_some(),
    })
}

/// The admin accounts the caller manages, tenant admins first, by name.
pub async fn admins(access: &Access, state: &AppState) -> Result<Vec<AdminView>, AppError> {
    tenant_admin_only(access)?;
    let tenants = state.store.tenant_list().await?;
    let mut out = Vec::new();
    for admin in state.store.admin_list().await?.into_iter().filter(|a| manages(access, a)) {
        out.push(admin_view(state, admin, &tenants).await?);
    }
    out.sort_by(|a, b| (b.role, &a.name).cmp(&(a.role, &b.name)));
    Ok(out)
}

pub async fn admin(access: &Access, state: &AppState, name: &str) -> Result<AdminView, AppError> {
    let admin = managed_admin(access, state, name).await?;
    admin_view(state, admin, &state.store.tenant_list().await?).await
}

pub async fn edit_admin(
    access: &Access,
    state: &AppState,
    name: &str,
    change: AdminChange,
) -> Result<AdminView, AppError> {
    let admin = managed_admin(access, state, name).await?;
    if let Role::Domain(tenant) = admin.role {
        let mut ids = Vec::new();
        for name in &change.domains {
            let domain = visible_domain(access, state, name).await?;
            if domain.tenant_id != tenant {
                return Err(AppError::BadRequest(format!(
                    "{} belongs to another tenant than {}",
                    domain.name, admin.name
                )));
            }
            ids.push(domain.id);
        }
        if ids.is_empty() {
            return Err(AppError::BadRequest("a domain admin needs at least one domain".into()));
        }
        let delegation = Delegation {
            open_panels: change.open_panels,
            view_emails: change.view_emails,
            view_headers: change.view_headers,
        };
        state.store.admin_delegate(admin.id, &ids, delegation).await?;
    } else if !change.domains.is_empty() {
        return Err(AppError::BadRequest(format!(
            "{} administers its whole tenant: it has no domain list",
            admin.name
        )));
    }
    state.directory.set_notification_address(admin.id, change.email.as_deref()).await?;
    self::admin(access, state, &admin.name).await
}

/// Sets an admin's password (`None`: a generated one, returned once), optionally turning its second factor
/// off (a lost phone); its sessions and API tokens end.
pub async fn reset_admin_password(
    access: &Access,
    state: &AppState,
    name: &str,
    password: Option<String>,
    totp_off: bool,
) -> Result<Option<String>, AppError> {
    let admin = managed_admin(access, state, name).await?;
    let password = Password::new(password).await?;
    state.store.admin_set_password(admin.id, &password.hash).await?;
    if totp_off {
        state.store.admin_set_totp(admin.id, None).await?;
    }
    state.store.sessions_remove_of(Principal::Admin(admin.id)).await?;
    Ok(password.generated)
}

pub async fn remove_admin(access: &Access, state: &AppState, name: &str) -> Result<(), AppError> {
    let admin = managed_admin(access, state, name).await?;
    state.store.admin_remove(admin.id).await?;
    Ok(())
}

/// The domains the caller could give a domain admin (the primaries it sees; alias domains come with them).
pub async fn delegable_domains(access: &Access, state: &AppState) -> Result<Vec<String>, AppError> {
    Ok(visible_domains(access, state).await?.into_iter().filter(|d| d.alias_of.is_none()).map(|d| d.name).collect())
}
