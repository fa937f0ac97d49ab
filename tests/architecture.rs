//! The house's one-way imports, checked: the crate's top-level modules (a folder counts as
//! one) import each other without a cycle, the foundations (`error`, `span`, `id`, `par`) import
//! nothing above them (not even through a re-export of the crate root, `crate::Money`), and
//! no layer imports the `engine` facade.
//!
//! Imports are read from the source text: every `crate::<module>` path outside comments and
//! outside test code (a `#[cfg(test)] mod tests { ... }` at a file's end, or the one item a
//! `#[cfg(test)]` marks), a `use crate::{...}` spread over lines read as one. On failure
//! the message lists the cycle with the files and lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// `module -> (imported module -> first "file:line" that imports it)`.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/tags/pool.rs` -> `tags`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// Identifiers following each `crate::` in `line`, plus the first of a braced group
/// (`crate::{a, b::c}` gives `a` and `b`).
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
        rest = after;
    }
    out
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).filter(|m| m != "lib").collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" {
            continue; // the crate root only declares and re-exports
        }
        let text = fs::read_to_string(file).expect("a source file");
        let lines: Vec<&str> = text.lines().collect();
        let mut n = 0;
        while n < lines.len() {
            let line = lines[n];
            let at = n + 1;
            n += 1;
            if line.trim_start().starts_with("#[cfg(test)]") {
                match lines.get(n).map(|l| l.trim_start()) {
                    // A test module to the end of the file: tests may build an engine.
                    Some(l) if l.starts_with("mod tests {") => break,
                    // `mod tests;` (a file of its own, not read as a room) or one test item.
                    _ => {
                        n += 1;
                        continue;
                    }
                }
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // A `use` that rustfmt spread over several lines is read as one.
            let mut joined = code.to_owned();
            if code.contains("use crate::{") && !code.contains('}') {
                while n < lines.len() && !joined.contains('}') {
                    joined.push_str(lines[n].trim());
                    n += 1;
                }
            }
            for to in crate_paths(&joined) {
                // `crate::Money` names a re-export of the crate root, which imports everything.
                let to = if to.starts_with(char::is_uppercase) { "crate root".to_owned() } else { to };
                if to != from && (modules.contains(&to) || to == "crate root") {
                    let at = format!("{}:{}", file.strip_prefix(&src).unwrap().display(), at);
                    graph.entry(from.clone()).or_default().entry(to).or_insert(at);
                }
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// A cycle of the graph, if it has one (depth-first search).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, stack: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = graph();
    assert!(graph.len() >= 10, "the modules were found: {:?}", graph.keys());
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> =
            cycle.windows(2).map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]])).collect();
        panic!("an import cycle:\n  {}", steps.join("\n  "));
    }
}

#[test]
fn foundations_import_nothing_above_them() {
    let graph = graph();
    let allowed: BTreeMap<&str, &[&str]> =
        [("id", &[][..]), ("span", &[][..]), ("par", &[][..]), ("error", &["id", "span"][..])].into();
    for (module, may) in allowed {
        let imports: Vec<&String> = graph[module].keys().filter(|m| !may.contains(&m.as_str())).collect();
        assert!(imports.is_empty(), "{module} is a foundation but imports {imports:?}: {:?}", graph[module]);
    }
}

#[test]
fn no_layer_imports_the_engine() {
    let graph = graph();
    for (module, imports) in &graph {
        assert!(!imports.contains_key("engine"), "{module} imports the engine facade at {}", imports["engine"]);
    }
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into(), "a.rs:1".into());
    g.entry("b".into()).or_default().insert("c".into(), "b.rs:1".into());
    g.entry("c".into()).or_default().insert("a".into(), "c.rs:1".into());
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
    assert_eq!(crate_paths("use crate::{attrs::CmpOp, error::Error};"), ["attrs", "error"]);
    assert_eq!(crate_paths("x: crate::id::TagId, y: crate::span::Span"), ["id", "span"]);
    assert_eq!(crate_paths("use crate::{attrs::Attrs,customers::Directory,};"), ["attrs", "customers"]);
}
