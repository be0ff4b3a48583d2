//! Dates and times as people read them, and as JSON carries them.
//!
//! One form for people everywhere on the command line: `dd/mm/yyyy`, and for a moment
//! `dd/mm/yyyy HH:MM` in Vietnam's time (UTC+7 all year: Vietnam has no daylight saving,
//! so a fixed offset is exact and needs no time-zone database on an offline laptop).
//! JSON carries ISO 8601: days as `YYYY-MM-DD`, moments as RFC 3339 with the same +07:00
//! offset, so a script and a clerk read the same wall-clock time.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// Vietnam's offset from UTC, in seconds.
pub const VIETNAM_OFFSET_SECS: i32 = 7 * 3600;

/// Checked when compiling: 7 hours is a valid offset.
const VIETNAM: FixedOffset = match FixedOffset::east_opt(VIETNAM_OFFSET_SECS) {
    Some(o) => o,
    None => panic!("UTC+7 is a valid offset"),
};

/// A moment given in Unix seconds, in Vietnam's time; `None` beyond chrono's range.
pub fn in_vietnam(unix: i64) -> Option<DateTime<FixedOffset>> {
    DateTime::from_timestamp(unix, 0).map(|t| t.with_timezone(&VIETNAM))
}

/// A day for people: `dd/mm/yyyy`.
pub fn day_vi(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// A moment for people: `dd/mm/yyyy HH:MM`, Vietnam's time. A moment out of range (a
/// damaged record) shows as `?` rather than hiding the line it is on.
pub fn moment_vi(unix: i64) -> String {
    in_vietnam(unix)
        .map(|t| t.format("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_else(|| "?".into())
}

/// A moment for JSON: RFC 3339 with Vietnam's offset (`2023-12-12T14:05:00+07:00`);
/// `None` out of range.
pub fn moment_iso(unix: i64) -> Option<String> {
    in_vietnam(unix).map(|t| t.to_rfc3339())
}

/// A day typed by a person or found in a file: `dd/mm/yyyy` (as printed everywhere) or
/// ISO `YYYY-MM-DD` (as in files and scripts).
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d/%m/%Y"))
        .ok()
}

/// An ISO day or RFC 3339 moment taken from JSON, shown for people; any other text is
/// shown as it is (it may already be for people, or be empty).
pub fn iso_to_vi(s: &str) -> String {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return day_vi(d);
    }
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => moment_vi(t.timestamp()),
        Err(_) => s.to_string(),
    }
}

/// The longest a count may last. Minutes print the start and end as times of day only,
/// so an end before the start can only mean the count ran past midnight; a clerk who
/// swapped the two (14:50 → 14:05) would otherwise seal a count of 23 hours 15 minutes.
pub const MAX_COUNT_MINUTES: u32 = 12 * 60;

/// Why a counting window `from`–`to` (both `HH:MM`) cannot be right, naming the fields as
/// the forms do; `None` when it can, or when either is missing or not a time (that has
/// its own message).
pub fn count_window_refusal(from: &str, to: &str) -> Option<String> {
    let minutes = |s: &str| {
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .ok()
            .map(|t| chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t))
    };
    let (f, t) = (minutes(from)?, minutes(to)?);
    let span = (t + 24 * 60 - f) % (24 * 60);
    if span <= MAX_COUNT_MINUTES {
        return None;
    }
    let long = format!("{} giờ {} phút", span / 60, span % 60);
    Some(if t < f {
        format!(
            "Giờ kết thúc kiểm phiếu ({}) trước giờ bắt đầu ({}): nếu qua nửa đêm thì buổi kiểm phiếu dài {long}, quá 12 giờ. Kiểm tra lại hai ô “Bắt đầu” và “Kết thúc”.",
            to.trim(),
            from.trim()
        )
    } else {
        format!(
            "Kiểm phiếu từ {} đến {} là {long}, quá 12 giờ. Kiểm tra lại hai ô “Bắt đầu” và “Kết thúc”.",
            from.trim(),
            to.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_read_vietnam_time_and_json_reads_iso() {
        // 2023-12-12 07:05 UTC is 14:05 in Hà Nội.
        let t = 1_702_364_700;
        assert_eq!(moment_vi(t), "12/12/2023 14:05");
        assert_eq!(moment_iso(t).as_deref(), Some("2023-12-12T14:05:00+07:00"));
        // Late evening UTC is already the next day in Vietnam.
        assert_eq!(moment_vi(1_703_980_800 - 3600), "31/12/2023 06:00");
        assert_eq!(moment_vi(1_703_980_800 + 17 * 3600), "01/01/2024 00:00");
        assert_eq!(moment_vi(i64::MAX), "?");
        assert_eq!(moment_iso(i64::MAX), None);
    }

    #[test]
    fn days_are_dd_mm_yyyy_and_both_forms_are_read() {
        let d = NaiveDate::from_ymd_opt(2024, 1, 5).expect("day");
        assert_eq!(day_vi(d), "05/01/2024");
        assert_eq!(parse_day("2024-01-05"), Some(d));
        assert_eq!(parse_day("05/01/2024"), Some(d));
        assert_eq!(parse_day(" 5/1/2024 "), Some(d));
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("32/01/2024"), None);
        assert_eq!(iso_to_vi("2024-01-15"), "15/01/2024");
        assert_eq!(iso_to_vi("2024-01-01T00:00:00+00:00"), "01/01/2024 07:00");
        assert_eq!(iso_to_vi("không rõ"), "không rõ");
    }

    #[test]
    fn a_count_window_past_midnight_is_kept_a_backwards_one_refused() {
        assert_eq!(count_window_refusal("14:05", "15:10"), None);
        assert_eq!(count_window_refusal("23:30", "00:40"), None);
        assert_eq!(count_window_refusal("14:05", "14:05"), None);
        assert_eq!(count_window_refusal("20:00", "08:00"), None);
        let back = count_window_refusal("14:50", "14:05").expect("refused");
        assert!(
            back.contains("(14:05)") && back.contains("(14:50)") && back.contains("23 giờ 15 phút"),
            "{back}"
        );
        assert!(count_window_refusal("01:00", "13:01").is_some());
        assert_eq!(count_window_refusal("1450", "14:05"), None);
    }
}
