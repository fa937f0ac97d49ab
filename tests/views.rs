//! The views the engine keeps of wide tags (`Stats::view_bytes`): queries from several
//! threads on one shared engine make and read them and agree with a naive computation, and
//! every kind of change after they are made gives the same answers as an engine that never
//! made one.

use std::sync::Arc;
use std::thread;

use audience::{CustomerId, Engine};

/// 400,000 customers (7 blocks of 2^16 ids) and dense tags `a` (about 70%), `b` (50%), `c`
/// (40%), plus a sparse `s`, by fixed arithmetic on the id.
fn engine() -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..400_000).unwrap();
    let mut pairs = Vec::new();
    for c in 0..400_000u32 {
        let h = c.wrapping_mul(2_654_435_761) >> 8;
        for (tag, share) in [("a", 70), ("b", 50), ("c", 40), ("s", 1)] {
            if h % 100 < share || (tag == "b" && (h >> 9) % 100 < 10) {
                pairs.push((CustomerId(c), tag));
            }
        }
    }
    e.tag_pairs(pairs).unwrap();
    e
}

const QUERIES: [&str; 8] = [
    "a AND b",
    "a AND NOT b",
    "a OR NOT c",
    "a AND b AND c",
    "(a OR s) AND (b OR c) AND NOT (a AND c)",
    "b AND c AND NOT s",
    "a OR b OR c",
    "c AND NOT a",
];

/// The counts an engine without views gives: a clone starts with none, and every query of
/// the clone below is on a fresh clone.
fn fresh_counts(e: &Engine) -> Vec<u64> {
    QUERIES.iter().map(|q| e.clone().count(*q).unwrap()).collect()
}

#[test]
fn threads_share_the_views_and_agree() {
    let e = engine();
    let want = fresh_counts(&e);
    let ids: Vec<Vec<u32>> = QUERIES.iter().map(|q| e.clone().query(q).unwrap().to_ids()).collect();
    assert_eq!(e.stats().view_bytes, 0, "no query has run yet");
    let shared = Arc::new(e);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let e = Arc::clone(&shared);
            let (want, ids) = (want.clone(), ids.clone());
            thread::spawn(move || {
                for round in 0..20 {
                    let i = (t + round) % QUERIES.len();
                    assert_eq!(e.count(QUERIES[i]).unwrap(), want[i], "{}", QUERIES[i]);
                    assert_eq!(e.query(QUERIES[i]).unwrap().to_ids(), ids[i], "{}", QUERIES[i]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = shared.stats();
    assert!(stats.view_bytes > 0, "dense operands got views");
    assert!(stats.view_bytes <= (1 << 20) + 4_096, "within the budget: {}", stats.view_bytes);
}

#[test]
fn every_change_after_the_views_gives_what_a_fresh_engine_gives() {
    let mut e = engine();
    type Change = fn(&mut Engine);
    let changes: [(&str, Change); 9] = [
        ("tag one", |e| {
            e.tag(CustomerId(5), "c").unwrap();
        }),
        ("untag one", |e| {
            e.untag(CustomerId(6), "a").unwrap();
        }),
        ("tag_all", |e| {
            let s = e.query("s").unwrap();
            e.tag_all(&s, "b").unwrap();
        }),
        ("untag_all", |e| {
            let s = e.query("s AND NOT c").unwrap();
            e.untag_all(&s, "a").unwrap();
        }),
        ("remove one", |e| e.remove_customer(CustomerId(7)).unwrap()),
        ("remove many", |e| {
            let gone = e.query("s AND a").unwrap();
            e.remove_customers(&gone).unwrap();
        }),
        ("bulk", |e| {
            let live: Vec<CustomerId> = (300_000..310_000).map(CustomerId).filter(|&c| e.is_customer(c)).collect();
            e.tag_pairs(live.into_iter().map(|c| (c, "c"))).unwrap();
        }),
        ("optimize", |e| e.optimize()),
        ("rename", |e| e.rename_tag("c", "c2").and_then(|_| e.rename_tag("c2", "c")).unwrap()),
    ];
    for (what, change) in changes {
        let before = fresh_counts(&e);
        for q in QUERIES {
            e.count(q).unwrap(); // make the views
        }
        assert_eq!(QUERIES.iter().map(|q| e.count(*q).unwrap()).collect::<Vec<_>>(), before, "{what}: before");
        change(&mut e);
        let got: Vec<u64> = QUERIES.iter().map(|q| e.count(*q).unwrap()).collect();
        assert_eq!(got, fresh_counts(&e), "{what}: the views followed the change");
    }
}
