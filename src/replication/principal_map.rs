//! The pair's principal mapping, primary name → secondary name: a leaf the
//! configuration holds and `principals.rs` explains.

use std::collections::BTreeMap;

use super::snapshot::{Common, Grants};

/// Primary principal → its name on the secondary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrincipalMap {
    names: BTreeMap<String, String>,
}

impl PrincipalMap {
    pub fn new<I, A, B>(pairs: I) -> PrincipalMap
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        PrincipalMap { names: pairs.into_iter().map(|(a, b)| (a.into(), b.into())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name `principal` has on the secondary: its mapping, or itself.
    pub fn to_secondary(&self, principal: &str) -> String {
        self.names.get(principal).cloned().unwrap_or_else(|| principal.to_string())
    }

    /// The primary's principal mapped to `principal`, if one is.
    pub fn source_of(&self, principal: &str) -> Option<&str> {
        self.names.iter().find(|(_, to)| to.as_str() == principal).map(|(from, _)| from.as_str())
    }

    /// The same mapping the other way: for a replication from the secondary
    /// (a failback), whose source names are this map's targets.
    pub fn inverse(&self) -> PrincipalMap {
        PrincipalMap::new(self.names.iter().map(|(a, b)| (b.clone(), a.clone())))
    }

    /// Grants under their secondary names; two principals mapped to one
    /// name hold the union of their privileges.
    pub fn grants(&self, grants: &Grants) -> Grants {
        if self.names.is_empty() {
            return grants.clone();
        }
        let mut out = Grants::new();
        for (principal, privileges) in grants {
            out.entry(self.to_secondary(principal)).or_default().extend(privileges.iter().cloned());
        }
        out
    }

    /// An object's owner and grants under their secondary names; the rest
    /// (comment, properties, tags) as it is.
    pub fn common(&self, common: &Common) -> Common {
        let owner = if common.owner.is_empty() { String::new() } else { self.to_secondary(&common.owner) };
        Common { owner, grants: self.grants(&common.grants), ..common.clone() }
    }
}
