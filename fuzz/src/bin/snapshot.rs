//! AFL target: snapshot files (see `tests/fuzz_checks/snapshot.rs`).

#[allow(dead_code)]
#[path = "../../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fn main() {
    // Made before the fork server starts, so every run reuses the one scratch directory.
    fuzz_checks::persisted::scratch();
    afl::fuzz!(|data: &[u8]| fuzz_checks::snapshot::check(data));
}
