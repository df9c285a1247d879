//! Any name → either a refusal or a backtick-quoted identifier that reads
//! back as exactly that one name: nothing can escape the quotes. Literals
//! likewise stay one literal.
#![no_main]

use drbot::replication::sql::{quote_identifier, quote_literal};
use libfuzzer_sys::fuzz_target;

/// Reads one backtick-quoted identifier back, as a SQL tokenizer would; `None`
/// if the text is not exactly one.
fn unquote_identifier(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('`')?.strip_suffix('`')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            // Inside, a backtick only ever appears doubled.
            if chars.next() != Some('`') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// Reads one single-quoted, backslash-escaped literal back.
fn unquote_literal(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else { return };
    if let Ok(quoted) = quote_identifier(name) {
        assert_eq!(unquote_identifier(&quoted).as_deref(), Some(name), "{quoted:?} does not read back");
        assert!(!name.chars().any(char::is_control), "a control character was accepted");
    }
    if let Ok(quoted) = quote_literal(name) {
        assert_eq!(unquote_literal(&quoted).as_deref(), Some(name), "{quoted:?} does not read back");
    }
});
