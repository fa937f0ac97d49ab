//! [`Money`]: an amount in integer minor units (cents), never floating point.

use std::fmt;
use std::str::FromStr;

use crate::error::{AmountProblem, Error, Result};

/// An amount of money in integer minor units (cents for most currencies). Negative amounts
/// are refunds. The currency is the caller's: the engine only adds amounts up.
///
/// Amounts are bounded by [`Money::MAX_MINOR`] in absolute value (10^15 minor units: ten
/// trillion in major units), so that totals over millions of purchases stay exact in
/// 128-bit sums and any realistic total fits an `i64`. Text is parsed exactly (no floating
/// point on the way): an optional sign, digits, and at most two fractional digits.
///
/// ```
/// use audience::Money;
/// let m: Money = "1234.5".parse()?;
/// assert_eq!(m.minor(), 123_450);
/// assert_eq!(m.to_string(), "1234.50");
/// assert_eq!("-0.05".parse::<Money>()?.minor(), -5);
/// assert!("1.005".parse::<Money>().is_err()); // three decimals: not exact
/// assert!(Money::from_f64(f64::NAN).is_err());
/// assert_eq!(Money::from_f64(19.99)?, Money::from_minor(1999)?);
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// The largest absolute amount, in minor units: 10^15.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    /// Zero.
    pub const ZERO: Money = Money(0);

    /// An amount of `minor` minor units (cents).
    ///
    /// Errors: [`Error::InvalidAmount`] beyond ±[`Money::MAX_MINOR`].
    pub fn from_minor(minor: i64) -> Result<Money> {
        if minor.unsigned_abs() > Money::MAX_MINOR as u64 {
            return Err(invalid(&minor.to_string(), AmountProblem::OutOfRange { max_minor: Money::MAX_MINOR }));
        }
        Ok(Money(minor))
    }

    /// An amount of `major` whole units (dollars): `major * 100` minor units.
    ///
    /// Errors: [`Error::InvalidAmount`] out of range.
    pub fn from_major(major: i64) -> Result<Money> {
        match major.checked_mul(100) {
            Some(minor) => Money::from_minor(minor),
            None => Money::from_minor(i64::MAX),
        }
    }

    /// The nearest amount to a floating-point number of major units (`19.99` is 1999
    /// minor units), for data that arrives as floats. Prefer parsing text or integer minor
    /// units: a float cannot hold most decimal amounts exactly.
    ///
    /// Errors: [`Error::InvalidAmount`] for NaN, infinities and amounts out of range.
    pub fn from_f64(major: f64) -> Result<Money> {
        if !major.is_finite() {
            return Err(invalid(&major.to_string(), AmountProblem::NotFinite));
        }
        let minor = (major * 100.0).round();
        if minor.abs() > Money::MAX_MINOR as f64 {
            return Err(invalid(&major.to_string(), AmountProblem::OutOfRange { max_minor: Money::MAX_MINOR }));
        }
        Money::from_minor(minor as i64)
    }

    /// Parses a decimal amount exactly: optional sign, digits, optionally `.` and one or two
    /// digits (`12`, `-3.5`, `0.05`, `+7.00`). Nothing is trimmed: a stray space is an error.
    ///
    /// Errors: [`Error::InvalidAmount`] naming what is wrong (three decimals, `NaN`, a
    /// thousands separator, an empty field, out of range).
    pub fn parse(text: &str) -> Result<Money> {
        let bad = |reason: AmountProblem| invalid(text, reason);
        let t = text;
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (t, None),
        };
        if int.is_empty() {
            return Err(bad(AmountProblem::NoIntegerDigits));
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(AmountProblem::NotDecimal));
        }
        let cents = match frac {
            None => 0,
            Some("") => return Err(bad(AmountProblem::NoFractionDigits)),
            Some(f) if !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(bad(AmountProblem::NotDecimal));
            }
            Some(f) if f.len() > 2 => {
                return Err(bad(AmountProblem::TooManyDecimals));
            }
            Some(f) => {
                f.bytes().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')) * if f.len() == 1 { 10 } else { 1 }
            }
        };
        let whole: i64 = int.parse().map_err(|_| bad(AmountProblem::OutOfRange { max_minor: Money::MAX_MINOR }))?;
        let minor = whole
            .checked_mul(100)
            .and_then(|m| m.checked_add(cents))
            .ok_or_else(|| bad(AmountProblem::OutOfRange { max_minor: Money::MAX_MINOR }))?;
        Money::from_minor(if negative { -minor } else { minor })
            .map_err(|_| bad(AmountProblem::OutOfRange { max_minor: Money::MAX_MINOR }))
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Whether this is a refund (a negative amount).
    pub const fn is_refund(self) -> bool {
        self.0 < 0
    }

    /// `self + other`, or `None` if the sum leaves the allowed range.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::from_minor(self.0.checked_add(other.0)?).ok()
    }
}

impl FromStr for Money {
    type Err = Error;

    fn from_str(s: &str) -> Result<Money> {
        Money::parse(s)
    }
}

impl TryFrom<i64> for Money {
    type Error = Error;

    /// Minor units; see [`Money::from_minor`].
    fn try_from(minor: i64) -> Result<Money> {
        Money::from_minor(minor)
    }
}

impl From<Money> for i64 {
    fn from(m: Money) -> i64 {
        m.0
    }
}

impl fmt::Display for Money {
    /// Major units with exactly two decimals: `1234.50`, `-0.05`, `0.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format_minor(i128::from(self.0)))
    }
}

/// `minor` minor units as a decimal with two fractional digits (any `i128`, for totals).
pub(crate) fn format_minor(minor: i128) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// [`Error::InvalidAmount`] for `input`, quoted as an excerpt when long (see
/// [`Error`](crate::Error#long-input)), with its length.
fn invalid(input: &str, reason: AmountProblem) -> Error {
    Error::InvalidAmount { input: crate::error::excerpt(input), len: input.len(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        for (s, m) in [
            ("0", 0),
            ("12", 1200),
            ("12.3", 1230),
            ("12.34", 1234),
            ("-12.34", -1234),
            ("+0.05", 5),
            ("-0.05", -5),
            ("10000000000000.00", Money::MAX_MINOR),
            ("-10000000000000", -Money::MAX_MINOR),
        ] {
            assert_eq!(Money::parse(s).unwrap().minor(), m, "{s}");
        }
    }

    #[test]
    fn rejects_what_is_not_exact() {
        for s in [
            "",
            "-",
            " 7.00",
            "7.00 ",
            "1.005",
            "NaN",
            "nan",
            "inf",
            "1e3",
            "1,000.00",
            "5.",
            ".5",
            "12a",
            "--1",
            "1.-5",
            "0x10",
            "10000000000000.01",
            "99999999999999999999",
        ] {
            let e = Money::parse(s).unwrap_err();
            assert!(matches!(e, Error::InvalidAmount { .. }), "{s:?}: {e}");
        }
    }

    #[test]
    fn displays_two_decimals() {
        for (m, s) in [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (123_450, "1234.50"), (-100, "-1.00")] {
            assert_eq!(Money::from_minor(m).unwrap().to_string(), s);
            assert_eq!(Money::parse(s).unwrap().minor(), m);
        }
        assert_eq!(
            format_minor(-(i128::from(i64::MAX) * 3)),
            format!("-{}.{:02}", i128::from(i64::MAX) * 3 / 100, i128::from(i64::MAX) * 3 % 100)
        );
    }

    #[test]
    fn floats_round_to_the_cent_and_non_finite_is_an_error() {
        assert_eq!(Money::from_f64(0.1 + 0.2).unwrap().minor(), 30);
        assert_eq!(Money::from_f64(-2.5).unwrap().minor(), -250);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e14] {
            assert!(Money::from_f64(x).is_err(), "{x}");
        }
        assert!(Money::from_minor(i64::MIN).is_err());
        assert!(Money::from_major(i64::MAX).is_err());
        assert_eq!(Money::from_major(-3).unwrap().minor(), -300);
    }
}
