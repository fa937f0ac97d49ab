//! Running an example binary from a test: where `cargo test` built it, a temporary
//! directory for its input files (written as CSV), its output as text, its failures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The example binary `name` next to the test's: tests run from `target/<profile>/deps/`.
/// (`cargo test` builds the examples whose `[[example]]` entry says `test = false` with the
/// tests; `cargo test --test X` alone does not.)
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("the test binary in target/<profile>/deps/");
    let bin = profile.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the {name} example is not built at {}: `cargo test` builds it with the tests, \
         `cargo test --test {name}_cli` alone does not (run `cargo build --example {name}` first)",
        bin.display()
    );
    bin
}

/// Runs example `name` with `args`.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name)).args(args).output().unwrap_or_else(|e| panic!("run the {name} example: {e}"))
}

/// Runs example `name` with `args` and checks it exits with `code`, nothing on stdout and
/// `wants` in stderr.
pub fn fails(name: &str, args: &[&str], code: i32, wants: &[&str]) {
    let out = run(name, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: stderr {err}");
    assert_eq!(text(&out.stdout), "", "{args:?}: nothing on stdout");
    for want in wants {
        assert!(err.contains(want), "{args:?}: stderr lacks {want:?}:\n{err}");
    }
}

/// A CSV field, double-quoted when it has a comma or a quote (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// `rows` as CSV text, each line ended by `\r\n` (`crlf`) or `\n`.
pub fn csv(rows: &[Vec<String>], crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    rows.iter().map(|r| r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + end).collect()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A fresh directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory, named after `label` and this process.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("audience-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `text` to file `name` in the directory; its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The path of `name` in the directory, without writing it.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
