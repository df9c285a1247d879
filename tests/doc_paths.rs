//! The library's doc comments name files of this repository only: every
//! path they mention (`dir/file.ext`) exists here, so a reader can open it.
//! A link to public documentation is a URL and is not checked.

use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &["rs", "md", "json", "toml", "yml", "yaml", "ts", "js", "sh", "bicep"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Path-like words of one comment line: `a/b.ext`, not inside a URL.
fn paths(comment: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in comment.split(|c: char| c.is_whitespace() || "`()[]<>,;'\"".contains(c)) {
        if word.contains("://") || !word.contains('/') {
            continue;
        }
        let word = word.trim_end_matches(['.', ':']);
        let Some((_, extension)) = word.rsplit_once('.') else { continue };
        if EXTENSIONS.contains(&extension) && !word.contains('{') && !word.contains('*') {
            found.push(word.to_string());
        }
    }
    found
}

#[test]
fn doc_comments_name_only_files_of_this_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            let Some(comment) = line.strip_prefix("///").or_else(|| line.strip_prefix("//!")) else { continue };
            for path in paths(comment) {
                if !root.join(&path).exists() {
                    missing.push(format!("{}:{}: {path}", file.strip_prefix(root).unwrap().display(), number + 1));
                }
            }
        }
    }
    assert!(missing.is_empty(), "doc comments name files that are not in this repository:\n{}", missing.join("\n"));
}

#[test]
fn the_check_sees_paths_and_skips_urls() {
    assert_eq!(paths("see (infra/spoke.json) and docs/STATUS.md."), ["infra/spoke.json", "docs/STATUS.md"]);
    assert!(paths("<https://learn.microsoft.com/a/b.md> and src/{name}.rs").is_empty());
}
