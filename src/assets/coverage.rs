//! What a replication covers: the data (Unity Catalog), the workspace
//! assets, or both. `replicate` alone is data, as it always was; the flags
//! are the same words in chat and on the command line.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Unity Catalog objects only (`--data-only`, or no flag).
    #[default]
    Data,
    /// Data, then workspace assets (`--assets`).
    Both,
    /// Workspace assets only (`--assets-only`).
    Assets,
}

/// The flags, as typed.
pub const ASSETS: &str = "--assets";
pub const ASSETS_ONLY: &str = "--assets-only";
pub const DATA_ONLY: &str = "--data-only";

impl Coverage {
    pub fn data(self) -> bool {
        self != Coverage::Assets
    }

    pub fn assets(self) -> bool {
        self != Coverage::Data
    }

    /// The coverage a flag names (any case).
    pub fn from_flag(word: &str) -> Option<Coverage> {
        [(ASSETS, Coverage::Both), (ASSETS_ONLY, Coverage::Assets), (DATA_ONLY, Coverage::Data)]
            .into_iter()
            .find(|(flag, _)| word.eq_ignore_ascii_case(flag))
            .map(|(_, coverage)| coverage)
    }

    /// Takes the coverage flags out of `args`; two different ones are an error.
    pub fn take_from<'a>(args: &[&'a str]) -> Result<(Coverage, Vec<&'a str>), String> {
        let mut coverage: Option<Coverage> = None;
        let mut rest = Vec::new();
        for arg in args {
            match Coverage::from_flag(arg) {
                Some(found) if coverage.is_some_and(|s| s != found) => {
                    return Err(format!("{ASSETS}, {ASSETS_ONLY} and {DATA_ONLY} exclude each other"))
                }
                Some(found) => coverage = Some(found),
                None => rest.push(*arg),
            }
        }
        Ok((coverage.unwrap_or_default(), rest))
    }

    /// How cards and the CLI name it.
    pub fn label(self) -> &'static str {
        match self {
            Coverage::Data => "data",
            Coverage::Both => "data and workspace assets",
            Coverage::Assets => "workspace assets",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_taken_out_and_exclude_each_other() {
        assert_eq!(
            Coverage::take_from(&["prod", "--Assets", "--dry-run"]),
            Ok((Coverage::Both, vec!["prod", "--dry-run"]))
        );
        assert_eq!(Coverage::take_from(&["--assets-only"]), Ok((Coverage::Assets, vec![])));
        assert_eq!(Coverage::take_from(&["main"]), Ok((Coverage::Data, vec!["main"])));
        assert!(Coverage::take_from(&["--assets", "--data-only"]).is_err());
        assert!(
            Coverage::Both.data() && Coverage::Both.assets() && !Coverage::Assets.data() && !Coverage::Data.assets()
        );
    }
}
