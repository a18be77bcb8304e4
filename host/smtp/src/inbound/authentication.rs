//! SPF, DKIM and DMARC as facts the host states (RFC 7208, 6376, 7489, through mail-auth and the server's
//! resolver): plugins score them, and the downstream server gets them as an `Authentication-Results` header
//! (RFC 8601) under Moat's host name.

use mail_auth::dmarc::Policy;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator, SpfResult,
    dmarc::verify::DmarcParameters, spf::verify::SpfParameters,
};
use moat_chains::{Outage, resolver_config};
use moat_filter::{AuthResult, Authentication};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Checking one message may take several lookups (SPF includes, DKIM keys, the DMARC record); past this the
/// results are temporary errors and the message goes on.
const CHECK_DEADLINE: Duration = Duration::from_secs(8);
/// The deadline while checks keep timing out (a resolver that drops or refuses queries): each message then
/// waits this, not the whole deadline, until a check finishes in time again.
const OUTAGE_DEADLINE: Duration = Duration::from_secs(1);

/// The name of the header this module writes, and removes when a sender forged it under Moat's name.
pub const AUTHENTICATION_RESULTS: &str = "Authentication-Results";

pub struct Authenticator {
    inner: MessageAuthenticator,
    hostname: String,
    outage: Outage,
}

/// What the checks found: the facts for plugins and the header value for the delivered message.
#[derive(Debug, Clone)]
pub struct Checked {
    pub facts: Authentication,
    pub header: String,
}

/// The SMTP facts the checks need.
pub struct Envelope<'a> {
    pub client_ip: IpAddr,
    pub helo: &'a str,
    /// The MAIL FROM address, empty for a bounce.
    pub sender: &'a str,
}

impl Authenticator {
    /// Asks `nameserver` (else the system's resolvers); `hostname` names Moat in the header.
    pub fn new(nameserver: Option<SocketAddr>, hostname: &str) -> Result<Self, crate::SetupError> {
        let (config, options) = resolver_config(nameserver)?;
        let inner =
            MessageAuthenticator::new(config, options).map_err(|e| crate::SetupError::Authenticator(e.to_string()))?;
        Ok(Self { inner, hostname: hostname.to_owned(), outage: Outage::default() })
    }

    /// Checks `message` (already parsed: the checks read its header fields, not a parse of their own).
    pub async fn check(&self, envelope: &Envelope<'_>, message: &moat_filter::Content) -> Checked {
        let deadline = self.outage.deadline(CHECK_DEADLINE, OUTAGE_DEADLINE);
        match tokio::time::timeout(deadline, self.evaluate(envelope, message)).await {
            Ok(checked) => {
                self.outage.answered();
                checked
            }
            Err(_) => {
                self.outage.timed_out();
                tracing::info!(?deadline, "SPF/DKIM/DMARC checks timed out");
                Checked {
                    facts: Authentication {
                        spf: AuthResult::Temperror,
                        dkim: AuthResult::Temperror,
                        dmarc: AuthResult::Temperror,
                        dmarc_policy: None,
                    },
                    header: format!("{}; none (checks timed out)", self.hostname),
                }
            }
        }
    }

    async fn evaluate(&self, envelope: &Envelope<'_>, content: &moat_filter::Content) -> Checked {
        let Envelope { client_ip, helo, sender } = *envelope;
        let spf = if sender.is_empty() {
            self.inner.verify_spf(SpfParameters::verify_ehlo(client_ip, helo, &self.hostname)).await
        } else {
            self.inner.verify_spf(SpfParameters::verify_mail_from(client_ip, helo, &self.hostname, sender)).await
        };
        let results = AuthenticationResults::new(&self.hostname);
        let results = if sender.is_empty() {
            results.with_spf_ehlo_result(&spf, client_ip, helo)
        } else {
            results.with_spf_mailfrom_result(&spf, client_ip, sender, helo)
        };
        let mut facts = Authentication { spf: spf_result(spf.result()), ..Authentication::default() };
        let parsed = content.parsed_headers();
        if parsed.parts.is_empty() {
            return Checked { facts, header: results.to_string() };
        }
        let message = AuthenticatedMessage::from_parsed(parsed, content.raw(), true);
        let dkim = self.inner.verify_dkim(&message).await;
        facts.dkim = dkim_summary(dkim.iter().map(|d| d.result()));
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, domain)| domain);
        let dmarc = self.inner.verify_dmarc(DmarcParameters::new(&message, &dkim, mail_from_domain, &spf)).await;
        facts.dmarc = dmarc_result(&dmarc.result());
        facts.dmarc_policy = dmarc.dmarc_record().map(|_| {
            match dmarc.policy() {
                Policy::Reject => "reject",
                Policy::Quarantine => "quarantine",
                Policy::None | Policy::Unspecified => "none",
            }
            .to_owned()
        });
        let header = results.with_dkim_results(&dkim, message.from()).with_dmarc_result(&dmarc).to_string();
        Checked { facts, header }
    }
}

fn spf_result(result: SpfResult) -> AuthResult {
    match result {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::Softfail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::Temperror,
        SpfResult::PermError => AuthResult::Permerror,
        SpfResult::None => AuthResult::None,
    }
}

/// One result for all signatures: any valid signature passes; otherwise the most telling failure.
fn dkim_summary<'a>(results: impl Iterator<Item = &'a DkimResult>) -> AuthResult {
    let mut summary = AuthResult::None;
    for result in results {
        let this = match result {
            DkimResult::Pass => return AuthResult::Pass,
            DkimResult::Fail(_) => AuthResult::Fail,
            DkimResult::Neutral(_) => AuthResult::Neutral,
            DkimResult::PermError(_) => AuthResult::Permerror,
            DkimResult::TempError(_) => AuthResult::Temperror,
            DkimResult::None => AuthResult::None,
        };
        if rank(this) > rank(summary) {
            summary = this;
        }
    }
    summary
}

fn rank(result: AuthResult) -> u8 {
    match result {
        AuthResult::None => 0,
        AuthResult::Neutral => 1,
        AuthResult::Temperror => 2,
        AuthResult::Permerror => 3,
        AuthResult::Softfail => 4,
        AuthResult::Fail => 5,
        AuthResult::Pass => 6,
    }
}

fn dmarc_result(result: &DmarcResult) -> AuthResult {
    match result {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::Temperror,
        DmarcResult::PermError(_) => AuthResult::Permerror,
        DmarcResult::None => AuthResult::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_valid_signature_passes_dkim_else_the_worst_failure_shows() {
        use mail_auth::Error;
        let pass_and_fail = [DkimResult::Fail(Error::Base64), DkimResult::Pass];
        assert_eq!(dkim_summary(pass_and_fail.iter()), AuthResult::Pass);
        let failures = [DkimResult::TempError(Error::ParseError), DkimResult::Fail(Error::NotAligned)];
        assert_eq!(dkim_summary(failures.iter()), AuthResult::Fail);
        assert_eq!(dkim_summary([].iter()), AuthResult::None);
    }
}
