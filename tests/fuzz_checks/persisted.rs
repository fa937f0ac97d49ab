//! What the `snapshot` and `journal` checks share: a scratch directory, the checksums fixed
//! up (so the fuzzer gets past them to the decoders), and the round trip every opened engine
//! must pass: saved again, opened again, the same through the public API, and saved again to
//! the same bytes.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use audience::{Engine, Query, SyncPolicy};

/// Customers observed one by one (keys, tags, attributes, purchases, profile); a fuzzed
/// snapshot may hold billions of live ids in a few bytes of run containers.
const OBSERVED: usize = 512;

/// Tags whose query count is observed.
const COUNTED: usize = 64;

/// A directory of the process (and thread) the checks write their files in, removed when
/// the thread ends. Under `/dev/shm` where there is one: saving syncs, and a sync on tmpfs
/// costs nothing.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// The scratch directory, emptied. The fuzz targets call it before the fork server starts,
/// so every run of a fuzzer reuses one directory.
pub fn scratch() -> PathBuf {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let dir = &s
            .get_or_insert_with(|| {
                use std::sync::atomic::{AtomicU64, Ordering};
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let shm = Path::new("/dev/shm");
                let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let dir = base.join(format!("audience-fuzz-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).expect("a scratch directory");
                Scratch(dir)
            })
            .0;
        // What a run that crashed (or an earlier check) left.
        for entry in std::fs::read_dir(dir).expect("the scratch directory") {
            let _ = std::fs::remove_file(entry.expect("an entry").path());
        }
        dir.clone()
    })
}

/// The fuzzer's bytes split at the first: an even first byte asks for the checksums to be
/// fixed up, an odd one (or none) for the bytes as they are.
pub fn mode(data: &[u8]) -> (bool, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (b % 2 == 0, rest),
        None => (false, data),
    }
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Fixes a snapshot's checksums as `docs/format.md` lays them out: the header's, then each
/// section's (kind, length, payload) as long as its length stays in the file; an `END\0`
/// section of 16 bytes gets the section count and the file length it must hold.
pub fn fix_snapshot(b: &mut [u8]) {
    if b.len() < 16 {
        return;
    }
    let crc = crc32c::crc32c(&b[..12]);
    put(b, 12, &crc.to_le_bytes());
    let (mut at, mut sections) = (16usize, 0u64);
    while b.len() - at >= 16 {
        let len = u64_at(b, at + 4);
        if len > (b.len() - at - 16) as u64 {
            break;
        }
        let end = at + 12 + len as usize;
        if b[at..at + 4] == *b"END\0" && len == 16 {
            let file_len = b.len() as u64;
            put(b, at + 12, &sections.to_le_bytes());
            put(b, at + 20, &file_len.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b[at..end]);
        put(b, end, &crc.to_le_bytes());
        sections += 1;
        at = end + 4;
    }
}

/// Fixes a journal's checksums as `docs/format.md` lays them out: the header's, then each
/// record's payload and frame checksums as long as its payload stays in the file.
pub fn fix_journal(b: &mut [u8]) {
    if b.len() < 24 {
        return;
    }
    let crc = crc32c::crc32c(&b[..20]);
    put(b, 20, &crc.to_le_bytes());
    let mut at = 24usize;
    while b.len() - at >= 12 {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len > b.len() - at - 12 {
            break;
        }
        let payload = crc32c::crc32c(&b[at + 12..at + 12 + len]);
        put(b, at + 4, &payload.to_le_bytes());
        let frame = crc32c::crc32c(&b[at..at + 8]);
        put(b, at + 8, &frame.to_le_bytes());
        at += 12 + len;
    }
}

/// Everything observable of `e` through the public API, as text to compare; checks on the
/// way what ties the parts together (a key finds its customer, a tag's length is its
/// customers').
pub fn observe(e: &Engine) -> String {
    let live = e.customers();
    let mut out =
        format!("{} customers, {} purchases, last refresh {:?}\n", live.len(), e.purchase_count(), e.last_refresh());
    assert_eq!(live.len(), e.customer_count(), "customers() and customer_count()");
    let s = e.stats();
    out += &format!(
        "stats {} {} {} {} {} {} {} {}\n",
        s.customers,
        s.keyed_customers,
        s.tags,
        s.assignments,
        s.bitmap_bytes,
        s.attributes,
        s.attribute_bytes,
        s.purchases
    );
    let all = live.len() <= OBSERVED as u64;
    let mut lens = std::collections::BTreeMap::<String, u64>::new();
    for c in live.iter().take(OBSERVED) {
        let key = e.key_of(c);
        if let Some(k) = key {
            assert_eq!(e.id_of(k), Some(c), "the key {k:?} of {c:?} finds another customer");
        }
        let aliases = e.key_aliases(c).expect("a live customer");
        for k in &aliases {
            assert_eq!(e.id_of(k), Some(c), "the alias key {k:?} of {c:?} finds another customer");
        }
        let tags = e.tags_of(c).expect("a live customer");
        for t in &tags {
            *lens.entry((*t).to_owned()).or_default() += 1;
        }
        let expiry: Vec<_> = tags.iter().map(|t| e.expiry_of(c, t).expect("its own tag")).collect();
        out += &format!(
            "{c:?} {key:?} {aliases:?} {tags:?} {expiry:?} {:?} {:?} {:?} {:?}\n",
            e.attrs_of(c).expect("a live customer"),
            e.purchases_of(c).expect("a live customer"),
            e.stage_of(c).expect("a live customer"),
            e.rfm_of(c).expect("a live customer"),
        );
        out += &serde_json::to_string(&e.profile(c).expect("a live customer")).expect("a profile as JSON");
        out.push('\n');
    }
    for t in e.tags() {
        if all {
            assert_eq!(t.len, lens.get(t.name).copied().unwrap_or(0), "tag {:?}: its length and its customers", t.name);
        }
        out += &format!("{t:?}\n");
    }
    for t in e.tags().take(COUNTED) {
        out += &format!("count {:?}: {:?}\n", t.name, e.count(&Query::tag(t.name)));
    }
    out += &format!("count *: {:?}\n", e.count("*"));
    out += &format!("groups {:?}\n", e.exclusive_groups().collect::<Vec<_>>());
    out += &format!("attributes {:?}\n", e.attributes().collect::<Vec<_>>());
    out += &format!("aliases {:?}\n", e.aliases().collect::<Vec<_>>());
    out += &format!("plans {:?}\n", e.applied_plans().collect::<Vec<_>>());
    out += &format!("rules {:?}\n", e.rule_tags().map(|(t, q)| (t, q.to_string())).collect::<Vec<_>>());
    out += &format!("feed {} {}\n", e.tracks_changes(), e.last_change_seq());
    out += &format!("{:?} {:?}\n", e.lifecycle(), e.rfm_model());
    out
}

/// The round trip of an engine just opened from a file: saved to another file and opened
/// from it, it is the same through the public API; saved again, the same bytes; and both go
/// on alike (a refresh, the rules recomputed, the change feed drained). `dir` is the
/// scratch directory.
pub fn round_trip(e: &mut Engine, dir: &Path) {
    e.set_sync_policy(SyncPolicy::Manual);
    let (a, b) = (dir.join("a.snap"), dir.join("b.snap"));
    e.save(&a).expect("an opened engine saves");
    let mut o = Engine::open(&a).expect("what an opened engine saved opens");
    o.set_sync_policy(SyncPolicy::Manual);
    let seen = observe(e);
    assert_eq!(observe(&o), seen, "the engine saved and opened again is another");
    o.save(&b).expect("a reopened engine saves");
    let (first, again) = (std::fs::read(&a).expect("a.snap"), std::fs::read(&b).expect("b.snap"));
    assert!(first == again, "saving the reopened engine writes other bytes than saving the engine");
    if e.customer_count() > OBSERVED as u64 {
        return; // a refresh would cost what the customers cost
    }
    let day = e
        .last_refresh()
        .and_then(|d| d.checked_add_days(30))
        .unwrap_or(audience::Day::from_ymd(2024, 7, 1).expect("a day"));
    let (r1, r2) = (e.refresh(day), o.refresh(day));
    assert_eq!(format!("{r1:?}"), format!("{r2:?}"), "a refresh after the round trip");
    let (r1, r2) = (e.refresh_rules(), o.refresh_rules());
    assert_eq!(format!("{r1:?}"), format!("{r2:?}"), "the rules recomputed after the round trip");
    assert_eq!(e.changes(), o.changes(), "the change feed after the round trip");
    assert_eq!(observe(&o), observe(e), "the engines after a refresh");
}
