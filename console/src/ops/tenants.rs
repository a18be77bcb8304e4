//! The MSP's customers: a new tenant (with its license pool and first admin), its pool changed, more
//! admins for it. The platform's operators only.

use super::{NewAccount, create_admin, not_for_this_role};
use crate::access::Access;
use crate::{AppError, AppState};
use moat_store::Role;
use serde::{Deserialize, Serialize};

/// A new customer, as the Customers page and `POST /api/v1/tenants` send it.
#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1 to 64 letters, digits and `- _ .`.
    pub name: String,
    /// Its license pool; absent: unlimited.
    pub licenses: Option<i64>,
    /// Its first tenant admin, made with it (both or neither).
    pub admin: Option<NewTenantAdmin>,
}

/// A tenant admin: it administers every domain of its tenant.
#[derive(utoipa::ToSchema, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewTenantAdmin {
    pub name: String,
    pub password: String,
    pub email: Option<String>,
}

/// A tenant's license pool: what a change sends, and what it answers.
#[derive(utoipa::ToSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LicensePool {
    /// Absent (`null`): unlimited.
    pub licenses: Option<i64>,
    /// In use now (read back in the answer; ignored in a request).
    #[serde(default)]
    pub used: i64,
}

fn platform_only(access: &Access) -> Result<(), AppError> {
    if access.is_platform() { Ok(()) } else { Err(not_for_this_role()) }
}

/// Makes a tenant, its pool and its first admin. The admin is checked before the tenant is made, so a
/// refused one leaves no tenant behind.
pub async fn create_tenant(access: &Access, state: &AppState, request: NewTenant) -> Result<(), AppError> {
    platform_only(access)?;
    if let Some(admin) = &request.admin {
        moat_directory::check_account_name(admin.name.trim())?;
        moat_directory::check_password(&admin.password)?;
        if state.store.admin_by_name(admin.name.trim()).await?.is_some() {
            return Err(AppError::BadRequest(format!("an account named {} exists already", admin.name.trim())));
        }
    }
    if let Some(n) = request.licenses.filter(|n| *n < 0) {
        return Err(moat_directory::DirectoryError::LicensePool(n).into());
    }
    let tenant = state.directory.add_tenant(&request.name).await?;
    state.store.tenant_set_licenses(tenant, request.licenses).await?;
    if let Some(admin) = &request.admin {
        let account = NewAccount { name: &admin.name, password: &admin.password, email: admin.email.as_deref() };
        create_admin(state, Role::Tenant(tenant), account, None).await?;
    }
    Ok(())
}

pub async fn set_tenant_licenses(
    access: &Access,
    state: &AppState,
    name: &str,
    licenses: Option<i64>,
) -> Result<LicensePool, AppError> {
    platform_only(access)?;
    let usage = state.directory.set_tenant_licenses(name, licenses).await.map_err(|e| match e {
        moat_directory::DirectoryError::UnknownTenant(_) => AppError::NotFound,
        e => e.into(),
    })?;
    Ok(LicensePool { licenses: usage.pool, used: usage.used })
}

/// One more tenant admin of an existing tenant.
pub async fn add_tenant_admin(
    access: &Access,
    state: &AppState,
    tenant: &str,
    admin: NewTenantAdmin,
) -> Result<(), AppError> {
    platform_only(access)?;
    let tenant = state.store.tenant_by_name(tenant.trim()).await?.ok_or(AppError::NotFound)?;
    let account = NewAccount { name: &admin.name, password: &admin.password, email: admin.email.as_deref() };
    create_admin(state, Role::Tenant(tenant.id), account, None).await
}
