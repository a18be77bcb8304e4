//! The message as plugins see it: parsed once by the host, shared by every plugin of the chain, and copied
//! into a plugin only through the accessor it calls.

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

/// Which way a message goes through Moat (plugins of WIT 0.2.0 and later are told).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// From the Internet to a protected domain.
    #[default]
    Inbound,
    /// From a customer's authenticated server to anywhere.
    Outbound,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionFacts {
    pub client_ip: String,
    pub ptr: Option<String>,
    pub helo: String,
    pub tls: Option<String>,
    pub direction: Direction,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What crosses into a plugin (every WIT version's `header`, `headers` and `subject` hand these over as
    /// they are): three `Received:` fields are three values, the subject is decoded.
    #[test]
    fn plugins_get_each_header_occurrence_and_the_decoded_subject() {
        let raw = b"Received: from a by mx1\r\nReceived: from b by mx2\r\nReceived: from c by mx3\r\n\
                    Subject: =?utf-8?b?Y2Fmw6k=?= menu\r\n\r\nbody\r\n";
        let message = ParsedMessage::parse(raw.to_vec(), MessageFacts::default());
        let content = message.content();
        assert_eq!(content.header("received").collect::<Vec<_>>(), ["from a by mx1", "from b by mx2", "from c by mx3"]);
        assert_eq!(content.headers().len(), 4);
        assert_eq!(content.subject(), Some("café menu"));
    }
}
