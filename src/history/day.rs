//! [`Day`]: a UTC calendar day, the time unit of purchase history and of every model.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::{DateProblem, Error, Result};

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
        Day::from_days_since_epoch(days).ok_or_else(|| invalid(&days.to_string(), DateProblem::DaysOutOfRange))
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

    /// The day numbers (days since 1970-01-01) a `Day` can hold: those of
    /// [`NaiveDate::MIN`] to [`NaiveDate::MAX`]. For checking many at once (a snapshot's
    /// columns) without a date conversion each.
    pub(crate) fn valid_days() -> std::ops::RangeInclusive<i32> {
        Day::from(NaiveDate::MIN).0..=Day::from(NaiveDate::MAX).0
    }

    /// Days since 1970-01-01.
    pub const fn days_since_epoch(self) -> i32 {
        self.0
    }

    /// The day of a (proleptic Gregorian) year, month and day.
    ///
    /// Errors: [`Error::InvalidDate`] for an impossible date such as 2023-02-29.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Day> {
        NaiveDate::from_ymd_opt(year, month, day)
            .map(Day::from)
            .ok_or_else(|| invalid(&format!("{year:04}-{month:02}-{day:02}"), DateProblem::NoSuchDate))
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
    /// `YYYY-MM-DD`; a year outside 0000..=9999 gets a sign and as many digits as it needs
    /// (`+10000-01-01`, `-0001-12-31`), as chrono's `%Y` writes it. [`FromStr`] reads back
    /// every day this prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_date().format("%Y-%m-%d"), f)
    }
}

/// [`Error::InvalidDate`] for `s`; a long input is quoted as an excerpt (see
/// [`Error`](crate::Error#long-input)) and the message says its length, so a hostile input
/// never makes a huge message.
fn invalid(s: &str, reason: DateProblem) -> Error {
    Error::InvalidDate { input: crate::error::excerpt(s), len: s.len(), reason }
}

/// ASCII digits (already checked, at most nine) as a number.
fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
}

/// Whether `b` is `-MM-DD` (digits unchecked for range).
fn is_month_day(b: &[u8]) -> bool {
    b.len() == 6 && b[0] == b'-' && b[3] == b'-' && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
}

impl FromStr for Day {
    type Err = Error;

    /// Exactly what [`Display`](fmt::Display) prints, or an RFC 3339 timestamp:
    ///
    /// - `YYYY-MM-DD` (four-digit year 0000..=9999, two-digit month and day);
    /// - a year outside that range as `Display` writes it, and only so: `+` and five or more
    ///   digits after 9999 (`+10000-01-01`), `-` and four or more digits before 0000
    ///   (`-0001-12-31`), no leading zeros beyond four digits. `+2024-01-05`, `+09999-01-01`,
    ///   `-00001-01-01` and an unsigned `10000-01-01` are errors, so every day has one text
    ///   and `d.to_string().parse() == Ok(d)` for every `Day`;
    /// - an RFC 3339 timestamp `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` (its UTC calendar day;
    ///   four-digit years only).
    ///
    /// Nothing is trimmed: a stray space or a one-digit month is an error, never a silent
    /// guess. The error quotes a long input as an excerpt, with its length in the reason.
    ///
    /// ```
    /// use audience::Day;
    /// let far = Day::from_ymd(10_000, 1, 1)?;
    /// assert_eq!(far.to_string(), "+10000-01-01");
    /// assert_eq!("+10000-01-01".parse::<Day>()?, far);
    /// assert_eq!("-0001-12-31".parse::<Day>()?, Day::from_ymd(-1, 12, 31)?);
    /// assert!("+2024-01-05".parse::<Day>().is_err());
    /// # Ok::<(), audience::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Day> {
        let b = s.as_bytes();
        if matches!(b.first(), Some(b'+' | b'-')) {
            return parse_signed(s);
        }
        let shaped = b.len() >= 10
            && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
        if !shaped || (b.len() > 10 && !matches!(b[10], b'T' | b't')) {
            return Err(invalid(s, DateProblem::Shape));
        }
        if b.len() == 10 {
            // The shape is checked above: read the digits directly (chrono's format-string
            // parser was a tenth of the `rfm` example's load time).
            let date = NaiveDate::from_ymd_opt(digits(&b[0..4]) as i32, digits(&b[5..7]), digits(&b[8..10]));
            return date.map(Day::from).ok_or_else(|| invalid(s, DateProblem::NoSuchDate));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|d| Day::from_utc(d.with_timezone(&Utc)))
            .map_err(|e| invalid(s, DateProblem::Timestamp(e)))
    }
}

/// `+YYYYY-MM-DD` or `-YYYY-MM-DD`: a year outside 0000..=9999 exactly as `Display` writes
/// it (see [`Day::from_str`]).
fn parse_signed(s: &str) -> Result<Day> {
    let b = s.as_bytes();
    let negative = b[0] == b'-';
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let year = &b[1..1 + n];
    let canonical = is_month_day(&b[1 + n..])
        && if negative {
            // -0001 ..: four digits at least, more only without a leading zero; never -0000.
            n >= 4 && (n == 4 || year[0] != b'0') && year.iter().any(|&c| c != b'0')
        } else {
            // +10000 ..: five digits at least, no leading zero.
            n >= 5 && year[0] != b'0'
        };
    if !canonical {
        return Err(invalid(s, DateProblem::SignedYear));
    }
    let (min, max) = (NaiveDate::MIN.year(), NaiveDate::MAX.year());
    // Seven digits or more are out of range anyway (and would overflow the fold below).
    let year = if n <= 6 { Some(digits(year) as i32) } else { None }
        .map(|y| if negative { -y } else { y })
        .filter(|y| (min..=max).contains(y))
        .ok_or_else(|| invalid(s, DateProblem::YearOutOfRange { min, max }))?;
    let rest = &b[1 + n..];
    NaiveDate::from_ymd_opt(year, digits(&rest[1..3]), digits(&rest[4..6]))
        .map(Day::from)
        .ok_or_else(|| invalid(s, DateProblem::NoSuchDate))
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

    /// The first and last representable days.
    fn extremes() -> (Day, Day) {
        (Day::from(NaiveDate::MIN), Day::from(NaiveDate::MAX))
    }

    proptest::proptest! {
        #[test]
        fn every_day_round_trips_through_its_text(
            days in Day::from(NaiveDate::MIN).days_since_epoch()..=Day::from(NaiveDate::MAX).days_since_epoch()
        ) {
            let d = Day::from_days_since_epoch(days).unwrap();
            proptest::prop_assert_eq!(d.to_string().parse::<Day>().ok(), Some(d), "{}", d);
        }
    }

    #[test]
    fn years_outside_four_digits_round_trip() {
        let (min, max) = extremes();
        for (d, text) in [
            (Day::from_ymd(9999, 12, 31).unwrap(), "9999-12-31"),
            (Day::from_ymd(10_000, 1, 1).unwrap(), "+10000-01-01"),
            (Day::from_ymd(0, 1, 1).unwrap(), "0000-01-01"),
            (Day::from_ymd(-1, 12, 31).unwrap(), "-0001-12-31"),
            (Day::from_ymd(-10_000, 3, 1).unwrap(), "-10000-03-01"),
            (max, "+262142-12-31"),
            (min, "-262143-01-01"),
        ] {
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<Day>().unwrap(), d, "{text}");
        }
        assert_eq!(Day::from_days_since_epoch(max.days_since_epoch() + 1), None);
        assert_eq!(Day::from_days_since_epoch(min.days_since_epoch() - 1), None);
    }

    #[test]
    fn non_canonical_signed_years_are_rejected() {
        for s in [
            "+2024-01-05",
            "+09999-01-01",
            "+9999-12-31",
            "+010000-01-01",
            "-00001-01-01",
            "-0000-01-01",
            "-001-01-01",
            "10000-01-01",
            "+10000-1-01",
            "+10000-01-01T00:00:00Z",
            "+",
            "-",
            "+-0001-01-01",
            "+262143-01-01",
            "-262144-12-31",
            "+9999999999999-01-01",
            "+10001-02-29",
        ] {
            let e = s.parse::<Day>().unwrap_err();
            assert!(matches!(e, Error::InvalidDate { .. }), "{s}: {e}");
            assert!(e.to_string().contains("hint") || e.to_string().contains("representable"), "{s}: {e}");
        }
    }

    #[test]
    fn errors_quote_a_bounded_excerpt() {
        let long = "2".repeat(10 << 20);
        let stamp = format!("2024-01-01T{}", "9".repeat(10 << 20));
        let signed = format!("+{}", "1".repeat(10 << 20));
        let wide = "高".repeat(4 << 20);
        for s in [&long, &stamp, &signed, &wide] {
            let e = s.parse::<Day>().unwrap_err();
            let text = e.to_string();
            assert!(text.len() < 1024, "{} bytes: {text}", text.len());
            assert!(text.contains(&format!("{} bytes long", s.len())), "{text}");
            let Error::InvalidDate { input, .. } = e else { panic!("{e}") };
            assert!(input.contains('…') && input.len() <= 2 * crate::error::EXCERPT_BYTES, "{input}");
            assert!(s.starts_with(input.split('…').next().unwrap()));
        }
        let short = "x".repeat(crate::error::EXCERPT_BYTES);
        let Error::InvalidDate { input, .. } = short.parse::<Day>().unwrap_err() else { unreachable!() };
        assert_eq!(input, short, "a short input is quoted whole");
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
