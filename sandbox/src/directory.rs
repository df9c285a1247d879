//! The people and groups of the sandbox tenant.
//!
//! One directory is shared by every stand-in: Entra ID puts these users'
//! object ids and names into tokens, Teams sends messages from them, and the
//! Databricks workspaces grant privileges to them.

use serde::Serialize;

/// A user of the sandbox tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub oid: String,
    pub upn: String,
    pub name: String,
    /// Teams user id (`29:…`), what a Teams activity carries in `from.id`.
    pub teams_id: String,
    /// Group object ids.
    pub groups: Vec<String>,
}

/// A security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub oid: String,
    pub name: String,
}

/// The group of platform engineers allowed to run DR.
pub const DR_OPERATORS_GROUP: &str = "5b0f3c9e-6a41-4d0a-9a57-0c1d2e3f4a01";
/// A read-only group.
pub const DR_READERS_GROUP: &str = "5b0f3c9e-6a41-4d0a-9a57-0c1d2e3f4a02";

/// The seeded directory.
#[derive(Clone, Debug)]
pub struct Directory {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Default for Directory {
    fn default() -> Self {
        let user = |n: u8, login: &str, name: &str, groups: &[&str]| User {
            oid: format!("a11ce000-0000-4000-8000-0000000000{n:02}"),
            upn: format!("{login}@contoso.example"),
            name: name.to_string(),
            teams_id: format!("29:1{login}-teams-user-id"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        Directory {
            users: vec![
                user(1, "alice", "Alice Admin", &[DR_OPERATORS_GROUP]),
                user(2, "bob", "Bob Reader", &[DR_READERS_GROUP]),
                user(3, "carol", "Carol Guest", &[]),
            ],
            groups: vec![
                Group { oid: DR_OPERATORS_GROUP.into(), name: "dr-operators".into() },
                Group { oid: DR_READERS_GROUP.into(), name: "dr-readers".into() },
            ],
        }
    }
}

impl Directory {
    /// Finds a user by login (`alice`), UPN, object id or Teams id.
    pub fn user(&self, who: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.oid == who
                || u.upn.eq_ignore_ascii_case(who)
                || u.teams_id == who
                || u.upn.split('@').next().is_some_and(|login| login.eq_ignore_ascii_case(who))
        })
    }

    pub fn group(&self, oid_or_name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.oid == oid_or_name || g.name == oid_or_name)
    }
}
