//! Mentions: in channels and group chats Teams puts `<at>drbot</at>` into
//! the text. The command is what is left once every mention is removed.

/// The text with `<at>…</at>` mentions and HTML spaces removed, whitespace collapsed.
pub fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_ci(rest, "<at") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match find_ci(after, "</at>") {
            Some(end) => rest = &after[end + "</at>".len()..],
            None => {
                rest = "";
            }
        }
        out.push(' ');
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the ASCII `needle` starts in `haystack`, ignoring ASCII case. In
/// place: lowercasing a copy per mention made a message of many mentions
/// quadratic (seconds of CPU for one 200 KB message).
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    // An ASCII match never starts inside a multi-byte character, so the index is a char boundary.
    haystack.as_bytes().windows(needle.len()).position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_removed_wherever_they_are() {
        assert_eq!(strip_mentions("<at>drbot</at> help"), "help");
        assert_eq!(strip_mentions("  <at>drbot</at>&nbsp;replicate   main --dry-run\n"), "replicate main --dry-run");
        assert_eq!(strip_mentions("status <AT>DR Bot</AT>"), "status");
        assert_eq!(strip_mentions("<at>drbot</at>"), "");
        assert_eq!(strip_mentions("help <at>unterminated"), "help");
        assert_eq!(strip_mentions("plain text"), "plain text");
        assert_eq!(strip_mentions("é<at>x</at>ü"), "é ü");
        assert_eq!(strip_mentions("ü<AT>ß</aT>é help"), "ü é help");
    }

    #[test]
    fn many_mentions_take_linear_time() {
        let text = format!("{} help", "<at>x</at>".repeat(50_000));
        let started = std::time::Instant::now();
        assert_eq!(strip_mentions(&text), "help");
        // Quadratic, this took tens of seconds; linear, milliseconds even unoptimised.
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
