//! Recipient callout for sign-up by SMTP: asks a protected domain's downstream hosts, best first, whether
//! they accept an address — greeting, EHLO, `MAIL FROM:<>`, `RCPT TO:<address>`, QUIT; no message is sent.

use super::route::Router;
use mail_send::SmtpClient;
use moat_directory::{Address, Callout, CalloutAnswer};
use moat_store::Store;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Bounds each connection and each command: the sending client waits on its RCPT meanwhile (RFC 5321 gives
/// it 5 minutes).
const TIMEOUT: Duration = Duration::from_secs(20);

pub struct SmtpCallout {
    router: Router,
    helo: String,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpCallout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCallout").field("helo", &self.helo).finish_non_exhaustive()
    }
}

/// How one host answered.
enum HostAnswer {
    Final(CalloutAnswer),
    /// Try the next host (why this one failed).
    Next(String),
}

impl SmtpCallout {
    pub fn new(
        store: Store,
        helo: &str,
        destinations: super::networks::Destinations,
    ) -> Result<Self, crate::SetupError> {
        // Callouts ask protected domains' own servers, never MX hosts.
        let router = Router::new(store, None, destinations, 25)?;
        Ok(Self { router, helo: helo.to_owned(), timeout: TIMEOUT })
    }

    async fn ask_host(&self, host: &str, port: u16, address: &Address) -> HostAnswer {
        let addrs = match self.router.destinations().addresses(host, port, false).await {
            Ok(addrs) => addrs,
            Err(why) => return HostAnswer::Next(why.to_string()),
        };
        let mut last = HostAnswer::Next(format!("{host} has no address"));
        for addr in addrs {
            let mut client = match SmtpClient::connect(addr, self.timeout).await {
                Ok(client) => client,
                Err(e) => {
                    last = HostAnswer::Next(format!("cannot connect to {addr}: {e}"));
                    continue;
                }
            };
            client.timeout = self.timeout;
            let answer = async {
                let greeting = tokio::time::timeout(self.timeout, client.read())
                    .await
                    .map_err(|_| "no greeting".to_owned())?
                    .map_err(|e| e.to_string())?;
                if greeting.code != 220 {
                    return Err(format!("greeting {} {}", greeting.code, greeting.message));
                }
                client.ehlo(&self.helo).await.map_err(|e| format!("EHLO: {e}"))?;
                let mail = client.cmd("MAIL FROM:<>\r\n").await.map_err(|e| format!("MAIL: {e}"))?;
                if mail.code / 100 != 2 {
                    return Err(format!("MAIL FROM:<> answered {} {}", mail.code, mail.message));
                }
                client.cmd(format!("RCPT TO:<{address}>\r\n")).await.map_err(|e| format!("RCPT: {e}"))
            }
            .await;
            let _ = client.quit().await;
            return match answer {
                Ok(rcpt) if rcpt.code / 100 == 2 => HostAnswer::Final(CalloutAnswer::Exists),
                Ok(rcpt) if rcpt.code / 100 == 5 => {
                    HostAnswer::Final(CalloutAnswer::NoSuchUser(format!("{} {}", rcpt.code, rcpt.message.trim())))
                }
                Ok(rcpt) => HostAnswer::Next(format!("{addr} answered RCPT {} {}", rcpt.code, rcpt.message.trim())),
                Err(why) => HostAnswer::Next(format!("{addr}: {why}")),
            };
        }
        last
    }
}

impl Callout for SmtpCallout {
    fn ask<'a>(
        &'a self,
        domain: &'a str,
        address: &'a Address,
    ) -> Pin<Box<dyn Future<Output = CalloutAnswer> + Send + 'a>> {
        Box::pin(async move {
            let targets = match self.router.targets(domain).await {
                Ok(targets) => targets,
                Err(failure) => return CalloutAnswer::Unknown(failure.text),
            };
            let mut why = Vec::new();
            for target in targets {
                match self.ask_host(&target.host, target.port, address).await {
                    HostAnswer::Final(answer) => return answer,
                    HostAnswer::Next(reason) => why.push(reason),
                }
            }
            CalloutAnswer::Unknown(why.join("; "))
        })
    }
}
