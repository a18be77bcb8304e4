//! The console's view of the running gateway ([`moat_console::Gateway`]): quarantine release through the
//! queue, MX lookups, SMTP greetings, plugin uploads and chain saves, each the way the CLI does them.

use crate::config::Config;
use moat_chains::{Chains, HickoryDns};
use moat_console::{BoxFuture, Gateway, GatewayError, Lesson, NoGreeting, RegisteredPlugin};
use moat_filter::{ChainSpec, ConnectionFacts, Label, MessageFacts, ParsedMessage, RecipientFacts};
use moat_smtp::Queue;
use moat_store::{ChainScope, Classification, Store, TenantId};
use std::sync::Arc;
use std::time::Duration;

pub struct ConsoleGateway {
    pub config: Config,
    pub store: Store,
    pub queue: Queue,
    pub filters: Arc<Chains>,
    pub dns: Option<HickoryDns>,
}

impl Gateway for ConsoleGateway {
    fn release(
        &self,
        quarantine_id: &str,
        recipients: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<String, GatewayError>> {
        let id = quarantine_id.to_owned();
        Box::pin(async move {
            self.queue.release(&id, Some(recipients)).await.map_err(|e| GatewayError::Refused(e.to_string()))
        })
    }

    fn mx_hosts(&self, domain: &str) -> BoxFuture<'_, Result<Vec<(String, u16)>, GatewayError>> {
        let domain = domain.to_owned();
        Box::pin(async move {
            match &self.dns {
                Some(dns) => dns.mx(&domain).await.map_err(|e| GatewayError::Refused(e.to_string())),
                None => Err(GatewayError::Unavailable("no DNS resolver is configured".into())),
            }
        })
    }

    fn test_smtp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<String, NoGreeting>> {
        let host = host.to_owned();
        Box::pin(async move {
            let helo = &self.config.server.hostname;
            let destinations = self.config.destinations();
            moat_smtp::outbound::probe::greet(&host, port, helo, Duration::from_secs(10), &destinations)
                .await
                .map_err(|e| NoGreeting(e.to_string()))
        })
    }

    fn register_plugin(
        &self,
        owner: Option<TenantId>,
        name: &str,
        version: &str,
        wasm: Vec<u8>,
    ) -> BoxFuture<'_, Result<RegisteredPlugin, GatewayError>> {
        let (name, version) = (name.to_owned(), version.to_owned());
        Box::pin(async move {
            crate::commands::plugin::register(
                self.filters.registry(),
                &self.store,
                owner,
                &name,
                &version,
                &wasm,
                "console",
            )
            .await
            .map_err(|e| GatewayError::Refused(format!("{e:#}")))?;
            Ok(RegisteredPlugin { name, version })
        })
    }

    fn learn(&self, lesson: Lesson) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            let domain_of = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            let first_domain = lesson.recipients.first().map(|r| domain_of(r)).unwrap_or_default();
            let selected = self.filters.select(moat_store::Direction::Inbound, lesson.tenant, &first_domain);
            let facts = MessageFacts {
                sender: lesson.sender,
                recipients: lesson
                    .recipients
                    .iter()
                    .map(|address| RecipientFacts {
                        mailbox: address.clone(),
                        address: address.clone(),
                        tenant: selected.tenant_name.clone(),
                        domain: domain_of(address),
                    })
                    .collect(),
                connection: ConnectionFacts { client_ip: lesson.client_ip, ..ConnectionFacts::default() },
                ..MessageFacts::default()
            };
            let label = match lesson.classification {
                Classification::Spam => Label::Spam,
                Classification::Valid => Label::Ham,
            };
            let message = ParsedMessage::parse(lesson.message, facts);
            let failed = tokio::task::spawn_blocking(move || selected.chain.learn(&message, label))
                .await
                .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            if failed.is_empty() {
                return Ok(());
            }
            let names: Vec<String> = failed.iter().map(|(plugin, why)| format!("{plugin} ({why})")).collect();
            tracing::warn!(failed = ?names, "learning a classified message failed");
            Err(GatewayError::Refused(format!("these filters could not learn the message: {}", names.join(", "))))
        })
    }

    fn save_chain(
        &self,
        direction: moat_store::Direction,
        tenant: Option<TenantId>,
        json: String,
        by: String,
    ) -> BoxFuture<'_, Result<i64, GatewayError>> {
        Box::pin(async move {
            let spec = ChainSpec::from_json(&json).map_err(|e| GatewayError::Refused(format!("{e:#}")))?;
            let scope = tenant.map_or(ChainScope::Default, ChainScope::Tenant);
            let (id, _) = self
                .filters
                .save(direction, scope, spec, &by)
                .await
                .map_err(|e| GatewayError::Refused(e.to_string()))?;
            Ok(id)
        })
    }
}
