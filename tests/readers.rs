//! Concurrent readers: a view taken with `Engine::reader` is the engine as of that moment,
//! whatever the writer does afterwards, and taking views changes nothing for the writer.
//!
//! - A model test: random operations over every layer (`common::ops`), views taken at random
//!   points after reads that fill the caches views share (dense views, the customer index,
//!   the census, subtree unions, the pending-purchase index); every view still shows, at the
//!   end, exactly what the engine showed when it was taken, and the writer ends where a twin
//!   engine that took no views ends.
//! - Dense tags, where the writer changes shared views of bitset containers in place unless
//!   a view holds them: one-customer writes after a view leave the view's counts alone.
//! - A stress test: one writer thread and several reader threads; every answer a reader gets
//!   from a view is the answer the writer recorded for that version.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use audience::{Audience, CustomerId, DescribeOptions, Engine, Money, Reader, TagKind};
use common::ops::{Op, apply, day, observe, op};
use common::{Rng, config};
use proptest::prelude::*;

#[test]
fn a_reader_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Reader>();
}

/// The reads that fill every cache a view shares with the engine.
fn warm(e: &Engine) {
    for q in ["vip", "sports", "vip OR 高消费", "sports AND NOT tier:gold", "age > 10"] {
        let _ = e.count(q);
        let _ = e.count(q);
    }
    if let Ok(a) = e.query("vip OR sports") {
        let _ = e.describe(&a, &DescribeOptions::default());
        let _ = e.describe(&a, &DescribeOptions::default());
    }
    for c in e.customers().iter().take(20) {
        let _ = e.tags_of(c);
        let _ = e.tags_of(c);
        let _ = e.purchases_of(c);
    }
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn a_view_keeps_the_state_it_was_taken_at(
        ops in prop::collection::vec((op(), any::<bool>()), 0..80),
    ) {
        let mut e = Engine::new();
        let mut twin = Engine::new();
        for x in [&mut e, &mut twin] {
            x.define_exclusive_group("tier").unwrap();
            x.define_tag("coupon", TagKind::Behavior).unwrap();
        }
        let mut views: Vec<(Reader, String)> = Vec::new();
        for (op, take) in &ops {
            apply(&mut e, op);
            apply(&mut twin, op);
            if *take {
                warm(&e);
                views.push((e.reader(), observe(&e)));
            }
            // An earlier view, read while the writer goes on, still shows its moment.
            if let Some((v, seen)) = views.first() {
                prop_assert_eq!(&observe(v), seen);
            }
        }
        for (i, (v, seen)) in views.iter().enumerate() {
            prop_assert_eq!(&observe(v), seen, "view {} of {}", i, views.len());
        }
        prop_assert_eq!(observe(&e), observe(&twin));
        // A view goes on like the engine it was taken from: a clone of it is an engine.
        if let Some((v, _)) = views.last() {
            let mut again = Engine::clone(v);
            let mut fork = Engine::clone(v);
            for op in [Op::Refresh(450), Op::Plan, Op::RuleTag, Op::Expire(30)] {
                apply(&mut again, &op);
                apply(&mut fork, &op);
            }
            prop_assert_eq!(observe(&again), observe(&fork));
        }
    }
}

/// An engine of `n` customers with dense tags (views of bitset containers), a hierarchy,
/// an attribute and purchases.
fn dense(n: u32) -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..n).unwrap();
    let every = |k: u32| -> Audience { (0..n).filter(|c| c % k != 0).map(CustomerId).collect() };
    e.tag_all(&every(3), "dense").unwrap();
    e.tag_all(&every(5), "sports/run").unwrap();
    e.tag_all(&every(7), "sports/bike").unwrap();
    e.tag_all(&(0..n).step_by(97).map(CustomerId).collect(), "sparse").unwrap();
    let values: Vec<(CustomerId, &str, i64)> = (0..n).map(|c| (CustomerId(c), "age", i64::from(c % 90))).collect();
    e.set_attrs(values).unwrap();
    for c in (0..n).step_by(11) {
        e.record_purchase(CustomerId(c), day(c as i32 % 300), Money::from_minor(1_000 + i64::from(c)).unwrap())
            .unwrap();
    }
    e.refresh(day(400)).unwrap();
    e
}

/// What the tests below compare: counts of queries over every layer.
fn answers(e: &Engine) -> Vec<u64> {
    let queries = [
        "dense",
        "sports",
        "sports/run AND NOT sports/bike",
        "sparse OR dense",
        "age >= 45",
        "dense AND age < 10",
        "rfm:champions OR lifecycle:active",
    ];
    let mut out: Vec<u64> = queries.iter().map(|q| e.count(q).unwrap_or(u64::MAX)).collect();
    out.push(e.customer_count());
    out.push(e.purchase_count());
    // One customer's reads (the customer index, the pending-purchase index) and an
    // audience's (the census), built by whichever thread reads first.
    for c in [1, 2, 65_537, 99_999].map(CustomerId) {
        let tags = e.tags_of(c).map_or(u64::MAX, |t| t.iter().map(|t| t.len() as u64 + 1).sum());
        out.extend([tags, e.purchases_of(c).map_or(u64::MAX, |p| p.len() as u64)]);
    }
    let sporty = e.query("sports").expect("a query");
    let d = e.describe(&sporty, &DescribeOptions::default());
    out.extend(d.tags.iter().flat_map(|t| [t.count, t.total]));
    out
}

#[test]
fn one_customer_writes_after_a_view_leave_its_dense_views_alone() {
    let n = 300_000;
    let mut e = dense(n);
    // Twice: the second count reads the views the first made.
    let before = answers(&e);
    assert_eq!(answers(&e), before);
    let view = e.reader();
    let tags_of_7: Vec<String> = view.tags_of(CustomerId(7)).unwrap().into_iter().map(str::to_owned).collect();
    // Writes the engine would apply to its views in place (one id in a bitset container).
    for c in [0, 3, 6, 9, 65_536 * 2 + 1] {
        assert!(e.tag(CustomerId(c), "dense").unwrap());
    }
    for c in [1, 2, 70_001] {
        assert!(e.untag(CustomerId(c), "sports/run").unwrap());
    }
    e.untag(CustomerId(7), "dense").unwrap();
    e.set_attr(CustomerId(8), "age", 99).unwrap();
    e.record_purchase(CustomerId(7), day(350), Money::from_minor(500).unwrap()).unwrap();
    e.remove_customer(CustomerId(4)).unwrap();
    e.customer("new@example.com").unwrap();
    let after = answers(&e);
    assert_ne!(after, before, "the writer moved on");
    assert_eq!(answers(&view), before, "the view did not");
    assert_eq!(view.tags_of(CustomerId(7)).unwrap(), tags_of_7);
    assert_eq!(view.attr(CustomerId(8), "age").unwrap(), Some(8));
    // A view saves the state it holds, while the writer goes on.
    let path = std::env::temp_dir().join(format!("audience-reader-{}.snap", std::process::id()));
    view.save(&path).unwrap();
    let opened = Engine::open(&path).unwrap();
    assert_eq!(answers(&opened), before);
    drop(opened);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("snap.journal"));
    // The writer's own answers are those of an engine that never had a view.
    let mut fresh = dense(n);
    for c in [0, 3, 6, 9, 65_536 * 2 + 1] {
        fresh.tag(CustomerId(c), "dense").unwrap();
    }
    for c in [1, 2, 70_001] {
        fresh.untag(CustomerId(c), "sports/run").unwrap();
    }
    fresh.untag(CustomerId(7), "dense").unwrap();
    fresh.set_attr(CustomerId(8), "age", 99).unwrap();
    fresh.record_purchase(CustomerId(7), day(350), Money::from_minor(500).unwrap()).unwrap();
    fresh.remove_customer(CustomerId(4)).unwrap();
    fresh.customer("new@example.com").unwrap();
    assert_eq!(answers(&fresh), after);
}

/// What one version of the engine answers, by version number (the attribute `version` of
/// customer 0 holds it, so a reader reads it from the view itself).
type Log = Mutex<BTreeMap<i64, Vec<u64>>>;

fn version(e: &Engine) -> i64 {
    e.attr(CustomerId(0), "version").unwrap().expect("a version")
}

#[test]
fn readers_in_threads_see_only_states_the_writer_had() {
    let n = 140_000;
    let mut e = dense(n);
    e.set_attr(CustomerId(0), "version", 0).unwrap();
    let log: Arc<Log> = Arc::new(Mutex::new(BTreeMap::from([(0, answers(&e))])));
    let latest: Arc<RwLock<Reader>> = Arc::new(RwLock::new(e.reader()));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (log, latest, done, reads) =
                (Arc::clone(&log), Arc::clone(&latest), Arc::clone(&done), Arc::clone(&reads));
            std::thread::spawn(move || {
                let mut checked = 0u64;
                let mut versions = std::collections::BTreeSet::new();
                while !done.load(Ordering::Acquire) || checked == 0 {
                    let view = latest.read().unwrap().clone();
                    // Several reads of one view while the writer goes on: each the same.
                    for _ in 0..1 + t {
                        let v = version(&view);
                        let want = log.lock().unwrap().get(&v).cloned().expect("a version the writer logged");
                        assert_eq!(answers(&view), want, "reader {t}, version {v}");
                        versions.insert(v);
                        checked += 1;
                        reads.fetch_add(1, Ordering::Release);
                    }
                }
                (checked, versions.len())
            })
        })
        .collect();
    let mut rng = Rng::new(7);
    let versions = 60;
    for v in 1..=versions {
        // A batch of writes of every kind, then the version, the log, and a new view.
        for _ in 0..20 {
            let c = CustomerId(1 + rng.below(u64::from(n) - 1) as u32);
            if !e.is_customer(c) {
                continue;
            }
            match rng.below(8) {
                0 => drop(e.tag(c, "dense")),
                1 => drop(e.untag(c, "dense")),
                2 => drop(e.tag(c, "sports/bike")),
                3 => drop(e.untag(c, "sports/run")),
                4 => drop(e.set_attr(c, "age", rng.below(90) as i64)),
                5 => drop(e.record_purchase(c, day(300 + v as i32), Money::from_minor(100).unwrap())),
                6 => drop(e.tag(c, "sparse")),
                _ => drop(e.remove_customer(c)),
            }
        }
        if v % 10 == 0 {
            let a: Audience = (0..n).step_by(13).map(CustomerId).filter(|&c| e.is_customer(c)).collect();
            e.tag_all(&a, "sports/run").unwrap();
            e.refresh(day(400 + v as i32)).unwrap();
        }
        e.set_attr(CustomerId(0), "version", v).unwrap();
        assert_eq!(version(&e), v);
        log.lock().unwrap().insert(v, answers(&e));
        *latest.write().unwrap() = e.reader();
        // Some reads of this version while the writer goes on (readers that are slow to
        // start would otherwise see only the last one).
        let seen = reads.load(Ordering::Acquire);
        let wait = std::time::Instant::now();
        while reads.load(Ordering::Acquire) < seen + 2 && wait.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::yield_now();
        }
    }
    done.store(true, Ordering::Release);
    let mut seen_by_all = std::collections::BTreeSet::new();
    for r in readers {
        let (checked, seen) = r.join().expect("a reader thread panicked");
        assert!(checked > 0 && seen > 0);
        seen_by_all.insert(seen);
    }
    assert!(seen_by_all.iter().sum::<usize>() > 3, "readers read several versions while the writer wrote");
    // The writer's last state is what a view of it shows.
    assert_eq!(answers(&latest.read().unwrap()), answers(&e));
}
