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

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
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
    }
}
