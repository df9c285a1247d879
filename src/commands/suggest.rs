//! "Did you mean": the known name nearest to a typo.

/// The name in `names` nearest to `word` by edit distance, if it is near
/// enough to be a likely typo (at most a third of the word's letters wrong).
pub fn closest<'n>(word: &str, names: impl Iterator<Item = &'n str> + Clone) -> Option<&'n str> {
    let word = word.to_ascii_lowercase();
    let length = word.chars().count();
    let near_enough = |distance: usize, name: &str| distance <= (name.len().max(length) / 3).max(1);
    // The distance is at least the difference in length. When that alone rules
    // out every name (a pasted paragraph), skip the quadratic comparison.
    if names.clone().all(|name| !near_enough(length.abs_diff(name.len()), name)) {
        return None;
    }
    names
        .map(|name| (edit_distance(&word, name), name))
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
    fn typos_find_their_name() {
        let names = ["help", "status", "replicate", "subscribe", "subscriptions"];
        let closest = |word| closest(word, names.iter().copied());
        assert_eq!(closest("hlep"), Some("help"));
        assert_eq!(closest("STATSU"), Some("status"));
        assert_eq!(closest("replciate"), Some("replicate"));
        assert_eq!(closest("subscirbe"), Some("subscribe"));
        assert_eq!(closest("xyzzy"), None);
        assert_eq!(closest(""), None);
    }
}
