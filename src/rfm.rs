//! RFM: recency, frequency and monetary value scored 1-5, and the named RFM segments.
//! How scores and segments are computed is documented on [`RfmModel`].

use std::ops::RangeInclusive;

use crate::error::{Error, ModelProblem, Result};
use crate::history::Money;

/// How RFM scores are computed: the scoring method and the segment grid ([`RfmGrid`]).
///
/// ```
/// use audience::{Money, RfmModel, RfmGrid};
/// let quantiles = RfmModel::default(); // PERCENT_RANK quintiles, the standard segments
/// let fixed = RfmModel::thresholds(
///     [30, 90, 180, 365],                 // recency_days: <= 30 is R5, > 365 is R1
///     [2, 3, 5, 10],                      // frequency: 1 is F1, >= 10 is F5
///     [Money::from_major(50)?, Money::from_major(100)?, Money::from_major(500)?, Money::from_major(1000)?],
/// )?
/// .with_segments(RfmGrid::default());
/// assert_ne!(quantiles, fixed);
/// # Ok::<(), audience::Error>(())
/// ```
///
/// # Scores and segments
///
/// For each customer with at least one purchase on or before the as-of day D:
/// `recency_days` = D minus the day of the last purchase; `frequency` = the number of
/// purchases (records, so two on one day count twice; a zero amount is a purchase, a refund
/// is not); `monetary` = the sum of every amount on or before D, refunds included.
///
/// Scores run from 1 to 5, 5 best (most recent, most frequent, highest spend), by one of two
/// methods ([`RfmModel`]):
///
/// - **quantiles** (the default), ties kept together, as SQL's `PERCENT_RANK`: with N scored
///   customers and `below(x)` the number whose value is strictly worse than x,
///   `score = 1 + min(4, floor(5 * below(x) / (N - 1)))`, and 1 when N = 1. Equal values
///   always get equal scores and the result never depends on input order. It is computed
///   exactly, in O(N), from four order statistics per metric (`select_nth_unstable`): score
///   `k + 1` needs `below(x) >= ceil(k (N - 1) / 5)`, which holds iff x is above the value of
///   that rank.
/// - **thresholds**: four cut points per metric (see [`RfmModel::thresholds`]).
///
/// The segment comes from (R, F) through an [`RfmGrid`], which is data.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RfmModel {
    scoring: Scoring,
    segments: RfmGrid,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
enum Scoring {
    #[default]
    Quantiles,
    Thresholds {
        recency_days: [i64; 4],
        frequency: [i64; 4],
        monetary: [i64; 4],
    },
}

impl RfmModel {
    /// Quantile scoring (`PERCENT_RANK` quintiles, ties together) with the standard segment
    /// map; the same as `RfmModel::default()`.
    pub fn quantiles() -> RfmModel {
        RfmModel::default()
    }

    /// Fixed cut points, four per metric, each list non-decreasing:
    ///
    /// - `recency_days` `[c1, c2, c3, c4]`: R5 up to c1 days, R4 up to c2, R3 up to c3, R2
    ///   up to c4, R1 beyond;
    /// - `frequency` and `monetary` `[c1, c2, c3, c4]`: score 1 below c1, 2 from c1, 3 from
    ///   c2, 4 from c3, 5 from c4.
    ///
    /// Errors: [`Error::InvalidModel`] for a decreasing list or a negative recency.
    pub fn thresholds(recency_days: [i64; 4], frequency: [i64; 4], monetary: [Money; 4]) -> Result<RfmModel> {
        let monetary = monetary.map(Money::minor);
        for (name, cuts) in [("recency_days", &recency_days), ("frequency", &frequency), ("monetary", &monetary)] {
            if !cuts.is_sorted() {
                return Err(Error::InvalidModel { reason: ModelProblem::CutsDecrease { metric: name, cuts: *cuts } });
            }
        }
        if recency_days[0] < 0 {
            return Err(Error::InvalidModel { reason: ModelProblem::NegativeRecency { cuts: recency_days } });
        }
        Ok(RfmModel {
            scoring: Scoring::Thresholds { recency_days, frequency, monetary },
            segments: RfmGrid::default(),
        })
    }

    /// This model with another segment grid.
    pub fn with_segments(mut self, segments: RfmGrid) -> RfmModel {
        self.segments = segments;
        self
    }

    /// The segment grid.
    pub fn segments(&self) -> &RfmGrid {
        &self.segments
    }

    /// Whether scores are quantiles (else thresholds).
    pub fn is_quantiles(&self) -> bool {
        self.scoring == Scoring::Quantiles
    }

    /// The fixed cut points (`recency_days`, `frequency`, `monetary` in minor units) of a
    /// threshold model, `None` for quantiles: what a snapshot stores to rebuild the model
    /// through [`RfmModel::thresholds`].
    pub(crate) fn threshold_cuts(&self) -> Option<[[i64; 4]; 3]> {
        match &self.scoring {
            Scoring::Quantiles => None,
            Scoring::Thresholds { recency_days, frequency, monetary } => Some([*recency_days, *frequency, *monetary]),
        }
    }

    /// The cut points of the three metrics for one refresh. `last_days`, `frequency` and
    /// `monetary` are the scored customers' values (reordered in place); R is scored on the
    /// day of the last purchase (later is better), which ranks exactly as recency does.
    pub(crate) fn cuts(
        &self,
        as_of: i32,
        last_days: &mut [i64],
        frequency: &mut [i64],
        monetary: &mut [i64],
    ) -> RfmCuts {
        match &self.scoring {
            Scoring::Quantiles => RfmCuts {
                last_day: quantile_cuts(last_days),
                frequency: quantile_cuts(frequency),
                monetary: quantile_cuts(monetary),
            },
            Scoring::Thresholds { recency_days, frequency: f, monetary: m } => {
                // recency <= c  <=>  last >= as_of - c  <=>  last > as_of - c - 1
                let r = recency_days.map(|c| i128::from(as_of) - i128::from(c) - 1);
                let at_least = |c: &[i64; 4]| c.map(|c| i128::from(c) - 1);
                RfmCuts {
                    last_day: Cuts { above: r, lone: false },
                    frequency: Cuts { above: at_least(f), lone: false },
                    monetary: Cuts { above: at_least(m), lone: false },
                }
            }
        }
    }
}

/// The cut points of one refresh, per metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RfmCuts {
    /// R, scored on the day of the last purchase (later is better).
    pub(crate) last_day: Cuts,
    pub(crate) frequency: Cuts,
    pub(crate) monetary: Cuts,
}

/// Scores as `1 + #{k : x > above[k]}` (or 1 for everyone when `lone`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cuts {
    above: [i128; 4],
    lone: bool,
}

impl Cuts {
    pub(crate) fn score(&self, x: i64) -> u8 {
        if self.lone {
            return 1;
        }
        1 + self.above.iter().filter(|&&c| i128::from(x) > c).count() as u8
    }
}

/// Cut points reproducing `1 + min(4, floor(5 * below(x) / (N - 1)))`, where `below(x)`
/// counts values strictly below x: score >= k + 1 iff `below(x) >= m_k = ceil(k (N - 1) / 5)`
/// iff x is greater than the `m_k`-th smallest value (1-based) (always, when `m_k = 0`).
pub(crate) fn quantile_cuts(values: &mut [i64]) -> Cuts {
    let n = values.len();
    if n <= 1 {
        return Cuts { above: [i128::MIN; 4], lone: true };
    }
    let mut above = [i128::MIN; 4];
    // From the highest rank down, each selection within the part left of the previous one.
    let mut end = n;
    for k in (1..=4).rev() {
        let m = (k * (n - 1)).div_ceil(5);
        if m == 0 {
            continue;
        }
        let (_, v, _) = values[..end].select_nth_unstable(m - 1);
        above[k - 1] = i128::from(*v);
        end = m; // ranks below m - 1 now sit in values[..m - 1]; keep m - 1 itself in range
    }
    Cuts { above, lone: false }
}

/// The named RFM segment of each (R, F) cell: data, so teams can bring their own map.
///
/// The default is the standard map: R1-2 F1-2 `hibernating`; R1-2 F3-4 `at_risk`; R1-2 F5
/// `cant_lose`; R3 F1-2 `about_to_sleep`; R3 F3 `need_attention`; R3-4 F4-5
/// `loyal_customers`; R4 F1 `promising`; R5 F1 `new_customers`; R4-5 F2-3
/// `potential_loyalists`; R5 F4-5 `champions`.
///
/// ```
/// use audience::RfmGrid;
/// let map = RfmGrid::default();
/// assert_eq!(map.segment(5, 5), Some("champions"));
/// assert_eq!(map.segment(1, 1), Some("hibernating"));
/// let simple = RfmGrid::new([("best", 4..=5, 4..=5), ("rest", 1..=3, 1..=5), ("rest", 4..=5, 1..=3)])?;
/// assert_eq!(simple.segment(4, 2), Some("rest"));
/// assert_eq!(simple.names().collect::<Vec<_>>(), ["best", "rest"]);
/// assert!(RfmGrid::new([("best", 4..=5, 4..=5)]).is_err()); // cells left without a segment
/// # Ok::<(), audience::Error>(())
/// ```
///
/// The map serializes (serde) as its grid: five rows R1..R5 of five names F1..F5, so it
/// can live in a configuration file; deserializing validates it like [`RfmGrid::from_grid`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "[[String; 5]; 5]", into = "[[String; 5]; 5]")]
pub struct RfmGrid {
    names: Vec<Box<str>>,
    /// `grid[r - 1][f - 1]` indexes `names`.
    grid: [[u8; 5]; 5],
}

impl RfmGrid {
    /// A map from rules `(segment, R range, F range)`. Together the rules must cover each of
    /// the 25 (R, F) cells exactly once; a name may appear in several rules. Segment names
    /// become tags `rfm:<name>`, so they are plain tag values (no `/` or `:`).
    ///
    /// Errors: [`Error::InvalidModel`] for a cell covered twice or not at all, a score outside
    /// 1-5, or an invalid name.
    pub fn new<S: AsRef<str>>(
        rules: impl IntoIterator<Item = (S, RangeInclusive<u8>, RangeInclusive<u8>)>,
    ) -> Result<RfmGrid> {
        let mut names: Vec<Box<str>> = Vec::new();
        let mut grid = [[u8::MAX; 5]; 5];
        for (name, rs, fs) in rules {
            let raw = name.as_ref();
            let name = raw.trim();
            // The tag rfm:<name> must be a valid, queryable group value, spelled as given.
            let as_tag = format!("rfm:{name}");
            let valid = crate::tags::normalize_tag(&as_tag).is_ok_and(|n| *n == as_tag);
            if !valid || name.is_empty() || name.contains(['/', ':']) {
                return Err(Error::InvalidModel {
                    reason: ModelProblem::SegmentName { name: crate::error::excerpt(raw) },
                });
            }
            for (score, r) in [('R', &rs), ('F', &fs)] {
                if *r.start() < 1 || *r.end() > 5 || r.start() > r.end() {
                    return Err(Error::InvalidModel {
                        reason: ModelProblem::ScoreRange { segment: name.to_owned(), score, range: r.clone() },
                    });
                }
            }
            let index = match names.iter().position(|n| **n == *name) {
                Some(i) => i,
                None => {
                    names.push(name.into());
                    names.len() - 1
                }
            };
            for r in rs.clone() {
                for f in fs.clone() {
                    let cell = &mut grid[usize::from(r - 1)][usize::from(f - 1)];
                    if *cell != u8::MAX {
                        return Err(Error::InvalidModel {
                            reason: ModelProblem::CellTwice {
                                r,
                                f,
                                first: names[usize::from(*cell)].to_string(),
                                second: name.to_owned(),
                            },
                        });
                    }
                    *cell = index as u8;
                }
            }
        }
        for (r, row) in grid.iter().enumerate() {
            if let Some(f) = row.iter().position(|&c| c == u8::MAX) {
                return Err(Error::InvalidModel {
                    reason: ModelProblem::CellUncovered { r: r as u8 + 1, f: f as u8 + 1 },
                });
            }
        }
        // One canonical order, whatever the rules' order: by each segment's best cell,
        // R5 F5 first, then R5 F4 ... R1 F1. So equal maps compare equal and a map read
        // back from its grid is the same map.
        let mut order: Vec<u8> = Vec::with_capacity(names.len());
        for r in (0..5).rev() {
            for f in (0..5).rev() {
                let i = grid[r][f];
                if !order.contains(&i) {
                    order.push(i);
                }
            }
        }
        let mut renumber = [0u8; 256];
        for (new, &old) in order.iter().enumerate() {
            renumber[usize::from(old)] = new as u8;
        }
        let names = order.iter().map(|&i| names[usize::from(i)].clone()).collect();
        let grid = grid.map(|row| row.map(|i| renumber[usize::from(i)]));
        Ok(RfmGrid { names, grid })
    }

    /// A map from its grid: `grid[r - 1][f - 1]` names the segment of R`r` F`f`. The same
    /// map as [`RfmGrid::new`] with rules covering the same cells, so
    /// `RfmGrid::from_grid(map.grid()) == map`.
    ///
    /// ```
    /// use audience::RfmGrid;
    /// let mut grid = [["other"; 5]; 5];
    /// grid[4][4] = "best";
    /// let map = RfmGrid::from_grid(grid)?;
    /// assert_eq!((map.segment(5, 5), map.segment(5, 4)), (Some("best"), Some("other")));
    /// let standard = RfmGrid::default();
    /// assert_eq!(RfmGrid::from_grid(standard.grid())?, standard);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidModel`] for an invalid name (as in [`RfmGrid::new`]).
    pub fn from_grid<S: AsRef<str>>(grid: [[S; 5]; 5]) -> Result<RfmGrid> {
        let mut rules = Vec::with_capacity(25);
        for (r, row) in grid.iter().enumerate() {
            for (f, name) in row.iter().enumerate() {
                let (r, f) = (r as u8 + 1, f as u8 + 1);
                rules.push((name.as_ref(), r..=r, f..=f));
            }
        }
        RfmGrid::new(rules)
    }

    /// The grid: `grid()[r - 1][f - 1]` is the segment of R`r` F`f`.
    pub fn grid(&self) -> [[&str; 5]; 5] {
        self.grid.map(|row| row.map(|i| self.name(i)))
    }

    /// The segment of scores `r`, `f` (each 1-5), or `None` outside that range.
    pub fn segment(&self, r: u8, f: u8) -> Option<&str> {
        self.index(r, f).map(|i| &*self.names[usize::from(i)])
    }

    pub(crate) fn index(&self, r: u8, f: u8) -> Option<u8> {
        let row = self.grid.get(usize::from(r.checked_sub(1)?))?;
        row.get(usize::from(f.checked_sub(1)?)).copied()
    }

    pub(crate) fn name(&self, index: u8) -> &str {
        &self.names[usize::from(index)]
    }

    /// The segment names, best first: ordered by each segment's best (R, F) cell, R5 F5,
    /// R5 F4, ... R1 F1 (the order reports list them in).
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| &**n)
    }
}

impl TryFrom<[[String; 5]; 5]> for RfmGrid {
    type Error = Error;

    fn try_from(grid: [[String; 5]; 5]) -> Result<RfmGrid> {
        RfmGrid::from_grid(grid)
    }
}

impl From<RfmGrid> for [[String; 5]; 5] {
    fn from(map: RfmGrid) -> [[String; 5]; 5] {
        map.grid().map(|row| row.map(str::to_owned))
    }
}

impl Default for RfmGrid {
    fn default() -> RfmGrid {
        RfmGrid::new([
            ("champions", 5..=5, 4..=5),
            ("loyal_customers", 3..=4, 4..=5),
            ("potential_loyalists", 4..=5, 2..=3),
            ("new_customers", 5..=5, 1..=1),
            ("promising", 4..=4, 1..=1),
            ("need_attention", 3..=3, 3..=3),
            ("about_to_sleep", 3..=3, 1..=2),
            ("cant_lose", 1..=2, 5..=5),
            ("at_risk", 1..=2, 3..=4),
            ("hibernating", 1..=2, 1..=2),
        ])
        .expect("the standard map covers every cell once")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, directly: 1 + min(4, floor(5 * below / (N - 1))).
    fn by_definition(values: &[i64], x: i64) -> u8 {
        let n = values.len();
        if n == 1 {
            return 1;
        }
        let below = values.iter().filter(|&&v| v < x).count();
        1 + (5 * below / (n - 1)).min(4) as u8
    }

    #[test]
    fn quantile_cuts_match_the_definition() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for n in 1..60 {
            for spread in [1, 3, 10, 1000] {
                let values: Vec<i64> = (0..n)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % spread) as i64 - 2
                    })
                    .collect();
                let mut scratch = values.clone();
                let cuts = quantile_cuts(&mut scratch);
                for &x in &values {
                    assert_eq!(cuts.score(x), by_definition(&values, x), "n {n} spread {spread} x {x} {values:?}");
                }
            }
        }
    }

    #[test]
    fn standard_segments() {
        let map = RfmGrid::default();
        let want = [
            ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
            ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
            ["about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers", "loyal_customers"],
            ["promising", "potential_loyalists", "potential_loyalists", "loyal_customers", "loyal_customers"],
            ["new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"],
        ];
        for r in 1..=5u8 {
            for f in 1..=5u8 {
                assert_eq!(map.segment(r, f), Some(want[usize::from(r - 1)][usize::from(f - 1)]), "R{r} F{f}");
            }
        }
        assert_eq!(map.segment(0, 1), None);
        assert_eq!(map.segment(6, 1), None);
    }

    #[test]
    fn bad_maps_and_thresholds_say_why() {
        let e = RfmGrid::new([("a", 1..=5, 1..=5), ("b", 5..=5, 5..=5)]).unwrap_err();
        assert!(e.to_string().contains("R5 F5 is covered by both"), "{e}");
        let e = RfmGrid::new([("a", 1..=5, 1..=4)]).unwrap_err();
        assert!(e.to_string().contains("R1 F5 has no segment"), "{e}");
        assert!(RfmGrid::new([("a:b", 1..=5, 1..=5)]).is_err());
        assert!(RfmGrid::new([("a\u{2028}b", 1..=5, 1..=5)]).is_err());
        assert!(RfmGrid::new([("a\tb", 1..=5, 1..=5)]).is_err());
        assert!(RfmGrid::new([("高价值", 1..=5, 1..=5)]).is_ok());
        assert!(RfmGrid::new([("a", 0..=5, 1..=5)]).is_err());
        let m = Money::ZERO;
        assert!(RfmModel::thresholds([90, 30, 180, 365], [1, 2, 3, 4], [m; 4]).is_err());
        assert!(RfmModel::thresholds([-1, 30, 180, 365], [1, 2, 3, 4], [m; 4]).is_err());
    }

    #[test]
    fn thresholds_score_as_documented() {
        let m = |x| Money::from_major(x).unwrap();
        let model = RfmModel::thresholds([30, 90, 180, 365], [2, 3, 5, 10], [m(50), m(100), m(500), m(1000)]).unwrap();
        let as_of = 1000;
        let RfmCuts { last_day: r, frequency: f, monetary: mo } = model.cuts(as_of, &mut [], &mut [], &mut []);
        for (recency, want) in [(0, 5), (30, 5), (31, 4), (90, 4), (91, 3), (180, 3), (181, 2), (365, 2), (366, 1)] {
            assert_eq!(r.score(i64::from(as_of) - recency), want, "recency {recency}");
        }
        for (freq, want) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (500, 5)] {
            assert_eq!(f.score(freq), want, "frequency {freq}");
        }
        for (major, want) in [(-5, 1), (49, 1), (50, 2), (100, 3), (999, 4), (1000, 5)] {
            assert_eq!(mo.score(major * 100), want, "monetary {major}");
        }
    }
}
