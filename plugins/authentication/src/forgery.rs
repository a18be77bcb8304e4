//! Headers that claim what the message is not: marks spam software leaves when it imitates real mailers, which
//! genuine mail does not carry. They need no DNS, so they also judge mail whose sender publishes nothing.

use crate::date;
use std::borrow::Cow;

/// Outlook and Outlook Express write Message-IDs as `<CCCCTTTTTTTT$XXXXXXXX$XXXXXXXX@host>` (hex; newer
/// versions add a `$` before the `@`), where `TTTTTTTT` is the high half of the Windows time they were written
/// at. Spam software copies the shape with random digits: a "time" outside 1986–2057 is not Outlook's.
pub fn forged_outlook_message_id(message_id: &str) -> bool {
    let id = message_id.trim().trim_start_matches('<');
    let Some((local, host)) = id.split_once('@') else { return false };
    let mut groups = local.strip_suffix('$').unwrap_or(local).split('$');
    let mut hex = |len: usize| groups.next().filter(|g| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    let (Some(first), Some(_), Some(_)) = (hex(12), hex(8), hex(8)) else { return false };
    if groups.next().is_some() {
        return false;
    }
    if host.trim_end_matches('>').is_empty() {
        return false;
    }
    let time = u32::from_str_radix(&first[4..], 16).unwrap_or(0);
    !(0x01B0_0000..0x0200_0000).contains(&time)
}

/// A Message-ID without the shape every mail program and server gives it: `<left@right>`, both halves
/// words (no spaces; the left may be a quoted string, as X.400 gateways write it), the right naming a host or
/// a `[literal]`, comments allowed around it. Bulk software leaves the domain empty (`<…$…$…@>`), drops the
/// `@`, or writes several words. Stricter readings of RFC 5322 are not used: big senders write ids it does
/// not allow (Amazon's start with a dot and hold a comma).
pub fn malformed_message_id(message_id: &str) -> bool {
    let Some(id) = without_comments(message_id) else { return true };
    let Some(inner) = id.trim().strip_prefix('<').and_then(|rest| rest.strip_suffix('>')) else { return true };
    let (left, right) = match inner.strip_prefix('"') {
        Some(quoted) => match quoted.split_once("\"@") {
            Some((text, right)) if !text.contains(['"', '\r', '\n']) => (None, right),
            _ => return true,
        },
        None => match inner.split_once('@') {
            Some((left, right)) => (Some(left), right),
            None => return true,
        },
    };
    let names_host = right.bytes().any(|b| b.is_ascii_alphanumeric());
    !(names_host && word(right) && left.is_none_or(word))
}

/// One word of printable characters, without the brackets, `@` and quotes that delimit a Message-ID's halves.
fn word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && !b"<>@\"".contains(&b))
}

/// The value without its comments (`(…)`, nested), or `None` when a comment never closes. Borrowed when it has
/// none (nearly every Message-ID), so the common case costs no allocation.
fn without_comments(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains('(') {
        return Some(Cow::Borrowed(value));
    }
    let mut kept = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    (depth == 0).then_some(Cow::Owned(kept))
}

/// How far (seconds) the `Date:` lies after the message arrived, when that is more than `slack`: spam
/// software dates mail ahead so that it sorts first. The arrival is the newest `Received:` date, never later
/// than `now` (a hop's forged date in the future does not count).
pub fn date_ahead(written: i64, received: &[String], now: i64, slack: i64) -> Option<i64> {
    let arrived = received.first().and_then(|r| date::of_received(r)).map_or(now, |r| r.min(now));
    let ahead = written - arrived;
    (ahead > slack).then_some(ahead)
}

/// Free mail services whose users' mail leaves through the service's own servers, with the names those servers
/// carry. A From address at one of them whose `Received:` trail (and connecting client) never names the service
/// was not sent from it.
const FREEMAIL: &[(&[&str], &[&str])] = &[
    (&["gmail.com", "googlemail.com"], &["google.com", "gmail.com"]),
    (&["yahoo.*", "ymail.com", "rocketmail.com"], &["yahoo.com", "yahoo.net", "yahoodns.net"]),
    (&["aol.com", "aim.com"], &["aol.com", "aol.net", "yahoo.com"]),
    (&["hotmail.*", "outlook.*", "live.*", "msn.com"], &["hotmail.com", "outlook.com", "msn.com", "live.com"]),
    (&["icloud.com", "me.com", "mac.com"], &["apple.com", "icloud.com", "me.com", "mac.com"]),
];

/// Whether `from_domain` is a free mail service's whose mail did not come through the service's servers: none
/// of `received` nor the client's reverse name names one of them as a host.
pub fn freemail_not_relayed(from_domain: &str, received: &[String], client_name: Option<&str>) -> bool {
    let Some((_, servers)) = FREEMAIL.iter().find(|(domains, _)| domains.iter().any(|d| belongs(from_domain, d)))
    else {
        return false;
    };
    !received.iter().map(String::as_str).chain(client_name).any(|text| {
        let text = text.to_ascii_lowercase();
        servers.iter().any(|server| names_host(&text, server))
    })
}

/// `domain` is `pattern`, or a country site of it when the pattern ends in `.*` (`yahoo.co.uk`, `yahoo.fr` of
/// `yahoo.*`: one or two short labels after the name).
fn belongs(domain: &str, pattern: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(brand) => domain.strip_prefix(brand).and_then(|rest| rest.strip_prefix('.')).is_some_and(|suffix| {
            let labels: Vec<&str> = suffix.split('.').collect();
            labels.len() <= 2
                && labels.iter().all(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))
        }),
        None => domain == pattern,
    }
}

/// `text` names a host `server` or inside it (`web1.mail.yahoo.com`), not an address at it (`x@yahoo.com`).
fn names_host(text: &str, server: &str) -> bool {
    text.match_indices(server).any(|(at, _)| {
        let before = text[..at].bytes().next_back();
        let after = text[at + server.len()..].bytes().next();
        let host_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        !matches!(before, Some(b'@'))
            && !before.is_some_and(host_char)
            && !after.is_some_and(|b| host_char(b) || b == b'.')
    })
}

/// What a mail program names itself by: `Microsoft Outlook Express 6.00.2600.0000`, `Microsoft Outlook IMO, Build
/// 9.0.2416`, `Microsoft Office Outlook 12.0`.
fn names_outlook(mailer: &str) -> bool {
    (mailer.starts_with("Microsoft Outlook") || mailer.starts_with("Microsoft Office Outlook"))
        && !mailer.contains("Macintosh")
}

/// Outlook Express for Windows and Outlook up to 2007 (version 12) hand every message to Windows' MIME library,
/// which adds `X-MimeOLE`; later Outlooks do not.
fn outlook_writes_mimeole(mailer: &str) -> bool {
    if mailer.contains("Express") {
        return true;
    }
    let major = mailer.split(|c: char| !c.is_ascii_digit()).find(|n| !n.is_empty()).and_then(|n| n.parse::<u32>().ok());
    major.is_some_and(|v| v <= 12)
}

/// Why a message whose X-Mailer names Outlook was not written by it, if it was not: spam software copies the
/// name but not what Outlook writes beside it — `X-MimeOLE` (the versions that add it) and a text part with
/// every HTML one. `top_type` is the message's own Content-Type.
pub fn forged_outlook_mailer(mailer: &str, has_mimeole: bool, top_type: &str) -> Option<&'static str> {
    let mailer = mailer.trim();
    if !names_outlook(mailer) {
        return None;
    }
    if !has_mimeole && outlook_writes_mimeole(mailer) {
        return Some("no X-MimeOLE");
    }
    let kind = top_type.split(';').next().unwrap_or("").trim();
    kind.eq_ignore_ascii_case("text/html").then_some("HTML with no text part")
}

/// An X-Mailer that is one random-looking word (`986cKAmXyPznPQV`): spam software varying the header so that
/// no two copies match. Mail programs name themselves in words with a version; a random string mixes digits
/// with letters whose case flips again and again.
pub fn random_mailer(mailer: &str) -> bool {
    let word = mailer.trim();
    if word.len() < 10 || !word.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let digits = word.bytes().filter(u8::is_ascii_digit).count();
    let letters = word.len() - digits;
    let flips = word
        .as_bytes()
        .windows(2)
        .filter(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic())
        .filter(|w| w[0].is_ascii_uppercase() != w[1].is_ascii_uppercase())
        .count();
    digits >= 1 && letters >= 4 && flips >= 3
}

/// A free mail address whose name holds a run of five or more digits (`pitster262743156@hotmail.com`): the
/// accounts spam software registers by the thousand.
pub fn numbered_freemail(address: &str) -> bool {
    let Some((local, domain)) = address.trim().rsplit_once('@') else { return false };
    let free = FREEMAIL.iter().any(|(domains, _)| domains.iter().any(|d| belongs(&domain.to_ascii_lowercase(), d)));
    free && local.as_bytes().split(|b| !b.is_ascii_digit()).any(|run| run.len() >= 5)
}

/// A To header naming `Undisclosed.Recipients@…` as a mailbox. A mail program hiding its recipients writes an
/// empty group, `undisclosed-recipients:;`; the dotted mailbox is bulk software's.
pub fn undisclosed_mailbox(to: &str) -> bool {
    to.to_ascii_lowercase().contains("undisclosed.recipients@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_read_by_the_shape_every_mailer_gives_them() {
        for written in [
            "<20021205.abc123@mail.example.com>",
            "  <CAHx+v=1Q@mail.gmail.com>  ",
            "<3D43A52A003DE1A8@occmta11a.terra.com.mx> (added by postmaster@terra.com.mx)",
            "<\"020828081752Z.WT24519.  6*/PN=Robin.Hill/O=X\"@MHS>",
            "<abc.def@[192.0.2.7]>",
            "<.AAA-24721820-08683,4237.1036829954@mail-ems-101.amazon.com>",
            "<000001c2a1b2$3c4d5e60$0a00a8c0@pc17>",
        ] {
            assert!(!malformed_message_id(written), "{written} is well formed");
        }
        for written in [
            "<000018e94cd4$0000220a$000063aa@>",
            "<E9D312B69C2346E800C76D2E9BC3F4A8>",
            "PM200011:12:45 AM",
            "<00004ee7187c$00004968$00001798@        .>",
            "<0000104257bd$00001f24$00007177@Received: from [192.168.1.2]>",
            "<a@b@c>",
            "<a b@host>",
            "<abc@.>",
            "<abc@host> (never closed",
            "<@host>",
            "",
        ] {
            assert!(malformed_message_id(written), "{written:?} is malformed");
        }
    }

    #[test]
    fn outlook_message_ids_carry_a_time_and_imitations_do_not() {
        for genuine in [
            "<003301c22f43$a756e7c0$0100007f@tuan>",
            "<000001c23588$26d71750$e3ff8690@example.com>",
            "<002a01dd8036$0c7e8a40$257b9ec0$@example.com>",
        ] {
            assert!(!forged_outlook_message_id(genuine), "{genuine}");
        }
        for forged in ["<00000e0836ec$00006b26$0000082f@imail.ru>", "<038a23e58d4c$1476b6e3$3ae26db8@hnwngw>"] {
            assert!(forged_outlook_message_id(forged), "{forged}");
        }
        for other in [
            "<20020507001621.3CA21294098@xent.com>",
            "<038a23e58d4c$1476b6e3@x>",
            "<038a23e58d4c$1476b6e3$3ae26db8>",
            "",
        ] {
            assert!(!forged_outlook_message_id(other), "{other}");
        }
    }

    #[test]
    fn a_date_ahead_of_the_arrival_is_measured_against_the_newest_hop_or_the_clock() {
        let at = |text: &str| date::parse(text).unwrap().unix;
        let received = vec!["from a by b; Fri, 6 Sep 2002 05:00:00 +0000".to_owned()];
        let now = at("Mon, 30 Nov 2026 00:00:00 +0000");
        assert_eq!(date_ahead(at("Fri, 6 Sep 2002 10:00:00 +0000"), &received, now, 3 * 3600), Some(5 * 3600));
        assert_eq!(date_ahead(at("Fri, 6 Sep 2002 07:00:00 +0000"), &received, now, 3 * 3600), None);
        assert_eq!(date_ahead(at("Fri, 6 Sep 2002 10:00:00 +0200"), &received, now, 3 * 3600), None);
        // A hop dated in the future is not believed: the clock bounds the arrival.
        let forged_hop = vec!["from a by b; Sat, 30 Nov 2030 00:00:00 +0000".to_owned()];
        assert!(date_ahead(at("Sat, 30 Nov 2030 00:00:00 +0000"), &forged_hop, now, 3 * 3600).is_some());
        assert!(date_ahead(at("Mon, 30 Nov 2026 06:00:00 +0000"), &[], now, 3 * 3600).is_some());
    }

    #[test]
    fn free_mail_is_believed_when_the_service_handled_it() {
        let from_yahoo = vec!["from web12.mail.yahoo.com (web12.mail.yahoo.com [216.136.1.1]) by mx.example; Mon, 1 Jan 2024 00:00:00 +0000".to_owned()];
        assert!(!freemail_not_relayed("yahoo.co.uk", &from_yahoo, None));
        let forged = vec!["from [203.0.113.9] by mx.example (envelope-from <x@yahoo.com>) for <bob@yahoo.com>; Mon, 1 Jan 2024 00:00:00 +0000".to_owned()];
        assert!(freemail_not_relayed("yahoo.com", &forged, None), "an address at the service is not its host");
        assert!(freemail_not_relayed("yahoo.fr", &[], None));
        assert!(!freemail_not_relayed("hotmail.com", &[], Some("BAY0-OMC1-S1.bay0.hotmail.com")));
        assert!(freemail_not_relayed("gmail.com", &[], Some("gmail.com.evil.test")));
        for not_free in ["example.com", "notyahoo.com", "yahoo.com.evil.test", "yahoo.example"] {
            assert!(!freemail_not_relayed(not_free, &[], None), "{not_free}");
        }
    }

    #[test]
    fn outlook_is_believed_with_what_outlook_writes() {
        let (mimeole, none) = (true, false);
        assert_eq!(
            forged_outlook_mailer("Microsoft Outlook Express 6.00.2600.0000", none, "text/plain"),
            Some("no X-MimeOLE")
        );
        assert_eq!(
            forged_outlook_mailer("Microsoft Outlook IMO, Build 9.0.2416 (9.0.2910.0)", none, "text/plain"),
            Some("no X-MimeOLE")
        );
        assert_eq!(forged_outlook_mailer("Microsoft Office Outlook 12.0", none, "text/plain"), Some("no X-MimeOLE"));
        assert_eq!(
            forged_outlook_mailer("Microsoft Outlook Express 6.00.2600.0000", mimeole, "text/html; charset=us-ascii"),
            Some("HTML with no text part")
        );
        for (mailer, has_mimeole, top) in [
            ("Microsoft Outlook Express 6.00.2600.0000", mimeole, "multipart/alternative; boundary=x"),
            ("Microsoft Outlook, Build 10.0.2627", mimeole, "text/plain"),
            // Outlook 2010 and later write no X-MimeOLE.
            ("Microsoft Outlook 16.0", none, "multipart/alternative"),
            // Nor does Outlook Express for the Mac, which also sends HTML alone.
            ("Microsoft Outlook Express Macintosh Edition - 4.5 (0410)", none, "text/html"),
            ("Mutt/1.4i", none, "text/html"),
            ("", none, "text/html"),
        ] {
            assert_eq!(forged_outlook_mailer(mailer, has_mimeole, top), None, "{mailer}");
        }
    }

    #[test]
    fn a_random_mailer_name_is_told_from_a_program_and_version() {
        for random in ["986cKAmXyPznPQV", "hZ3RKtcCNAeE2A3jcbd9"] {
            assert!(random_mailer(random), "{random}");
        }
        for program in [
            "Mutt/1.4i",
            "QUALCOMM Windows Eudora Version 5.0.2",
            "OpenCourseWare",
            "KMail",
            "Evolution42x",
            "ABCDEFGH12",
        ] {
            assert!(!random_mailer(program), "{program}");
        }
    }

    #[test]
    fn numbered_accounts_count_only_at_free_mail_services() {
        assert!(numbered_freemail("pitster262743156@hotmail.com"));
        assert!(numbered_freemail("x12345y@yahoo.co.uk"));
        for other in ["jane.doe1977@yahoo.com", "orders12345@shop.example", "12345@example.com", "no-at-sign"] {
            assert!(!numbered_freemail(other), "{other}");
        }
    }

    #[test]
    fn undisclosed_recipients_as_a_mailbox_is_bulk_softwares() {
        assert!(undisclosed_mailbox("<Undisclosed.Recipients@example.net>"));
        for group in ["undisclosed-recipients:;", "undisclosed-recipients: ;", "<Undisclosed-Recipient:;>"] {
            assert!(!undisclosed_mailbox(group), "{group}");
        }
    }
}
