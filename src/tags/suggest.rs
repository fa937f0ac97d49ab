//! "Did you mean": the known names closest to an unknown one, in microseconds at any number
//! of names.
//!
//! - **Few names** (at most [`SCAN_MAX`]): every name is compared with the unknown one, and
//!   names up to a third of its length in edits away (at least two) are offered.
//! - **Many names**: an index finds the names **one edit away** (insert, delete, substitute
//!   or swap one character) or equal but for letter case, without a scan. Each name is filed
//!   once, under a key made of its *bag value* (the sum of a keyed 64-bit hash of each of its
//!   lower-cased characters, so that anagrams share it: the anagram hashing of Reynaert's
//!   TICCL) and its last character. One edit moves the bag by a known amount: a swap by
//!   nothing, a missing character `a` by `+h(a)`, an extra `c` by `-h(c)`, a substitution by
//!   `h(a) - h(c)`; and it keeps the last character unless it happens at the end. So the
//!   candidates are a few keys per character of the unknown name and of the names' alphabet
//!   (about `|name| * |alphabet|` hash probes, a few hundred for Latin names), each checked
//!   in linear time. The last character splits what anagram hashing cannot (`t123456` and
//!   `t654321`). The probes and checks are bounded ([`MAX_PROBES`], [`MAX_CHECKS`]), and a
//!   key shared by more than [`MAX_BAG`] names files no more of them, so no set of names
//!   makes a lookup or an insert slow.
//!
//! Suggestions are ranked by edit distance ignoring case, then by exact edit distance, then
//! by name; at most three are offered.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::name::edit_distance;

/// Pools of up to this many names are scanned whole (a few hundred microseconds at most).
pub(crate) const SCAN_MAX: usize = 2_048;
/// The most hash probes of one index lookup.
pub(crate) const MAX_PROBES: usize = 20_000;
/// The most candidate names one index lookup compares.
pub(crate) const MAX_CHECKS: usize = 4_096;
/// The most names filed under one key.
pub(crate) const MAX_BAG: usize = 32;
/// How many suggestions are offered.
const OFFER: usize = 3;

/// The near-miss index over a set of names identified by `u32` ids. The names live with the
/// caller; every method that needs one takes a lookup `name_of(id)`.
#[derive(Clone, Debug)]
pub(crate) struct Suggest {
    /// Ids by the key of their name (bag value and last character).
    bags: HashTable<u32>,
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

/// The key of a bag value and a last character.
fn key(seed: u64, bag: u64, last: char) -> u64 {
    bag ^ char_hash(seed.rotate_left(32) ^ 0x1A57, last)
}

/// The key of a name: its bag value (the sum of its lower-cased characters' hashes) and its
/// last lower-cased character.
fn key_of(seed: u64, name: &str) -> u64 {
    let (bag, last) = folded(name).fold((0u64, '\0'), |(v, _), c| (v.wrapping_add(char_hash(seed, c)), c));
    key(seed, bag, last)
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

    fn key(&self, bag: u64, last: char) -> u64 {
        key(self.seed, bag, last)
    }

    /// Files `name` under `id`. `name_of` resolves the ids already filed (the table rehashes
    /// them when it grows).
    pub(crate) fn insert<'a>(&mut self, id: u32, name: &str, name_of: impl Fn(u32) -> &'a str) {
        let seed = self.seed;
        let k = key_of(seed, name);
        if self.bags.iter_hash(k).nth(MAX_BAG - 1).is_some() {
            return; // a pool of anagrams: this one is found by a scan only
        }
        self.bags.insert_unique(k, id, |&t| key_of(seed, name_of(t)));
        for c in folded(name) {
            match self.ascii.get_mut(c as usize) {
                Some(n) => *n += 1,
                None => *self.alphabet.entry(c).or_insert(0) += 1,
            }
        }
    }

    /// Every character the filed names use.
    fn characters(&self) -> impl Iterator<Item = char> + '_ {
        let ascii = (0u8..128).filter(|&b| self.ascii[b as usize] > 0).map(char::from);
        ascii.chain(self.alphabet.keys().copied())
    }

    /// Makes room for `additional` names.
    pub(crate) fn reserve<'a>(&mut self, additional: usize, name_of: impl Fn(u32) -> &'a str) {
        let seed = self.seed;
        self.bags.reserve(additional, |&t| key_of(seed, name_of(t)));
    }

    /// Unfiles `name` (filed under `id`); nothing happens when it was not filed.
    pub(crate) fn remove(&mut self, id: u32, name: &str) {
        let Ok(entry) = self.bags.find_entry(key_of(self.seed, name), |&t| t == id) else { return };
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
            + size_of::<[u32; 128]>()
            + self.alphabet.capacity() * (size_of::<(char, u32)>() + 1)
    }

    /// The keys under which names one edit from `q` (folded, non-empty, ending in `last`)
    /// are filed.
    fn probes<'q>(&'q self, q: &'q [char], last: char) -> impl Iterator<Item = u64> + 'q {
        let v = self.bag(q);
        let before_last = q.len().checked_sub(2).map(|i| q[i]);
        let mut distinct = q.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let alphabet: Vec<char> = self.characters().collect();
        let alphabet2 = alphabet.clone();
        // Same letters (a swap, or letter case), the last two swapped.
        let same = [Some(self.key(v, last)), before_last.map(|b| self.key(v, b))];
        // An extra letter c; or the extra letter is the last one.
        let extra = distinct
            .clone()
            .into_iter()
            .map(move |c| self.key(v.wrapping_sub(self.h(c)), last))
            .chain(before_last.map(|b| self.key(v.wrapping_sub(self.h(last)), b)));
        // A missing letter a, inside or at the end.
        let missing = alphabet.into_iter().flat_map(move |a| {
            let w = v.wrapping_add(self.h(a));
            [self.key(w, last), self.key(w, a)]
        });
        // A wrong letter c for a, inside or (c being the last) at the end.
        let wrong = distinct.into_iter().flat_map(move |c| {
            let alphabet = alphabet2.clone();
            alphabet.into_iter().filter(move |&a| a != c).flat_map(move |a| {
                let w = v.wrapping_sub(self.h(c)).wrapping_add(self.h(a));
                [Some(self.key(w, last)), (c == last).then(|| self.key(w, a))]
            })
        });
        same.into_iter().flatten().chain(extra).chain(missing).chain(wrong.flatten())
    }

    /// Up to three names closest to `query` (see the module docs): a scan of `all` when there
    /// are at most [`SCAN_MAX`] names (`len`), else the index.
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
        let mut buf = Vec::new();
        let accept = |name: &'a str, d: usize, found: &mut Vec<(usize, usize, &'a str)>| {
            let n: Vec<char> = name.chars().collect();
            found.push((d, edit_distance(&exact, &n, exact.len() + n.len()), name));
        };
        if len <= SCAN_MAX {
            let limit = (q.len() / 3).max(2);
            for name in all {
                fold(name, &mut buf);
                let d = edit_distance(&q, &buf, limit);
                if d <= limit {
                    accept(name, d, &mut found);
                }
            }
        } else if let Some(&last) = q.last() {
            let mut ids: Vec<u32> = Vec::new();
            'probes: for p in self.probes(&q, last).take(MAX_PROBES) {
                for &id in self.bags.iter_hash(p) {
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
            s.insert(i as u32, n, |t| names[t as usize]);
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
            s.insert(i as u32, n, |t| names[t as usize]);
        }
        s.remove(0, "vip");
        let got = s.suggest("vi", SCAN_MAX + 1, std::iter::empty(), |t| names.get(t as usize).copied());
        assert!(got.is_empty(), "vipp is two edits away: {got:?}");
        assert_eq!(s.ascii[b'v' as usize], 1);
        s.remove(1, "vipp");
        assert!(s.characters().next().is_none() && s.bags.is_empty());
    }

    #[test]
    fn a_pool_of_anagrams_is_filed_only_up_to_the_cap() {
        // 720 distinct permutations of "abcdef" (Lehmer codes 0..720).
        let names: Vec<String> = (0..720usize)
            .map(|mut code| {
                let mut pool: Vec<char> = "abcdef".chars().collect();
                let mut out = String::new();
                for radix in (1..=6).rev() {
                    out.push(pool.remove(code % radix));
                    code /= radix;
                }
                out
            })
            .collect();
        assert_eq!(names.iter().collect::<std::collections::HashSet<_>>().len(), 720);
        let mut s = Suggest::default();
        for (i, n) in names.iter().enumerate() {
            s.insert(i as u32, n, |t| &names[t as usize]);
        }
        // Six keys (the last letter splits the anagrams), each filed up to the cap.
        assert_eq!(s.bags.len(), 6 * MAX_BAG);
    }
}
