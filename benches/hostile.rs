//! The inputs of issue 10 ("hostile input") at full size, timed: what an unknown name costs
//! among a million tags, what a query on a parent of 200,000 children costs (cached, and
//! rebuilt after a removal it cannot follow), what parsing the longest query costs, and how
//! fast over-long input is refused.
//!
//! ```text
//! cargo bench --bench hostile      # about 40 s, most of it building the engines
//! ```
//!
//! `tests/hostile.rs` checks the same inputs for correctness and bounded memory at smaller
//! sizes.

use std::hint::black_box;
use std::time::Duration;

use audience::{CustomerId, Engine, Error, MAX_QUERY_LEN, MAX_QUERY_TERMS, Query};
use criterion::{Criterion, criterion_group, criterion_main};

/// An engine with `n` tags `prefix0` .. `prefix{n-1}`, one customer each.
fn engine_with_tags(n: u32, prefix: &str) -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..n + 1).expect("ids");
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    e.tag_pairs(names.iter().enumerate().map(|(i, t)| (CustomerId(i as u32), t.as_str()))).expect("load");
    e
}

fn benches(c: &mut Criterion) {
    let tags = engine_with_tags(1_000_000, "t");
    let s = tags.stats();
    eprintln!(
        "1M tags: pool {:.1} bytes per tag, bitmaps {:.1} (serialized), {:.1} in all",
        s.pool_bytes as f64 / s.tags as f64,
        s.bitmap_bytes as f64 / s.tags as f64,
        s.bytes_per_tag()
    );
    let mut g = c.benchmark_group("unknown_tag_1M_tags");
    for (name, text) in [("typo", "t12345x"), ("case", "T123456"), ("absent", "nosuchtag"), ("word_typo", "vpi")] {
        let q = Query::parse(text).expect("parses");
        g.bench_function(name, |b| {
            b.iter(|| match tags.count(black_box(&q)) {
                Err(Error::UnknownTag { suggestions, .. }) => suggestions.len(),
                other => panic!("{other:?}"),
            })
        });
    }
    g.finish();
    drop(tags);

    let mut parent = engine_with_tags(200_000, "p/c");
    let p = Query::parse("p").expect("parses");
    let mut g = c.benchmark_group("parent_200k_children");
    g.bench_function("count", |b| b.iter(|| parent.count(black_box(&p)).expect("count")));
    g.bench_function("count_p_and_not_child", |b| {
        let q = Query::parse("p AND NOT p/c7").expect("parses");
        b.iter(|| parent.count(black_box(&q)).expect("count"))
    });
    // A removal under a parent of more than 1,024 children drops its union: the count after
    // it rebuilds the union from the children.
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("untag_tag_count_rebuild", |b| {
        b.iter(|| {
            parent.untag(CustomerId(7), "p/c7").expect("untag");
            parent.tag(CustomerId(7), "p/c7").expect("tag");
            parent.count(black_box(&p)).expect("count")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("query_text");
    let longest = vec!["t1"; MAX_QUERY_TERMS].join(" OR ");
    assert!(longest.len() <= MAX_QUERY_LEN);
    g.bench_function("parse_131072_terms", |b| b.iter(|| Query::parse(black_box(&longest)).expect("parses")));
    let huge = vec!["t1"; 12_000_000].join(" OR ");
    g.bench_function("refuse_69MB", |b| b.iter(|| Query::parse(black_box(&huge)).unwrap_err()));
    let deep = vec!["l"; 40_000].join("/");
    g.bench_function("refuse_40000_levels", |b| b.iter(|| parent.tag_id(black_box(&deep))));
    g.finish();
}

criterion_group! {
    name = hostile;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = benches
}
criterion_main!(hostile);
