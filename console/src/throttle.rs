//! Login throttling: after [`MAX_FAILURES`] failed sign-ins within [`WINDOW`] seconds, from one address or
//! for one account, further attempts are refused until the window has passed. Kept in memory per node:
//! several nodes each allow their share, which still stops guessing at any useful rate.

use std::collections::HashMap;
use std::sync::Mutex;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: i64 = 15 * 60;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginThrottle {
    /// The address's key, and the account's under the name sign-in resolves it to: `Eve@Acme.com.` and
    /// `eve@acme.com` are one mailbox, so they must be one lockout.
    fn keys(ip: &str, account: &str) -> [String; 2] {
        let account = account.trim();
        let account = match moat_directory::Address::parse(account) {
            Ok(address) => address.to_string(),
            Err(_) => account.to_lowercase(),
        };
        [format!("ip {ip}"), format!("account {account}")]
    }

    /// Seconds to wait before trying again, if the address or the account is locked out.
    pub fn locked(&self, ip: &str, account: &str, now: i64) -> Option<i64> {
        let mut failures = self.failures.lock().expect("throttle lock");
        Self::keys(ip, account)
            .iter()
            .filter_map(|key| {
                let times = failures.get_mut(key)?;
                times.retain(|t| now - t < WINDOW);
                (times.len() >= MAX_FAILURES).then(|| WINDOW - (now - times[0]))
            })
            .max()
    }

    pub fn failed(&self, ip: &str, account: &str, now: i64) {
        let mut failures = self.failures.lock().expect("throttle lock");
        for key in Self::keys(ip, account) {
            failures.entry(key).or_default().push(now);
        }
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.last().is_some_and(|t| now - t < WINDOW));
        }
    }

    pub fn succeeded(&self, ip: &str, account: &str) {
        let mut failures = self.failures.lock().expect("throttle lock");
        failures.remove(&Self::keys(ip, account)[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_account_and_the_address_for_a_while() {
        let throttle = LoginThrottle::default();
        for t in 0..5 {
            assert_eq!(throttle.locked("192.0.2.1", "root", t), None);
            throttle.failed("192.0.2.1", "root", t);
        }
        assert!(throttle.locked("192.0.2.1", "root", 10).is_some());
        assert!(throttle.locked("198.51.100.9", "ROOT", 10).is_some(), "the account, from anywhere");
        assert!(throttle.locked("192.0.2.1", "other", 10).is_some(), "the address, for any account");
        assert_eq!(throttle.locked("198.51.100.9", "other", 10), None);
        for t in 0..5 {
            throttle.failed(&format!("203.0.113.{t}"), "eve@acme.com", t);
        }
        for spelling in ["eve@acme.com.", "EVE@Acme.COM", " eve@acme.com "] {
            assert!(throttle.locked("198.51.100.7", spelling, 10).is_some(), "{spelling:?} is the same account");
        }
        assert_eq!(throttle.locked("192.0.2.1", "root", WINDOW + 5), None, "the window passes");
    }
}
