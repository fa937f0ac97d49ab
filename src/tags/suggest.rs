//! "Did you mean": the known names closest to an unknown one, without a scan of a large
//! pool.
//!
//! - **Few names** (at most [`SCAN_MAX`]): every name is compared with the unknown one, and
//!   names up to a third of its length in edits away (at least two, at most three) are
//!   offered. Each comparison is a banded edit distance, linear in the names' length.
//! - **Many names**: an index finds the names **one edit away** (insert, delete, substitute
//!   or swap one character) or equal but for letter case. Each name is filed once, under a
//!   key made of its *bag value* (the sum of a keyed 64-bit hash of each of its lower-cased
//!   characters, so that anagrams share it: the anagram hashing of Reynaert's TICCL) and its
//!   last two characters. One edit moves the bag by a known amount (a swap by nothing, a
//!   missing character `a` by `+h(a)`, an extra `c` by `-h(c)`, a substitution by
//!   `h(a) - h(c)`) and keeps the last two characters unless it happens next to the end, in
//!   a few known ways. So the candidates are the names filed under a few keys per character
//!   of the unknown name and per character the pool uses (`|name| * |alphabet|` hash
//!   probes: a few hundred for Latin names, tens to hundreds of microseconds), each checked in linear
//!   time. The last two characters split what anagram hashing cannot (`t123456` and
//!   `t654321`).
//!
//! Names equal but for letter case are filed apart too, under the hash of the lower-cased
//! name, so `VIP` finds `vip` whatever crowds the anagram keys.
//!
//! Every lookup and insert is bounded: at most [`MAX_PROBES`] probes, at most
//! [`MAX_CHECKS`] candidates compared, and a key shared by more than about [`MAX_BAG`] names
//! (a flood of anagrams, or of one name's spellings) files no more of them: in a pool too
//! large to scan, those names are not offered for a typo (their letter case still is, up to
//! the same cap), and they stay unfiled if the key later empties. The probe budget covers
//! about 5,000 distinct characters; beyond (a pool of random CJK names can use 14,000), the
//! pool's characters are tried most used first, and missing or substituted rarer ones are
//! not; the use of at most [`ALPHABET_MAX`] characters beyond ASCII is counted. The worst
//! case, such a pool, is a few milliseconds.
//!
//! Suggestions are ranked by edit distance ignoring case, then by exact edit distance, then
//! by name; at most three are offered.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::name::edit_distance;

/// Pools of up to this many names, holding at most [`SCAN_BYTES`] bytes of names, are
/// scanned whole.
pub(crate) const SCAN_MAX: usize = 1_024;
/// The most bytes of names a scan reads (a millisecond at most; microseconds for a few
/// hundred short names).
const SCAN_BYTES: usize = 32 * 1024;
/// The most edits a scan offers.
const SCAN_EDITS: usize = 3;
/// The most hash probes of one index lookup.
pub(crate) const MAX_PROBES: usize = 65_536;
/// The most candidate names one index lookup compares.
pub(crate) const MAX_CHECKS: usize = 4_096;
/// The most names filed under one key.
pub(crate) const MAX_BAG: usize = 64;
/// The most characters beyond ASCII whose use is counted (the alphabet a lookup tries as
/// missing or substituted characters): more than the common CJK characters.
const ALPHABET_MAX: usize = 16_384;
/// How many suggestions are offered.
const OFFER: usize = 3;

/// The near-miss index over a set of names identified by `u32` ids. The names live with the
/// caller; every method that needs one takes a lookup `name_of(id)`.
#[derive(Clone, Debug)]
pub(crate) struct Suggest {
    /// `(id, fingerprint)` by the key of the name (bag value and last two characters): the
    /// fingerprint is the key's high half, which the table hashes too, so a probe yields only
    /// the names of its key (but for one chance in 2^32) and growing needs no name.
    bags: HashTable<(u32, u32)>,
    /// `(id, fingerprint)` by the hash of the lower-cased name: every name equal but for
    /// letter case is found, whatever crowds its key in `bags`.
    cases: HashTable<(u32, u32)>,
    /// Total bytes of the names inserted (filed or not): how long a scan would take.
    bytes: usize,
    /// How many times the filed names use each lower-cased ASCII character...
    ascii: Box<[u32; 128]>,
    /// ...and each other one.
    alphabet: HashMap<char, u32>,
    /// Keys the character hash, so bag collisions beyond anagrams cannot be planned.
    seed: u64,
}

impl Default for Suggest {
    fn default() -> Suggest {
        Suggest {
            bags: HashTable::new(),
            cases: HashTable::new(),
            bytes: 0,
            ascii: Box::new([0; 128]),
            alphabet: HashMap::new(),
            seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

/// A keyed 64-bit hash of one character: splitmix64's finalizer over the keyed code point.
fn char_hash(seed: u64, c: char) -> u64 {
    let mut z = seed ^ u64::from(c).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of a bag value and the last two characters (`'\0'` for none).
fn key(seed: u64, bag: u64, tail: (char, char)) -> u64 {
    bag ^ char_hash(seed.rotate_left(21) ^ 0x1A57, tail.0) ^ char_hash(seed.rotate_left(42) ^ 0x7A11, tail.1)
}

/// The key of a name's lower-cased spelling.
fn case_key(seed: u64, folded: impl Iterator<Item = char>) -> u64 {
    folded.fold(seed ^ 0xCA5E, |h, c| (h.rotate_left(23) ^ char_hash(seed, c)).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The 32 bits of a key the index keeps.
fn fingerprint(key: u64) -> u32 {
    (key >> 32) as u32
}

/// Where the table puts a fingerprint (hashbrown takes its slot from the low bits and its
/// tag from the top seven).
fn table_hash(fp: u32) -> u64 {
    u64::from(fp).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The key of a name: its bag value (the sum of its lower-cased characters' hashes) and its
/// last two lower-cased characters.
fn key_of(seed: u64, name: &str) -> u64 {
    let (bag, tail) =
        folded(name).fold((0u64, ('\0', '\0')), |(v, (_, last)), c| (v.wrapping_add(char_hash(seed, c)), (last, c)));
    key(seed, bag, tail)
}

/// The lower-cased characters of `name`.
fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    let ascii = name.is_ascii();
    name.chars().flat_map(move |c| {
        // ASCII names (the common case) skip the Unicode case tables.
        let (one, more) = if ascii { (Some(c.to_ascii_lowercase()), None) } else { (None, Some(c.to_lowercase())) };
        one.into_iter().chain(more.into_iter().flatten())
    })
}

/// The lower-cased characters of `s`.
fn fold(s: &str, out: &mut Vec<char>) {
    out.clear();
    out.extend(folded(s));
}

impl Suggest {
    fn h(&self, c: char) -> u64 {
        char_hash(self.seed, c)
    }

    fn bag(&self, folded: &[char]) -> u64 {
        folded.iter().fold(0u64, |v, &c| v.wrapping_add(self.h(c)))
    }

    fn key(&self, bag: u64, tail: (char, char)) -> u32 {
        fingerprint(key(self.seed, bag, tail))
    }

    /// The ids filed under fingerprint `fp` in `table`.
    fn filed(table: &HashTable<(u32, u32)>, fp: u32) -> impl Iterator<Item = u32> + '_ {
        table.iter_hash(table_hash(fp)).filter(move |e| e.1 == fp).map(|e| e.0)
    }

    /// Files `id` under `fp` in `table`, unless about [`MAX_BAG`] names are there already.
    fn file(table: &mut HashTable<(u32, u32)>, id: u32, fp: u32) -> bool {
        if Self::filed(table, fp).nth(MAX_BAG - 1).is_some() {
            return false; // a flood of anagrams (or of one name's spellings)
        }
        table.insert_unique(table_hash(fp), (id, fp), |e| table_hash(e.1));
        true
    }

    /// Files `name` under `id`.
    pub(crate) fn insert(&mut self, id: u32, name: &str) {
        self.bytes += name.len();
        Self::file(&mut self.cases, id, fingerprint(case_key(self.seed, folded(name))));
        if !Self::file(&mut self.bags, id, fingerprint(key_of(self.seed, name))) {
            return;
        }
        for c in folded(name) {
            match self.ascii.get_mut(c as usize) {
                Some(n) => *n += 1,
                None if self.alphabet.len() < ALPHABET_MAX || self.alphabet.contains_key(&c) => {
                    *self.alphabet.entry(c).or_insert(0) += 1;
                }
                None => {}
            }
        }
    }

    /// The `want` characters the filed names use most, most used first.
    fn characters(&self, want: usize) -> Vec<char> {
        let mut all: Vec<(u32, char)> = (0u8..128)
            .filter(|&b| self.ascii[b as usize] > 0)
            .map(|b| (self.ascii[b as usize], char::from(b)))
            .chain(self.alphabet.iter().map(|(&c, &n)| (n, c)))
            .collect();
        if all.len() > want {
            all.select_nth_unstable_by(want, |a, b| b.cmp(a));
            all.truncate(want);
        }
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.into_iter().map(|(_, c)| c).collect()
    }

    /// Makes room for `additional` names.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.bags.reserve(additional, |e| table_hash(e.1));
        self.cases.reserve(additional, |e| table_hash(e.1));
    }

    /// Unfiles `name` (filed under `id`); nothing happens when it was not filed.
    pub(crate) fn remove(&mut self, id: u32, name: &str) {
        self.bytes -= name.len();
        let fp = fingerprint(case_key(self.seed, folded(name)));
        if let Ok(entry) = self.cases.find_entry(table_hash(fp), |e| *e == (id, fp)) {
            entry.remove();
        }
        let fp = fingerprint(key_of(self.seed, name));
        let Ok(entry) = self.bags.find_entry(table_hash(fp), |e| *e == (id, fp)) else { return };
        entry.remove();
        for c in folded(name) {
            if let Some(n) = self.ascii.get_mut(c as usize) {
                *n -= 1;
            } else if let Some(n) = self.alphabet.get_mut(&c) {
                *n -= 1;
                if *n == 0 {
                    self.alphabet.remove(&c);
                }
            }
        }
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bags.allocation_size()
            + self.cases.allocation_size()
            + size_of::<[u32; 128]>()
            + self.alphabet.capacity() * (size_of::<(char, u32)>() + 1)
    }

    /// The keys under which names one edit from `q` (folded, non-empty) are filed: same and
    /// extra letters first, then per alphabet character (most used first) a missing one and
    /// every substitution by it.
    fn probes<'q>(&'q self, q: &'q [char]) -> impl Iterator<Item = u32> + 'q {
        let at = |back: usize| q.len().checked_sub(back).map_or('\0', |i| q[i]);
        let (x, y, z) = (at(3), at(2), at(1));
        let v = self.bag(q);
        let mut distinct = q.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let drops: Vec<(char, u64)> = distinct.iter().map(|&c| (c, self.h(c))).collect();
        // The same letters: case, a swap inside, of the two before the last, of the last two.
        let same = [(y, z), (x, z), (z, y)].map(|t| self.key(v, t));
        // An extra letter: inside, before the last, the last.
        let extra = drops
            .clone()
            .into_iter()
            .map(move |(_, h)| self.key(v.wrapping_sub(h), (y, z)))
            .chain([self.key(v.wrapping_sub(self.h(y)), (x, z)), self.key(v.wrapping_sub(self.h(z)), (x, y))]);
        // Each character costs three probes and one per letter of `q`: the budget reaches
        // this many (the most used first).
        let want = MAX_PROBES / (drops.len() + 3) + 1;
        let by_letter = self.characters(want).into_iter().flat_map(move |a| {
            let ha = self.h(a);
            let w = v.wrapping_add(ha);
            // A missing letter a: inside, before the last, after the last.
            let missing = [self.key(w, (y, z)), self.key(w, (a, z)), self.key(w, (z, a))];
            // A wrong letter c instead of a: inside, before the last, the last.
            let wrong = drops.clone().into_iter().filter(move |&(c, _)| c != a).flat_map(move |(c, hc)| {
                let w = v.wrapping_sub(hc).wrapping_add(ha);
                [
                    Some(self.key(w, (y, z))),
                    (c == y).then(|| self.key(w, (a, z))),
                    (c == z).then(|| self.key(w, (y, a))),
                ]
            });
            missing.into_iter().chain(wrong.flatten())
        });
        same.into_iter().chain(extra).chain(by_letter)
    }

    /// Up to three names closest to `query` (see the module docs): a scan of `all` when there
    /// are at most [`SCAN_MAX`] names (`len`) of at most [`SCAN_BYTES`], else the index.
    pub(crate) fn suggest<'a>(
        &self,
        query: &str,
        len: usize,
        all: impl Iterator<Item = &'a str>,
        name_of: impl Fn(u32) -> Option<&'a str>,
    ) -> Vec<String> {
        let exact: Vec<char> = query.chars().collect();
        let mut q = Vec::new();
        fold(query, &mut q);
        let mut found: Vec<(usize, usize, &'a str)> = Vec::new();
        let (mut buf, mut chars) = (Vec::new(), Vec::new());
        // Ties in the folded distance are broken by the exact one (bounded: past a few edits
        // the order no longer matters).
        let mut accept = |name: &'a str, d: usize, found: &mut Vec<(usize, usize, &'a str)>| {
            chars.clear();
            chars.extend(name.chars());
            found.push((d, edit_distance(&exact, &chars, d + SCAN_EDITS), name));
        };
        if len <= SCAN_MAX && self.bytes <= SCAN_BYTES {
            let limit = (q.len() / 3).clamp(2, SCAN_EDITS);
            for name in all {
                fold(name, &mut buf);
                let d = edit_distance(&q, &buf, limit);
                if d <= limit {
                    accept(name, d, &mut found);
                }
            }
        } else if !q.is_empty() {
            // Equal but for letter case, then one edit away.
            let mut ids: Vec<u32> =
                Self::filed(&self.cases, fingerprint(case_key(self.seed, q.iter().copied()))).collect();
            'probes: for p in self.probes(&q).take(MAX_PROBES) {
                for id in Self::filed(&self.bags, p) {
                    if ids.len() >= MAX_CHECKS {
                        break 'probes;
                    }
                    ids.push(id);
                }
            }
            ids.sort_unstable();
            ids.dedup();
            for name in ids.into_iter().filter_map(&name_of) {
                fold(name, &mut buf);
                if let Some(d) = within_one(&q, &buf) {
                    accept(name, d, &mut found);
                }
            }
        }
        found.sort_unstable();
        found.dedup_by(|a, b| a.2 == b.2);
        found.into_iter().take(OFFER).map(|(_, _, n)| n.to_owned()).collect()
    }
}

/// The optimal-string-alignment distance of `a` and `b` when it is at most one (`Some(0)`
/// or `Some(1)`), in one pass.
fn within_one(a: &[char], b: &[char]) -> Option<usize> {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return None;
    }
    let Some(i) = short.iter().zip(long).position(|(x, y)| x != y) else {
        return Some(long.len() - short.len()); // equal, or one extra letter at the end
    };
    let one = if short.len() == long.len() {
        short[i + 1..] == long[i + 1..] // a substitution
            || (i + 1 < short.len()
                && short[i] == long[i + 1]
                && short[i + 1] == long[i]
                && short[i + 2..] == long[i + 2..]) // a swap
    } else {
        short[i..] == long[i + 1..] // one extra letter
    };
    one.then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index over `names` (ids are positions) and its suggestions for `query`, forced
    /// through the index (`len` past the scan size) or through the scan.
    fn suggest(names: &[&str], query: &str, indexed: bool) -> Vec<String> {
        let mut s = Suggest::default();
        for (i, n) in names.iter().enumerate() {
            s.insert(i as u32, n);
        }
        let len = if indexed { SCAN_MAX + 1 } else { names.len() };
        s.suggest(query, len, names.iter().copied(), |t| names.get(t as usize).copied())
    }

    #[test]
    fn the_index_finds_every_single_edit_and_case() {
        let names = ["vip", "outdoor", "indoor", "高消费", "running", "VIP Gold", "churned"];
        for (query, want) in [
            ("vpi", "vip"),  // swap
            ("vi", "vip"),   // missing letter
            ("viip", "vip"), // extra letter
            ("vop", "vip"),  // wrong letter
            ("VIP", "vip"),  // case
            ("outdor", "outdoor"),
            ("ndoor", "indoor"),
            ("高消", "高消费"),
            ("高消贵", "高消费"),
            ("vip gold", "VIP Gold"),
            ("Churned", "churned"),
        ] {
            assert_eq!(suggest(&names, query, true).first().map(String::as_str), Some(want), "{query}");
            assert_eq!(suggest(&names, query, false).first().map(String::as_str), Some(want), "{query}");
        }
        assert!(suggest(&names, "zzzzzz", true).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn within_one_agrees_with_the_edit_distance(a in "[abc]{0,6}", b in "[abc]{0,6}") {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let d = edit_distance(&a, &b, 2);
            proptest::prop_assert_eq!(within_one(&a, &b), (d <= 1).then_some(d));
        }

        /// Every name one edit away (or equal but for case) is found through the index.
        #[test]
        fn the_index_finds_every_name_one_edit_away(
            names in proptest::collection::btree_set("[abcAB]{1,5}", 1..40),
            query in "[abcdAB]{1,6}",
        ) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let got = suggest(&names, &query, true);
            let lower = |s: &str| s.to_lowercase().chars().collect::<Vec<char>>();
            let mut want: Vec<(usize, usize, &str)> = names
                .iter()
                .map(|n| {
                    let exact = edit_distance(&query.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>(), 20);
                    (edit_distance(&lower(&query), &lower(n), 2), exact, *n)
                })
                .filter(|&(d, _, _)| d <= 1)
                .collect();
            want.sort_unstable();
            let want: Vec<&str> = want.into_iter().take(3).map(|(_, _, n)| n).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn the_scan_reaches_further_than_the_index() {
        let names = ["outdoor", "aaoutdor"];
        assert_eq!(suggest(&names, "outdor", false), ["outdoor", "aaoutdor"]);
        assert_eq!(suggest(&names, "outdor", true), ["outdoor"], "two edits: not through the index");
    }

    #[test]
    fn case_matches_rank_first_then_exact_distance() {
        let names = ["Vip", "vip", "vpi"];
        // "VIP" is "vip" and "Vip" ignoring case (0 edits) and "vpi" is 1 away; between the
        // first two, "Vip" is 2 exact edits from "VIP" and "vip" 3.
        assert_eq!(suggest(&names, "VIP", true), ["Vip", "vip", "vpi"]);
    }

    #[test]
    fn removed_names_are_not_offered() {
        let names = ["vip", "vipp"];
        let mut s = Suggest::default();
        for (i, n) in names.iter().enumerate() {
            s.insert(i as u32, n);
        }
        s.remove(0, "vip");
        let got = s.suggest("vi", SCAN_MAX + 1, std::iter::empty(), |t| names.get(t as usize).copied());
        assert!(got.is_empty(), "vipp is two edits away: {got:?}");
        assert_eq!(s.ascii[b'v' as usize], 1);
        s.remove(1, "vipp");
        assert!(s.characters(usize::MAX).is_empty() && s.bags.is_empty() && s.cases.is_empty());
    }

    #[test]
    fn a_pool_of_anagrams_is_filed_only_up_to_the_cap() {
        // The 40,320 permutations of "abcdefgh" (Lehmer codes): 56 keys (the last two letters),
        // 720 names each, of which about the first MAX_BAG are filed (the count is of the
        // table's entries that may share the key, so a key may stop a little early).
        let names: Vec<String> = (0..40_320usize)
            .map(|mut code| {
                let mut pool: Vec<char> = "abcdefgh".chars().collect();
                let mut out = String::new();
                for radix in (1..=8).rev() {
                    out.push(pool.remove(code % radix));
                    code /= radix;
                }
                out
            })
            .collect();
        assert_eq!(names.iter().collect::<std::collections::HashSet<_>>().len(), 40_320);
        let mut s = Suggest::default();
        for (i, n) in names.iter().enumerate() {
            s.insert(i as u32, n);
        }
        assert!((56 * MAX_BAG * 9 / 10..=56 * MAX_BAG).contains(&s.bags.len()), "{}", s.bags.len());
        // Letter case is filed apart: every spelling finds its own name, filed in the anagram
        // keys or not.
        for i in (0..40_320).step_by(997) {
            let got = s.suggest(&names[i].to_uppercase(), names.len(), std::iter::empty(), |t| {
                names.get(t as usize).map(String::as_str)
            });
            assert_eq!(got.first(), Some(&names[i]), "{}", names[i]);
        }
    }
}
