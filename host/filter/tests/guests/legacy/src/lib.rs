//! A plugin of `moat:filter@0.1.0`, as released before 0.2.0: it sees the message's subject, its client's
//! HELO and its recipients, and answers with a symbol naming them.
wit_bindgen::generate!({ path: "../../../../../wit/0.1.0", world: "filter" });

use moat::filter::types::{Action, Symbol};

struct Legacy;

fn pass(symbols: Vec<Symbol>) -> Verdict {
    Verdict { action: Action::Continue, symbols, add_headers: Vec::new(), hook_unused: false }
}

impl Guest for Legacy {
    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }
    fn on_connect(conn: Connection) -> Verdict {
        pass(vec![Symbol { name: "LEGACY_CONNECT".into(), score: 0.0, reason: conn.helo }])
    }
    fn on_mail_from(_conn: Connection, _sender: String) -> Verdict {
        pass(Vec::new())
    }
    fn on_rcpt(_conn: Connection, _sender: String, _rcpt: Recipient) -> Verdict {
        pass(Vec::new())
    }
    fn on_message(message: &Message) -> Verdict {
        let reason = format!(
            "{} from {} to {}",
            message.subject().unwrap_or_default(),
            message.connection().helo,
            message.recipients().len()
        );
        pass(vec![Symbol { name: "LEGACY_SEEN".into(), score: 1.5, reason }])
    }
    fn learn(_message: &Message, _label: Label) {}
}

export!(Legacy);
