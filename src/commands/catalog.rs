//! Every command drbot knows, with its usage and summary. The help card, the
//! "did you mean" suggestion and the Teams manifest's command list all come
//! from here.

/// One command's help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandHelp {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    /// Whether this build carries it out (help lists only those).
    pub available: bool,
}

pub const CATALOG: &[CommandHelp] = &[
    CommandHelp {
        name: "help",
        usage: "help [command]",
        summary: "What drbot can do, and how to ask.",
        available: true,
    },
    CommandHelp {
        name: "status",
        usage: "status",
        summary: "DR readiness: both workspaces' health, the last replication, RPO and drift.",
        available: true,
    },
    CommandHelp {
        name: "replicate",
        usage: "replicate [catalog] [--dry-run]",
        summary: "Plan the replication from primary to secondary, review it, then run it.",
        available: true,
    },
    CommandHelp { name: "runs", usage: "runs", summary: "Recent replication runs and their results.", available: true },
    CommandHelp { name: "run", usage: "run ID", summary: "One run, with each object's result.", available: true },
    CommandHelp {
        name: "cancel",
        usage: "cancel ID",
        summary: "Stop a replication or deployment in progress.",
        available: true,
    },
    CommandHelp {
        name: "subscribe",
        usage: "subscribe daily HH:MM [timezone] | every Nh",
        summary: "Post the readiness dashboard here on a schedule.",
        available: true,
    },
    CommandHelp {
        name: "unsubscribe",
        usage: "unsubscribe",
        summary: "Stop the scheduled posts in this chat.",
        available: true,
    },
    CommandHelp {
        name: "subscriptions",
        usage: "subscriptions",
        summary: "The scheduled posts of this chat.",
        available: true,
    },
    CommandHelp {
        name: "deploy",
        usage: "deploy hub | deploy transit | deploy spoke NAME",
        summary: "Preview with What-If, approve, and deploy both regions.",
        available: true,
    },
    CommandHelp {
        name: "whoami",
        usage: "whoami",
        summary: "Who drbot thinks you are, and what you have granted it.",
        available: true,
    },
    CommandHelp { name: "signout", usage: "signout", summary: "Forget your sign-in.", available: true },
    CommandHelp {
        name: "audit",
        usage: "audit",
        summary: "Recent actions and who took them (admins).",
        available: true,
    },
];

/// The commands this build carries out.
pub fn available() -> impl Iterator<Item = &'static CommandHelp> {
    CATALOG.iter().filter(|c| c.available)
}

pub fn find(name: &str) -> Option<&'static CommandHelp> {
    CATALOG.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The known command nearest to `word` by edit distance, if it is near enough
/// to be a likely typo (at most a third of the word's letters wrong).
pub fn closest_command(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    let length = word.chars().count();
    let near_enough = |distance: usize, name: &str| distance <= (name.len().max(length) / 3).max(1);
    // The distance is at least the difference in length. When that alone rules
    // out every command (a pasted paragraph), skip the quadratic comparison.
    if CATALOG.iter().all(|c| !near_enough(length.abs_diff(c.name.len()), c.name)) {
        return None;
    }
    CATALOG
        .iter()
        .map(|c| (edit_distance(&word, c.name), c.name))
        .min()
        .filter(|(distance, name)| near_enough(*distance, name))
        .map(|(_, name)| name)
}

/// Edit distance over characters where swapping two neighbours counts as
/// one edit (optimal string alignment): "hlep" is one typo from "help".
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_command() {
        assert_eq!(closest_command("hlep"), Some("help"));
        assert_eq!(closest_command("STATSU"), Some("status"));
        assert_eq!(closest_command("replciate"), Some("replicate"));
        assert_eq!(closest_command("subscirbe"), Some("subscribe"));
        assert_eq!(closest_command("xyzzy"), None);
        assert_eq!(closest_command(""), None);
    }

    #[test]
    fn names_are_unique_and_usages_start_with_the_name() {
        for (i, c) in CATALOG.iter().enumerate() {
            assert!(c.usage.starts_with(c.name), "{}", c.name);
            assert!(CATALOG[i + 1..].iter().all(|d| d.name != c.name), "{} twice", c.name);
        }
    }
}
