//! The peer harness's `tags.bin` (see `benches/peers/README.md`, "Data files"), read and
//! checked: shared by the examples that load the harness's data sets (`bench_peers`,
//! `bench_describe`), each with `#[path = "support/tags_bin.rs"] mod tags_bin;`.

/// `tags.bin`, borrowed: `b"AUDTAGS1"`, u32 n_customers, u32 n_tags, u64 n_pairs,
/// u64[n_tags + 1] offsets, u32[n_pairs] customer ids (little-endian). Tag k's ids are
/// `ids[offsets[k]..offsets[k + 1]]`, ascending.
pub struct TagsFile<'a> {
    /// Customers `0..customers`.
    pub customers: u32,
    /// Checked by [`TagsFile::parse`]: from 0 up to `n_pairs`, ascending.
    offsets: Vec<usize>,
    ids: &'a [u8],
}

/// The fixed part of `tags.bin`: magic, n_customers, n_tags, n_pairs.
const TAGS_HEADER: usize = 24;

impl<'a> TagsFile<'a> {
    /// Checks the layout with checked arithmetic throughout: a malformed file (short,
    /// counts that overflow or exceed the file, offsets out of range or descending) is an
    /// `Err` naming the problem, never a panic, and nothing is allocated beyond what the
    /// file's own length backs.
    pub fn parse(raw: &'a [u8]) -> Result<TagsFile<'a>, String> {
        let size = raw.len() as u64;
        if raw.len() < TAGS_HEADER {
            return Err(format!("tags.bin: file too short for the {TAGS_HEADER}-byte header ({size} bytes)"));
        }
        if &raw[..8] != b"AUDTAGS1" {
            return Err("tags.bin: bad magic (expected AUDTAGS1)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let customers = u32_at(8);
        let n_tags = u32_at(12);
        let n_pairs = u64_at(16);
        // In u64: (2^32) * 8 + 24 cannot overflow; 4 * n_pairs can.
        let offsets_at = TAGS_HEADER as u64;
        let ids_at = offsets_at + (u64::from(n_tags) + 1) * 8;
        if size < ids_at {
            return Err(format!(
                "tags.bin: file too short for the offsets of {n_tags} tags ({ids_at} bytes needed, the file has {size})"
            ));
        }
        let ids_len = n_pairs
            .checked_mul(4)
            .ok_or_else(|| format!("tags.bin: n_pairs {n_pairs} is impossibly large (4 * n_pairs bytes overflows)"))?;
        let end = ids_at.checked_add(ids_len).filter(|&end| end <= size).ok_or_else(|| {
            format!(
                "tags.bin: file too short for {n_pairs} pairs ({ids_at} + {ids_len} bytes needed, the file has {size})"
            )
        })?;
        // Every position and count below is within the file's length now, so fits in usize.
        let (ids_at, end) = (ids_at as usize, end as usize);
        let mut offsets: Vec<usize> = Vec::with_capacity(n_tags as usize + 1);
        for (k, b) in raw[TAGS_HEADER..ids_at].chunks_exact(8).enumerate() {
            let o = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            if k == 0 && o != 0 {
                return Err(format!("tags.bin: offsets[0] is {o}, not 0"));
            }
            if o > n_pairs {
                return Err(format!("tags.bin: offsets[{k}] = {o} is past n_pairs ({n_pairs})"));
            }
            let (o, prev) = (o as usize, offsets.last().copied().unwrap_or(0));
            if o < prev {
                let j = k - 1;
                return Err(format!(
                    "tags.bin: offsets are not ascending (offsets[{k}] = {o} < offsets[{j}] = {prev})"
                ));
            }
            offsets.push(o);
        }
        if offsets.last() != Some(&(n_pairs as usize)) {
            return Err(format!(
                "tags.bin: the last offset (offsets[{n_tags}] = {}) is not n_pairs ({n_pairs})",
                offsets.last().expect("n_tags + 1 >= 1 offsets")
            ));
        }
        Ok(TagsFile { customers, offsets, ids: &raw[ids_at..end] })
    }

    pub fn n_tags(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn n_pairs(&self) -> usize {
        self.ids.len() / 4
    }

    /// Tag k's customer ids.
    pub fn tag(&self, k: usize) -> impl Iterator<Item = u32> + 'a {
        let ids: &'a [u8] = &self.ids[4 * self.offsets[k]..4 * self.offsets[k + 1]];
        ids.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tags.bin` image with the given header fields, offsets and ids.
    fn image(customers: u32, n_tags: u32, n_pairs: u64, offsets: &[u64], ids: &[u32]) -> Vec<u8> {
        let mut v = b"AUDTAGS1".to_vec();
        v.extend(customers.to_le_bytes());
        v.extend(n_tags.to_le_bytes());
        v.extend(n_pairs.to_le_bytes());
        offsets.iter().for_each(|o| v.extend(o.to_le_bytes()));
        ids.iter().for_each(|i| v.extend(i.to_le_bytes()));
        v
    }

    /// Two tags: t0 = {1, 5}, t1 = {2}.
    fn tiny() -> Vec<u8> {
        image(6, 2, 3, &[0, 2, 3], &[1, 5, 2])
    }

    fn err(raw: &[u8]) -> String {
        TagsFile::parse(raw).err().expect("a malformed file is an error")
    }

    #[test]
    fn a_valid_tiny_file_parses() {
        let raw = tiny();
        let f = TagsFile::parse(&raw).unwrap();
        assert_eq!((f.customers, f.n_tags(), f.n_pairs()), (6, 2, 3));
        assert_eq!((f.tag(0).collect::<Vec<_>>(), f.tag(1).collect::<Vec<_>>()), (vec![1, 5], vec![2]));
        let empty = image(0, 0, 0, &[0], &[]);
        assert_eq!(TagsFile::parse(&empty).unwrap().n_tags(), 0);
    }

    #[test]
    fn crafted_headers_are_errors() {
        let big = u64::MAX / 4;
        let cases: [(Vec<u8>, &str); 13] = [
            (Vec::new(), "too short for the 24-byte header"),
            (b"AUDTAGS2".iter().copied().chain([0; 16]).collect(), "bad magic"),
            // Offsets consistent with the count, so only the arithmetic on it can catch these.
            (image(1, 1, big + 1, &[0, big + 1], &[]), "impossibly large"),
            (image(1, 1, big, &[0, big], &[]), "too short for 4611686018427387903 pairs"),
            (image(1, 0, big + 1, &[0], &[]), "impossibly large"),
            (image(1, 0, big, &[0], &[]), "too short for 4611686018427387903 pairs"),
            (image(1, 0, u64::MAX, &[0], &[]), "impossibly large"),
            (image(1, u32::MAX, 3, &[0, 3], &[1, 2, 3]), "too short for the offsets of 4294967295 tags"),
            (image(6, 2, 3, &[0, 5, 3], &[1, 5, 2]), "offsets[1] = 5 is past n_pairs (3)"),
            (image(6, 2, 3, &[0, 2, u64::MAX], &[1, 5, 2]), "offsets[2] = 18446744073709551615 is past n_pairs"),
            (image(6, 3, 3, &[0, 2, 1, 3], &[1, 5, 2]), "not ascending (offsets[2] = 1 < offsets[1] = 2)"),
            (image(6, 2, 3, &[1, 2, 3], &[1, 5, 2]), "offsets[0] is 1, not 0"),
            (image(6, 2, 3, &[0, 1, 2], &[1, 5, 2]), "the last offset (offsets[2] = 2) is not n_pairs (3)"),
        ];
        for (raw, want) in cases {
            let e = err(&raw);
            assert!(e.starts_with("tags.bin: ") && e.contains(want), "{e} (want {want})");
        }
        let raw = tiny();
        for len in 0..raw.len() {
            err(&raw[..len]);
        }
    }

    /// A deterministic xorshift64 generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses `raw`; when it parses, reads every tag (which must not panic either).
    fn parse_and_read(raw: &[u8]) {
        if let Ok(f) = TagsFile::parse(raw) {
            let read: usize = (0..f.n_tags()).map(|k| f.tag(k).count()).sum();
            assert_eq!(read, f.n_pairs());
        }
    }

    #[test]
    fn random_and_mutated_files_never_panic() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let valid = image(9, 4, 6, &[0, 1, 1, 4, 6], &[3, 0, 2, 8, 1, 4]);
        parse_and_read(&valid);
        for i in 0..4_000 {
            // Random bytes, half of them behind a valid magic so the header is read.
            let mut raw: Vec<u8> = (0..rng.below(120)).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 {
                raw.splice(0..raw.len().min(8), *b"AUDTAGS1");
            }
            parse_and_read(&raw);
            // Mutations of the valid file: flipped bytes, extreme fields, truncation.
            let mut raw = valid.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(5) {
                    0 => {
                        let at = rng.below(raw.len());
                        raw[at] = rng.next() as u8;
                    }
                    1 => {
                        let at = 8 + 4 * rng.below((raw.len() - 8) / 4);
                        let v = [0, 1, u32::MAX, u32::MAX / 4, rng.next() as u32][rng.below(5)];
                        raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    2 => raw.truncate(rng.below(raw.len() + 1)),
                    // A huge n_pairs that the last offset agrees with.
                    3 if raw.len() >= 64 => {
                        let v = [u64::MAX / 4, u64::MAX / 4 + 1, u64::MAX, rng.next()][rng.below(4)];
                        raw[16..24].copy_from_slice(&v.to_le_bytes());
                        raw[56..64].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => raw.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                }
                if raw.len() < 12 {
                    break;
                }
            }
            parse_and_read(&raw);
        }
    }
}
