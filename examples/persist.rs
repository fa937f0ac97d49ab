//! Keeping what was acknowledged: a store's customers saved, reopened, a day of changes
//! journaled, a crash (the process ends without a checkpoint, and the last record is cut
//! short as a crash in the middle of a write leaves it), reopened: nothing acknowledged is
//! lost, the cut record is dropped and reported. Then a checkpoint folds the journal into a
//! new snapshot.
//!
//! ```sh
//! cargo run --example persist [DIR]
//! ```
//!
//! Works in DIR (default: a fresh folder under the system's temp dir, removed at the end).

use std::fs::OpenOptions;
use std::path::PathBuf;

use audience::{Audience, Day, Engine, Money, SyncPolicy, TagKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, temporary) = match std::env::args().nth(1) {
        Some(d) => (PathBuf::from(d), false),
        None => (std::env::temp_dir().join(format!("audience-persist-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("store.snap");
    let journal = dir.join("store.snap.journal");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&journal);

    // 1. Build and save.
    let mut engine = Engine::new();
    engine.define_tag("vip", TagKind::Value)?;
    engine.define_exclusive_group_with_kind("region", TagKind::Attribute)?;
    for (i, key) in ["ana", "ben", "chen", "dana", "eli"].iter().enumerate() {
        let c = engine.customer(&format!("{key}@example.com"))?;
        engine.tag(c, ["region:north", "region:south"][i % 2])?;
        engine.record_purchase(c, Day::from_ymd(2026, 3, 1 + i as u32)?, Money::parse("40.00")?)?;
    }
    engine.tag(engine.id_of("ana@example.com").expect("ana"), "vip")?;
    engine.refresh(Day::from_ymd(2026, 6, 30)?)?;
    let bytes = engine.save(&path)?;
    println!(
        "saved {} customers, {} tags: {bytes} bytes at {}",
        engine.customer_count(),
        engine.tags().count(),
        path.display()
    );

    // 2. Reopen: the journal is attached; every acknowledged write is in it.
    let mut engine = Engine::open(&path)?;
    engine.set_sync_policy(SyncPolicy::EveryWrite);
    let ben = engine.id_of("ben@example.com").expect("ben");
    // A day of changes.
    engine.tag(ben, "vip")?;
    let fay = engine.customer("fay@example.com")?;
    engine.tag(fay, "region:north")?;
    engine.record_purchase(fay, Day::from_ymd(2026, 7, 1)?, Money::parse("99.90")?)?;
    let north = engine.query("region:north")?;
    engine.tag_all(&north, "campaign:summer")?; // one journal record for the whole audience
    engine.set_attr(fay, "age", 31)?;
    engine.refresh(Day::from_ymd(2026, 7, 1)?)?;
    let acknowledged = observe(&engine)?;
    let last_ok = std::fs::metadata(&journal)?.len();
    // One more write, then the crash. Here: the engine is dropped without a checkpoint (a
    // dying process releases the journal's lock the same way), and its last record is cut in
    // half, as a crash in the middle of the write would leave it.
    engine.tag(fay, "vip")?;
    let full = std::fs::metadata(&journal)?.len();
    drop(engine);
    OpenOptions::new().write(true).open(&journal)?.set_len(last_ok + (full - last_ok) / 2)?;
    println!("journal: {last_ok} bytes acknowledged before the last write; crashed in the middle of it");

    // 3. Reopen after the crash.
    let (mut engine, report) = Engine::open_with_report(&path)?;
    println!(
        "reopened: generation {}, {} journal records replayed, torn tail {:?}",
        report.generation, report.replayed, report.torn_tail
    );
    assert_eq!(observe(&engine)?, acknowledged, "everything acknowledged before the crash is back");
    println!("everything acknowledged is back: {acknowledged}");

    // 4. Checkpoint: a new snapshot, an empty journal.
    engine.checkpoint()?;
    drop(engine);
    let (engine, report) = Engine::open_with_report(&path)?;
    println!("after a checkpoint: generation {}, {} records to replay", report.generation, report.replayed);
    assert_eq!(observe(&engine)?, acknowledged);
    drop(engine);

    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// A one-line summary of what the store holds.
fn observe(e: &Engine) -> Result<String, audience::Error> {
    let vips: Vec<&str> = e.query("vip")?.iter().filter_map(|c| e.key_of(c)).collect();
    let summer: Audience = e.query("campaign:summer")?;
    Ok(format!(
        "{} customers, vip {:?}, {} in campaign:summer, {} purchases, stage:active {}, last refresh {:?}",
        e.customer_count(),
        vips,
        summer.len(),
        e.purchase_count(),
        e.count("stage:active")?,
        e.last_refresh().map(|d| d.to_string()),
    ))
}
