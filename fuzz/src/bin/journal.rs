//! AFL target: journals replayed on a fixed snapshot (see `tests/fuzz_checks/journal.rs`).

#[allow(dead_code)]
#[path = "../../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fn main() {
    // Made before the fork server starts, so every run shares the base snapshot and reuses
    // the one scratch directory.
    fuzz_checks::journal::base();
    afl::fuzz!(|data: &[u8]| fuzz_checks::journal::check(data));
}
