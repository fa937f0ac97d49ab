//! AFL target: the other entry points that read user text (see `tests/fuzz_checks/inputs.rs`).

#[allow(dead_code)]
#[path = "../../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fn main() {
    // Built before the fork server starts, so every run shares the one fixture engine.
    fuzz_checks::fixture::with(|_| ());
    afl::fuzz!(|data: &[u8]| fuzz_checks::inputs::check(data));
}
