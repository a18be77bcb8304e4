//! Moat's directory: which domains Moat protects, which addresses exist in them, and where each accepted
//! recipient's mail goes. Every decision "is this recipient ours?" is made here, once, so that the SMTP
//! layer cannot become an open relay by accident.

mod address;
mod digest;
mod directory;
mod downstream;
mod error;
mod import;
mod ldap;
mod licensing;
mod notices;
mod outbound;
mod sealed;
mod secrets;
mod signup;
mod spanish;
mod trust;
mod welcome;

pub use address::{Address, AddressError, normalize_domain};
pub use digest::HeldSummary;
pub use directory::{Directory, DomainSettings, DomainSpec, Recipient, RecipientError};
pub use downstream::parse_downstream;
pub use error::DirectoryError;
pub use import::{ImportError, ImportRequest, parse_import};
pub use ldap::{
    LdapCheck, LdapFailure, LdapScope, LdapSettings, Person, SearchScope, ServerType, SyncReport,
    addresses as ldap_addresses,
};
pub use licensing::{ALIASES_PER_LICENSE, LicenseUsage, licenses_for};
pub use moat_i18n::{Language, Localized};
pub use notices::{Notice, Notification, Notifier};
pub use outbound::{AuthFailure, DkimRecord, Sender, SigningKey};
pub use sealed::{KEY_FILE, Keyring, SealError};
pub use secrets::{
    BadAccountName, DUMMY_HASH, PasswordError, check_account_name, check_password, generate_password, generate_token,
    hash_generated_password, hash_password, token_digest, verify_password,
};
pub use signup::{Callout, CalloutAnswer};
pub use trust::{LISTS_PLUGIN, ListEntry, ListScope, Listing, list_key, lists_namespace, networks};
