//! AUTH (RFC 4954) on the submission listeners: PLAIN and LOGIN, offered and accepted only inside TLS and
//! never on the MX listener. Failures are counted per client address and per account name; past
//! [`MAX_FAILURES`] in [`FAILURE_WINDOW`] the client gets `421` and no password is checked for either until
//! the window has passed. An account that locks is told to its admins once per lockout.

use super::listener::Role;
use super::{Next, Session};
use crate::reply::{self, Reply};
use base64::Engine;
use moat_directory::AuthFailure;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};

/// Failed authentications a client address, or an account name, may have within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// Seconds failures are remembered (and a lockout lasts at most).
pub const FAILURE_WINDOW: i64 = 15 * 60;
/// The longest SASL response line read (a PLAIN response of long names fits many times over).
pub const MAX_RESPONSE: usize = 4096;

/// Where a SASL exchange stands while the client's next line is awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// `334` sent after `AUTH PLAIN`: the response is base64 of `authzid NUL authcid NUL password`.
    Plain,
    /// `334 Username:` sent.
    LoginUser,
    /// `334 Password:` sent for this user.
    LoginPassword { user: String },
}

/// Failed authentications by client address and by account name, shared by every submission session of
/// this node (a cluster's nodes each keep their own: an attacker spreading guesses over N nodes gets N
/// times the budget, still a handful an hour).
#[derive(Default)]
pub struct AuthThrottle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl AuthThrottle {
    fn keys(ip: IpAddr, account: Option<&str>) -> Vec<String> {
        let mut keys = vec![format!("ip:{ip}")];
        if let Some(account) = account {
            keys.push(format!("account:{}", account.trim().to_lowercase()));
        }
        keys
    }

    /// Whether the client address or the account is locked out now.
    pub fn locked(&self, ip: IpAddr, account: Option<&str>, now: i64) -> bool {
        let mut failures = self.failures.lock().expect("auth throttle");
        Self::keys(ip, account).iter().any(|key| {
            failures.get_mut(key).is_some_and(|times| {
                times.retain(|t| now - t < FAILURE_WINDOW);
                times.len() >= MAX_FAILURES
            })
        })
    }

    /// Counts a failure; true when it is the one that locks the account out.
    pub fn failed(&self, ip: IpAddr, account: &str, now: i64) -> bool {
        let mut failures = self.failures.lock().expect("auth throttle");
        // Bounded: a flood of made-up names must not grow the table without end.
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.back().is_some_and(|t| now - t < FAILURE_WINDOW));
        }
        let mut locks_account = false;
        for key in Self::keys(ip, Some(account)) {
            let times = failures.entry(key.clone()).or_default();
            times.retain(|t| now - t < FAILURE_WINDOW);
            times.push_back(now);
            locks_account |= key.starts_with("account:") && times.len() == MAX_FAILURES;
        }
        locks_account
    }
}

fn decode(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

fn challenge(text: &'static str) -> Reply {
    Reply { code: 334, status: None, text: text.into() }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// AUTH MECHANISM [INITIAL-RESPONSE].
    pub(super) async fn auth(&mut self, mechanism: u64, initial: String) -> Next {
        if self.role != Role::Submission {
            return self.refuse_next(reply::AUTH_NOT_ENABLED);
        }
        if self.helo.is_none() || !self.esmtp {
            return self.refuse_next(reply::NEED_HELO);
        }
        if self.tls.is_none() {
            return self.refuse_next(reply::AUTH_ENCRYPTION_REQUIRED);
        }
        if self.sender.is_some() {
            return self.refuse_next(reply::AUTH_ALREADY);
        }
        if self.transaction.is_some() {
            return self.refuse_next(reply::AUTH_IN_TRANSACTION);
        }
        if self.ctx.auth_throttle.locked(self.peer.ip(), None, crate::now()) {
            self.reply(reply::AUTH_LOCKED);
            return Next::Close;
        }
        // "=" is an empty initial response (RFC 4954 §4).
        let initial = if initial == "=" { Some(String::new()) } else { Some(initial).filter(|i| !i.is_empty()) };
        match (mechanism, initial) {
            (AUTH_PLAIN, Some(response)) => self.sasl_response(SaslStep::Plain, &response).await,
            (AUTH_PLAIN, None) => {
                self.reply(challenge(""));
                Next::Sasl(SaslStep::Plain)
            }
            (AUTH_LOGIN, Some(user)) => self.sasl_response(SaslStep::LoginUser, &user).await,
            (AUTH_LOGIN, None) => {
                self.reply(challenge("VXNlcm5hbWU6"));
                Next::Sasl(SaslStep::LoginUser)
            }
            _ => self.refuse_next(reply::AUTH_MECHANISM),
        }
    }

    /// The client's line in answer to a `334`.
    pub(super) async fn sasl_response(&mut self, step: SaslStep, line: &str) -> Next {
        if line.trim() == "*" {
            return self.refuse_next(reply::AUTH_CANCELLED);
        }
        let Some(decoded) = decode(line) else {
            return self.refuse_next(reply::AUTH_SYNTAX);
        };
        match step {
            SaslStep::LoginUser => {
                self.reply(challenge("UGFzc3dvcmQ6"));
                Next::Sasl(SaslStep::LoginPassword { user: decoded })
            }
            SaslStep::LoginPassword { user } => self.verify(&user, &decoded).await,
            SaslStep::Plain => {
                let mut parts = decoded.split('\0');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    // An authorization identity other than the account itself is not offered.
                    (Some(authz), Some(user), Some(password), None) if authz.is_empty() || authz == user => {
                        let (user, password) = (user.to_owned(), password.to_owned());
                        self.verify(&user, &password).await
                    }
                    _ => self.refuse_next(reply::AUTH_SYNTAX),
                }
            }
        }
    }

    async fn verify(&mut self, user: &str, password: &str) -> Next {
        let (ip, now) = (self.peer.ip(), crate::now());
        if self.ctx.auth_throttle.locked(ip, Some(user), now) {
            self.reply(reply::AUTH_LOCKED);
            return Next::Close;
        }
        match self.ctx.directory.authenticate_sender(user, password).await {
            Ok(sender) => {
                tracing::info!(account = %sender.account, "authenticated");
                self.sender = Some(sender);
                self.reply(reply::AUTH_OK);
                Next::Continue
            }
            Err(AuthFailure::Temporary(e)) => {
                tracing::error!("cannot check credentials: {e}");
                self.reply(reply::AUTH_TEMPORARY);
                Next::Continue
            }
            Err(failure) => {
                let user: String = user.chars().filter(|c| !c.is_control()).take(100).collect();
                tracing::info!(account = %user, %failure, "authentication failed");
                if self.ctx.auth_throttle.failed(ip, &user, now) {
                    self.tell_lockout(&user).await;
                }
                match failure {
                    AuthFailure::Suspended(why) => {
                        self.refuse_next(Reply::dynamic(535, "5.7.8", format!("Credential suspended: {why}")))
                    }
                    AuthFailure::NoDomains => self.refuse_next(Reply::dynamic(535, "5.7.8", failure.to_string())),
                    _ => self.refuse_next(reply::AUTH_INVALID),
                }
            }
        }
    }

    /// Tells the account's admins (an alert of its tenant) that its sign-ins are locked out.
    async fn tell_lockout(&self, account: &str) {
        let Ok(Some(tenant)) = self.ctx.queue.store().sending_account_tenant(account).await else { return };
        let text = format!(
            "SMTP authentication as {account} failed {MAX_FAILURES} times within {} minutes (last from {}); \
             it is locked out for up to {} minutes. If this was not your server, change its password.",
            FAILURE_WINDOW / 60,
            self.peer.ip(),
            FAILURE_WINDOW / 60
        );
        if let Err(e) = self.ctx.queue.store().alert_add(Some(tenant), "smtp-auth-locked", &text, crate::now()).await {
            tracing::error!("cannot record an alert: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_address_and_the_account_for_the_window() {
        let throttle = AuthThrottle::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for i in 0..4 {
            assert!(!throttle.failed(a, "Relay@Acme.test", 100 + i));
        }
        assert!(!throttle.locked(a, Some("relay@acme.test"), 104));
        assert!(throttle.failed(b, "relay@acme.test", 105), "the fifth failure locks the account");
        assert!(throttle.locked(b, Some("RELAY@acme.test"), 106), "from any address");
        assert!(!throttle.locked(b, None, 106), "b itself failed once");
        assert!(!throttle.locked(a, Some("other@acme.test"), 106), "a failed four times");
        assert!(!throttle.locked(b, Some("relay@acme.test"), 105 + FAILURE_WINDOW), "the window passes");
    }
}
