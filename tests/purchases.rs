//! Purchases, money and days: what a purchase is (same-day records, refunds, zero spend,
//! records after the as-of day), `Money` and `Day` (parsing, ranges, `i32` and serde bounds,
//! leap days, timestamps falling on their UTC day, the ends of the calendar), recording in
//! bulk (all or nothing), and the first big load scattered into the columns, which equals the
//! general path.

mod common;

use audience::{Audience, CustomerId, Day, Engine, Error, Money, Stage};
use chrono::{NaiveDate, TimeZone, Utc};
use common::observe::{snapshot, summary};
use common::reference::{assert_scored, assert_unscored, rfm};
use common::{BASE, Rng, config, date, day, keyed_engine, members, money, plus};
use proptest::prelude::*;

// ------------------------------------------------------------------ what a purchase is

#[test]
fn purchases_refunds_zero_spend_and_the_as_of_day() {
    let (mut e, c) = keyed_engine(6);
    let d = date("2024-04-10");
    let recs = [
        // c0: two purchases on one day count twice; a free one counts; "-0.00" is zero, not a refund
        (c[0], d, Money::parse("12.50").unwrap()),
        (c[0], d, Money::parse("12.50").unwrap()),
        (c[0], plus(d, -2), Money::ZERO),
        (c[0], plus(d, -3), Money::parse("-0.00").unwrap()),
        // c1: refunds lower monetary (even below zero) and are never the last purchase
        (c[1], plus(d, -100), money(1000)),
        (c[1], plus(d, -1), money(-2500)),
        (c[1], plus(d, -50), money(-1)),
        // c2: records after D are ignored, refunds included; the as-of day itself counts
        (c[2], d, money(300)),
        (c[2], plus(d, 1), money(99_999)),
        (c[2], plus(d, 1), money(-300)),
        // c3: refund only: no purchase at all
        (c[3], plus(d, -5), money(-700)),
        // c4: zero spend only
        (c[4], plus(d, -40), Money::ZERO),
        // c5: only after D
        (c[5], plus(d, 1), money(100)),
    ];
    assert_eq!(e.record_purchases(recs).unwrap(), 13);
    assert_eq!(e.purchase_count(), 13);
    let r = e.refresh(d).unwrap();
    assert_eq!(r.scored, 4);
    let f = |x| rfm(&e, x).map(|t| (t.0, t.1, t.2));
    assert_eq!(f(c[0]), Some((0, 4, 2500)));
    assert_eq!(f(c[1]), Some((100, 1, -1501)));
    assert_eq!(f(c[2]), Some((0, 1, 300)));
    assert_eq!(f(c[3]), None);
    assert_eq!(f(c[4]), Some((40, 1, 0)));
    assert_eq!(f(c[5]), None);
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::AtRisk), "a refund is not a purchase");
    assert_eq!(e.stage_of(c[3]).unwrap(), Some(Stage::Prospect));
    assert_eq!(e.stage_of(c[5]).unwrap(), Some(Stage::Prospect));
    assert_eq!(members(&e, "frequency = 1"), [1, 2, 4]);
    assert_eq!(members(&e, "monetary <= 0"), [1, 4]);
    assert_eq!(members(&e, "monetary = -1501"), [1]);
    assert_eq!(members(&e, "recency_days = 0"), [0, 2]);
    assert_eq!(members(&e, "stage:prospect"), [3, 5]);
    assert_unscored(&e, c[3], Stage::Prospect);

    // purchases_of: every record (refunds and later ones too), by day
    let p = e.purchases_of(c[1]).unwrap();
    let got: Vec<(Day, i64)> = p.iter().map(|p| (p.day, p.amount.minor())).collect();
    assert_eq!(got, [(plus(d, -100), 1000), (plus(d, -50), -1), (plus(d, -1), -2500)]);
    assert!(p.iter().all(|p| p.customer == c[1]));
    assert!(p[1].amount.is_refund() && !Money::parse("-0.00").unwrap().is_refund());
    let later = e.purchases_of(c[2]).unwrap();
    assert_eq!(later.len(), 3);
}

#[test]
fn leap_days() {
    let (mut e, c) = keyed_engine(4);
    e.record_purchase(c[0], date("2024-02-29"), money(100)).unwrap();
    e.record_purchase(c[1], date("2024-02-28"), money(100)).unwrap();
    e.record_purchase(c[2], NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(), money(100)).unwrap();
    e.record_purchase(c[3], date("2023-03-01"), money(100)).unwrap();
    let d = Day::from_ymd(2024, 3, 1).unwrap();
    assert_eq!(d - date("2024-02-29"), 1);
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]).unwrap().0, 1);
    assert_eq!(rfm(&e, c[1]).unwrap().0, 2);
    assert_eq!(rfm(&e, c[2]).unwrap().0, 0);
    assert_eq!(rfm(&e, c[3]).unwrap().0, 366, "a leap year has 366 days");
    assert_eq!(members(&e, "recency_days = 1"), [0]);
    assert_eq!(e.stage_of(c[3]).unwrap(), Some(Stage::Churned));
    // in a common year, Feb 28 is the day before Mar 1
    let (mut e, c) = keyed_engine(1);
    e.record_purchase(c[0], date("2023-02-28"), money(1)).unwrap();
    e.refresh(date("2023-03-01")).unwrap();
    assert_eq!(e.attr(c[0], "recency_days").unwrap(), Some(1));
    assert!(Day::from_ymd(2023, 2, 29).is_err());
}

/// A `DateTime<Utc>` (or RFC 3339 text) counts on its UTC calendar day.
#[test]
fn timestamps_near_midnight_fall_on_their_utc_day() {
    let (mut e, c) = keyed_engine(5);
    let t = |y, mo, d, h, mi, s| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
    e.record_purchase(c[0], t(2024, 2, 29, 23, 59, 59), money(100)).unwrap(); // Feb 29
    e.record_purchase(c[1], t(2024, 3, 1, 0, 0, 0), money(100)).unwrap(); // Mar 1
    e.record_purchase(c[2], date("2024-02-29T20:30:00-05:00"), money(100)).unwrap(); // 01:30Z Mar 1
    e.record_purchase(c[3], date("2024-03-01T07:30:00+08:00"), money(100)).unwrap(); // 23:30Z Feb 29
    e.record_purchase(c[4], t(2024, 3, 1, 23, 59, 59) + chrono::Duration::seconds(1), money(100)).unwrap(); // Mar 2
    assert_eq!(e.purchases_of(c[2]).unwrap()[0].day, date("2024-03-01"));
    assert_eq!(e.purchases_of(c[3]).unwrap()[0].day, date("2024-02-29"));
    // the as-of day may be a timestamp too: its UTC day
    let r = e.refresh(t(2024, 3, 1, 23, 59, 59)).unwrap();
    assert_eq!(r.as_of, date("2024-03-01"));
    assert_eq!(e.last_refresh(), Some(date("2024-03-01")));
    let rec: Vec<Option<i64>> = c.iter().map(|&x| e.attr(x, "recency_days").unwrap()).collect();
    assert_eq!(rec, [Some(1), Some(0), Some(0), Some(1), None]);
    assert_eq!(members(&e, "recency_days = 1"), [0, 3]);
    assert_eq!(e.stage_of(c[4]).unwrap(), Some(Stage::Prospect), "bought on Mar 2, after D");
    assert_eq!(date("2024-03-01T00:00:00Z"), date("2024-03-01"));
    assert_eq!(date("2024-03-01T00:00:00.000+00:00"), date("2024-03-01"));
    assert_eq!(date("2024-02-29t23:59:59.999z"), date("2024-02-29"));
    assert_eq!(Day::from(t(1969, 12, 31, 23, 59, 59)).days_since_epoch(), -1);
}

// ------------------------------------------------------------------ money and days

#[test]
fn money_parsing_and_ranges() {
    for (text, minor) in [
        ("12", 1200),
        ("12.5", 1250),
        ("12.05", 1205),
        ("-3.5", -350),
        ("+7.00", 700),
        ("0.05", 5),
        ("-0.05", -5),
        ("-0", 0),
        ("10000000000000", Money::MAX_MINOR),
        ("-10000000000000.00", -Money::MAX_MINOR),
    ] {
        assert_eq!(Money::parse(text).unwrap().minor(), minor, "{text:?}");
        assert_eq!(text.parse::<Money>().unwrap().minor(), minor, "{text:?}");
    }
    for text in [
        "",
        " ",
        "-",
        "+",
        "abc",
        "1.005",
        "1,000.00",
        "1 000",
        " 19.99",
        "19.99 ",
        "\t5",
        ".5",
        "5.",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e3",
        "--1",
        "+-1",
        "1.-5",
        "0x10",
        "12a",
        "1.2.3",
        "10000000000000.01",
        "-10000000000000.01",
        "99999999999999999999",
        "１２",
    ] {
        let err = Money::parse(text).unwrap_err();
        assert!(matches!(err, Error::InvalidAmount { .. }), "{text:?}: {err}");
        assert!(text.parse::<Money>().is_err());
    }
    assert_eq!(Money::from_f64(19.99).unwrap().minor(), 1999);
    assert_eq!(Money::from_f64(-2.5).unwrap().minor(), -250);
    assert_eq!(Money::from_f64(0.1 + 0.2).unwrap().minor(), 30);
    assert_eq!(Money::from_f64(-0.0).unwrap(), Money::ZERO);
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, 1e14, f64::MAX] {
        assert!(matches!(Money::from_f64(x), Err(Error::InvalidAmount { .. })), "{x}");
    }
    assert_eq!(Money::from_minor(Money::MAX_MINOR).unwrap().minor(), Money::MAX_MINOR);
    assert_eq!(Money::from_minor(-Money::MAX_MINOR).unwrap().minor(), -Money::MAX_MINOR);
    for m in [Money::MAX_MINOR + 1, -Money::MAX_MINOR - 1, i64::MAX, i64::MIN] {
        assert!(matches!(Money::from_minor(m), Err(Error::InvalidAmount { .. })), "{m}");
    }
    assert_eq!(Money::from_major(-3).unwrap().minor(), -300);
    for m in [i64::MAX, i64::MIN, Money::MAX_MINOR / 100 + 1] {
        assert!(Money::from_major(m).is_err(), "{m}");
    }
    assert_eq!(Money::from_major(Money::MAX_MINOR / 100).unwrap().minor(), Money::MAX_MINOR);
    let big = Money::from_minor(Money::MAX_MINOR).unwrap();
    assert_eq!(big.checked_add(money(1)), None);
    assert_eq!(big.checked_add(money(-1)).map(Money::minor), Some(Money::MAX_MINOR - 1));
    assert_eq!(Money::parse("-12.5").unwrap().to_string(), "-12.50");
}

#[test]
fn day_parsing_errors() {
    for text in [
        "",
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-01-32",
        "yesterday",
        "2024/03/01",
        "01-03-2024",
        "2024-03-01T25:00:00Z",
        "2024-03-01T12:00:00",
        "2024-03-01 12:00",
        "2024-03-01T12:00:00+25:00",
        "2024-03-01Z",
        "2024-1-5",
        "202-01-05",
        "+2024-01-05",
        " 2024-01-05",
        "2024-01-05 ",
        "2024-01-05\n",
    ] {
        let err = text.parse::<Day>().unwrap_err();
        assert!(matches!(err, Error::InvalidDate { .. }), "{text:?}: {err}");
    }
    assert!(matches!(Day::from_ymd(2024, 2, 30), Err(Error::InvalidDate { .. })));
    assert_eq!(Day::from_ymd(2024, 1, 1).unwrap().days_since_epoch(), BASE);
    assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
    assert_eq!(Day::from_days_since_epoch(i32::MAX), None);
}

#[test]
fn days_from_i32_stop_at_the_representable_dates() {
    use chrono::NaiveDate;
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let max = Day::from(NaiveDate::MAX).days_since_epoch();
    let min = Day::from(NaiveDate::MIN).days_since_epoch();
    for (days, ok) in [
        (0, true),
        (-1, true),
        (max, true),
        (max + 1, false),
        (min, true),
        (min - 1, false),
        (i32::MAX, false),
        (i32::MIN, false),
    ] {
        assert_eq!(Day::try_from(days).is_ok(), ok, "{days}");
        assert_eq!(Day::from_days_since_epoch(days).is_some(), ok, "{days}");
        let read: Result<Day, serde::de::value::Error> = Day::deserialize(days.into_deserializer());
        assert_eq!(read.is_ok(), ok, "{days}");
        if ok {
            let d = Day::try_from(days).unwrap();
            assert_eq!(i32::from(d), days);
            assert_eq!(read.unwrap(), d);
            if days.abs() < 700_000 {
                assert_eq!(d.to_string().parse::<Day>().unwrap(), d);
            }
        }
    }
    assert!(matches!(Day::try_from(i32::MAX), Err(Error::InvalidDate { .. })));
    assert_eq!(Day::from(NaiveDate::MAX).to_date(), NaiveDate::MAX);
    assert_eq!(Day::from(NaiveDate::MIN).to_date(), NaiveDate::MIN);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn day_try_from_agrees_with_from_days_since_epoch(days in prop_oneof![any::<i32>(), -100_000_000..100_000_000i32]) {
        let d = Day::try_from(days);
        prop_assert_eq!(d.as_ref().ok().copied(), Day::from_days_since_epoch(days));
        if let Ok(d) = d {
            prop_assert_eq!(i32::from(d), days);
            prop_assert_eq!(Day::from(d.to_date()), d);
        }
    }

}

/// The first and last representable days: recency spans the whole calendar.
#[test]
fn extreme_dates() {
    let (mut e, c) = keyed_engine(2);
    let lo = Day::from(NaiveDate::MIN);
    let hi = Day::from(NaiveDate::MAX);
    e.record_purchase(c[0], lo, money(1)).unwrap();
    e.record_purchase(c[1], hi, money(1)).unwrap();
    let r = e.refresh(hi).unwrap();
    let span = hi - lo;
    assert!(span > 190_000_000);
    assert_scored(&e, c[0], (span, 1, 1, 1, 1, 1, "hibernating"), Stage::Churned);
    assert_scored(&e, c[1], (0, 1, 1, 5, 1, 1, "new_customers"), Stage::New);
    assert_eq!(members(&e, &format!("recency_days = {span}")), [0]);
    assert_eq!(members(&e, "recency_days > 100000000"), [0]);
    assert_eq!(r.scored, 2);
    let r = e.refresh(lo).unwrap();
    assert_eq!(r.scored, 1);
    assert_eq!(e.attr(c[0], "recency_days").unwrap(), Some(0));
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::Prospect));
}

// ------------------------------------------------------------------ recording

#[test]
fn record_purchases_is_all_or_nothing() {
    let (mut e, c) = keyed_engine(3);
    let d = date("2024-01-10");
    e.record_purchase(c[0], d, money(100)).unwrap();
    e.remove_customer(c[2]).unwrap();
    let before = snapshot(&e);
    for bad in [CustomerId(77), c[2]] {
        let batch = [(c[0], d, money(1)), (c[1], d, money(2)), (bad, d, money(3)), (c[1], d, money(4))];
        assert_eq!(e.record_purchases(batch), Err(Error::UnknownCustomer { id: bad }));
        assert_eq!(e.record_purchase(bad, d, money(1)), Err(Error::UnknownCustomer { id: bad }));
        assert_eq!(snapshot(&e), before);
    }
    assert_eq!(e.purchase_count(), 1);
    assert!(e.purchases_of(c[1]).unwrap().is_empty());
    // nothing of the failed batches reaches the models either
    let r = e.refresh(d).unwrap();
    assert_eq!(r.scored, 1);
    assert_eq!(rfm(&e, c[0]).unwrap().1, 1);
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::Prospect));
    // a later good batch after a failed one is kept whole
    assert_eq!(e.record_purchases([(c[1], d, money(5)), (c[1], d, money(6))]).unwrap(), 2);
    assert_eq!(e.record_purchases(Vec::<(CustomerId, Day, Money)>::new()).unwrap(), 0);
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[1]).map(|f| (f.1, f.2)), Some((2, 11)));
}

#[test]
fn the_first_big_load_equals_the_general_path() {
    // 70,000 purchases over 20,000 dense customers in one load take the scatter into the
    // columns; the same purchases after a one-record first load take the general path.
    let customers = 20_000u32;
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let recs: Vec<(CustomerId, Day, Money)> = (0..70_000)
        .map(|i| {
            let x = rng.next();
            let c = CustomerId((x % u64::from(customers)) as u32);
            (c, day((x >> 32) as i32 % 200), money(i % 1_000 - 100))
        })
        .collect();
    let mut scatter = Engine::new();
    let mut general = Engine::new();
    for e in [&mut scatter, &mut general] {
        e.customer_id_range(0..customers).unwrap();
        e.customer("keyed").unwrap();
    }
    scatter.remove_customer(CustomerId(17)).unwrap(); // removed before the load: refused in both
    general.remove_customer(CustomerId(17)).unwrap();
    let recs: Vec<_> = recs.into_iter().filter(|r| r.0 != CustomerId(17)).collect();
    general.record_purchases(recs[..1].iter().copied()).unwrap();
    general.refresh(day(-400)).unwrap();
    general.record_purchases(recs[1..].iter().copied()).unwrap();
    scatter.record_purchases(recs.iter().copied()).unwrap();
    // A removal while the load is pending.
    scatter.remove_customer(CustomerId(3)).unwrap();
    general.remove_customer(CustomerId(3)).unwrap();
    let (a, b) = (scatter.refresh(day(150)).unwrap(), general.refresh(day(150)).unwrap());
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(scatter.purchase_count(), general.purchase_count());
    for c in scatter.customers().iter() {
        assert_eq!(scatter.purchases_of(c).unwrap(), general.purchases_of(c).unwrap(), "{c:?}");
        assert_eq!(scatter.rfm_of(c).unwrap(), general.rfm_of(c).unwrap(), "{c:?}");
        assert_eq!(scatter.stage_of(c).unwrap(), general.stage_of(c).unwrap(), "{c:?}");
    }
    // Removals and more purchases afterwards.
    let gone: Audience = (0..customers).step_by(7).map(CustomerId).collect();
    scatter.remove_customers(&gone).unwrap();
    general.remove_customers(&gone).unwrap();
    for e in [&mut scatter, &mut general] {
        e.record_purchase(CustomerId(1), day(160), money(7)).unwrap();
    }
    let (a, b) = (scatter.refresh(day(170)).unwrap(), general.refresh(day(170)).unwrap());
    assert_eq!(a, b);
    for c in scatter.customers().iter().step_by(13) {
        assert_eq!(scatter.purchases_of(c).unwrap(), general.purchases_of(c).unwrap(), "{c:?}");
    }
}
