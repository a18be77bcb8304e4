//! Dates as mail carries them (RFC 5322 §3.3, with the obsolete forms of §4.3 that old and careless mailers
//! still write), read into seconds since the Unix epoch.

/// A date as a message gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailDate {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Written as RFC 5322 says (§3.3, or §4.3's obsolete forms): its time zone is `±hhmm` or one of the
    /// names, and only a comment follows it. Mailers write it so; spam software often does not.
    pub well_formed: bool,
}

/// `[Day,] DD Mon YYYY HH:MM[:SS] ZONE`. A missing or unknown zone counts as UTC, as RFC 5322 says of an
/// unknown one, and makes the date not well formed. `None` for what is no date at all.
pub fn parse(text: &str) -> Option<MailDate> {
    let text = text.split_once(',').map_or(text, |(_, rest)| rest);
    let mut words = text.split_ascii_whitespace();
    let day: i64 = words.next()?.parse().ok()?;
    let month = month(words.next()?)?;
    let year: i64 = match words.next()? {
        y if y.len() == 2 => y.parse::<i64>().ok().map(|y| if y < 50 { 2000 + y } else { 1900 + y })?,
        y if y.len() == 3 => 1900 + y.parse::<i64>().ok()?,
        y => y.parse().ok()?,
    };
    let mut clock = words.next()?.split(':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next().map_or(Some(0), |s| s.parse().ok())?;
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = words.next().and_then(zone_offset);
    let rest: Vec<&str> = words.collect();
    let only_a_comment = rest.is_empty() || rest[0].starts_with('(') && rest[rest.len() - 1].ends_with(')');
    Some(MailDate {
        unix: days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset.unwrap_or(0),
        well_formed: offset.is_some() && only_a_comment,
    })
}

/// When a `Received:` field says the message passed its hop: the date after its last `;`.
pub fn of_received(received: &str) -> Option<i64> {
    parse(received.rsplit_once(';')?.1).map(|d| d.unix)
}

fn month(word: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let word = word.get(..3)?;
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(word)).map(|i| i as i64 + 1)
}

/// Seconds east of UTC, if `zone` is one: `±hhmm`, or a name RFC 5322 lists (UT, GMT, the US zones, the
/// military letters, which it says to read as UTC), or UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    if let Some(sign @ (b'+' | b'-')) = zone.bytes().next() {
        let digits = &zone[1..];
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (h, m): (i64, i64) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
        return Some(if sign == b'+' { 1 } else { -1 } * (h * 3600 + m * 60));
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        // UTC is not among RFC 5322's names, but common mail libraries write it and it is unambiguous.
        "UT" | "UTC" | "GMT" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        letter if letter.len() == 1 && letter != "J" && letter.bytes().all(|b| b.is_ascii_uppercase()) => 0,
        _ => return None,
    };
    Some(hours * 3600)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(text: &str) -> Option<i64> {
        parse(text).map(|d| d.unix)
    }

    #[test]
    fn dates_mailers_write_are_read_with_their_zones() {
        assert_eq!(unix("Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(unix("Mon, 22 Jul 2002 23:52:22 -0400"), Some(1_027_396_342));
        assert_eq!(unix("22 Jul 2002 23:52:22 EDT"), Some(1_027_396_342));
        assert_eq!(unix("Tue, 29 Feb 2000 12:00 GMT"), Some(951_825_600));
        assert_eq!(unix("Mon, 30 Nov 2026 21:08:17 +0100 (CET)"), Some(1_796_069_297));
        assert_eq!(unix("Mon, 5 Aug 02 10:00:00 +0000"), unix("Mon, 5 Aug 2002 10:00:00 +0000"));
        for written in
            ["Mon, 22 Jul 2002 23:52:22 -0400", "1 Jan 2024 00:00 Z", "Mon, 30 Nov 2026 21:08:17 +0100 (CET)"]
        {
            assert!(parse(written).unwrap().well_formed, "{written}");
        }
    }

    #[test]
    fn dates_spam_software_writes_are_read_but_not_well_formed() {
        for (written, as_utc) in [
            ("Fri, 23 Aug 2002 19:27:52", "23 Aug 2002 19:27:52 +0000"),
            ("Fri, 23 Aug 2002 22:46:34 GMT+1", "23 Aug 2002 22:46:34 +0000"),
            ("Thu, 29 Aug 2002 15:36:58 +-0500", "29 Aug 2002 15:36:58 +0000"),
            ("Fri, 02 Aug 2002 23:37:59 0530", "02 Aug 2002 23:37:59 +0000"),
            ("Fri, 30 Aug 02 21:48:08 Eastern Daylight Time", "30 Aug 2002 21:48:08 +0000"),
            ("Mon, 16 Sep 2002 03:27:38 (GMT)", "16 Sep 2002 03:27:38 +0000"),
            ("Mon, 16 Sep 2002 03:27:38 +0000 trailing words", "16 Sep 2002 03:27:38 +0000"),
        ] {
            let date = parse(written).unwrap();
            assert!(!date.well_formed, "{written}");
            assert_eq!(Some(date.unix), unix(as_utc), "{written}");
        }
    }

    #[test]
    fn what_is_not_a_date_is_none() {
        for text in ["", "yesterday", "Mon, 32 Jan 2002 10:00:00 +0000", "1 Foo 2002 10:00 +0000", "1 Jan 2002"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_received_field_is_dated_after_its_last_semicolon() {
        let received =
            "from a.example (a.example [192.0.2.1]) by mx.example; id 1;\r\n\tFri, 6 Sep 2002 05:16:13 -0400";
        assert_eq!(of_received(received), unix("Fri, 6 Sep 2002 09:16:13 +0000"));
        assert_eq!(of_received("from a by b"), None);
    }
}
