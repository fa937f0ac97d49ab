//! `Audience`, a query's result: iteration in id order (from a cursor, backwards), paging
//! that covers every id once whatever the page size, `write_ids` for every container kind,
//! set algebra with `Audience` operands, and results as snapshots of the engine.

mod common;

use audience::{Audience, CustomerId, Engine, Iter, Page};
use common::{Result, config};

// ---------------------------------------------------------------- Audience

#[test]
fn audience_iteration_and_paging() {
    let a: Audience = [10, 3, 7, 1, 2, 70_000, 3].into_iter().map(CustomerId).collect();
    assert_eq!(a.len(), 6);
    assert!(!a.is_empty());
    assert!(Audience::new().is_empty());
    let asc: Vec<u32> = a.iter().map(CustomerId::get).collect();
    assert_eq!(asc, [1, 2, 3, 7, 10, 70_000]);
    assert_eq!(a.iter().len_hint(), 6);
    assert_eq!(a.iter().rev().map(u32::from).collect::<Vec<_>>(), [70_000, 10, 7, 3, 2, 1]);
    assert_eq!((&a).into_iter().count(), 6);
    assert_eq!(a.to_ids(), asc);
    let mut out = vec![0];
    a.write_ids(&mut out);
    assert_eq!(out, [0, 1, 2, 3, 7, 10, 70_000]);
    assert_eq!((a.first(), a.last()), (Some(CustomerId(1)), Some(CustomerId(70_000))));
    assert_eq!((Audience::new().first(), Audience::new().last()), (None, None));
    assert!(a.contains(CustomerId(7)) && !a.contains(CustomerId(8)));

    assert_eq!(a.iter_from(CustomerId(3)).map(u32::from).collect::<Vec<_>>(), [7, 10, 70_000]);
    assert_eq!(a.iter_from(CustomerId(4)).map(u32::from).collect::<Vec<_>>(), [7, 10, 70_000]);
    assert_eq!(a.iter_from(CustomerId(70_000)).count(), 0);

    // Pages cover the audience once, in order, for any page size.
    for limit in 1..=7 {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = a.page(cursor, limit);
            assert!(page.ids.len() <= limit);
            assert!(!page.ids.is_empty(), "limit {limit}: an empty page");
            seen.extend(page.ids.iter().map(|c| c.get()));
            pages += 1;
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), page.ids.last());
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, asc, "limit {limit}");
        assert_eq!(pages, asc.len().div_ceil(limit), "limit {limit}");
    }
    // A cursor is a value, not a position: any id works.
    assert_eq!(
        a.page(Some(CustomerId(5)), 2),
        Page { ids: vec![CustomerId(7), CustomerId(10)], next: Some(CustomerId(10)) }
    );
    assert_eq!(a.page(Some(CustomerId(10)), 5), Page { ids: vec![CustomerId(70_000)], next: None });
    assert_eq!(Audience::new().page(None, 3), Page::default());
}

/// Exact size hint, as a plain method so the test reads well.
trait LenHint {
    fn len_hint(&self) -> usize;
}
impl LenHint for Iter<'_> {
    fn len_hint(&self) -> usize {
        let (lo, hi) = self.size_hint();
        assert_eq!(Some(lo), hi, "exact size hint");
        lo
    }
}

#[test]
fn audience_set_algebra() {
    let set = |xs: &[u32]| -> Audience { xs.iter().copied().map(CustomerId).collect() };
    let a = set(&[1, 2, 3, 10]);
    let b = set(&[2, 3, 4]);
    assert_eq!(&a & &b, set(&[2, 3]));
    assert_eq!(&a | &b, set(&[1, 2, 3, 4, 10]));
    assert_eq!(&a - &b, set(&[1, 10]));
    assert_eq!(&b - &a, set(&[4]));
    assert_eq!(&a ^ &b, set(&[1, 4, 10]));
    assert_eq!(a.clone() & b.clone(), a.intersection(&b));
    assert_eq!(a.clone() | b.clone(), a.union(&b));
    assert_eq!(a.clone() - b.clone(), a.difference(&b));
    assert_eq!(a.clone() ^ b.clone(), a.symmetric_difference(&b));
    assert_eq!(a.intersection_len(&b), 2);
    assert_eq!(&a & &Audience::new(), Audience::new());
    assert_eq!(&a | &Audience::new(), a);

    let mut c = a.clone();
    c.extend([CustomerId(4), CustomerId(1)]);
    assert_eq!(c, set(&[1, 2, 3, 4, 10]));
    let bits: roaring::RoaringBitmap = c.clone().into();
    assert_eq!(Audience::from(bits.clone()), c);
    assert_eq!(c.bitmap(), &bits);
    assert_eq!(c.into_bitmap(), bits);

    // Snapshots: later changes to the engine do not change an audience.
    let mut engine = Engine::new();
    let x = engine.customer("x").unwrap();
    engine.tag(x, "vip").unwrap();
    let vips = engine.query("vip").unwrap();
    engine.untag(x, "vip").unwrap();
    assert_eq!(vips.to_ids(), [x.get()]);
    assert_eq!(engine.query("vip").unwrap(), Audience::new());
}

// ------------------------------------------------------------------ paging

fn all_pages(a: &Audience, limit: usize) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = a.page(cursor, limit);
        cursor = page.next;
        pages.push(page);
        if cursor.is_none() || pages.len() > a.len() as usize + 1 {
            return pages;
        }
    }
}

#[test]
fn pages_cover_every_id_exactly_once() {
    // Ids across roaring containers, at both ends of u32, and in runs.
    let mut raw: Vec<u32> = vec![0, 1, 2, 3, 65_535, 65_536, 65_537, 1 << 20, u32::MAX - 1, u32::MAX];
    raw.extend(100_000..100_050);
    raw.extend((200_000..210_000).step_by(7));
    let a: Audience = raw.iter().copied().map(CustomerId).collect();
    let want: Vec<CustomerId> = a.iter().collect();
    assert_eq!(want.len(), a.len() as usize);
    for limit in [1, 2, 3, 7, 64, 1000, want.len(), want.len() + 1] {
        let pages = all_pages(&a, limit);
        let got: Vec<CustomerId> = pages.iter().flat_map(|p| p.ids.iter().copied()).collect();
        assert_eq!(got, want, "limit {limit}");
        assert_eq!(pages.len(), want.len().div_ceil(limit), "limit {limit}: no empty last page");
        for p in &pages {
            assert!(!p.ids.is_empty() && p.ids.len() <= limit, "limit {limit}: {} ids", p.ids.len());
            if let Some(next) = p.next {
                assert_eq!(Some(&next), p.ids.last(), "the cursor is the page's last id");
            }
        }
    }
    // A cursor that is not in the audience continues after it.
    assert_eq!(a.page(Some(CustomerId(4)), 2).ids, [CustomerId(65_535), CustomerId(65_536)]);
    assert_eq!(a.page(Some(CustomerId(u32::MAX - 1)), 2), Page { ids: vec![CustomerId(u32::MAX)], next: None });
    // A limit of 0 is taken as 1, so a paging loop always makes progress.
    assert_eq!(a.page(None, 0).ids, [CustomerId(0)]);
    assert_eq!(all_pages(&a, 0).len(), want.len());
    // Nothing to page.
    assert_eq!(Audience::new().page(None, 10), Page { ids: vec![], next: None });
}

#[test]
fn paging_a_query_result_from_the_engine() -> Result {
    let mut e = Engine::new();
    for i in (0..1000).step_by(3) {
        let c = e.customer_id(i).unwrap();
        if i % 2 == 0 {
            e.tag(c, "even")?;
        }
    }
    let a = e.query("NOT even")?;
    let pages = all_pages(&a, 16);
    let got: Vec<u32> = pages.iter().flat_map(|p| p.ids.iter().map(|c| c.get())).collect();
    let want: Vec<u32> = (0..1000).step_by(3).filter(|i| i % 2 == 1).collect();
    assert_eq!(got, want);
    Ok(())
}

// ------------------------------------------------------------------ write_ids

proptest::proptest! {
    #![proptest_config(config(128))]

    /// `write_ids` and `copy_ids` export exactly the ids `iter` yields, whatever the
    /// containers (arrays, bitsets of every density, runs, whole 2^16 blocks, the top of the
    /// id space): `write_ids` appending to what is there, `copy_ids` as many as fit.
    #[test]
    fn write_ids_equals_iteration(
        ranges in proptest::collection::vec((0u32..7, 0u32..70_000, 1u32..140_000, 1u32..20), 0..6),
        singles in proptest::collection::vec(proptest::num::u32::ANY, 0..50),
        optimize in proptest::bool::ANY,
        cut in 0usize..200,
    ) {
        let mut bits = roaring::RoaringBitmap::new();
        for (block, offset, len, step) in ranges {
            // block 6 starts near the top of the id space, so ranges reach u32::MAX
            let start = if block == 6 { u64::from(u32::MAX) - u64::from(offset) } else { u64::from(block) * 700_000_000 + u64::from(offset) };
            let end = (start + u64::from(len)).min(u64::from(u32::MAX) + 1);
            match step {
                1 => { bits.insert_range(start as u32..=(end - 1) as u32); }
                // every step-th id: bitsets from 5% to half full, arrays past 16
                _ => bits.extend((start..end).step_by(step as usize).map(|v| v as u32)),
            }
        }
        bits.extend(singles);
        if optimize {
            bits.optimize();
        }
        let audience = audience::Audience::from(bits.clone());
        let mut out = vec![42];
        audience.write_ids(&mut out);
        let want: Vec<u32> = bits.iter().collect();
        proptest::prop_assert_eq!(out[0], 42);
        proptest::prop_assert_eq!(&out[1..], &want[..]);
        // Room for all and more, exactly all, and cut short (by `cut` ids, or to `cut`).
        for room in [want.len() + 100, want.len(), want.len().saturating_sub(cut), cut.min(want.len())] {
            let mut buf = vec![7u32; room];
            let n = audience.copy_ids(&mut buf);
            proptest::prop_assert_eq!(n, room.min(want.len()));
            proptest::prop_assert_eq!(&buf[..n], &want[..n]);
        }
    }
}
