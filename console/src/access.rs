//! What a signed-in account may see and do. One model for the REST API and the pages: a platform admin
//! everything; a tenant admin its tenant; a domain admin the domains delegated to it (and their alias
//! domains) with its delegation flags; an end user only its own mailbox.

use moat_store::{Admin, Delegation, Domain, DomainId, Mailbox, Role, Store, StoreError, TenantId};

#[derive(Debug, Clone)]
pub enum Account {
    Admin { admin: Admin, domains: Vec<DomainId> },
    User { mailbox: Mailbox, tenant: TenantId, language: String },
}

#[derive(Debug, Clone)]
pub struct Access {
    pub account: Account,
}

impl Access {
    pub async fn of_admin(store: &Store, admin: Admin) -> Result<Self, StoreError> {
        let domains = match admin.role {
            Role::Domain(_) => {
                let delegated = store.admin_domains(admin.id).await?;
                // Alias domains of a delegated domain come with it.
                let mut all = delegated.clone();
                for domain in store.domain_list(admin.role.tenant()).await? {
                    if domain.alias_of.is_some_and(|p| delegated.contains(&p)) {
                        all.push(domain.id);
                    }
                }
                all
            }
            _ => Vec::new(),
        };
        Ok(Self { account: Account::Admin { admin, domains } })
    }

    pub async fn of_user(store: &Store, mailbox: Mailbox) -> Result<Self, StoreError> {
        let domain = store
            .domain_by_id(mailbox.domain_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: format!("domain of {}", mailbox.address) })?;
        let (_, own) = store.mailbox_credentials(mailbox.id).await?;
        let language = own.unwrap_or(domain.language);
        Ok(Self { account: Account::User { mailbox, tenant: domain.tenant_id, language } })
    }

    pub fn admin(&self) -> Option<&Admin> {
        match &self.account {
            Account::Admin { admin, .. } => Some(admin),
            Account::User { .. } => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.admin().map(|a| a.role)
    }

    pub fn is_platform(&self) -> bool {
        self.role() == Some(Role::Platform)
    }

    /// Platform and tenant admins manage domains, licenses, imports, chains and branding; domain admins and
    /// end users do not.
    pub fn manages_tenant(&self) -> bool {
        matches!(self.role(), Some(Role::Platform | Role::Tenant(_)))
    }

    pub fn language(&self) -> &str {
        match &self.account {
            Account::Admin { admin, .. } => &admin.language,
            Account::User { language, .. } => language,
        }
    }

    pub fn delegation(&self) -> Delegation {
        match &self.account {
            Account::Admin { admin, .. } if admin.role == Role::Platform || matches!(admin.role, Role::Tenant(_)) => {
                Delegation { open_panels: true, view_emails: true, view_headers: true }
            }
            Account::Admin { admin, .. } => admin.delegation,
            Account::User { .. } => Delegation::default(),
        }
    }

    /// The tenant the account is confined to; `None` for a platform admin.
    pub fn tenant(&self) -> Option<TenantId> {
        match &self.account {
            Account::Admin { admin, .. } => admin.role.tenant(),
            Account::User { tenant, .. } => Some(*tenant),
        }
    }

    pub fn sees_tenant(&self, tenant: TenantId) -> bool {
        match &self.account {
            Account::Admin { admin, .. } => match admin.role {
                Role::Platform => true,
                Role::Tenant(own) => own == tenant,
                Role::Domain(_) => false,
            },
            Account::User { .. } => false,
        }
    }

    pub fn sees_domain(&self, domain: &Domain) -> bool {
        match &self.account {
            Account::Admin { admin, domains } => match admin.role {
                Role::Platform => true,
                Role::Tenant(own) => own == domain.tenant_id,
                Role::Domain(own) => own == domain.tenant_id && domains.contains(&domain.id),
            },
            Account::User { .. } => false,
        }
    }
}
