//! The message as plugins see it: parsed once by the host, shared by every plugin of the chain, and copied
//! into a plugin only through the accessor it calls.

use crate::bindings::moat::filter::types as wit;
use std::sync::Arc;

/// SPF, DKIM or DMARC result as the host evaluated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthResult {
    #[default]
    None,
    Pass,
    Fail,
    Softfail,
    Neutral,
    Temperror,
    Permerror,
}

#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub dmarc: AuthResult,
    pub dmarc_policy: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionFacts {
    pub client_ip: String,
    pub ptr: Option<String>,
    pub helo: String,
    pub tls: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RecipientFacts {
    pub address: String,
    pub tenant: String,
    pub domain: String,
    pub mailbox: String,
}

/// What the host knows besides the message bytes.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    pub sender: String,
    pub recipients: Vec<RecipientFacts>,
    pub connection: ConnectionFacts,
    pub authentication: Authentication,
}

/// What a message holds once parsed (`moat-message`, the same view the SDK's test harness builds): shared
/// by every tenant group of a transaction and every plugin.
pub type Content = moat_message::Mail;

/// A message parsed once, with what the host knows of its transaction; cheap to share between the plugins
/// of a chain.
pub struct ParsedMessage {
    facts: MessageFacts,
    content: Arc<Content>,
}

impl ParsedMessage {
    pub fn parse(raw: Vec<u8>, facts: MessageFacts) -> Arc<Self> {
        Self::new(Arc::new(Content::parse(raw)), facts)
    }

    /// The message `content` as one tenant group's chain sees it.
    pub fn new(content: Arc<Content>, facts: MessageFacts) -> Arc<Self> {
        Arc::new(Self { facts, content })
    }

    pub fn size(&self) -> usize {
        self.content.raw().len()
    }

    pub fn facts(&self) -> &MessageFacts {
        &self.facts
    }

    pub fn content(&self) -> &Content {
        &self.content
    }
}

/// The host side of the `message` resource handed to one plugin.
pub struct MessageView(pub(crate) Arc<ParsedMessage>);

pub(crate) fn connection(c: &ConnectionFacts) -> wit::Connection {
    wit::Connection { client_ip: c.client_ip.clone(), ptr: c.ptr.clone(), helo: c.helo.clone(), tls: c.tls.clone() }
}

pub(crate) fn recipient(r: &RecipientFacts) -> wit::Recipient {
    wit::Recipient {
        address: r.address.clone(),
        tenant: r.tenant.clone(),
        domain: r.domain.clone(),
        mailbox: r.mailbox.clone(),
    }
}

fn auth(a: AuthResult) -> wit::AuthResult {
    match a {
        AuthResult::None => wit::AuthResult::None,
        AuthResult::Pass => wit::AuthResult::Pass,
        AuthResult::Fail => wit::AuthResult::Fail,
        AuthResult::Softfail => wit::AuthResult::Softfail,
        AuthResult::Neutral => wit::AuthResult::Neutral,
        AuthResult::Temperror => wit::AuthResult::Temperror,
        AuthResult::Permerror => wit::AuthResult::Permerror,
    }
}

impl ParsedMessage {
    pub(crate) fn wit_sender(&self) -> String {
        self.facts.sender.clone()
    }
    pub(crate) fn wit_recipients(&self) -> Vec<wit::Recipient> {
        self.facts.recipients.iter().map(recipient).collect()
    }
    pub(crate) fn wit_connection(&self) -> wit::Connection {
        connection(&self.facts.connection)
    }
    pub(crate) fn wit_authentication(&self) -> wit::Authentication {
        let a = &self.facts.authentication;
        wit::Authentication {
            spf: auth(a.spf),
            dkim: auth(a.dkim),
            dmarc: auth(a.dmarc),
            dmarc_policy: a.dmarc_policy.clone(),
        }
    }
    pub(crate) fn wit_headers(&self) -> Vec<wit::Header> {
        self.content.headers().iter().map(|h| wit::Header { name: h.name.clone(), value: h.value.clone() }).collect()
    }
    pub(crate) fn wit_header(&self, name: &str) -> Vec<String> {
        self.content.header(name).map(str::to_owned).collect()
    }
    pub(crate) fn wit_subject(&self) -> Option<String> {
        self.content.subject().map(str::to_owned)
    }
    pub(crate) fn wit_text_parts(&self) -> Vec<String> {
        self.content.text_parts().to_vec()
    }
    pub(crate) fn wit_html_parts(&self) -> Vec<String> {
        self.content.html_parts().to_vec()
    }
    pub(crate) fn wit_attachments(&self) -> Vec<wit::Attachment> {
        self.content
            .attachments()
            .iter()
            .enumerate()
            .map(|(i, a)| wit::Attachment {
                index: i as u32,
                name: a.name.clone(),
                declared_type: a.declared_type.clone(),
                sniffed_type: a.sniffed_type.clone(),
                size: a.bytes.len() as u64,
            })
            .collect()
    }
    pub(crate) fn wit_attachment_bytes(&self, index: u32) -> Option<Vec<u8>> {
        self.content.attachments().get(index as usize).map(|a| a.bytes.clone())
    }
    pub(crate) fn wit_raw(&self) -> Vec<u8> {
        self.content.raw().to_vec()
    }
    pub(crate) fn wit_size(&self) -> u64 {
        self.content.raw().len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What crosses into a plugin: three `Received:` fields are three values, the subject is decoded.
    #[test]
    fn plugins_get_each_header_occurrence_and_the_decoded_subject() {
        let raw = b"Received: from a by mx1\r\nReceived: from b by mx2\r\nReceived: from c by mx3\r\n\
                    Subject: =?utf-8?b?Y2Fmw6k=?= menu\r\n\r\nbody\r\n";
        let message = ParsedMessage::parse(raw.to_vec(), MessageFacts::default());
        assert_eq!(message.wit_header("received"), ["from a by mx1", "from b by mx2", "from c by mx3"]);
        assert_eq!(message.wit_headers().len(), 4);
        assert_eq!(message.wit_subject().as_deref(), Some("café menu"));
    }
}
