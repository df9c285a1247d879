//! Storage locations, primary → secondary.
//!
//! Each storage account of the primary region has a counterpart in the
//! secondary: its own account, or, for a geo-redundant account, the same
//! account (after a storage failover its name serves the secondary region).
//! Never the `<account>-secondary` endpoint: that is RA-GRS's read-only
//! copy, where nothing can be created (sandbox/FIDELITY.md); the
//! configuration refuses a mapping to it. The mapping is configuration: a list of URL prefixes, longest
//! match first, so `abfss://c@a.dfs…/x/y` becomes `abfss://c@b.dfs…/x/y`.

/// Prefix pairs, primary → secondary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationMapping {
    pairs: Vec<(String, String)>,
}

impl LocationMapping {
    pub fn new<I, A, B>(pairs: I) -> LocationMapping
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().map(|(a, b)| (a.into(), b.into())).collect();
        // Longest prefix first, so a more specific rule wins.
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        LocationMapping { pairs }
    }

    /// The secondary's location for a primary location, or `None` when no
    /// rule covers it (the object cannot be replicated, and is reported).
    pub fn to_secondary(&self, primary: &str) -> Option<String> {
        self.pairs.iter().find_map(|(from, to)| primary.strip_prefix(from.as_str()).map(|rest| format!("{to}{rest}")))
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unmapped_is_none() {
        let mapping = LocationMapping::new([
            ("abfss://uc@a.dfs.core.windows.net/", "abfss://uc@b.dfs.core.windows.net/"),
            ("abfss://uc@a.dfs.core.windows.net/special/", "abfss://sp@c.dfs.core.windows.net/"),
        ]);
        assert_eq!(
            mapping.to_secondary("abfss://uc@a.dfs.core.windows.net/main/t"),
            Some("abfss://uc@b.dfs.core.windows.net/main/t".into())
        );
        assert_eq!(
            mapping.to_secondary("abfss://uc@a.dfs.core.windows.net/special/t"),
            Some("abfss://sp@c.dfs.core.windows.net/t".into())
        );
        assert_eq!(mapping.to_secondary("abfss://other@z.dfs.core.windows.net/t"), None);
    }
}
