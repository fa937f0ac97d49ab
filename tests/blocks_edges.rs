//! Per-block evaluation and container decoding, edge cases by hand, checked like the random
//! queries of `blocks.rs` (against a plain bit vector, on every way of reading a result):
//! empty operands, the same tag used twice in one query, `NOT` of a 3-way `OR`, a full block,
//! ids at `u32::MAX`, `write_ids` of a result that is exactly one full block, per-block
//! results at the array / bitset boundary, and a bitset in the top block.

mod common;

use audience::{CustomerId, Engine};
use common::blocks::{Bits, LOW_END, TOP, UNIVERSE, check_query, register_regions};

// ------------------------------------------------------------------ edge cases by hand

/// `check_query` for plain tests.
fn expect(e: &Engine, text: &str, want: &[u32]) -> bool {
    let mut b = Bits::empty();
    want.iter().for_each(|&id| {
        b.insert(id);
    });
    assert_eq!(b.ids(), want, "the expectation of {text} must be sorted and distinct");
    check_query(e, text, &b, e.customer_count()).unwrap_or_else(|err| panic!("{err}"))
}

/// An engine with both regions live and the given tags (bulk loaded, in this order).
fn engine_with(tags: &[(&str, Vec<u32>)]) -> Engine {
    let mut e = Engine::new();
    register_regions(&mut e);
    for (name, ids) in tags {
        let t = e.ensure_tag(name).unwrap();
        e.tag_id_pairs(ids.iter().map(|&id| (CustomerId(id), t))).unwrap();
    }
    e
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Every third id of a block: a bitset container.
fn dense(block: u32) -> Vec<u32> {
    (block << 16..=(block << 16 | 0xFFFF)).step_by(3).collect()
}

#[test]
fn or_of_empty_tags_is_empty() {
    let e = engine_with(&[("e0", vec![]), ("e1", vec![]), ("e2", vec![]), ("x", dense(1))]);
    assert!(expect(&e, "e0 OR e1 OR e2", &[]), "a 3-way OR runs per block");
    expect(&e, "(e0 OR e1) OR (e2 OR e0)", &[]);
    expect(&e, "e0 OR e1 OR e2 OR x", &dense(1));
    let everyone: Vec<u32> = e.customers().to_ids();
    assert_eq!(everyone.len(), UNIVERSE);
    expect(&e, "NOT (e0 OR e1 OR e2)", &everyone);
    let mut out = vec![1, 2, 3];
    e.query("e0 OR e1 OR e2").unwrap().write_ids(&mut out);
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn and_with_an_empty_operand_is_empty() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let big: Vec<u32> = (0..LOW_END).collect();
    let e = engine_with(&[("full", full), ("big", big), ("d", dense(1)), ("empty", vec![])]);
    for text in [
        "full AND big AND empty",
        "empty AND full AND big",
        "full AND empty AND d",
        "(full OR d) AND big AND empty",
        "full AND d AND big AND NOT big",
        "full AND d AND NOT empty AND empty",
    ] {
        expect(&e, text, &[]);
    }
    expect(&e, "full AND big AND d", &dense(1));
    expect(&e, "full AND big AND d AND NOT empty", &dense(1));
}

#[test]
fn not_of_a_three_way_or_is_the_complement_within_live_customers() {
    let a: Vec<u32> = (1_000..70_000).collect(); // runs across a block boundary
    let b = dense(2);
    let c: Vec<u32> = vec![5, 65_535, TOP, TOP + 1, u32::MAX - 1, u32::MAX];
    let mut e = engine_with(&[("a", a.clone()), ("b", b.clone()), ("c", c.clone())]);
    // Removed customers match no NOT: one tagged, one untagged, one in the top block.
    for gone in [1_500, 150_001, u32::MAX - 2] {
        e.remove_customer(CustomerId(gone)).unwrap();
    }
    let live: Vec<u32> = e.customers().to_ids();
    assert_eq!(live.len(), UNIVERSE - 3);
    let or = sorted([a, b, c].concat().into_iter().filter(|id| ![1_500, 150_001, u32::MAX - 2].contains(id)).collect());
    assert!(expect(&e, "a OR b OR c", &or));
    let not: Vec<u32> = live.iter().copied().filter(|id| or.binary_search(id).is_err()).collect();
    assert!(expect(&e, "NOT (a OR b OR c)", &not), "NOT of a 3-way OR runs per block");
    expect(&e, "NOT a AND NOT b AND NOT c", &not);
    expect(&e, "NOT (a OR b OR c) OR NOT (c OR b OR a)", &not);
    assert_eq!(e.count("NOT (a OR b OR c)").unwrap() + e.count("a OR b OR c").unwrap(), e.customer_count());
}

#[test]
fn the_same_tag_twice_in_one_query() {
    // t0: a run across blocks 0-1, a bitset in block 2, a few ids at the top;
    // t1: a bitset in block 1, a run in block 2, an array at the top.
    let t0 = sorted([(60_000..70_000).collect::<Vec<u32>>(), dense(2), vec![TOP, u32::MAX]].concat());
    let t1 = sorted([dense(1), (140_000..150_000).collect(), vec![TOP + 7, u32::MAX]].concat());
    let e = engine_with(&[("t0", t0.clone()), ("t1", t1.clone())]);
    expect(&e, "t0 AND t1 AND NOT t0", &[]);
    expect(&e, "t0 AND NOT t0 AND t1", &[]);
    expect(&e, "t0 AND t0 AND t0", &t0);
    expect(&e, "t0 OR t0 OR t0", &t0);
    let xor: Vec<u32> = sorted(
        t0.iter()
            .filter(|x| t1.binary_search(x).is_err())
            .chain(t1.iter().filter(|x| t0.binary_search(x).is_err()))
            .copied()
            .collect(),
    );
    assert!(expect(&e, "(t0 AND NOT t1) OR (t1 AND NOT t0)", &xor), "the symmetric difference runs per block");
    expect(&e, "(t0 OR t1) AND NOT (t0 AND t1)", &xor);
    let both: Vec<u32> = t0.iter().copied().filter(|x| t1.binary_search(x).is_ok()).collect();
    assert!(both.len() > 1_000, "the tags overlap");
    expect(&e, "(t0 OR t1) AND NOT ((t0 AND NOT t1) OR (t1 AND NOT t0))", &both);
}

#[test]
fn a_full_block_or_sparse_tags() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let s1: Vec<u32> = vec![0, 3, 65_535, 131_072, 131_073, 199_999];
    let s2: Vec<u32> = vec![70_000, 196_608, TOP, u32::MAX];
    let e = engine_with(&[("full", full.clone()), ("s1", s1.clone()), ("s2", s2.clone())]);
    let want = sorted([full.clone(), s1, s2].concat());
    assert!(expect(&e, "full OR s1 OR s2", &want));
    expect(&e, "s2 OR full OR s1", &want);
    expect(&e, "full AND (s1 OR s2 OR full)", &full);
    expect(&e, "full AND NOT s1 AND NOT s2", &full.iter().copied().filter(|&x| x != 70_000).collect::<Vec<_>>());
    expect(&e, "(s1 OR s2) AND NOT full", &[0, 3, 65_535, 131_072, 131_073, 196_608, 199_999, TOP, u32::MAX]);
}

#[test]
fn ids_at_the_top_of_u32() {
    let top: Vec<u32> = vec![0, 65_535, TOP, 0xFFFF_0000, u32::MAX - 1, u32::MAX];
    let top_run: Vec<u32> = (u32::MAX - 40_000..=u32::MAX).collect();
    let top_dense = dense(0xFFFF);
    let e = engine_with(&[("a", top.clone()), ("b", top_run.clone()), ("c", top_dense.clone())]);
    expect(&e, "a", &top);
    expect(&e, "b", &top_run);
    assert!(expect(&e, "a OR b OR c", &sorted([top.clone(), top_run.clone(), top_dense.clone()].concat())));
    let abc: Vec<u32> = top
        .iter()
        .copied()
        .filter(|x| top_run.binary_search(x).is_ok() && top_dense.binary_search(x).is_ok())
        .collect();
    expect(&e, "a AND b AND c", &abc);
    expect(&e, "b AND c AND a", &abc);
    let b_only: Vec<u32> = top_run
        .iter()
        .copied()
        .filter(|x| top.binary_search(x).is_err() && top_dense.binary_search(x).is_err())
        .collect();
    expect(&e, "b AND NOT a AND NOT c", &b_only);
    assert_eq!(*e.query("a OR b OR c").unwrap().to_ids().last().unwrap(), u32::MAX);
    // The whole top block: full, and the last result id is u32::MAX.
    let full_top: Vec<u32> = (0xFFFF_0000..=u32::MAX).collect();
    let mut e = e;
    let f = e.ensure_tag("f").unwrap();
    e.tag_id_pairs(full_top.iter().map(|&id| (CustomerId(id), f))).unwrap();
    expect(&e, "f OR a OR c", &sorted([full_top.clone(), top.clone()].concat()));
    expect(
        &e,
        "f AND NOT (a OR b)",
        &full_top.iter().copied().filter(|x| *x < u32::MAX - 40_000 && !top.contains(x)).collect::<Vec<_>>(),
    );
}

#[test]
fn write_ids_of_one_full_block_lists_all_65536_ids() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let halves = [(65_536..98_304).collect::<Vec<u32>>(), (98_304..131_072).collect()];
    let e = engine_with(&[
        ("full", full.clone()),
        ("lo", halves[0].clone()),
        ("hi", halves[1].clone()),
        ("odd", (65_537..131_072).step_by(2).collect()),
        ("even", (65_536..131_072).step_by(2).collect()),
        ("d", dense(1)),
        ("first", vec![65_536]),
        ("last", vec![131_071]),
    ]);
    for text in [
        "full",
        "lo OR hi",
        "lo OR hi OR d",
        "odd OR even OR d",
        "full AND (lo OR hi) AND (odd OR even)",
        "full OR lo OR d",
    ] {
        expect(&e, text, &full);
        let a = e.query(text).unwrap();
        let mut out = vec![42];
        a.write_ids(&mut out);
        assert_eq!(out.len(), 1 + 65_536, "{text}");
        assert_eq!(out[0], 42);
        assert!(out[1..].iter().copied().eq(65_536..131_072), "{text}");
    }
    assert!(e.explain("odd OR even OR d").unwrap().per_block);
    // A full block minus its last id, and minus its first: nearly full bitsets.
    expect(&e, "(odd OR even OR d) AND NOT last", &(65_536..131_071).collect::<Vec<_>>());
    expect(&e, "(odd OR even OR d) AND NOT first", &(65_537..131_072).collect::<Vec<_>>());
    expect(&e, "(odd OR even OR d) AND NOT first AND NOT last OR first OR last", &full);
    let e2 = engine_with(&[("a", (65_536..131_071).collect()), ("b", vec![]), ("c", vec![65_540])]);
    expect(&e2, "a OR b OR c", &(65_536..131_071).collect::<Vec<_>>());
}

#[test]
fn block_results_at_the_array_bitset_boundary() {
    // Per-block results of 4,095 / 4,096 / 4,097 ids (array or bitset) and other sizes,
    // every other id of a block, split over three tags; at the bottom and at the top of u32.
    for base in [65_536u32, 0xFFFF_0000] {
        for n in [1u32, 3, 4, 5, 4_095, 4_096, 4_097, 32_767, 32_768] {
            let ids: Vec<u32> = (0..n).map(|i| base + 2 * i).collect();
            let part = |k: u32| ids.iter().copied().filter(|id| id / 2 % 3 == k).collect::<Vec<u32>>();
            let e = engine_with(&[("a", part(0)), ("b", part(1)), ("c", part(2)), ("all", ids.clone())]);
            assert!(expect(&e, "a OR b OR c", &ids), "{n} at {base}");
            expect(&e, "all AND (a OR b OR c) AND NOT (a AND b)", &ids);
        }
    }
}

/// Regression: decoding a bitset container of the top block (`0xFFFF_0000..`) whose last
/// 64-id word holds a count of ids that is not a multiple of four (here: none) computed
/// `0xFFFF_FFC0 + 64` for the word decoder's unconditional slack writes, a `u32` overflow:
/// a panic with overflow checks (debug builds), before 44be6c1.
#[test]
fn write_ids_of_a_bitset_in_the_top_block() {
    let mut e = Engine::new();
    e.customer_id_range(0xFFFF_0000..u32::MAX).unwrap();
    let t = e.ensure_tag("d").unwrap();
    // 5,000 ids (a bitset), none in the last word (ids u32::MAX - 63..=u32::MAX).
    let ids: Vec<u32> = (0..5_000).map(|i| 0xFFFF_0000 + 13 * i).collect();
    e.tag_id_pairs(ids.iter().map(|&id| (CustomerId(id), t))).unwrap();
    assert_eq!(e.query("d").unwrap().to_ids(), ids);
}
