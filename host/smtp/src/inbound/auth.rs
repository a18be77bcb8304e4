//! AUTH (RFC 4954) on the submission listeners: PLAIN and LOGIN, offered and accepted only inside TLS and
//! never on the MX listener. Failures are counted per client address and per account name, in the store (one
//! count for every node of a cluster); past [`MAX_FAILURES`] in [`FAILURE_WINDOW`] the client gets `421` and
//! no password is checked for either until the window has passed. An account that locks is told to its admins
//! once per lockout.

use super::listener::Role;
use super::{Next, Session};
use crate::reply::{self, Reply};
use base64::Engine;
use moat_directory::AuthFailure;
use moat_store::Store;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use std::net::IpAddr;
use tokio::io::{AsyncRead, AsyncWrite};

/// Failed authentications a client address, or an account name, may have within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: i64 = 5;
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

fn throttle_keys(ip: IpAddr, account: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("smtp ip {ip}")];
    if let Some(account) = account {
        keys.push(format!("smtp account {}", account.trim().to_lowercase()));
    }
    keys
}

/// Whether the client address or the account is locked out now. A store out of reach locks nobody out:
/// the password check that follows cannot pass without it either.
async fn locked(store: &Store, ip: IpAddr, account: Option<&str>, now: i64) -> bool {
    match store.failures_of(&throttle_keys(ip, account), now).await {
        Ok(open) => open.iter().any(|f| f.count >= MAX_FAILURES),
        Err(e) => {
            tracing::warn!("cannot read failed authentications: {e}");
            false
        }
    }
}

/// Counts a failure; true when it is the one that locks the account out (on exactly one node).
async fn failed(store: &Store, ip: IpAddr, account: &str, now: i64) -> bool {
    match store.failure_add(&throttle_keys(ip, Some(account)), FAILURE_WINDOW, now).await {
        Ok(counts) => counts.get(1) == Some(&MAX_FAILURES),
        Err(e) => {
            tracing::warn!("cannot count a failed authentication: {e}");
            false
        }
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
        if locked(self.ctx.queue.store(), self.peer.ip(), None, crate::now()).await {
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
        if locked(self.ctx.queue.store(), ip, Some(user), now).await {
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
                if failed(self.ctx.queue.store(), ip, &user, now).await {
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

    #[tokio::test]
    async fn five_failures_lock_the_address_and_the_account_for_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("moat.db").display());
        let store = Store::open(&url, moat_store::Durability::None).await.unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for i in 0..4 {
            assert!(!failed(&store, a, "Relay@Acme.test", 100 + i).await);
        }
        assert!(!locked(&store, a, Some("relay@acme.test"), 104).await);
        assert!(failed(&store, b, "relay@acme.test", 105).await, "the fifth failure locks the account");
        assert!(locked(&store, b, Some("RELAY@acme.test"), 106).await, "from any address");
        assert!(!locked(&store, b, None, 106).await, "b itself failed once");
        assert!(!locked(&store, a, Some("other@acme.test"), 106).await, "a failed four times");
        assert!(!locked(&store, b, Some("relay@acme.test"), 100 + FAILURE_WINDOW).await, "the window passes");
    }
}
