//! Licenses: one per mailbox, covering up to five of its aliases; each further five aliases need one more.
//! Alias domains cost nothing (they mirror a domain, they add no mailbox). A tenant's pool may be unlimited.

use crate::{Directory, DirectoryError, Language, Notice};
use moat_store::{Domain, TenantId};

/// Aliases one license covers.
pub const ALIASES_PER_LICENSE: i64 = 5;

/// Licenses a mailbox with `aliases` aliases takes.
pub fn licenses_for(aliases: i64) -> i64 {
    let extra = (aliases - ALIASES_PER_LICENSE).max(0);
    1 + (extra + ALIASES_PER_LICENSE - 1) / ALIASES_PER_LICENSE
}

/// A tenant's pool and what its mailboxes take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseUsage {
    /// `None`: no limit.
    pub pool: Option<i64>,
    pub used: i64,
}

impl LicenseUsage {
    /// Licenses still free; `None` when the pool has no limit.
    pub fn available(&self) -> Option<i64> {
        self.pool.map(|p| (p - self.used).max(0))
    }
}

/// How often a domain's contact hears that the pool is exhausted, at most.
const EXHAUSTION_NOTICE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Directory {
    /// Adds a tenant (a customer of an MSP): 1 to 64 letters, digits and `- _ .`.
    pub async fn add_tenant(&self, name: &str) -> Result<TenantId, DirectoryError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(DirectoryError::TenantName(name.chars().take(64).collect()));
        }
        Ok(self.store().tenant_add(name, moat_store::unix_now()).await?)
    }

    /// Sets a tenant's license pool (`None`: unlimited); a pool below what is in use is allowed (nobody is
    /// removed: new users wait for licenses). Returns the usage after the change.
    pub async fn set_tenant_licenses(&self, name: &str, pool: Option<i64>) -> Result<LicenseUsage, DirectoryError> {
        if let Some(n) = pool.filter(|n| *n < 0) {
            return Err(DirectoryError::LicensePool(n));
        }
        let tenant = self
            .store()
            .tenant_by_name(name.trim())
            .await?
            .ok_or_else(|| DirectoryError::UnknownTenant(name.trim().to_owned()))?;
        self.store().tenant_set_licenses(tenant.id, pool).await?;
        self.license_usage(tenant.id).await
    }

    pub async fn license_usage(&self, tenant: TenantId) -> Result<LicenseUsage, DirectoryError> {
        let pool = self.store().tenant_licenses(tenant).await?;
        let used = self.store().tenant_alias_counts(tenant).await?.into_iter().map(licenses_for).sum();
        Ok(LicenseUsage { pool, used })
    }

    /// Refuses a change in `domain` that takes `more` licenses than its tenant's pool has left, telling the
    /// domain's contact.
    pub(crate) async fn check_licenses(&self, domain: &Domain, more: i64) -> Result<(), DirectoryError> {
        if more == 0 {
            return Ok(());
        }
        let usage = self.license_usage(domain.tenant_id).await?;
        match usage.pool {
            Some(pool) if usage.used + more > pool => {
                let tenant = self
                    .store()
                    .tenant_list()
                    .await?
                    .into_iter()
                    .find(|t| t.id == domain.tenant_id)
                    .map(|t| t.name)
                    .unwrap_or_default();
                self.notify_exhausted(domain, &tenant, pool, usage.used);
                Err(DirectoryError::LicensesExhausted { tenant, pool, used: usage.used })
            }
            _ => Ok(()),
        }
    }

    /// Tells the domain's contact, at most once an hour per domain (per node): sign-ups by SMTP are refused
    /// for every message to a new address while the pool is full, and the contact needs to hear it once.
    pub(crate) fn notify_exhausted(&self, domain: &Domain, tenant: &str, pool: i64, used: i64) {
        let now = std::time::Instant::now();
        {
            let mut told = self.exhaustion_told.lock().expect("exhaustion notices lock");
            if told.get(&domain.id).is_some_and(|at| now.duration_since(*at) < EXHAUSTION_NOTICE_EVERY) {
                return;
            }
            told.insert(domain.id, now);
        }
        if let Some(contact) = &domain.contact_email {
            self.notify(
                contact,
                Language::parse(&domain.language),
                Notice::LicensesExhausted { tenant: tenant.into(), domain: domain.name.clone(), pool, used },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_license_covers_a_mailbox_and_five_aliases() {
        assert_eq!([0, 1, 5, 6, 10, 11, 15, 16].map(licenses_for), [1, 1, 1, 2, 2, 3, 3, 4]);
        assert_eq!(LicenseUsage { pool: Some(3), used: 5 }.available(), Some(0));
        assert_eq!(LicenseUsage { pool: None, used: 5 }.available(), None);
    }
}
