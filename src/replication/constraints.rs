//! Informational primary and foreign keys: what a table declares, how two
//! tables' declarations differ, and the order they can be set in.
//!
//! Unity Catalog keeps them with the table (the tables API's
//! `table_constraints`), not in the Delta log, and a deep clone read through
//! Delta Sharing carries none, so every key the primary declares is added
//! again on the secondary (`ALTER TABLE … ADD CONSTRAINT`). Databricks
//! checks them when they are added (never against the rows): a foreign key
//! must name its parent's primary key, so it is added after that key; a
//! primary key that a foreign key references cannot be dropped without it
//! (`DROP CONSTRAINT … RESTRICT`, the default), so those foreign keys are
//! dropped first. Pure: the planner (`planner.rs`) turns what is here into
//! actions, `diff` and `verify` report the differences.

use std::collections::BTreeMap;

/// One informational key of a table, as the tables API's `TableConstraint`
/// describes it (`primary_key_constraint` / `foreign_key_constraint`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Constraint {
    /// Unique within the table's schema.
    pub name: String,
    /// The key columns (a foreign key's child columns), in order.
    pub columns: Vec<String>,
    pub key: Key,
    /// `RELY`: the optimizer may trust it.
    #[serde(default)]
    pub rely: bool,
}

/// Which kind of key.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Primary,
    /// References `parent_table` (a full name) on `parent_columns`, its
    /// primary key's columns.
    Foreign {
        parent_table: String,
        parent_columns: Vec<String>,
    },
}

impl Constraint {
    pub fn is_primary(&self) -> bool {
        self.key == Key::Primary
    }

    /// The table this foreign key references, if it is one.
    pub fn parent(&self) -> Option<&str> {
        match &self.key {
            Key::Primary => None,
            Key::Foreign { parent_table, .. } => Some(parent_table),
        }
    }

    /// For people: `PRIMARY KEY pk_orders (id)` or `FOREIGN KEY fk (a) → t (b)`.
    pub fn describe(&self) -> String {
        let rely = if self.rely { " RELY" } else { "" };
        match &self.key {
            Key::Primary => format!("PRIMARY KEY {} ({}){rely}", self.name, self.columns.join(", ")),
            Key::Foreign { parent_table, parent_columns } => format!(
                "FOREIGN KEY {} ({}) → {parent_table} ({}){rely}",
                self.name,
                self.columns.join(", "),
                parent_columns.join(", ")
            ),
        }
    }
}

/// How the secondary's keys of one table differ from the primary's: the
/// keys to drop there (by name) and the keys to add, each sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyChange {
    pub drop: Vec<Constraint>,
    pub add: Vec<Constraint>,
}

impl KeyChange {
    pub fn is_empty(&self) -> bool {
        self.drop.is_empty() && self.add.is_empty()
    }
}

/// The change that makes `secondary`'s keys (of one table) the primary's:
/// a key of the same name defined differently is dropped and added again.
pub fn change(primary: &[Constraint], secondary: &[Constraint]) -> KeyChange {
    let wanted: BTreeMap<&str, &Constraint> = primary.iter().map(|c| (c.name.as_str(), c)).collect();
    let held: BTreeMap<&str, &Constraint> = secondary.iter().map(|c| (c.name.as_str(), c)).collect();
    let drop = held.iter().filter(|(name, c)| wanted.get(*name) != Some(*c)).map(|(_, c)| (*c).clone()).collect();
    let add = wanted.iter().filter(|(name, c)| held.get(*name) != Some(*c)).map(|(_, c)| (*c).clone()).collect();
    KeyChange { drop, add }
}

/// Each difference in words (for `verify` and readiness), empty when equal.
pub fn differences(primary: &[Constraint], secondary: &[Constraint]) -> Vec<String> {
    let change = change(primary, secondary);
    let mut out = Vec::new();
    for held in &change.drop {
        match change.add.iter().find(|c| c.name == held.name) {
            Some(wanted) => out.push(format!(
                "constraint {}: primary {}, secondary {}",
                held.name,
                wanted.describe(),
                held.describe()
            )),
            None => out.push(format!("constraint only on the secondary: {}", held.describe())),
        }
    }
    for wanted in change.add.iter().filter(|c| !change.drop.iter().any(|d| d.name == c.name)) {
        out.push(format!("constraint missing on the secondary: {}", wanted.describe()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fixtures::{fk, pk};

    #[test]
    fn a_key_defined_differently_is_dropped_and_added_again_and_equal_keys_stay() {
        let primary = vec![pk("pk_o", &["id"]), fk("fk_c", &["customer"], "m.s.customers", &["id"])];
        let secondary =
            vec![pk("pk_o", &["id", "day"]), fk("fk_c", &["customer"], "m.s.customers", &["id"]), pk("old", &["x"])];
        let change = change(&primary, &secondary);
        assert_eq!(change.drop, vec![pk("old", &["x"]), pk("pk_o", &["id", "day"])]);
        assert_eq!(change.add, vec![pk("pk_o", &["id"])]);
        let words = differences(&primary, &secondary);
        assert_eq!(words.len(), 2, "{words:?}");
        assert!(words[0].contains("only on the secondary") && words[0].contains("old"), "{words:?}");
        assert!(words[1].contains("pk_o") && words[1].contains("(id, day)"), "{words:?}");
        assert!(self::change(&primary, &primary).is_empty());
        assert!(differences(&primary, &primary).is_empty());
        let missing = differences(&primary, &[]);
        assert!(missing.iter().all(|w| w.contains("missing on the secondary")), "{missing:?}");
        assert_eq!(missing.len(), 2);
    }
}
