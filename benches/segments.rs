//! Segment plans, rule tags and the change feed at 10M customers and 1,000 tags (the
//! synthetic data of `common/synth.rs`, seed 42).
//!
//! ```text
//! cargo bench --bench segments                # everything, about 3 minutes on 2 cores
//! cargo bench --bench segments -- segment_    # one group
//! AUDIENCE_BENCH_CUSTOMERS=1000000 cargo bench --bench segments   # a smaller run
//! ```
//!
//! Groups (named with the scale, `segment_10M`):
//!
//! - `segment`: a 20-rule plan (`s{i}: t{2i+1} AND NOT t{2i+2}`, fallback `rest`): its 20
//!   queries evaluated alone, `segment` of the plan (the target: about those 20 queries
//!   plus one pass of differences), and `apply_plan` of the same plan again when nobody
//!   moved, after 0.1% and after 1% of the customers were touched (it evaluates only the
//!   touched customers: the cost should follow them, not the 10M). Each `apply_plan` run
//!   gets its own clone of the engine, made untimed.
//! - `rules`: `refresh_rules` of 20 rule tags (the same 20 queries), after 1% moved.
//! - `describe`: what makes a 10% audience (every tenth customer) different over the 1,000
//!   tags: one intersection count per tag, on the default threads and on one.
//! - `compare`: that audience against every third customer, over the 1,000 tags.
//! - `profile`: one customer's profile (the customer index's row, probes of the tags dense
//!   in the block, and each layer's lookups), random customers and one.
//! - `feed`: `tag_pairs` of 50M (customer, tag) pairs into a fresh engine with the change
//!   feed off and on (its overhead on the biggest batch an engine sees).

use std::hint::black_box;
use std::time::Duration;

use audience::roaring::RoaringBitmap;
use audience::{Audience, CustomerId, DescribeOptions, Engine, SegmentPlan};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};

#[path = "common/synth.rs"]
mod synth;

const TAGS: usize = 1_000;
const SEED: u64 = 42;
const FEED_PAIRS: usize = 50_000_000;

fn customers() -> u32 {
    std::env::var("AUDIENCE_BENCH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000)
}

fn benches(c: &mut Criterion) {
    let n = customers();
    let per_tag = synth::generate(n, TAGS, SEED);
    let pairs: usize = per_tag.iter().map(Vec::len).sum();
    let engine = synth::build(n, &per_tag);
    eprintln!("synthetic data: {n} customers, {TAGS} tags, {pairs} pairs");

    let rules: Vec<(String, String)> =
        (0..20).map(|i| (format!("s{i}"), format!("t{} AND NOT t{}", 2 * i + 1, 2 * i + 2))).collect();
    let plan = SegmentPlan::new(rules.iter().map(|(n, q)| (n.as_str(), q.as_str())), "rest").expect("plan");
    let mut applied = engine.clone();
    applied.apply_plan("plan", &plan).expect("apply");
    // 1% of the customers gain t1, so those who had neither t1 nor t2 enter s0.
    let step = 100;
    let movers: Vec<(CustomerId, &str)> = (0..n / step).map(|i| (CustomerId(i * step), "t1")).collect();
    let moved = {
        let mut e = applied.clone();
        e.tag_pairs(movers.iter().copied()).expect("tag");
        e
    };
    // 0.1% of the customers gain t1: applying again evaluates only them.
    let few = {
        let mut e = applied.clone();
        e.tag_pairs((0..n / 1000).map(|i| (CustomerId(i * 1000), "t1"))).expect("tag");
        e
    };
    let diff = moved.clone().apply_plan("plan", &plan).expect("apply");
    let moving: u64 = diff.moves().iter().map(|m| m.audience.len()).sum();
    eprintln!("apply_plan after tagging {} customers with t1: {moving} moved", movers.len());

    let scale = format!("{}M", n / 1_000_000);
    let mut g = c.benchmark_group(format!("segment_{scale}"));
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.bench_function("20_rule_queries_alone", |b| {
        b.iter(|| plan.rules().iter().map(|r| engine.select(black_box(r.query())).expect("select").len()).sum::<u64>())
    });
    g.bench_function("segment_20_rules", |b| b.iter(|| engine.segment(black_box(&plan)).expect("segment")));
    // The differences alone, on the 20 results computed once: what `segment` adds to the
    // queries (per rule one difference with what earlier rules took, one union into it,
    // then the fallback).
    let results: Vec<RoaringBitmap> =
        plan.rules().iter().map(|r| engine.select(r.query()).expect("select").bitmap().clone()).collect();
    let live = engine.customers().bitmap().clone();
    g.bench_function("first_match_differences_alone", |b| {
        b.iter_batched(
            || results.clone(),
            |results| {
                let mut taken = RoaringBitmap::new();
                let mut out = Vec::with_capacity(results.len() + 1);
                for bits in results {
                    let mine = bits - &taken;
                    taken |= &mine;
                    out.push(mine);
                }
                out.push(&live - &taken);
                out
            },
            BatchSize::LargeInput,
        )
    });
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("apply_plan_nobody_moved", |b| {
        b.iter_batched(
            || applied.clone(),
            |mut e| (e.apply_plan("plan", black_box(&plan)).expect("apply"), e),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("apply_plan_after_0.1pct_moved", |b| {
        b.iter_batched(
            || few.clone(),
            |mut e| (e.apply_plan("plan", black_box(&plan)).expect("apply"), e),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("apply_plan_after_1pct_moved", |b| {
        b.iter_batched(
            || moved.clone(),
            |mut e| (e.apply_plan("plan", black_box(&plan)).expect("apply"), e),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // What makes a 10% audience different, over the 1,000 tags (profiles issue, part 2).
    let tenth: Audience = (0..n).step_by(10).map(CustomerId).collect();
    let mut g = c.benchmark_group(format!("describe_{scale}"));
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("describe_10pct_audience_1000_tags", |b| {
        b.iter(|| engine.describe(black_box(&tenth), &DescribeOptions::new()))
    });
    g.bench_function("describe_10pct_audience_1000_tags_1_thread", |b| {
        b.iter(|| engine.describe(black_box(&tenth), DescribeOptions::new().threads(1)))
    });
    let third: Audience = (0..n).step_by(3).map(CustomerId).collect();
    g.bench_function("compare_10pct_and_33pct_audiences_1000_tags", |b| {
        b.iter(|| engine.compare(black_box(&tenth), black_box(&third)))
    });
    g.finish();

    // One customer's profile. Customers at random over the 153 blocks: the customer index
    // is built for a block at its second read (criterion's warm-up does that), so this is
    // the steady state of a profile service; then one customer again and again.
    let mut g = c.benchmark_group(format!("profile_{scale}"));
    g.sample_size(50).measurement_time(Duration::from_secs(3));
    let mut rng = synth::Rng::stream(SEED, 7);
    let random: Vec<CustomerId> = (0..4096).map(|_| CustomerId(rng.below_or_eq(n - 1))).collect();
    let mut next = 0;
    g.bench_function("random_customer", |b| {
        b.iter(|| {
            next = (next + 1) % random.len();
            engine.profile(black_box(random[next])).expect("live")
        })
    });
    g.bench_function("middle_customer", |b| b.iter(|| engine.profile(black_box(CustomerId(n / 2))).expect("live")));
    g.finish();

    let mut ruled = applied.clone();
    for (name, query) in &rules {
        ruled.define_rule_tag(&format!("rule_{name}"), query.as_str()).expect("rule");
    }
    ruled.tag_pairs(movers.iter().copied()).expect("tag");
    let mut g = c.benchmark_group(format!("rules_{scale}"));
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(3));
    g.bench_function("refresh_rules_20_rules_and_the_plan_after_1pct_moved", |b| {
        b.iter_batched(|| ruled.clone(), |mut e| (e.refresh_rules().expect("refresh_rules"), e), BatchSize::LargeInput)
    });
    g.finish();
    drop((engine, applied, moved, few, ruled));

    // 50M pairs (the tags' members in tag order, cut at 50M) into a fresh engine of `n`
    // customers, with the feed off and on.
    let names: Vec<String> = (0..TAGS).map(|k| format!("t{k}")).collect();
    let feed_pairs: Vec<(CustomerId, &str)> = per_tag
        .iter()
        .zip(&names)
        .flat_map(|(ids, name)| ids.iter().map(move |&c| (CustomerId(c), name.as_str())))
        .take(FEED_PAIRS)
        .collect();
    drop(per_tag);
    let fresh = {
        let mut e = Engine::new();
        e.customer_id_range(0..n).expect("dense ids");
        e
    };
    let mut g = c.benchmark_group(format!("feed_{scale}"));
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(20));
    for on in [false, true] {
        let name = format!("tag_pairs_{}M_feed_{}", feed_pairs.len() / 1_000_000, if on { "on" } else { "off" });
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut e = fresh.clone();
                    e.track_changes(on);
                    e
                },
                |mut e| {
                    e.tag_pairs(feed_pairs.iter().copied()).expect("tag_pairs");
                    e
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(segments, benches);
criterion_main!(segments);
