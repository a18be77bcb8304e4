//! A circuit breaker per chain entry: a plugin that fails several calls in a row is not called for a while,
//! so a broken filter costs neither its fuel budget per message nor a log line per message, and the admin is
//! told once, when it trips.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Failures in a row that open the breaker.
pub const TRIP_AFTER: u32 = 5;
/// How long an open breaker skips the plugin before one call is tried again.
pub const COOL_DOWN: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Breaker {
    failures_in_a_row: AtomicU32,
    /// Unix milliseconds until which the plugin is skipped; 0 when closed.
    open_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Breaker {
    /// Whether the plugin may be called now. After the cool-down one call goes through: a success closes the
    /// breaker, a failure opens it again at once.
    pub fn allows(&self) -> bool {
        self.open_until_ms.load(Ordering::Relaxed) <= now_ms()
    }

    pub fn succeeded(&self) {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        self.open_until_ms.store(0, Ordering::Relaxed);
    }

    /// Counts a failure; true when this one opened the breaker from closed (time to tell the admin).
    pub fn failed(&self) -> bool {
        let failures = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < TRIP_AFTER {
            return false;
        }
        let was_open_before = self.open_until_ms.swap(now_ms() + COOL_DOWN.as_millis() as u64, Ordering::Relaxed) != 0;
        !was_open_before
    }

    pub fn is_open(&self) -> bool {
        !self.allows()
    }
}

/// An entry's breakers, one set (per stage) for each tenant whose mail it filters: a chain may be shared
/// (the default chain serves every tenant without its own), and one tenant's attacker must not switch a
/// layer off for the others.
#[derive(Debug, Default)]
pub struct TenantBreakers {
    by_tenant: std::sync::Mutex<std::collections::HashMap<std::sync::Arc<str>, std::sync::Arc<[Breaker; 4]>>>,
}

/// Tenants remembered at most; past that the map starts over (every breaker closed), which only forgets
/// failures — it never opens a breaker.
const TENANTS_AT_MOST: usize = 100_000;

impl TenantBreakers {
    /// The breakers of `tenant`'s mail.
    pub fn of(&self, tenant: &std::sync::Arc<str>) -> std::sync::Arc<[Breaker; 4]> {
        let mut map = self.by_tenant.lock().expect("breakers lock");
        if let Some(found) = map.get(tenant) {
            return found.clone();
        }
        if map.len() >= TENANTS_AT_MOST {
            map.clear();
        }
        map.entry(tenant.clone()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_reports_once() {
        let b = Breaker::default();
        for _ in 1..TRIP_AFTER {
            assert!(!b.failed());
        }
        b.succeeded();
        for _ in 1..TRIP_AFTER {
            assert!(!b.failed());
        }
        assert!(b.failed(), "the fifth failure in a row trips");
        assert!(!b.allows());
        assert!(!b.failed(), "already open: not reported again");
        b.open_until_ms.store(1, Ordering::Relaxed); // the cool-down is over
        assert!(b.allows(), "one call is tried after the cool-down");
        assert!(!b.failed(), "a failed trial re-opens without a second report");
        assert!(b.is_open());
        b.succeeded();
        assert!(b.allows());
    }

    #[test]
    fn each_tenant_has_its_own_breakers() {
        let breakers = TenantBreakers::default();
        let (acme, beta): (std::sync::Arc<str>, std::sync::Arc<str>) = ("acme".into(), "beta".into());
        for _ in 0..TRIP_AFTER {
            breakers.of(&acme)[3].failed();
        }
        assert!(breakers.of(&acme)[3].is_open());
        assert!(breakers.of(&beta)[3].allows(), "acme's failures do not open beta's breaker");
    }
}
