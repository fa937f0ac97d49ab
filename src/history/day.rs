//! [`Day`]: a UTC calendar day, the time unit of purchase history and of every model.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::{Error, Result};

/// A UTC calendar day, stored as the number of days since 1970-01-01 (negative before).
///
/// Every date the models see is a `Day`: a [`NaiveDate`] is taken as is, a
/// [`DateTime<Utc>`] becomes its UTC calendar day, and text may be `YYYY-MM-DD` or an RFC 3339
/// timestamp (converted to UTC first, so `2024-03-01T23:30:00-05:00` is 2024-03-02).
///
/// ```
/// use audience::Day;
/// use chrono::NaiveDate;
/// let d: Day = "2024-02-29".parse()?;
/// assert_eq!(d, Day::from(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()));
/// assert_eq!("2024-03-01T23:30:00-05:00".parse::<Day>()?.to_string(), "2024-03-02");
/// assert_eq!(Day::from_ymd(2024, 3, 1)? - d, 1);
/// assert!("2024-02-30".parse::<Day>().is_err());
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct Day(i32);

impl TryFrom<i32> for Day {
    type Error = Error;

    /// Days since 1970-01-01; see [`Day::from_days_since_epoch`].
    ///
    /// Errors: [`Error::InvalidDate`] outside the dates [`NaiveDate`] can represent.
    fn try_from(days: i32) -> Result<Day> {
        Day::from_days_since_epoch(days).ok_or_else(|| Error::InvalidDate {
            input: days.to_string(),
            reason: "days since 1970-01-01 outside the representable dates (about ±262,000 years)".into(),
        })
    }
}

impl From<Day> for i32 {
    fn from(d: Day) -> i32 {
        d.0
    }
}

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

impl Day {
    /// 1970-01-01.
    pub const UNIX_EPOCH: Day = Day(0);

    /// The day `days` days after 1970-01-01 (before it, for a negative number). `None` when
    /// it lies outside the dates [`NaiveDate`] can represent.
    pub fn from_days_since_epoch(days: i32) -> Option<Day> {
        let ce = days.checked_add(UNIX_EPOCH_FROM_CE)?;
        NaiveDate::from_num_days_from_ce_opt(ce).map(|_| Day(days))
    }

    /// Days since 1970-01-01.
    pub const fn days_since_epoch(self) -> i32 {
        self.0
    }

    /// The day of a (proleptic Gregorian) year, month and day.
    ///
    /// Errors: [`Error::InvalidDate`] for an impossible date such as 2023-02-29.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Day> {
        NaiveDate::from_ymd_opt(year, month, day).map(Day::from).ok_or_else(|| Error::InvalidDate {
            input: format!("{year:04}-{month:02}-{day:02}"),
            reason: "no such calendar date (hint: check the month length and leap years)".into(),
        })
    }

    /// The calendar date.
    pub fn to_date(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0 + UNIX_EPOCH_FROM_CE).expect("a Day is always a valid date")
    }

    /// `self + days`, or `None` outside the representable dates.
    pub fn checked_add_days(self, days: i32) -> Option<Day> {
        Day::from_days_since_epoch(self.0.checked_add(days)?)
    }

    /// The UTC calendar day of a timestamp.
    pub fn from_utc(t: DateTime<Utc>) -> Day {
        Day::from(t.date_naive())
    }
}

impl From<NaiveDate> for Day {
    fn from(d: NaiveDate) -> Day {
        Day(d.num_days_from_ce() - UNIX_EPOCH_FROM_CE)
    }
}

impl From<DateTime<Utc>> for Day {
    fn from(t: DateTime<Utc>) -> Day {
        Day::from_utc(t)
    }
}

impl From<Day> for NaiveDate {
    fn from(d: Day) -> NaiveDate {
        d.to_date()
    }
}

impl std::ops::Sub for Day {
    type Output = i64;

    /// Whole days from `rhs` to `self` (positive when `self` is later).
    fn sub(self, rhs: Day) -> i64 {
        i64::from(self.0) - i64::from(rhs.0)
    }
}

impl fmt::Display for Day {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_date().format("%Y-%m-%d"), f)
    }
}

impl FromStr for Day {
    type Err = Error;

    /// Exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), or an RFC 3339
    /// timestamp `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` (its UTC calendar day). Nothing is
    /// trimmed: a stray space or a one-digit month is an error, never a silent guess.
    fn from_str(s: &str) -> Result<Day> {
        let b = s.as_bytes();
        let shaped = b.len() >= 10
            && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
        if !shaped || (b.len() > 10 && !matches!(b[10], b'T' | b't')) {
            return Err(Error::InvalidDate {
                input: s.to_owned(),
                reason: "not YYYY-MM-DD or an RFC 3339 timestamp (hint: e.g. 2024-02-29 or 2024-02-29T13:45:00Z; \
                         four-digit year, two-digit month and day, no spaces)"
                    .into(),
            });
        }
        if b.len() == 10 {
            // The shape is checked above: read the digits directly (chrono's format-string
            // parser was a tenth of the `rfm` example's load time).
            let num = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
            let date = NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10));
            return date.map(Day::from).ok_or_else(|| Error::InvalidDate {
                input: s.to_owned(),
                reason: "no such calendar date (hint: check the month length and leap years)".into(),
            });
        }
        DateTime::parse_from_rfc3339(s).map(|d| Day::from_utc(d.with_timezone(&Utc))).map_err(|e| Error::InvalidDate {
            input: s.to_owned(),
            reason: format!(
                "{e} (hint: an RFC 3339 timestamp looks like 2024-02-29T13:45:00Z or 2024-02-29T08:45:00-05:00)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_round_trip() {
        assert_eq!(Day::from_ymd(1970, 1, 1).unwrap(), Day::UNIX_EPOCH);
        assert_eq!(Day::from_ymd(1969, 12, 31).unwrap().days_since_epoch(), -1);
        for s in ["2024-02-29", "0001-01-01", "1900-03-01", "2100-12-31"] {
            let d: Day = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(Day::from_days_since_epoch(d.days_since_epoch()), Some(d));
        }
        assert_eq!(Day::from_days_since_epoch(i32::MAX), None);
        assert_eq!(Day::from_days_since_epoch(i32::MIN), None);
        assert!(Day::try_from(i32::MAX).is_err());
        assert_eq!(Day::try_from(0).unwrap(), Day::UNIX_EPOCH);
    }

    proptest::proptest! {
        #[test]
        fn plain_dates_parse_as_chrono_does(y in 0u32..10_000, m in 0u32..100, d in 0u32..100) {
            let s = format!("{y:04}-{m:02}-{d:02}");
            let want = NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().map(Day::from);
            proptest::prop_assert_eq!(s.parse::<Day>().ok(), want, "{}", s);
        }
    }

    #[test]
    fn timestamps_become_utc_days() {
        assert_eq!("2024-03-01T23:30:00-05:00".parse::<Day>().unwrap().to_string(), "2024-03-02");
        assert_eq!("2024-03-01T07:30:00+08:00".parse::<Day>().unwrap().to_string(), "2024-02-29");
        assert_eq!("2024-03-01T00:00:00Z".parse::<Day>().unwrap().to_string(), "2024-03-01");
    }

    #[test]
    fn bad_dates_say_why() {
        for s in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "",
            "yesterday",
            "2024-03-01T25:00:00Z",
            "2024/03/01",
            "202-01-05",
            "2024-1-5",
            " 2024-01-05",
            "2024-01-05 ",
            "2024-01-05 10:00:00Z",
            "2024-01-05T10:00:00",
            "+2024-01-05",
            "２０２４-01-05",
        ] {
            let e = s.parse::<Day>().unwrap_err();
            assert!(matches!(e, Error::InvalidDate { .. }), "{s}: {e}");
            assert!(e.to_string().contains("hint"), "{e}");
        }
    }
}
