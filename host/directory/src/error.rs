use crate::AddressError;
use moat_store::StoreError;
use thiserror::Error;

/// Why an administrative change to the directory was refused. The text is meant for the admin as is.
#[derive(Debug, Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("domain {0} is not protected by Moat (add it first with `moat domain add {0}`)")]
    UnknownDomain(String),
    #[error("tenant names hold 1 to 64 letters, digits and - _ . (got {0:?})")]
    TenantName(String),
    #[error("a license pool is a number of 0 or more, or unlimited (got {0})")]
    LicensePool(i64),
    #[error("tenant {0} does not exist")]
    UnknownTenant(String),
    #[error("{alias} cannot be an alias of {primary}, which is itself an alias domain")]
    NestedAliasDomain { alias: String, primary: String },
    #[error("{domain} is an alias domain of {primary}: {what} belong to {primary}")]
    OnAliasDomain { domain: String, primary: String, what: &'static str },
    #[error("{domain} already has its maximum of {max} users")]
    MaxUsers { domain: String, max: i64 },
    #[error("{domain} has {users} users: its maximum cannot be {max} (remove users first)")]
    MaxUsersBelowUsers { domain: String, max: i64, users: i64 },
    #[error("{address} is already delivered to {existing} through alias domain {alias_domain}")]
    ShadowedByAliasDomain { address: String, existing: String, alias_domain: String },
    #[error(
        "tenant {tenant} has no license left ({used} of {pool} in use; one covers a mailbox and 5 of its aliases): \
         add licenses with `moat tenant licenses {tenant} N`"
    )]
    LicensesExhausted { tenant: String, pool: i64, used: i64 },
    #[error("{0} already exists (as a user or an alias)")]
    AddressTaken(String),
    #[error("full name {0:?}…: at most 200 characters, without control characters")]
    FullName(String),
    #[error("mailbox {0} does not exist")]
    UnknownMailbox(String),
    #[error("{0} needs at least one downstream host (HOST[:PORT[:PRIORITY]]) to deliver its mail to")]
    NoDownstream(String),
    #[error("bad downstream host {spec:?}: {why}")]
    Downstream { spec: String, why: String },
    #[error("sign-up by SMTP cannot be turned on for {domain}: {why}")]
    SignupCheck { domain: String, why: String },
    /// A name another tenant holds, or one above or below another tenant's domain: said without saying whose.
    #[error("{0} is not available")]
    NotAvailable(String),
    #[error("directory (LDAP): {0}")]
    Ldap(String),
    #[error("DKIM: {0}")]
    Dkim(String),
    #[error("bad list entry {0}")]
    ListEntry(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}
