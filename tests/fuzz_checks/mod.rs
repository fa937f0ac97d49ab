//! The checks of the fuzz targets (`fuzz/`), shared with `tests/fuzz_regressions.rs`, which
//! replays every kept input through them in `cargo test`. A check takes the fuzzer's bytes
//! and panics when an invariant breaks; errors the API documents are fine.
//!
//! Adding a target: a module here with `pub fn check(data: &[u8])`, a row in [`TARGETS`], a
//! `fuzz/src/bin/<name>.rs` like the others (and its `[[bin]]` in `fuzz/Cargo.toml`), seeds
//! in `fuzz/corpus/<name>/` and a `tests/fuzz/<name>/` (with an empty `.gitkeep` until it
//! keeps an input: the empty input, which every check must take); see the README's
//! "Fuzzing".

pub mod fixture;
pub mod inputs;
pub mod journal;
pub mod persisted;
pub mod query_parse;
pub mod snapshot;

/// A target's check: the fuzzer's bytes in, a panic when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target: its name (the binary in `fuzz/`, the directories of its inputs) and check.
pub const TARGETS: &[(&str, Check)] = &[
    ("query_parse", query_parse::check),
    ("inputs", inputs::check),
    ("snapshot", snapshot::check),
    ("journal", journal::check),
];
