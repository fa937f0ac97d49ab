//! Purchase history: [`Day`], [`Money`], [`Purchase`], the columnar store, and the per-customer
//! summary as of a day that RFM and lifecycle stages are computed from.

mod bucket;
mod day;
mod money;
mod persist;
mod rec;
mod store;

pub use day::Day;
pub use money::Money;
pub(crate) use money::format_minor;
pub(crate) use rec::Rec;
pub(crate) use store::History;

use crate::customers::Directory;
use crate::error::Result;
use crate::id::CustomerId;

/// One purchase (or, with a negative amount, refund) of one customer on one UTC day.
///
/// ```
/// use audience::{CustomerId, Day, Money, Purchase};
/// let p = Purchase::new(CustomerId(7), Day::from_ymd(2024, 2, 29)?, Money::parse("-5.00")?);
/// assert!(p.amount.is_refund());
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Purchase {
    /// Who bought.
    pub customer: CustomerId,
    /// The UTC calendar day of the purchase.
    pub day: Day,
    /// The amount; negative for a refund.
    pub amount: Money,
}

impl Purchase {
    /// A purchase; `when` is a [`Day`], a `chrono::NaiveDate` or a `chrono::DateTime<Utc>`.
    pub fn new(customer: CustomerId, when: impl Into<Day>, amount: Money) -> Purchase {
        Purchase { customer, day: when.into(), amount }
    }
}

impl<D: Into<Day>> From<(CustomerId, D, Money)> for Purchase {
    fn from((customer, when, amount): (CustomerId, D, Money)) -> Purchase {
        Purchase::new(customer, when, amount)
    }
}

impl History {
    /// Records one purchase of a live customer.
    pub(crate) fn record(&mut self, p: Purchase) {
        self.push(Rec { customer: p.customer.0, day: p.day.days_since_epoch(), amount: p.amount.minor() });
    }

    /// Records purchases, all or nothing: on the first customer that is not live (checked
    /// against `customers`), none of them is kept. How many were recorded.
    pub(crate) fn load<P: Into<Purchase>>(
        &mut self,
        customers: &Directory,
        purchases: impl IntoIterator<Item = P>,
    ) -> Result<u64> {
        let iter = purchases.into_iter();
        self.reserve(iter.size_hint().0);
        let before = self.len();
        for p in iter {
            let p: Purchase = p.into();
            if let Err(e) = customers.check_live(p.customer) {
                self.truncate_pending(before);
                return Err(e);
            }
            self.record(p);
        }
        Ok(self.len() - before)
    }

    /// Customer `id`'s purchases, by day (in arrival order within a day).
    pub(crate) fn purchases_of(&self, id: CustomerId) -> Vec<Purchase> {
        self.of(id.0)
            .into_iter()
            .map(|(day, amount)| Purchase {
                customer: id,
                day: Day::from_days_since_epoch(day).expect("recorded from a Day"),
                amount: Money::from_minor(amount).expect("recorded from a Money"),
            })
            .collect()
    }
}

/// No comeback purchase.
pub(crate) const NO_DAY: i32 = i32::MIN;

/// One customer's history summarized as of a day: what RFM and lifecycle read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, bytemuck::Zeroable)]
pub(crate) struct Summary {
    /// Purchases (records with a non-negative amount) on or before the day.
    pub(crate) count: u32,
    /// Day of the first and last purchase (meaningless when `count` is 0).
    pub(crate) first: i32,
    pub(crate) last: i32,
    /// The most recent purchase that came more than the churn window after the purchase
    /// before it, or [`NO_DAY`].
    pub(crate) comeback: i32,
    /// Sum of every amount on or before the day, refunds included (0 when it leaves the
    /// `i64` range; `overflow` says so).
    pub(crate) monetary: i64,
    /// The sum does not fit an `i64` (it is summed exactly in 128 bits first).
    pub(crate) overflow: bool,
    /// Whether the customer has records after the day (the summary changes when the day
    /// moves forward past them).
    pub(crate) later: bool,
}

impl Summary {
    /// Summarizes `days` (ascending) / `amounts` as of day `as_of`.
    pub(crate) fn of(days: &[i32], amounts: &[i64], as_of: i32, churn_days: i32) -> Summary {
        let k = days.partition_point(|&d| d <= as_of);
        let mut s = Summary { comeback: NO_DAY, later: k < days.len(), ..Summary::default() };
        let mut total = 0i128;
        for (&day, &amount) in days[..k].iter().zip(&amounts[..k]) {
            total += i128::from(amount);
            if amount < 0 {
                continue;
            }
            if s.count == 0 {
                s.first = day;
            } else if i64::from(day) - i64::from(s.last) > i64::from(churn_days) {
                s.comeback = day;
            }
            s.last = day;
            s.count += 1;
        }
        match i64::try_from(total) {
            Ok(m) => s.monetary = m,
            Err(_) => s.overflow = true,
        }
        s
    }

    /// Whether the customer has a purchase on or before the day (and so RFM scores).
    pub(crate) fn scored(&self) -> bool {
        self.count > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_purchases_and_sums_refunds() {
        // day:    0    0    10   200  201  300 (after as_of)
        let days = [0, 0, 10, 200, 201, 300];
        let amounts = [100, 0, -50, 700, -25, 9];
        let s = Summary::of(&days, &amounts, 250, 180);
        assert_eq!(s.count, 3); // the two on day 0 and day 200; refunds are not purchases
        assert_eq!((s.first, s.last), (0, 200));
        assert_eq!(s.comeback, 200); // 200 - 0 > 180 (the refund on day 10 does not count)
        assert_eq!(s.monetary, 100 - 50 + 700 - 25); // the zero on day 0 adds nothing
        assert!(s.later);
        let only_refunds = Summary::of(&[5], &[-10], 9, 180);
        assert!(!only_refunds.scored());
        assert_eq!(only_refunds.monetary, -10);
        let before = Summary::of(&days, &amounts, -1, 180);
        assert_eq!(before, Summary { comeback: NO_DAY, later: true, ..Summary::default() });
    }
}
