//! Replays every input the fuzz targets keep (`tests/fuzz/<target>/`: what they found and a
//! minimized set of interesting inputs; `fuzz/corpus/<target>/`: the seeds) through the
//! target's own check, so a fixed bug stays fixed without the fuzzer installed. See
//! `fuzz/` and the README's "Fuzzing".

mod fuzz_checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use fuzz_checks::TARGETS;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_passes_its_check() {
    let mut failed = Vec::new();
    let mut replayed = 0;
    for &(target, check) in TARGETS {
        let kept = root().join("tests/fuzz").join(target);
        assert!(kept.is_dir(), "{} is missing: every target keeps its inputs there", kept.display());
        for file in files(&kept).into_iter().chain(files(&root().join("fuzz/corpus").join(target))) {
            let data = std::fs::read(&file).unwrap();
            replayed += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "{} of {replayed} inputs fail their check:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn every_input_directory_has_a_target() {
    for dir in [root().join("tests/fuzz"), root().join("fuzz/corpus")] {
        // `fuzz/` is not in the published package.
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "{}/{name} belongs to no target in tests/fuzz_checks",
                dir.display()
            );
        }
    }
}

/// Writes the seeds of the targets that read files (`fuzz/corpus/snapshot/`,
/// `fuzz/corpus/journal/`) from the engines their checks describe:
/// `cargo test --test fuzz_regressions -- --ignored write_seeds`.
#[test]
#[ignore = "writes fuzz/corpus; run it after a change to the snapshot or journal format"]
fn write_seeds() {
    let corpus = root().join("fuzz/corpus");
    let scratch = fuzz_checks::persisted::scratch();
    let sets = [("snapshot", fuzz_checks::snapshot::seeds(&scratch)), ("journal", fuzz_checks::journal::seeds())];
    for (target, seeds) in sets {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
