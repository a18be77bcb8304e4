//! Login throttling: after [`MAX_FAILURES`] failed sign-ins within [`WINDOW`] seconds, from one address or
//! for one account, further attempts are refused until the window has passed. Counted in the store, so the
//! nodes of a cluster share one count: spreading guesses over nodes buys nothing.

use moat_store::{Store, StoreError};

pub const MAX_FAILURES: i64 = 5;
pub const WINDOW: i64 = 15 * 60;

/// The address's key, and the account's under the name sign-in resolves it to: `Eve@Acme.com.` and
/// `eve@acme.com` are one mailbox, so they must be one lockout.
fn keys(ip: &str, account: &str) -> [String; 2] {
    let account = account.trim();
    let account = match moat_directory::Address::parse(account) {
        Ok(address) => address.to_string(),
        Err(_) => account.to_lowercase(),
    };
    [format!("console ip {ip}"), format!("console account {account}")]
}

/// Seconds to wait before trying again, if the address or the account is locked out.
pub async fn locked(store: &Store, ip: &str, account: &str, now: i64) -> Result<Option<i64>, StoreError> {
    let open = store.failures_of(&keys(ip, account), now).await?;
    Ok(open.iter().filter(|f| f.count >= MAX_FAILURES).map(|f| f.until - now).max())
}

pub async fn failed(store: &Store, ip: &str, account: &str, now: i64) -> Result<(), StoreError> {
    store.failure_add(&keys(ip, account), WINDOW, now).await.map(drop)
}

pub async fn succeeded(store: &Store, ip: &str, account: &str, now: i64) -> Result<(), StoreError> {
    let [_, account] = keys(ip, account);
    store.failures_clear(&account, now).await
}
