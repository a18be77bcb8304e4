//! Sign-up by SMTP: a domain in `smtp` mode gains a mailbox the first time mail comes for an address that
//! the domain's own server accepts (a recipient callout: `MAIL FROM:<>`, `RCPT TO:<address>`, no DATA).
//! Addresses it refuses are remembered for a while, so a dictionary attack does not become one callout per
//! guess. The callout itself is the gateway's (it speaks SMTP); the directory decides what it means.

use crate::{Address, Directory, DirectoryError, RecipientError};
use moat_store::{Domain, Signup};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the domain's own server said of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutAnswer {
    /// `250`/`251` to RCPT.
    Exists,
    /// A `5xx` to RCPT: the server has no such user (its reply).
    NoSuchUser(String),
    /// No host could be asked, or one answered `4xx`: nothing is known (why).
    Unknown(String),
}

/// Asks a protected domain's downstream hosts whether they accept an address.
pub trait Callout: Send + Sync + std::fmt::Debug {
    fn ask<'a>(
        &'a self,
        domain: &'a str,
        address: &'a Address,
    ) -> Pin<Box<dyn Future<Output = CalloutAnswer> + Send + 'a>>;
}

/// How long a refused address is answered from memory.
const REMEMBER_REFUSED: Duration = Duration::from_secs(10 * 60);
/// Refused addresses remembered at most; past that the oldest half is forgotten.
const REMEMBERED_AT_MOST: usize = 50_000;

/// Addresses the downstream refused recently, by address.
#[derive(Debug, Default)]
pub(crate) struct Refusals(Mutex<HashMap<String, Instant>>);

impl Refusals {
    pub(crate) fn recently(&self, address: &str, now: Instant) -> bool {
        let map = self.0.lock().expect("refusals lock");
        map.get(address).is_some_and(|at| now.duration_since(*at) < REMEMBER_REFUSED)
    }

    pub(crate) fn remember(&self, address: String, now: Instant) {
        let mut map = self.0.lock().expect("refusals lock");
        if map.len() >= REMEMBERED_AT_MOST {
            map.retain(|_, at| now.duration_since(*at) < REMEMBER_REFUSED);
            if map.len() >= REMEMBERED_AT_MOST {
                let mut times: Vec<Instant> = map.values().copied().collect();
                times.sort();
                let cut = times[times.len() / 2];
                map.retain(|_, at| *at > cut);
            }
        }
        map.insert(address, now);
    }
}

impl Directory {
    /// Signs `address` (of `domain`, whose primary is `primary`, in `smtp` mode) up if the domain's server
    /// accepts it: a new mailbox of the primary, under the tenant's licenses like any other.
    pub(crate) async fn sign_up(
        &self,
        callout: &dyn Callout,
        primary: &Domain,
        address: &Address,
    ) -> Result<(), RecipientError> {
        let key = address.to_string().to_ascii_lowercase();
        let now = Instant::now();
        if self.refusals.recently(&key, now) {
            return Err(RecipientError::UnknownUser(address.to_string()));
        }
        match callout.ask(&primary.name, address).await {
            CalloutAnswer::Exists => {}
            CalloutAnswer::NoSuchUser(reply) => {
                tracing::info!(%address, %reply, "the domain's server refused the address: not signed up");
                self.refusals.remember(key, now);
                return Err(RecipientError::UnknownUser(address.to_string()));
            }
            CalloutAnswer::Unknown(why) => return Err(RecipientError::Unverified(why)),
        }
        let mailbox = format!("{}@{}", address.local(), primary.name);
        match self.add_mailbox(&mailbox, None).await {
            Ok(_) => {
                tracing::info!(%address, %mailbox, "signed up by SMTP");
                Ok(())
            }
            // Two sessions signing the same address up at once: the other one made it.
            Err(DirectoryError::Store(moat_store::StoreError::Duplicate { .. })) => Ok(()),
            Err(e @ (DirectoryError::LicensesExhausted { .. } | DirectoryError::MaxUsers { .. })) => {
                tracing::warn!(%address, "cannot sign up: {e}");
                Err(RecipientError::SignupRefused(e.to_string()))
            }
            Err(DirectoryError::Store(e)) => Err(RecipientError::Temporary(e)),
            Err(e) => Err(RecipientError::SignupRefused(e.to_string())),
        }
    }

    /// Sets how `domain`'s users come to exist. `smtp` is only turned on once the domain's server passes the
    /// check: it accepts `existing` (an address of the domain that exists) and refuses an address that
    /// cannot exist — a server that accepts everything would sign every guess up.
    pub async fn set_signup(&self, domain: &str, signup: Signup, existing: Option<&str>) -> Result<(), DirectoryError> {
        let domain = self.domain(domain).await?;
        if let Some(primary) = domain.alias_of {
            let primary = self.store().domain_by_id(primary).await?.map(|d| d.name).unwrap_or_default();
            return Err(DirectoryError::OnAliasDomain { domain: domain.name, primary, what: "sign-up settings" });
        }
        match signup {
            Signup::Smtp => self.check_callout(&domain, existing).await?,
            Signup::Ldap => self.check_ldap_connection(&domain).await?,
            Signup::Manual => {}
        }
        Ok(self.store().domain_set_signup(domain.id, signup).await?)
    }

    async fn check_callout(&self, domain: &Domain, existing: Option<&str>) -> Result<(), DirectoryError> {
        let failed = |why: String| DirectoryError::SignupCheck { domain: domain.name.clone(), why };
        let callout = self.callout.as_deref().ok_or_else(|| failed("this Moat has no SMTP callout".into()))?;
        let existing = existing.ok_or_else(|| failed("give an existing address of the domain to check with".into()))?;
        let existing = Address::parse_mailbox(existing)?;
        if existing.domain() != domain.name {
            return Err(failed(format!("{existing} is not an address of {}", domain.name)));
        }
        match callout.ask(&domain.name, &existing).await {
            CalloutAnswer::Exists => {}
            CalloutAnswer::NoSuchUser(reply) => {
                return Err(failed(format!("the mail server refused {existing}, which should exist: {reply}")));
            }
            CalloutAnswer::Unknown(why) => return Err(failed(format!("the mail server could not be asked: {why}"))),
        }
        let nobody = format!("moat-check-{}@{}", &crate::generate_password().to_ascii_lowercase()[..12], domain.name);
        let nobody = Address::parse(&nobody)?;
        match callout.ask(&domain.name, &nobody).await {
            CalloutAnswer::NoSuchUser(_) => Ok(()),
            CalloutAnswer::Exists => Err(failed(format!(
                "the mail server accepted {nobody}, which does not exist: it must refuse unknown recipients \
                 (in Microsoft Exchange, turn on Recipient Validation)"
            ))),
            CalloutAnswer::Unknown(why) => Err(failed(format!("the mail server could not be asked: {why}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_remembered_for_a_while_and_bounded() {
        let refusals = Refusals::default();
        let start = Instant::now();
        refusals.remember("ghost@a.test".into(), start);
        assert!(refusals.recently("ghost@a.test", start + Duration::from_secs(60)));
        assert!(!refusals.recently("ghost@a.test", start + REMEMBER_REFUSED));
        assert!(!refusals.recently("other@a.test", start));
        for i in 0..REMEMBERED_AT_MOST + 10 {
            refusals.remember(format!("g{i}@a.test"), start + Duration::from_millis(i as u64));
        }
        let len = refusals.0.lock().unwrap().len();
        assert!(len <= REMEMBERED_AT_MOST / 2 + 11, "{len}");
        assert!(refusals.recently(&format!("g{}@a.test", REMEMBERED_AT_MOST + 9), start), "the newest stay");
    }
}
