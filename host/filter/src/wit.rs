//! The `moat:filter` versions this host speaks: the current one (`wit/filter.wit`, 0.2.0) and every released
//! one still loaded (`wit/0.1.0/`). Each version has its own generated types; this module writes, once for
//! all of them, the host imports plugins call and the calls into a plugin, with the conversions between the
//! version's types and the host's own ([`crate::message`], [`crate::plugin`]). What a version lacks (0.1.0
//! has no `direction`) is left out of what it is told, by its `connection` function.

use crate::message::{ConnectionFacts, Direction};

/// 0.2.0 connection facts: with the message's direction.
fn connection_v0_2(c: &ConnectionFacts) -> crate::bindings::v0_2::moat::filter::types::Connection {
    use crate::bindings::v0_2::moat::filter::types::{Connection, Direction as WitDirection};
    Connection {
        client_ip: c.client_ip.clone(),
        ptr: c.ptr.clone(),
        helo: c.helo.clone(),
        tls: c.tls.clone(),
        direction: match c.direction {
            Direction::Inbound => WitDirection::Inbound,
            Direction::Outbound => WitDirection::Outbound,
        },
    }
}

/// 0.1.0 connection facts: a plugin of this version was never told the direction.
fn connection_v0_1(c: &ConnectionFacts) -> crate::bindings::v0_1::moat::filter::types::Connection {
    crate::bindings::v0_1::moat::filter::types::Connection {
        client_ip: c.client_ip.clone(),
        ptr: c.ptr.clone(),
        helo: c.helo.clone(),
        tls: c.tls.clone(),
    }
}

macro_rules! version {
    ($v:ident, $connection:path) => {
        pub(crate) mod $v {
            use crate::bindings::$v::Filter;
            use crate::bindings::$v::moat::filter::{host, types};
            use crate::host::{HostState, RecordKind, ttl};
            use crate::message::{AuthResult, MessageView, ParsedMessage, RecipientFacts};
            use crate::plugin::{Action, Label, Stage, Symbol, Verdict, clean, reply};
            use std::sync::Arc;
            use wasmtime::Store;
            use wasmtime::component::Resource;

            fn recipient(r: &RecipientFacts) -> types::Recipient {
                types::Recipient {
                    address: r.address.clone(),
                    tenant: r.tenant.clone(),
                    domain: r.domain.clone(),
                    mailbox: r.mailbox.clone(),
                }
            }

            fn auth(a: AuthResult) -> types::AuthResult {
                match a {
                    AuthResult::None => types::AuthResult::None,
                    AuthResult::Pass => types::AuthResult::Pass,
                    AuthResult::Fail => types::AuthResult::Fail,
                    AuthResult::Softfail => types::AuthResult::Softfail,
                    AuthResult::Neutral => types::AuthResult::Neutral,
                    AuthResult::Temperror => types::AuthResult::Temperror,
                    AuthResult::Permerror => types::AuthResult::Permerror,
                }
            }

            fn verdict(v: types::Verdict) -> Verdict {
                let action = match v.action {
                    types::Action::Continue => Action::Continue,
                    types::Action::Accept => Action::Accept,
                    types::Action::Reject(r) => {
                        let (code, enhanced, text) = reply(r.code, r.enhanced, r.text, 5);
                        Action::Reject { code, enhanced, text }
                    }
                    types::Action::Tempfail(r) => {
                        let (code, enhanced, text) = reply(r.code, r.enhanced, r.text, 4);
                        Action::Tempfail { code, enhanced, text }
                    }
                    types::Action::Quarantine => Action::Quarantine,
                    types::Action::Discard => Action::Discard,
                };
                Verdict {
                    action,
                    symbols: v
                        .symbols
                        .into_iter()
                        .map(|s| Symbol {
                            name: clean(s.name),
                            score: if s.score.is_finite() { s.score } else { 0.0 },
                            reason: clean(s.reason),
                        })
                        .collect(),
                    add_headers: v.add_headers.into_iter().map(|h| (clean(h.name), clean(h.value))).collect(),
                    hook_unused: v.hook_unused,
                }
            }

            /// Runs one stage of a plugin of this version.
            pub(crate) fn run(
                filter: &Filter,
                store: &mut Store<HostState>,
                stage: &Stage<'_>,
            ) -> wasmtime::Result<Verdict> {
                let answer = match stage {
                    Stage::Connect(conn) => filter.call_on_connect(store, &$connection(conn))?,
                    Stage::MailFrom(conn, sender) => filter.call_on_mail_from(store, &$connection(conn), sender)?,
                    Stage::Rcpt(conn, sender, rcpt) => {
                        filter.call_on_rcpt(store, &$connection(conn), sender, &recipient(rcpt))?
                    }
                    Stage::Message(parsed) => {
                        let handle = store.data_mut().table.push(MessageView(Arc::clone(parsed)))?;
                        filter.call_on_message(&mut *store, handle)?
                    }
                };
                Ok(verdict(answer))
            }

            pub(crate) fn configure(
                filter: &Filter,
                store: &mut Store<HostState>,
                config: &str,
            ) -> wasmtime::Result<Result<(), String>> {
                filter.call_configure(store, config)
            }

            pub(crate) fn learn(
                filter: &Filter,
                store: &mut Store<HostState>,
                message: &Arc<ParsedMessage>,
                label: Label,
            ) -> wasmtime::Result<()> {
                let label = match label {
                    Label::Spam => types::Label::Spam,
                    Label::Ham => types::Label::Ham,
                };
                let handle = store.data_mut().table.push(MessageView(Arc::clone(message)))?;
                filter.call_learn(&mut *store, handle, label)
            }

            /// A call on the plugin's own storage, when its entry grants it.
            fn own_kv<T>(
                state: &HostState,
                call: impl FnOnce(&dyn crate::host::KvStore, &str) -> Result<T, crate::host::KvError>,
            ) -> Result<T, host::HostError> {
                let (kv, namespace) = state.kv().ok_or(host::HostError::Denied)?;
                call(kv, namespace).map_err(|_| host::HostError::Unavailable)
            }

            /// A read of the operator's storage shared with every tenant, when the entry grants storage.
            fn shared_kv<T>(
                state: &HostState,
                call: impl FnOnce(&dyn crate::host::KvStore, &str) -> Result<T, crate::host::KvError>,
            ) -> Result<T, host::HostError> {
                let grant = state.capabilities.kv.as_ref().ok_or(host::HostError::Denied)?;
                call(grant.store.as_ref(), &grant.shared).map_err(|_| host::HostError::Unavailable)
            }

            impl host::Host for HostState {
                fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
                    let level = match level {
                        host::Level::Trace => tracing::Level::TRACE,
                        host::Level::Debug => tracing::Level::DEBUG,
                        host::Level::Info => tracing::Level::INFO,
                        host::Level::Warn => tracing::Level::WARN,
                        host::Level::Error => tracing::Level::ERROR,
                    };
                    HostState::log(self, level, &message);
                    Ok(())
                }

                fn config(&mut self) -> wasmtime::Result<String> {
                    Ok(self.config.to_string())
                }

                fn now_ms(&mut self) -> wasmtime::Result<u64> {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                    Ok(now.map_or(0, |d| d.as_millis() as u64))
                }

                fn kv_get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.get(ns, &key)))
                }

                fn kv_get_many(
                    &mut self,
                    keys: Vec<String>,
                ) -> wasmtime::Result<Result<Vec<Option<Vec<u8>>>, host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.get_many(ns, &keys)))
                }

                fn kv_get_shared(
                    &mut self,
                    keys: Vec<String>,
                ) -> wasmtime::Result<Result<Vec<Option<Vec<u8>>>, host::HostError>> {
                    Ok(shared_kv(self, |kv, ns| kv.get_many(ns, &keys)))
                }

                fn kv_get_counters(
                    &mut self,
                    keys: Vec<String>,
                ) -> wasmtime::Result<Result<Vec<i64>, host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.get_counters(ns, &keys)))
                }

                fn kv_get_shared_counters(
                    &mut self,
                    keys: Vec<String>,
                ) -> wasmtime::Result<Result<Vec<i64>, host::HostError>> {
                    Ok(shared_kv(self, |kv, ns| kv.get_counters(ns, &keys)))
                }

                fn kv_set(
                    &mut self,
                    key: String,
                    value: Vec<u8>,
                    ttl_seconds: Option<u32>,
                ) -> wasmtime::Result<Result<(), host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.set(ns, &key, value, ttl(ttl_seconds))))
                }

                fn kv_incr(
                    &mut self,
                    key: String,
                    delta: i64,
                    ttl_seconds: Option<u32>,
                ) -> wasmtime::Result<Result<i64, host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.incr(ns, &key, delta, ttl(ttl_seconds))))
                }

                fn kv_incr_many(
                    &mut self,
                    deltas: Vec<(String, i64)>,
                ) -> wasmtime::Result<Result<(), host::HostError>> {
                    Ok(own_kv(self, |kv, ns| kv.incr_many(ns, &deltas)))
                }

                fn dns_lookup(
                    &mut self,
                    name: String,
                    kind: host::RecordKind,
                ) -> wasmtime::Result<Result<Vec<String>, host::HostError>> {
                    let kind = match kind {
                        host::RecordKind::A => RecordKind::A,
                        host::RecordKind::Aaaa => RecordKind::Aaaa,
                        host::RecordKind::Txt => RecordKind::Txt,
                        host::RecordKind::Ptr => RecordKind::Ptr,
                    };
                    Ok(HostState::dns_lookup(self, &name, kind).map_err(|e| match e {
                        None => host::HostError::Denied,
                        Some(_) => host::HostError::Unavailable,
                    }))
                }
            }

            impl types::Host for HostState {}

            impl types::HostMessage for HostState {
                fn sender(&mut self, m: Resource<MessageView>) -> wasmtime::Result<String> {
                    Ok(self.view(&m)?.0.facts().sender.clone())
                }
                fn recipients(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Recipient>> {
                    Ok(self.view(&m)?.0.facts().recipients.iter().map(recipient).collect())
                }
                fn connection(&mut self, m: Resource<MessageView>) -> wasmtime::Result<types::Connection> {
                    Ok($connection(&self.view(&m)?.0.facts().connection))
                }
                fn authentication(&mut self, m: Resource<MessageView>) -> wasmtime::Result<types::Authentication> {
                    let a = &self.view(&m)?.0.facts().authentication;
                    Ok(types::Authentication {
                        spf: auth(a.spf),
                        dkim: auth(a.dkim),
                        dmarc: auth(a.dmarc),
                        dmarc_policy: a.dmarc_policy.clone(),
                    })
                }
                fn headers(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Header>> {
                    let content = self.view(&m)?.0.content();
                    Ok(content
                        .headers()
                        .iter()
                        .map(|h| types::Header { name: h.name.clone(), value: h.value.clone() })
                        .collect())
                }
                fn header(&mut self, m: Resource<MessageView>, name: String) -> wasmtime::Result<Vec<String>> {
                    Ok(self.view(&m)?.0.content().header(&name).map(str::to_owned).collect())
                }
                fn subject(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Option<String>> {
                    Ok(self.view(&m)?.0.content().subject().map(str::to_owned))
                }
                fn text_parts(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<String>> {
                    Ok(self.view(&m)?.0.content().text_parts().to_vec())
                }
                fn html_parts(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<String>> {
                    Ok(self.view(&m)?.0.content().html_parts().to_vec())
                }
                fn attachments(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<types::Attachment>> {
                    let content = self.view(&m)?.0.content();
                    Ok(content
                        .attachments()
                        .iter()
                        .enumerate()
                        .map(|(i, a)| types::Attachment {
                            index: i as u32,
                            name: a.name.clone(),
                            declared_type: a.declared_type.clone(),
                            sniffed_type: a.sniffed_type.clone(),
                            size: a.bytes.len() as u64,
                        })
                        .collect())
                }
                fn attachment_bytes(
                    &mut self,
                    m: Resource<MessageView>,
                    index: u32,
                ) -> wasmtime::Result<Option<Vec<u8>>> {
                    Ok(self.view(&m)?.0.content().attachments().get(index as usize).map(|a| a.bytes.clone()))
                }
                fn raw(&mut self, m: Resource<MessageView>) -> wasmtime::Result<Vec<u8>> {
                    Ok(self.view(&m)?.0.content().raw().to_vec())
                }
                fn size(&mut self, m: Resource<MessageView>) -> wasmtime::Result<u64> {
                    Ok(self.view(&m)?.0.content().raw().len() as u64)
                }
                fn drop(&mut self, m: Resource<MessageView>) -> wasmtime::Result<()> {
                    self.table.delete(m)?;
                    Ok(())
                }
            }
        }
    };
}

version!(v0_2, super::connection_v0_2);
version!(v0_1, super::connection_v0_1);
