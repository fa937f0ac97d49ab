//! The attributes' snapshot sections (see `persist/` and `docs/format.md`, "Attributes").
//!
//! Two chunked sections: `ATTR`, one item per attribute in creation order (name, reading,
//! base, slice count), then `ABIT`, one item per bitmap (each attribute's `exists`, then
//! its slices, lowest bit first). A bitmap per item keeps every section near
//! [`CHUNK`](crate::persist::file::CHUNK) even when one attribute's 64 slices over millions
//! of customers would not be. The "did you mean" index is rebuilt from the names.

use roaring::RoaringBitmap;

use super::{Attribute, Attrs, Bsi, Reading, normalize_attr};
use crate::customers::Directory;
use crate::error::Result;
use crate::history::Day;
use crate::id::derived::RECENCY_DAYS;
use crate::persist::{Dec, Reader, Writer};

/// Section kind: the attributes' names, readings, bases and slice counts.
const ATTR: [u8; 4] = *b"ATTR";
/// Section kind: the attributes' bitmaps.
const ABIT: [u8; 4] = *b"ABIT";

/// `Reading` tags.
const PLAIN: u8 = 0;
const DAYS_SINCE: u8 = 1;

/// One attribute's `ATTR` item, read ahead of its bitmaps.
struct Head {
    name: Box<str>,
    reading: Reading,
    base: i64,
    slices: usize,
}

impl Attrs {
    /// Writes the attributes' sections, `ATTR` then `ABIT`.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        w.chunked(ATTR, &self.map, |e, (name, a)| {
            let (_, base, slices) = a.bsi.parts();
            e.str(name);
            match a.reading {
                Reading::Plain => e.u8(PLAIN),
                Reading::DaysSince(as_of) => {
                    e.u8(DAYS_SINCE);
                    e.i64(as_of);
                }
            }
            e.i64(base);
            e.u8(slices.len() as u8); // at most 64
        })?;
        let bitmaps = self.map.values().flat_map(|a| {
            let (exists, _, slices) = a.bsi.parts();
            std::iter::once(exists).chain(slices)
        });
        w.chunked(ABIT, bitmaps, |e, b| e.bitmap(b))
    }

    /// Reads what [`Attrs::write_snapshot`] wrote; `customers` (already read) to check that
    /// values belong to live customers. Every name, index and reading is checked as it is
    /// read ([`Bsi::from_parts`] for the index), so a crafted file is an
    /// [`Error::Corrupt`](crate::Error::Corrupt), never an index that misbehaves later.
    pub(crate) fn read_snapshot(r: &mut Reader, customers: &Directory) -> Result<Attrs> {
        let mut heads: Vec<Head> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        r.chunked(ATTR, |d| {
            let name = d.str("attribute name")?;
            if normalize_attr(name).ok().is_none_or(|n| n != name) {
                return Err(d.corrupt(format!("attribute name {name:?} is not a normalized attribute name")));
            }
            if !seen.insert(name.to_owned()) {
                return Err(d.corrupt(format!("attribute {name:?} appears twice")));
            }
            let reading = match d.u8("attribute reading")? {
                PLAIN => Reading::Plain,
                DAYS_SINCE => {
                    let as_of = d.i64("attribute as-of day")?;
                    if name != RECENCY_DAYS {
                        return Err(d.corrupt(format!("attribute {name:?}: only {RECENCY_DAYS} is read as days since")));
                    }
                    if !is_day(as_of) {
                        return Err(d.corrupt(format!("attribute {name:?}: as-of day {as_of} is not a valid day")));
                    }
                    Reading::DaysSince(as_of)
                }
                k => return Err(d.corrupt(format!("attribute {name:?}: unknown reading {k}"))),
            };
            let base = d.i64("attribute base")?;
            let slices = usize::from(d.u8("attribute slice count")?);
            if slices > 64 {
                return Err(d.corrupt(format!("attribute {name:?}: {slices} slices (at most 64)")));
            }
            heads.push(Head { name: name.into(), reading, base, slices });
            Ok(())
        })?;
        drop(seen);

        let mut attrs = Attrs::default();
        attrs.map.reserve(heads.len());
        let mut heads = heads.into_iter();
        // The attribute being read: its head, `exists` once read, the slices so far.
        let mut open: Option<(Head, Option<RoaringBitmap>, Vec<RoaringBitmap>)> = None;
        let mut last = 0u64;
        r.chunked(ABIT, |d| {
            let bits = d.bitmap("attribute bitmap")?;
            last = d.offset();
            let (head, exists, slices) = match &mut open {
                Some(o) => o,
                None => {
                    let head = heads.next().ok_or_else(|| d.corrupt("a bitmap past the last attribute's"))?;
                    open.insert((head, None, Vec::new()))
                }
            };
            match exists {
                None => *exists = Some(bits),
                Some(_) => slices.push(bits),
            }
            if slices.len() == head.slices {
                let (head, exists, slices) = open.take().expect("open");
                attrs.insert_checked(d, head, exists.expect("read first"), slices, customers)?;
            }
            Ok(())
        })?;
        if let Some(head) = open.map(|(h, _, _)| h).or_else(|| heads.next()) {
            let what = format!("attribute {:?}: its bitmaps are missing", head.name);
            return Err(crate::persist::codec::corrupt(r.path(), last, what));
        }
        Ok(attrs)
    }

    /// Adds attribute `head` with its bitmaps, checked; `d` for the error's offset.
    fn insert_checked(
        &mut self,
        d: &Dec<'_>,
        head: Head,
        exists: RoaringBitmap,
        slices: Vec<RoaringBitmap>,
        customers: &Directory,
    ) -> Result<()> {
        let name = &head.name;
        if !crate::blocks::is_within(&exists, customers.live()) {
            return Err(d.corrupt(format!("attribute {name:?}: values of customers that are not live")));
        }
        let bsi =
            Bsi::from_parts(exists, head.base, slices).map_err(|e| d.corrupt(format!("attribute {name:?}: {e}")))?;
        if let (Reading::DaysSince(_), Some((min, max))) = (head.reading, bsi.range())
            && !(is_day(min) && is_day(max))
        {
            return Err(d.corrupt(format!("attribute {name:?}: days {min}..={max} are not all valid days")));
        }
        let i = self.map.len() as u32;
        self.suggest.insert(i, name);
        self.map.insert(head.name, std::sync::Arc::new(Attribute { bsi, reading: head.reading }));
        Ok(())
    }
}

/// Whether `v` is a day number [`Day`] accepts.
fn is_day(v: i64) -> bool {
    i32::try_from(v).ok().and_then(Day::from_days_since_epoch).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::id::CustomerId;
    use crate::persist::testing::{
        TempDir, assert_corrupt, overwrite, read_file, sections, write_file, write_sections,
    };
    use crate::{Engine, Money};

    type Picture = Vec<(String, Reading, RoaringBitmap, i64, Vec<RoaringBitmap>)>;
    /// An `ATTR` item: name, reading, base, slice count.
    type CraftedHead<'a> = (&'a str, Reading, i64, u8);

    fn picture(a: &Attrs) -> Picture {
        a.iter()
            .map(|(name, a)| {
                let (exists, base, slices) = a.bsi.parts();
                (name.to_owned(), a.reading, exists.clone(), base, slices.to_vec())
            })
            .collect()
    }

    fn round_trip(attrs: &Attrs, customers: &Directory, dir: &TempDir) -> Attrs {
        let path = dir.path("attrs.snap");
        write_file(&path, |w| attrs.write_snapshot(w));
        read_file(&path, |r| Attrs::read_snapshot(r, customers)).unwrap()
    }

    /// An engine with attributes of every shape: negative values, the i64 extremes (64
    /// slices), a declared attribute without values, a Unicode name, the refresh's derived
    /// attributes (`recency_days` read as days since), a removed customer.
    fn engine() -> Engine {
        let mut e = Engine::new();
        let c: Vec<CustomerId> = (0..300).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
        e.set_attr(c[0], "extremes", i64::MIN).unwrap();
        e.set_attr(c[1], "extremes", i64::MAX).unwrap();
        e.set_attr(c[2], "extremes", 0).unwrap();
        e.set_attrs(c.iter().enumerate().map(|(i, &id)| (id, "balance", i as i64 * 7919 - 1_000_000))).unwrap();
        e.set_attr(c[5], "高消费", 42).unwrap();
        e.set_attr(c[6], "高消费", -42).unwrap();
        e.define_attr("never_set").unwrap();
        let day = |s: &str| s.parse::<Day>().unwrap();
        for (i, &id) in c.iter().enumerate().step_by(3) {
            e.record_purchase(id, day("2024-01-10"), Money::from_minor(100 + i as i64).unwrap()).unwrap();
        }
        e.refresh(day("2024-03-01")).unwrap();
        e.remove_customer(c[9]).unwrap();
        e
    }

    #[test]
    fn attributes_round_trip() {
        let dir = TempDir::new("attrs-persist");
        let e = engine();
        let (customers, _, attrs, _) = e.layers();
        assert_eq!(attrs.get("extremes").unwrap().bsi.parts().2.len(), 64, "the extremes take every slice");
        let back = round_trip(attrs, customers, &dir);
        assert_eq!(picture(&back), picture(attrs));
        assert!(matches!(back.get(RECENCY_DAYS).unwrap().reading, Reading::DaysSince(_)));
        for (name, a) in attrs.iter() {
            for c in [0, 1, 2, 5, 6, 9, 12, 299] {
                assert_eq!(back.get(name).unwrap().get(c), a.get(c), "{name} of {c}");
            }
        }
        // The "did you mean" index is rebuilt from the names.
        assert_eq!(back.unknown("高消").to_string(), attrs.unknown("高消").to_string());
        assert_eq!(back.unknown("balanse").to_string(), attrs.unknown("balanse").to_string());
        // No attributes at all.
        let empty = round_trip(&Attrs::default(), customers, &dir);
        assert_eq!(empty.len(), 0);
    }

    /// Every truncation of the file and of each payload (with a valid checksum), and bit
    /// flips (with and without a valid checksum), are `Error::Corrupt` or (a flip that
    /// still makes sense) a valid index; never a panic.
    #[test]
    fn damaged_files_are_corrupt_never_a_panic() {
        let dir = TempDir::new("attrs-persist");
        let mut e = Engine::new();
        let c: Vec<CustomerId> = (0..20).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
        e.set_attr(c[0], "a", -3).unwrap();
        e.set_attr(c[7], "a", 1 << 40).unwrap();
        e.set_attr(c[3], "高消费", i64::MAX).unwrap();
        e.define_attr("z").unwrap();
        let (customers, _, attrs, _) = e.layers();
        let path = dir.path("a.snap");
        write_file(&path, |w| attrs.write_snapshot(w));
        let read = |p: &std::path::Path| read_file(p, |r| Attrs::read_snapshot(r, customers));
        read(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let cut = dir.path("cut.snap");
        for n in 0..bytes.len() {
            overwrite(&cut, &bytes[..n]);
            assert_corrupt(read(&cut), &format!("file cut at {n}"));
        }
        for at in (0..bytes.len()).step_by(7) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << (at % 8);
            overwrite(&cut, &flipped);
            assert_corrupt(read(&cut), &format!("bit flipped at {at}"));
        }
        let good = sections(&path);
        assert_eq!(good.iter().map(|(k, _)| k).collect::<Vec<_>>(), [&ATTR, &ABIT]);
        for s in 0..good.len() {
            for n in 0..good[s].1.len() {
                let mut damaged = good.clone();
                damaged[s].1.truncate(n);
                write_sections(&cut, &damaged);
                assert_corrupt(read(&cut), &format!("section {s} cut at {n}"));
            }
            for bit in 0..good[s].1.len() * 8 {
                let mut damaged = good.clone();
                damaged[s].1[bit / 8] ^= 1 << (bit % 8);
                write_sections(&cut, &damaged);
                match read(&cut) {
                    Ok(_) | Err(Error::Corrupt { .. }) => {}
                    Err(other) => panic!("section {s} bit {bit}: {other:?}"),
                }
            }
        }
    }

    /// Values that decode but break what the index assumes are `Error::Corrupt`.
    #[test]
    fn crafted_values_are_corrupt() {
        let dir = TempDir::new("attrs-persist");
        let mut e = Engine::new();
        for i in 0..10 {
            e.customer(&format!("c{i}")).unwrap();
        }
        e.remove_customer(CustomerId(9)).unwrap();
        let (customers, _, _, _) = e.layers();
        let bits = |v: &[u32]| v.iter().copied().collect::<RoaringBitmap>();
        let path = dir.path("crafted.snap");
        let read = |heads: &[CraftedHead<'_>], bitmaps: &[RoaringBitmap]| {
            let mut attr = crate::persist::Enc::default();
            attr.len(heads.len());
            for &(name, reading, base, slices) in heads {
                attr.str(name);
                match reading {
                    Reading::Plain => attr.u8(PLAIN),
                    Reading::DaysSince(d) => {
                        attr.u8(DAYS_SINCE);
                        attr.i64(d);
                    }
                }
                attr.i64(base);
                attr.u8(slices);
            }
            let mut abit = crate::persist::Enc::default();
            abit.len(bitmaps.len());
            bitmaps.iter().for_each(|b| abit.bitmap(b));
            write_sections(&path, &[(ATTR, attr.buf), (ABIT, abit.buf)]);
            read_file(&path, |r| Attrs::read_snapshot(r, customers))
        };
        let (a, b) = (bits(&[1, 2, 3]), bits(&[2]));
        let ok = read(&[("x", Reading::Plain, -5, 1)], &[a.clone(), b.clone()]).unwrap();
        assert_eq!(ok.value(2, "x").unwrap(), Some(-4));
        let bad: Vec<(&str, Vec<CraftedHead<'_>>, Vec<RoaringBitmap>)> = vec![
            ("a slice outside exists", vec![("x", Reading::Plain, 0, 1)], vec![b.clone(), a.clone()]),
            ("an empty top slice", vec![("x", Reading::Plain, 0, 2)], vec![a.clone(), b.clone(), bits(&[])]),
            ("values past i64::MAX", vec![("x", Reading::Plain, i64::MAX, 1)], vec![a.clone(), b.clone()]),
            ("65 slices", vec![("x", Reading::Plain, 0, 65)], vec![a.clone(); 66]),
            ("an empty index with a base", vec![("x", Reading::Plain, 3, 0)], vec![bits(&[])]),
            ("a customer not live", vec![("x", Reading::Plain, 0, 0)], vec![bits(&[9])]),
            ("a customer never registered", vec![("x", Reading::Plain, 0, 0)], vec![bits(&[10])]),
            ("an unnormalized name", vec![(" x", Reading::Plain, 0, 0)], vec![a.clone()]),
            ("an empty name", vec![("", Reading::Plain, 0, 0)], vec![a.clone()]),
            ("a duplicate name", vec![("x", Reading::Plain, 0, 0); 2], vec![a.clone(), a.clone()]),
            ("days since on a hand attribute", vec![("x", Reading::DaysSince(0), 0, 0)], vec![a.clone()]),
            ("an invalid as-of day", vec![(RECENCY_DAYS, Reading::DaysSince(i64::MAX), 0, 0)], vec![a.clone()]),
            ("an invalid stored day", vec![(RECENCY_DAYS, Reading::DaysSince(0), i64::MIN, 0)], vec![a.clone()]),
            ("a missing bitmap", vec![("x", Reading::Plain, 0, 1)], vec![a.clone()]),
            ("a bitmap too many", vec![("x", Reading::Plain, 0, 0)], vec![a.clone(), b.clone()]),
        ];
        for (what, heads, bitmaps) in bad {
            assert_corrupt(read(&heads, &bitmaps), what);
        }
        // An unknown reading kind.
        let mut attr = crate::persist::Enc::default();
        attr.len(1);
        attr.str("x");
        attr.u8(2);
        attr.i64(0);
        attr.u8(0);
        let mut abit = crate::persist::Enc::default();
        abit.len(1);
        abit.bitmap(&a);
        write_sections(&path, &[(ATTR, attr.buf), (ABIT, abit.buf)]);
        assert_corrupt(read_file(&path, |r| Attrs::read_snapshot(r, customers)), "reading kind 2");
    }
}
