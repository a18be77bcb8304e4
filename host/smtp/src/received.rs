//! The `Received:` trace header Moat prepends to every message it accepts (RFC 5321 §4.4).

use std::net::IpAddr;

pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: IpAddr,
    /// The client's verified reverse name.
    pub ptr: Option<&'a str>,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: Option<&'a str>,
    pub queue_id: &'a str,
    /// Named only when there is exactly one, so a header never discloses the other recipients.
    pub single_recipient: Option<&'a str>,
    pub date: chrono::DateTime<chrono::Utc>,
}

impl Trace<'_> {
    pub fn header(&self) -> String {
        let protocol = match (self.esmtp, self.tls.is_some()) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        let helo: String = self.helo.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
        let tls = self.tls.map(|t| format!("\r\n\t(using {t})")).unwrap_or_default();
        let rcpt = self.single_recipient.map(|r| format!("\r\n\tfor <{r}>")).unwrap_or_default();
        let ptr = self.ptr.map(|p| format!("{p} ")).unwrap_or_default();
        format!(
            "Received: from {helo} ({ptr}[{}])\r\n\tby {} (Moat) with {protocol} id {}{tls}{rcpt};\r\n\t{}\r\n",
            self.client_ip,
            self.hostname,
            self.queue_id,
            self.date.to_rfc2822()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_names_client_protocol_and_id() {
        let date = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t = Trace {
            helo: "mx.sender.example\r\nX-Injected: yes",
            client_ip: "192.0.2.7".parse().unwrap(),
            ptr: None,
            hostname: "mx.moat.example",
            esmtp: true,
            tls: Some("TLSv1_3"),
            queue_id: "0190abc",
            single_recipient: Some("bob@example.com"),
            date,
        };
        let h = t.header();
        assert!(h.starts_with("Received: from mx.sender.exampleX-Injected:yes ([192.0.2.7])\r\n\tby mx.moat.example (Moat) with ESMTPS id 0190abc"), "{h}");
        assert!(h.contains("for <bob@example.com>;"), "{h}");
        assert!(h.ends_with("+0000\r\n"), "{h}");
        assert_eq!(h.matches("\r\n").count(), h.matches("\r\n\t").count() + 1, "only folded lines: {h}");
        let named = Trace { ptr: Some("mx.sender.example"), helo: "mx.sender.example", ..t }.header();
        assert!(named.starts_with("Received: from mx.sender.example (mx.sender.example [192.0.2.7])"), "{named}");
    }
}
