//! No import cycle between the files of `src/`.
//!
//! A file depends on another when it names it with a `crate::…` or
//! `super::…` path (in a `use` or inline). A parent naming its own child
//! module (`mod x;`, `x::Item`) is structure, not an import, and is not
//! counted; test modules (`#[cfg(test)]` to the end of the file) are not
//! counted either. A cycle means neither file can be read, changed or moved
//! without the other; this test names every file of every cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that may depend on each other in a circle, and why.
const ALLOWED: &[&[&str]] = &[
    // The template language's evaluator and its built-in functions recurse
    // into each other (lazy `if`/`and`/`or`): the module doc of
    // `cards/template` says why that loop stays.
    &["cards/template/eval.rs", "cards/template/functions.rs"],
];

#[test]
fn no_file_of_src_is_in_an_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = modules(&root);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &files {
        let text = std::fs::read_to_string(root.join(file)).expect("readable");
        let code = without_tests(&without_comments(&text));
        let here = module.clone();
        for path in paths(&code) {
            let Some(absolute) = absolute(&here, file, &path) else { continue };
            let Some(target) = longest_module(&files, &absolute) else { continue };
            let target_file = &files[&target];
            if target_file != file && target_file != "lib.rs" {
                edges.entry(file.clone()).or_default().insert(target_file.clone());
            }
        }
    }
    let cycles: Vec<Vec<String>> = strongly_connected(&edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .filter(|component| !ALLOWED.iter().any(|allowed| component.iter().all(|f| allowed.contains(&f.as_str()))))
        .collect();
    let described: Vec<String> = cycles
        .iter()
        .map(|component| {
            let mut text = component.join(", ");
            for from in component {
                for to in edges.get(from).into_iter().flatten().filter(|to| component.contains(to)) {
                    text.push_str(&format!("\n    {from} → {to}"));
                }
            }
            text
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles between files of src/:\n  {}", described.join("\n  "));
}

/// The checker itself: a circle through `super::` and `crate::` is found,
/// a parent's use of its child is not one.
#[test]
fn the_checker_finds_a_cycle_and_not_a_parent_using_its_child() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a.rs".into()).or_default().insert("b.rs".into());
    edges.entry("b.rs".into()).or_default().insert("a.rs".into());
    edges.entry("c.rs".into()).or_default().insert("a.rs".into());
    let components: Vec<_> = strongly_connected(&edges).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(components, vec![vec!["a.rs".to_string(), "b.rs".to_string()]]);

    let code = "use super::{now_ms, Answer};\nuse crate::cards::{self, views::{Tone}};\nfn f() { crate::x::y(); }";
    let found: BTreeSet<String> = paths(code).into_iter().map(|p| p.join("::")).collect();
    let expected = ["super::now_ms", "super::Answer", "crate::cards::self", "crate::cards::views::Tone", "crate::x::y"];
    assert_eq!(found, expected.iter().map(|s| s.to_string()).collect());
}

/// Module path (`bot::cmd::runs`) → file under src/ (`bot/cmd/runs.rs`).
fn modules(root: &Path) -> BTreeMap<Vec<String>, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ readable") {
            let path: PathBuf = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).expect("under src").to_string_lossy().replace('\\', "/");
            if relative == "main.rs" {
                continue; // the binary reaches the library as `drbot::`
            }
            let mut module: Vec<String> = relative.trim_end_matches(".rs").split('/').map(str::to_string).collect();
            if module.last().is_some_and(|last| last == "mod" || last == "lib") {
                module.pop();
            }
            found.insert(module, relative);
        }
    }
    found
}

/// The module `super`/`crate`/`self` paths in `path` mean, from `module`
/// (declared in `file`).
fn absolute(module: &[String], _file: &str, path: &[String]) -> Option<Vec<String>> {
    let mut segments = path.iter();
    let mut base: Vec<String> = match segments.next()?.as_str() {
        "crate" => Vec::new(),
        "super" => module[..module.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    let mut rest: Vec<String> = Vec::new();
    for segment in segments {
        if segment == "super" && rest.is_empty() {
            base.pop()?;
        } else if segment != "self" {
            rest.push(segment.clone());
        }
    }
    base.extend(rest);
    Some(base)
}

/// The deepest module that `path` reaches.
fn longest_module(files: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| files.contains_key(prefix))
}

/// Every `crate::…` / `super::…` path in `code`, `use` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let word_start = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if word_start && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (mut paths, end) = tree(&chars, i, Vec::new());
            found.append(&mut paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// Reads `a::b::{c, d::e}` at `at`, with `prefix` before it: the full
/// paths, and where reading stopped.
fn tree(chars: &[char], mut at: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut path = prefix;
    loop {
        while at < chars.len() && chars[at].is_whitespace() {
            at += 1;
        }
        if at < chars.len() && chars[at] == '{' {
            let mut all = Vec::new();
            at += 1;
            loop {
                while at < chars.len() && (chars[at].is_whitespace() || chars[at] == ',') {
                    at += 1;
                }
                if at >= chars.len() || chars[at] == '}' {
                    return (all, at + 1);
                }
                let (mut inner, next) = tree(chars, at, path.clone());
                all.append(&mut inner);
                if next <= at {
                    return (all, at + 1);
                }
                at = next;
            }
        }
        let start = at;
        while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
            at += 1;
        }
        if at == start {
            // `*` or the end of the path.
            if at < chars.len() && chars[at] == '*' {
                at += 1;
            }
            return (vec![path], at);
        }
        path.push(chars[start..at].iter().collect());
        if chars.get(at) == Some(&':') && chars.get(at + 1) == Some(&':') {
            at += 2;
        } else {
            // `as name` and anything after the path are not part of it.
            return (vec![path], at);
        }
    }
}

fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The file without its test module (from `#[cfg(test)]` on).
fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// Tarjan's strongly connected components, each sorted.
fn strongly_connected(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        let edges = state.edges;
        for to in edges.get(node).into_iter().flatten() {
            let to = to.as_str();
            if !state.index.contains_key(to) {
                visit(state, to);
                let low = state.low[node].min(state.low[to]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(to) {
                let low = state.low[node].min(state.index[to]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components
}
