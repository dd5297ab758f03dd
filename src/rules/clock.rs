//! Local wall-clock time for clock conditions. The engine receives UTC milliseconds; everything a
//! marketer writes (dayparts, days, dates) is local time in an IANA zone, converted with chrono-tz
//! so DST days have 23 or 25 hours exactly as the wall clock shows them.

use chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

const MINUTES_PER_WEEK: usize = 7 * 24 * 60;
const ALL_DAYS: u8 = 0x7f;

/// The wall clock at one instant in one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalClock {
    pub date: NaiveDate,
    /// Monday = 0 … Sunday = 6.
    pub weekday: u32,
    pub second_of_day: u32,
}

impl LocalClock {
    pub fn at(tz: Tz, utc_ms: i64) -> Self {
        let local = utc_datetime(utc_ms).with_timezone(&tz).naive_local();
        Self {
            date: local.date(),
            weekday: local.weekday().num_days_from_monday(),
            second_of_day: local.num_seconds_from_midnight(),
        }
    }

    /// "Mon 12:30:00" for reasons.
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        format!(
            "{} {} {}",
            NAMES[self.weekday as usize],
            self.date,
            format_time_of_day(self.second_of_day)
        )
    }
}

pub(crate) fn utc_datetime(utc_ms: i64) -> chrono::DateTime<chrono::Utc> {
    // Out-of-range instants (beyond ±262,000 years) clamp rather than panic: the clock is input.
    chrono::DateTime::from_timestamp_millis(utc_ms).unwrap_or(if utc_ms < 0 {
        chrono::DateTime::<chrono::Utc>::MIN_UTC
    } else {
        chrono::DateTime::<chrono::Utc>::MAX_UTC
    })
}

/// RFC 3339 UTC text of an instant, e.g. "2025-03-30T01:00:00.000Z".
pub(crate) fn format_utc(utc_ms: i64) -> String {
    utc_datetime(utc_ms)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Local RFC 3339 text with offset, e.g. "2025-03-30T03:00:00+02:00".
pub(crate) fn format_local(tz: Tz, utc_ms: i64) -> String {
    utc_datetime(utc_ms)
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

pub(crate) fn format_time_of_day(second_of_day: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// UTC ms of the first instant of a local date. On days where midnight does not exist (a DST gap
/// at 00:00, e.g. America/Havana) it is the first local time that does.
pub(crate) fn start_of_local_day(tz: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("00:00:00 is a valid time");
    for minutes in (0..24 * 60).step_by(15) {
        let candidate = midnight + chrono::Duration::minutes(minutes);
        match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return t.timestamp_millis(),
            LocalResult::Ambiguous(earliest, _) => return earliest.timestamp_millis(),
            LocalResult::None => continue,
        }
    }
    // No zone skips a whole day's quarter hours except across the date line, where the day does
    // not exist at all; its "start" is then the UTC reading of that midnight.
    midnight.and_utc().timestamp_millis()
}

/// UTC ms of a local date-time; in a DST gap, the instant the clock jumps to; when ambiguous,
/// the earlier instant.
pub(crate) fn local_to_utc_ms(tz: Tz, local: NaiveDateTime) -> i64 {
    for minutes in 0..=180 {
        let candidate = local + chrono::Duration::minutes(minutes);
        match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return t.timestamp_millis(),
            LocalResult::Ambiguous(earliest, _) => return earliest.timestamp_millis(),
            LocalResult::None => continue,
        }
    }
    local.and_utc().timestamp_millis()
}

/// Parses "HH:MM" into minutes after midnight. "24:00" only when `allow_end_of_day`.
pub(crate) fn parse_time_of_day(text: &str, allow_end_of_day: bool) -> Result<u32, String> {
    let malformed =
        || format!("\"{text}\" is not a time of day; write it as \"HH:MM\", e.g. \"09:30\"");
    let (hours, minutes) = text.split_once(':').ok_or_else(malformed)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(malformed());
    }
    let hours: u32 = hours
        .parse()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit() || b == b':'))
        .ok_or_else(malformed)?;
    let minutes: u32 = minutes.parse().map_err(|_| malformed())?;
    if minutes > 59 {
        return Err(format!("\"{text}\": minutes must be 00 to 59"));
    }
    if hours == 24 && minutes == 0 {
        return if allow_end_of_day {
            Ok(24 * 60)
        } else {
            Err(format!("\"{text}\": a start time must be 00:00 to 23:59"))
        };
    }
    if hours > 23 {
        return Err(format!(
            "\"{text}\": hours must be 00 to 23{}",
            if allow_end_of_day {
                " (or \"24:00\" for midnight at the end of the day)"
            } else {
                ""
            }
        ));
    }
    Ok(hours * 60 + minutes)
}

pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    if text.len() != 10 {
        return Err(format!(
            "\"{text}\" is not a date; write it as \"YYYY-MM-DD\", e.g. \"2025-12-24\""
        ));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("\"{text}\" is not a date; write it as \"YYYY-MM-DD\", e.g. \"2025-12-24\"")
    })
}

pub(crate) fn parse_time_zone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone \"{text}\"; use an IANA name such as \"Europe/Berlin\" or \"America/New_York\""
        )
    })
}

/// A compiled daypart: local `[start, end)` in minutes, wrapping past midnight when end <= start,
/// on the days (bit i = weekday i, Monday = 0) on which the window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWindow {
    pub start_min: u32,
    pub end_min: u32,
    pub start_days: u8,
}

impl TimeWindow {
    pub fn new(start_min: u32, end_min: u32, start_days: u8) -> Self {
        let start_days = if start_days == 0 {
            ALL_DAYS
        } else {
            start_days
        };
        Self {
            start_min,
            end_min,
            start_days,
        }
    }

    pub fn wraps_midnight(&self) -> bool {
        self.end_min <= self.start_min
    }

    pub fn contains(&self, clock: &LocalClock) -> bool {
        let second = clock.second_of_day;
        let start = self.start_min * 60;
        let end = self.end_min * 60;
        let today = self.start_days & (1 << clock.weekday) != 0;
        if !self.wraps_midnight() {
            return today && second >= start && second < end;
        }
        let yesterday = self.start_days & (1 << ((clock.weekday + 6) % 7)) != 0;
        (today && second >= start) || (yesterday && second < end)
    }

    /// "22:00–02:00 (starting Fri)" for reasons and messages.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{:02}:{:02}–{:02}:{:02}",
            self.start_min / 60,
            self.start_min % 60,
            self.end_min / 60,
            self.end_min % 60
        );
        if self.start_days != ALL_DAYS {
            text.push_str(" starting ");
            text.push_str(&describe_days(self.start_days));
        }
        text
    }

    pub fn week_mask(&self) -> WeekMask {
        let mut mask = WeekMask::default();
        let length = if self.wraps_midnight() {
            24 * 60 - self.start_min + self.end_min
        } else {
            self.end_min - self.start_min
        };
        for day in 0..7 {
            if self.start_days & (1 << day) == 0 {
                continue;
            }
            let first = day * 24 * 60 + self.start_min as usize;
            let last = first + length as usize;
            // A window starting late on Sunday wraps to Monday.
            mask.set_range(first, last.min(MINUTES_PER_WEEK));
            if last > MINUTES_PER_WEEK {
                mask.set_range(0, last - MINUTES_PER_WEEK);
            }
        }
        mask
    }
}

pub(crate) fn describe_days(days: u8) -> String {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    (0..7)
        .filter(|day| days & (1 << day) != 0)
        .map(|day| NAMES[day])
        .collect::<Vec<_>>()
        .join(",")
}

/// Set of minutes of the local week, used to detect rules whose clock windows overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeekMask([u64; MINUTES_PER_WEEK.div_ceil(64)]);

impl Default for WeekMask {
    fn default() -> Self {
        Self([0; MINUTES_PER_WEEK.div_ceil(64)])
    }
}

impl WeekMask {
    pub fn full() -> Self {
        let mut mask = Self::default();
        mask.set_range(0, MINUTES_PER_WEEK);
        mask
    }

    pub fn days(days: u8) -> Self {
        let mut mask = Self::default();
        for day in 0..7 {
            if days & (1 << day) != 0 {
                mask.set_range(day * 1440, (day + 1) * 1440);
            }
        }
        mask
    }

    /// Sets minutes `[start, end)`, a word at a time where possible.
    fn set_range(&mut self, start: usize, end: usize) {
        let mut minute = start;
        while minute < end {
            if minute.is_multiple_of(64) && end - minute >= 64 {
                self.0[minute / 64] = u64::MAX;
                minute += 64;
            } else {
                self.0[minute / 64] |= 1 << (minute % 64);
                minute += 1;
            }
        }
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        out
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
        out
    }

    pub fn is_full(&self) -> bool {
        *self == Self::full()
    }

    /// First shared minute of the week, as "Mon 12:30".
    pub(crate) fn first_common_minute(&self, other: &Self) -> Option<String> {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let common = self.intersect(other);
        let minute = common.0.iter().enumerate().find_map(|(word_index, word)| {
            (*word != 0).then(|| word_index * 64 + word.trailing_zeros() as usize)
        })?;
        Some(format!(
            "{} {:02}:{:02}",
            NAMES[minute / 1440],
            minute % 1440 / 60,
            minute % 60
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(weekday: u32, hh: u32, mm: u32) -> LocalClock {
        LocalClock {
            date: NaiveDate::from_ymd_opt(2025, 1, 6 + weekday).unwrap(),
            weekday,
            second_of_day: hh * 3600 + mm * 60,
        }
    }

    #[test]
    fn parses_times_of_day_and_rejects_malformed_ones() {
        let cases: &[(&str, bool, Result<u32, &str>)] = &[
            ("00:00", false, Ok(0)),
            ("09:30", false, Ok(570)),
            ("23:59", false, Ok(1439)),
            ("24:00", true, Ok(1440)),
            ("24:00", false, Err("start time")),
            ("25:00", true, Err("hours must be 00 to 23")),
            ("12:60", false, Err("minutes must be 00 to 59")),
            ("9:30", false, Err("HH:MM")),
            ("09:3a", false, Err("HH:MM")),
            ("+9:30", false, Err("HH:MM")),
            ("noon", false, Err("HH:MM")),
            ("", false, Err("HH:MM")),
        ];
        for (text, allow_end, expected) in cases {
            let got = parse_time_of_day(text, *allow_end);
            match expected {
                Ok(minutes) => assert_eq!(got, Ok(*minutes), "{text}"),
                Err(fragment) => {
                    let message = got.expect_err(text);
                    assert!(message.contains(fragment), "{text}: {message}");
                }
            }
        }
    }

    #[test]
    fn window_edges_including_midnight_wrap_and_start_days() {
        let fri = 1 << 4;
        let cases: &[(TimeWindow, LocalClock, bool)] = &[
            // Plain window: start inclusive, end exclusive.
            (TimeWindow::new(720, 840, 0), clock(0, 11, 59), false),
            (TimeWindow::new(720, 840, 0), clock(0, 12, 0), true),
            (TimeWindow::new(720, 840, 0), clock(0, 13, 59), true),
            (TimeWindow::new(720, 840, 0), clock(0, 14, 0), false),
            // 22:00–02:00 wraps midnight.
            (TimeWindow::new(1320, 120, 0), clock(2, 21, 59), false),
            (TimeWindow::new(1320, 120, 0), clock(2, 22, 0), true),
            (TimeWindow::new(1320, 120, 0), clock(2, 23, 59), true),
            (TimeWindow::new(1320, 120, 0), clock(3, 0, 0), true),
            (TimeWindow::new(1320, 120, 0), clock(3, 1, 59), true),
            (TimeWindow::new(1320, 120, 0), clock(3, 2, 0), false),
            // Friday-night window: Saturday 01:00 is inside, Friday 01:00 is not.
            (TimeWindow::new(1320, 120, fri), clock(5, 1, 0), true),
            (TimeWindow::new(1320, 120, fri), clock(4, 1, 0), false),
            (TimeWindow::new(1320, 120, fri), clock(4, 23, 0), true),
            (TimeWindow::new(1320, 120, fri), clock(5, 23, 0), false),
            // "24:00" end.
            (TimeWindow::new(1080, 1440, 0), clock(0, 23, 59), true),
            (TimeWindow::new(1080, 1440, 0), clock(1, 0, 0), false),
        ];
        for (window, at, expected) in cases {
            assert_eq!(
                window.contains(at),
                *expected,
                "{} at {}",
                window.describe(),
                at.describe()
            );
        }
    }

    #[test]
    fn week_masks_detect_overlap_across_midnight() {
        let night = TimeWindow::new(1320, 120, 1 << 4).week_mask(); // Fri 22:00 – Sat 02:00
        let saturday_early = TimeWindow::new(60, 180, 1 << 5).week_mask(); // Sat 01:00–03:00
        let saturday_late = TimeWindow::new(180, 300, 1 << 5).week_mask();
        assert_eq!(
            night.first_common_minute(&saturday_early).as_deref(),
            Some("Sat 01:00")
        );
        assert_eq!(night.first_common_minute(&saturday_late), None);
        // Sunday night wraps to Monday morning of the same (cyclic) week.
        let sunday_night = TimeWindow::new(1320, 120, 1 << 6).week_mask();
        let monday_early = TimeWindow::new(60, 90, 1).week_mask();
        assert_eq!(
            sunday_night.first_common_minute(&monday_early).as_deref(),
            Some("Mon 01:00")
        );
        assert!(WeekMask::full().is_full());
        assert!(!night.union(&saturday_late).is_full());
    }

    #[test]
    fn start_of_day_follows_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2025-03-30 starts at 00:00 CET = 23:00 UTC the day before.
        let start = start_of_local_day(berlin, NaiveDate::from_ymd_opt(2025, 3, 30).unwrap());
        assert_eq!(format_utc(start), "2025-03-29T23:00:00.000Z");
        let next = start_of_local_day(berlin, NaiveDate::from_ymd_opt(2025, 3, 31).unwrap());
        assert_eq!(
            next - start,
            23 * 3600 * 1000,
            "spring-forward day has 23 hours"
        );
        // Havana skips midnight on 2025-03-09: the day starts at 01:00 local (05:00 UTC).
        let havana: Tz = "America/Havana".parse().unwrap();
        let start = start_of_local_day(havana, NaiveDate::from_ymd_opt(2025, 3, 9).unwrap());
        assert_eq!(format_utc(start), "2025-03-09T05:00:00.000Z");
    }
}
