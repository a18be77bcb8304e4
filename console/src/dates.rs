//! Dates as admins read and type them: UTC `YYYY-MM-DD HH:MM` shown, `YYYY-MM-DD` searched.

/// Unix seconds as a UTC date and time.
pub fn shown(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// The start (Unix seconds, UTC) of the day written `YYYY-MM-DD`; `None` for anything else.
pub fn day_start(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // 2026-02-30 would silently be March 2nd: only a date that reads back the same is one.
    (civil(days) == (y, m, d)).then_some(days * 86_400)
}

/// A typed day that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date (YYYY-MM-DD)")]
pub struct NotADate(String);

/// `[from, to]` as typed in a search (either may be empty), as `[since, until)` in Unix seconds: the `to` day
/// is included whole.
pub fn period(from: Option<&str>, to: Option<&str>) -> Result<(Option<i64>, Option<i64>), NotADate> {
    let day = |text: Option<&str>| match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => day_start(t).map(Some).ok_or_else(|| NotADate(t.to_owned())),
    };
    Ok((day(from)?, day(to)?.map(|t| t + 86_400)))
}

/// Civil date of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_as_utc_dates() {
        assert_eq!(shown(0), "1970-01-01 00:00");
        assert_eq!(shown(1_795_000_000), "2026-11-18 11:06");
    }

    #[test]
    fn typed_days_are_read_back_or_refused() {
        assert_eq!(day_start("1970-01-01"), Some(0));
        assert_eq!(day_start("2026-11-18").map(shown).as_deref(), Some("2026-11-18 00:00"));
        assert_eq!(day_start(" 2024-02-29 "), Some(1_709_164_800), "a leap day");
        for wrong in ["2026-02-30", "2026-13-01", "26-11-18", "yesterday", "2026-11", "", "1969-12-31"] {
            assert_eq!(day_start(wrong), None, "{wrong}");
        }
        assert_eq!(period(Some("2026-11-18"), Some("2026-11-18")), Ok((Some(1_794_960_000), Some(1_795_046_400))));
        assert!(period(Some("soon"), None).unwrap_err().to_string().contains("not a date"));
        assert_eq!(period(None, Some(" ")), Ok((None, None)));
    }
}
