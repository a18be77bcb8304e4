//! Test SMTP: greets a downstream host the way delivery would (greeting, EHLO) and says goodbye, so an admin
//! sees whether Moat can reach the company's server before mail depends on it.

use mail_send::SmtpClient;
use std::time::Duration;

/// Why a host gave no usable greeting.
#[derive(Debug, thiserror::Error)]
pub enum NoGreeting {
    #[error(transparent)]
    Unreachable(#[from] super::networks::Unreachable),
    #[error("{0}")]
    Failed(String),
}

/// Connects to `host:port` (where `destinations` permits), reads the greeting and answers EHLO; returns what
/// the host said.
pub async fn greet(
    host: &str,
    port: u16,
    helo: &str,
    timeout: Duration,
    destinations: &super::networks::Destinations,
) -> Result<String, NoGreeting> {
    let addrs = destinations.addresses(host, port, false).await?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        let mut client = match SmtpClient::connect(addr, timeout).await {
            Ok(client) => client,
            Err(e) => {
                last = format!("cannot connect to {addr}: {e}");
                continue;
            }
        };
        client.timeout = timeout;
        let greeting = tokio::time::timeout(timeout, client.read())
            .await
            .map_err(|_| NoGreeting::Failed(format!("{addr}: no greeting within {}s", timeout.as_secs())))?
            .map_err(|e| NoGreeting::Failed(format!("{addr}: {e}")))?;
        if greeting.code != 220 {
            return Err(NoGreeting::Failed(format!("{addr} refuses sessions: {} {}", greeting.code, greeting.message)));
        }
        let ehlo = client.ehlo(helo).await.map_err(|e| NoGreeting::Failed(format!("{addr}: EHLO failed: {e}")))?;
        let _ = client.quit().await;
        return Ok(format!("{addr}: {} {}; EHLO {}", greeting.code, greeting.message.trim(), ehlo.hostname));
    }
    Err(NoGreeting::Failed(last))
}
