//! Lifecycle stages as of a day, from purchase history.
//! The stage rules are documented on [`Stage`].

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ModelProblem, Result};
use crate::history::{NO_DAY, Summary};

/// A customer's lifecycle stage as of a day, by the rules below.
///
/// # Rules
///
/// With windows `new` (30 days), `active` (90) and `churn` (180) by default, the first rule
/// that holds wins:
///
/// | stage         | rule (D = the as-of day; only purchases on or before D count)            |
/// |---------------|---------------------------------------------------------------------------|
/// | `prospect`    | no purchase on or before D                                                |
/// | `new`         | first purchase at most `new` days before D                                |
/// | `reactivated` | the most recent *comeback* purchase (one that came more than `churn` days after the purchase before it) is at most `active` days before D, whatever came after |
/// | `active`      | last purchase at most `active` days before D                              |
/// | `at_risk`     | last purchase at most `churn` days before D                               |
/// | `churned`     | last purchase more than `churn` days before D                             |
///
/// Refunds (negative amounts) are not purchases: they never make a customer new, active or
/// reactivated.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// No purchase yet.
    Prospect,
    /// First purchase within the `new` window.
    New,
    /// Came back after a gap longer than the `churn` window, recently.
    Reactivated,
    /// Bought within the `active` window.
    Active,
    /// Last purchase between the `active` and the `churn` window.
    AtRisk,
    /// Last purchase longer ago than the `churn` window.
    Churned,
}

impl Stage {
    /// Every stage, in the order above.
    pub const ALL: [Stage; 6] =
        [Stage::Prospect, Stage::New, Stage::Reactivated, Stage::Active, Stage::AtRisk, Stage::Churned];

    /// The stage's name, as in its tag `stage:<name>`: `prospect`, `new`, `reactivated`,
    /// `active`, `at_risk`, `churned`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Prospect => "prospect",
            Stage::New => "new",
            Stage::Reactivated => "reactivated",
            Stage::Active => "active",
            Stage::AtRisk => "at_risk",
            Stage::Churned => "churned",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = Error;

    fn from_str(s: &str) -> Result<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| Error::InvalidModel {
            reason: ModelProblem::UnknownStage { input: crate::error::excerpt(s) },
        })
    }
}

/// The lifecycle windows, in days. Default: new 30, active 90, churn 180.
///
/// ```
/// use audience::Lifecycle;
/// let quick = Lifecycle::new(14, 45, 90)?; // a fast-moving store
/// assert_eq!(quick.churn_days(), 90);
/// assert_eq!(Lifecycle::default(), Lifecycle::new(30, 90, 180)?);
/// assert!(Lifecycle::new(30, 200, 180).is_err()); // active must not exceed churn
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    new_days: u32,
    active_days: u32,
    churn_days: u32,
}

/// The longest window accepted: a thousand years.
const MAX_WINDOW: u32 = 365_250;

impl Lifecycle {
    /// Windows `new_days`, `active_days`, `churn_days`.
    ///
    /// Errors: [`Error::InvalidModel`] when `active_days > churn_days` (no customer could be
    /// at risk) or a window exceeds a thousand years.
    pub fn new(new_days: u32, active_days: u32, churn_days: u32) -> Result<Lifecycle> {
        if active_days > churn_days {
            return Err(Error::InvalidModel { reason: ModelProblem::WindowOrder { active_days, churn_days } });
        }
        if new_days.max(churn_days) > MAX_WINDOW {
            return Err(Error::InvalidModel { reason: ModelProblem::WindowTooLong { max_days: MAX_WINDOW } });
        }
        Ok(Lifecycle { new_days, active_days, churn_days })
    }

    /// A builder starting from the default windows.
    pub fn builder() -> LifecycleBuilder {
        LifecycleBuilder { windows: Lifecycle::default() }
    }

    /// The `new` window (default 30).
    pub fn new_days(&self) -> u32 {
        self.new_days
    }

    /// The `active` window (default 90).
    pub fn active_days(&self) -> u32 {
        self.active_days
    }

    /// The `churn` window (default 180); also the gap that makes a purchase a comeback.
    pub fn churn_days(&self) -> u32 {
        self.churn_days
    }

    /// The stage of a customer summarized as of `as_of`.
    pub(crate) fn stage(&self, s: &Summary, as_of: i32) -> Stage {
        if !s.scored() {
            return Stage::Prospect;
        }
        let ago = |day: i32| i64::from(as_of) - i64::from(day);
        if ago(s.first) <= i64::from(self.new_days) {
            Stage::New
        } else if s.comeback != NO_DAY && ago(s.comeback) <= i64::from(self.active_days) {
            Stage::Reactivated
        } else if ago(s.last) <= i64::from(self.active_days) {
            Stage::Active
        } else if ago(s.last) <= i64::from(self.churn_days) {
            Stage::AtRisk
        } else {
            Stage::Churned
        }
    }
}

/// Builds a [`Lifecycle`] with the windows named, so they cannot be swapped by position.
///
/// ```
/// use audience::Lifecycle;
/// let quick = Lifecycle::builder().new_days(14).active_days(45).churn_days(90).build()?;
/// assert_eq!(quick, Lifecycle::new(14, 45, 90)?);
/// assert_eq!(Lifecycle::builder().churn_days(365).build()?.active_days(), 90); // defaults kept
/// assert!(Lifecycle::builder().churn_days(60).build().is_err()); // the active window (90) exceeds it
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LifecycleBuilder {
    windows: Lifecycle,
}

impl LifecycleBuilder {
    /// The `new` window (default 30 days).
    pub fn new_days(&mut self, days: u32) -> &mut Self {
        self.windows.new_days = days;
        self
    }

    /// The `active` window (default 90 days).
    pub fn active_days(&mut self, days: u32) -> &mut Self {
        self.windows.active_days = days;
        self
    }

    /// The `churn` window (default 180 days).
    pub fn churn_days(&mut self, days: u32) -> &mut Self {
        self.windows.churn_days = days;
        self
    }

    /// The windows, validated as by [`Lifecycle::new`].
    pub fn build(&self) -> Result<Lifecycle> {
        let w = self.windows;
        Lifecycle::new(w.new_days, w.active_days, w.churn_days)
    }
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle { new_days: 30, active_days: 90, churn_days: 180 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(days: &[i32], as_of: i32) -> Stage {
        let amounts = vec![100; days.len()];
        let l = Lifecycle::default();
        l.stage(&Summary::of(days, &amounts, as_of, l.churn_days as i32), as_of)
    }

    #[test]
    fn first_rule_that_holds_wins() {
        assert_eq!(stage(&[], 100), Stage::Prospect);
        assert_eq!(stage(&[101], 100), Stage::Prospect, "purchases after D are ignored");
        assert_eq!(stage(&[70], 100), Stage::New); // 30 days ago: still new
        assert_eq!(stage(&[69], 100), Stage::Active); // 31 days ago
        assert_eq!(stage(&[0, 181], 200), Stage::Reactivated); // comeback 19 days ago
        assert_eq!(stage(&[0, 10], 100), Stage::Active); // last 90 days ago
        assert_eq!(stage(&[0, 9], 100), Stage::AtRisk); // 91
        assert_eq!(stage(&[0, 0], 180), Stage::AtRisk); // 180
        assert_eq!(stage(&[0, 0], 181), Stage::Churned);
        // comeback: 181 days after the purchase before it, within 90 days of D
        assert_eq!(stage(&[0, 181, 200], 271), Stage::Reactivated);
        assert_eq!(stage(&[0, 181, 200], 272), Stage::Active, "the comeback is 91 days ago");
        assert_eq!(stage(&[0, 180], 200), Stage::Active, "a gap of exactly 180 days is no comeback");
        // the most recent comeback counts: 0 -> 200 (comeback) -> 500 (comeback)
        assert_eq!(stage(&[0, 200, 500], 560), Stage::Reactivated);
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
        }
        assert!("lapsed".parse::<Stage>().is_err());
    }
}
