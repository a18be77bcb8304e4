//! Delivery status notifications (RFC 3464): the bounce a sender gets when mail cannot be delivered.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

pub struct Bounce<'a> {
    pub hostname: &'a str,
    pub queue_id: &'a str,
    pub sender: &'a str,
    pub arrival: i64,
    /// (recipient, last reply or reason)
    pub failed: &'a [(String, String)],
    /// The original message; only its header goes back.
    pub original: &'a [u8],
}

impl Bounce<'_> {
    pub fn message(&self) -> Vec<u8> {
        let date = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().to_rfc2822();
        let mut human = format!(
            "This is the mail system at {}.\r\n\r\nYour message could not be delivered to the following \
             recipients:\r\n\r\n",
            self.hostname
        );
        let mut status = format!(
            "Reporting-MTA: dns; {}\r\nX-Moat-Queue-ID: {}\r\nArrival-Date: {}\r\n",
            self.hostname,
            self.queue_id,
            date(self.arrival)
        );
        for (rcpt, reason) in self.failed {
            human.push_str(&format!("  <{rcpt}>: {reason}\r\n"));
            status.push_str(&format!(
                "\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
                status_code(reason),
                reason.replace(['\r', '\n'], " ")
            ));
        }
        let headers_end = find(self.original, b"\r\n\r\n").map_or(self.original.len(), |i| i + 2);
        let headers = String::from_utf8_lossy(&self.original[..headers_end]).into_owned();
        let daemon = format!("MAILER-DAEMON@{}", self.hostname);
        MessageBuilder::new()
            .from(("Mail Delivery System", daemon.as_str()))
            .to(self.sender)
            .subject("Undelivered Mail Returned to Sender")
            // Under `[server] hostname`: mail-builder's default would name the machine Moat runs on.
            .message_id(format!("{}.dsn@{}", self.queue_id, self.hostname))
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .body(MimePart::new(
                ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
                vec![
                    MimePart::new("text/plain", human),
                    MimePart::new("message/delivery-status", status).transfer_encoding("7bit"),
                    MimePart::new("text/rfc822-headers", headers).transfer_encoding("7bit"),
                ],
            ))
            .write_to_vec()
            .unwrap_or_default()
    }
}

/// The enhanced status code of a reply such as `550 5.1.1 No such user`; 4.4.7 for expired mail.
fn status_code(reason: &str) -> String {
    if reason.starts_with("expired") {
        return "4.4.7".into();
    }
    reason
        .split_whitespace()
        .nth(1)
        .filter(|c| {
            let p: Vec<&str> = c.split('.').collect();
            p.len() == 3 && p.iter().all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
        })
        .map_or_else(|| "5.0.0".into(), str::to_owned)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_is_a_delivery_status_report_with_the_original_headers() {
        let failed = vec![("bob@example.com".to_string(), "550 5.1.1 No such user".to_string())];
        let original = b"Subject: Quarterly report\r\nFrom: a@sender.example\r\n\r\nSECRET BODY\r\n";
        let dsn = Bounce {
            hostname: "mx.moat.example",
            queue_id: "q1",
            sender: "a@sender.example",
            arrival: 1_700_000_000,
            failed: &failed,
            original,
        }
        .message();
        let parsed = mail_parser::MessageParser::new().parse(&dsn).unwrap();
        assert_eq!(parsed.subject(), Some("Undelivered Mail Returned to Sender"));
        let text = String::from_utf8_lossy(&dsn);
        assert!(text.contains("multipart/report"), "{text}");
        assert!(text.contains("report-type=\"delivery-status\""), "{text}");
        assert!(text.contains("Final-Recipient: rfc822; bob@example.com"), "{text}");
        assert!(text.contains("Status: 5.1.1"), "{text}");
        assert!(text.contains("Subject: Quarterly report"), "{text}");
        assert!(!text.contains("SECRET BODY"), "only headers go back");
        assert_eq!(parsed.message_id(), Some("q1.dsn@mx.moat.example"), "named by [server] hostname");
    }

    #[test]
    fn status_codes_come_from_replies() {
        assert_eq!(status_code("552 5.3.4 too big"), "5.3.4");
        assert_eq!(status_code("550 rejected"), "5.0.0");
        assert_eq!(status_code("expired after 5.0 days; last error: 451 4.3.0 x"), "4.4.7");
    }
}
