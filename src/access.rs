//! Who may do what with drbot.
//!
//! Unity Catalog and Azure RBAC judge every call drbot makes for a person;
//! this is the bot's own, coarser gate in front of them: which tenants may
//! talk to the bot at all, and who may start a replication, a deployment or
//! read the audit log. Members are named by Entra object id: a user's `oid`
//! or a security group's id, both read from the person's own token once it
//! is bound to the activity's sender. Names (`upn`, `preferred_username`)
//! can be renamed or handed to someone else, so they never grant a role: a
//! list entry that is not an object id is dropped at start-up, with a
//! warning naming the setting ([`AccessConfig::keep_object_ids`]). An empty
//! list for a role means nobody holds it: access is never granted by omission.

use serde::{Deserialize, Deserializer};

/// `[access]` in the configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Tenants whose people may use the bot (`*` for any). Empty: only the
    /// bot's own tenant, so a multi-tenant bot must list its tenants.
    #[serde(deserialize_with = "list")]
    pub tenants: Vec<String>,
    /// May start replications (and cancel them).
    #[serde(deserialize_with = "list")]
    pub replicate: Vec<String>,
    /// May approve and run deployments.
    #[serde(deserialize_with = "list")]
    pub deploy: Vec<String>,
    /// May request and approve failovers and failbacks, and run drills.
    #[serde(deserialize_with = "list")]
    pub failover: Vec<String>,
    /// May read the audit log; admins hold every role.
    #[serde(deserialize_with = "list")]
    pub admins: Vec<String>,
    /// A deployment needs a second person's approval.
    pub deploy_needs_second_approver: bool,
    /// How many different people holding the failover role must approve a
    /// failover or failback before it runs (two unless set; one for small
    /// teams). Zero is read as one: a runbook never runs unapproved.
    pub failover_approvers: Option<u32>,
    /// Roles (`replicate`, `deploy`, `failover`, `admin`) of each of the Agents
    /// Playground's users in local anonymous mode (each is still a person of
    /// their own, e.g. for approvals); ignored otherwise.
    #[serde(deserialize_with = "list")]
    pub local_roles: Vec<String>,
}

/// What a person asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Replicate,
    Deploy,
    Failover,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Replicate, Role::Deploy, Role::Failover, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Replicate => "replicate",
            Role::Deploy => "deploy",
            Role::Failover => "failover",
            Role::Admin => "admin",
        }
    }
}

/// The claims of a person that roles are checked against: object ids only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person<'a> {
    pub oid: &'a str,
    pub groups: &'a [String],
}

impl AccessConfig {
    /// Whether `person` holds `role` (admins hold every role).
    pub fn allows(&self, person: &Person<'_>, role: Role) -> bool {
        let members = match role {
            Role::Replicate => &self.replicate,
            Role::Deploy => &self.deploy,
            Role::Failover => &self.failover,
            Role::Admin => &self.admins,
        };
        is_member(members, person) || (role != Role::Admin && is_member(&self.admins, person))
    }

    /// Drops role entries that are not object ids (a UPN, a display name) and
    /// returns, per setting, how many were dropped. A name is not resolved to
    /// an object id here, so it is refused rather than matched by name.
    pub fn keep_object_ids(&mut self) -> Vec<(&'static str, usize)> {
        let mut dropped = Vec::new();
        for (name, list) in [
            ("access.replicate", &mut self.replicate),
            ("access.deploy", &mut self.deploy),
            ("access.failover", &mut self.failover),
            ("access.admins", &mut self.admins),
        ] {
            let before = list.len();
            list.retain(|entry| is_object_id(entry));
            if list.len() != before {
                dropped.push((name, before - list.len()));
            }
        }
        dropped
    }

    /// How many distinct approvers a failover or failback needs (≥ 1).
    pub fn failover_approvals_needed(&self) -> usize {
        self.failover_approvers.unwrap_or(2).max(1) as usize
    }

    /// Whether people of `tenant` may use the bot; `home` is the bot's own tenant.
    pub fn allows_tenant(&self, tenant: Option<&str>, home: Option<&str>) -> bool {
        let Some(tenant) = tenant.filter(|t| !t.is_empty()) else { return false };
        if self.tenants.is_empty() {
            return home.is_some_and(|home| home.eq_ignore_ascii_case(tenant));
        }
        self.tenants.iter().any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(tenant))
    }
}

fn is_member(members: &[String], person: &Person<'_>) -> bool {
    members.iter().filter(|member| is_object_id(member)).any(|member| {
        (!person.oid.is_empty() && member.eq_ignore_ascii_case(person.oid))
            || person.groups.iter().any(|group| group.eq_ignore_ascii_case(member))
    })
}

/// An Entra object id: a GUID (`8-4-4-4-12` hex digits).
pub fn is_object_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A list in TOML, or a comma-separated string (how it arrives from an
/// environment variable such as `DRBOT__ACCESS__REPLICATE`).
pub(crate) fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        List(Vec<String>),
        Text(String),
    }
    let items = match Shape::deserialize(deserializer)? {
        Shape::List(items) => items,
        Shape::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(items.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATORS: &str = "0e7a0000-0000-4000-8000-00000000000a";
    const DAVE: &str = "0e7a0000-0000-4000-8000-0000000000d1";
    const ERIN: &str = "0E7A0000-0000-4000-8000-0000000000E1";

    fn config() -> AccessConfig {
        AccessConfig {
            replicate: vec![OPERATORS.into(), DAVE.into()],
            deploy: vec![OPERATORS.into()],
            admins: vec![ERIN.into()],
            ..Default::default()
        }
    }

    #[test]
    fn roles_come_from_object_ids_of_users_or_groups_and_admins_hold_all() {
        let groups = vec![OPERATORS.to_string()];
        let operator = Person { oid: "0e7a0000-0000-4000-8000-0000000000a1", groups: &groups };
        let dave = Person { oid: DAVE, groups: &[] };
        let reader = Person { oid: "0e7a0000-0000-4000-8000-0000000000b1", groups: &[] };
        let admin = Person { oid: &ERIN.to_ascii_lowercase(), groups: &[] };
        let c = config();
        assert!(c.allows(&operator, Role::Replicate) && c.allows(&operator, Role::Deploy));
        assert!(!c.allows(&operator, Role::Admin));
        assert!(c.allows(&dave, Role::Replicate) && !c.allows(&dave, Role::Deploy));
        assert!(!c.allows(&reader, Role::Replicate));
        assert!(c.allows(&admin, Role::Replicate) && c.allows(&admin, Role::Admin));
        assert!(!AccessConfig::default().allows(&operator, Role::Replicate), "empty means nobody");
        assert!(!c.allows(&Person { oid: "", groups: &[] }, Role::Replicate));
    }

    #[test]
    fn names_never_grant_a_role_and_are_dropped_at_start_up() {
        // Issue 16, finding 7: a UPN can be renamed or reassigned.
        let mut c = AccessConfig {
            replicate: vec!["dave@contoso.example".into(), OPERATORS.into()],
            admins: vec!["erin@contoso.example".into()],
            ..Default::default()
        };
        let named = Person { oid: "dave@contoso.example", groups: &[] };
        assert!(!c.allows(&named, Role::Replicate), "a name in the oid slot matches nothing");
        let group_named = vec!["erin@contoso.example".to_string()];
        assert!(!c.allows(&Person { oid: DAVE, groups: &group_named }, Role::Admin));
        assert_eq!(c.keep_object_ids(), vec![("access.replicate", 1), ("access.admins", 1)]);
        assert_eq!(c.replicate, vec![OPERATORS.to_string()]);
        assert!(c.admins.is_empty());
        assert!(is_object_id(OPERATORS) && !is_object_id("not-a-guid") && !is_object_id(""));
    }

    #[test]
    fn the_failover_role_is_its_own_and_needs_two_approvers_unless_told() {
        let c = AccessConfig { failover: vec![DAVE.into()], admins: vec![ERIN.into()], ..Default::default() };
        assert!(c.allows(&Person { oid: DAVE, groups: &[] }, Role::Failover));
        assert!(!c.allows(&Person { oid: DAVE, groups: &[] }, Role::Replicate));
        assert!(c.allows(&Person { oid: ERIN, groups: &[] }, Role::Failover), "admins hold every role");
        assert!(!config().allows(&Person { oid: DAVE, groups: &[] }, Role::Failover), "replicate is not failover");
        assert_eq!(c.failover_approvals_needed(), 2);
        let small: AccessConfig = toml::from_str("failover_approvers = 1").unwrap();
        assert_eq!(small.failover_approvals_needed(), 1);
        let zero: AccessConfig = toml::from_str("failover_approvers = 0").unwrap();
        assert_eq!(zero.failover_approvals_needed(), 1, "never unapproved");
    }

    #[test]
    fn tenants_default_to_the_bots_own() {
        let c = AccessConfig::default();
        assert!(c.allows_tenant(Some("T1"), Some("t1")));
        assert!(!c.allows_tenant(Some("t2"), Some("t1")));
        assert!(!c.allows_tenant(None, Some("t1")));
        assert!(!c.allows_tenant(Some("t1"), None), "a multi-tenant bot lists its tenants");
        let listed = AccessConfig { tenants: vec!["t2".into()], ..Default::default() };
        assert!(listed.allows_tenant(Some("t2"), Some("t1")) && !listed.allows_tenant(Some("t1"), Some("t1")));
    }

    #[test]
    fn lists_read_from_toml_or_comma_separated_text() {
        let from_toml: AccessConfig = toml::from_str("replicate = ['a', 'b']").unwrap();
        assert_eq!(from_toml.replicate, vec!["a", "b"]);
        let from_env: AccessConfig = toml::from_str("replicate = 'a, b,,'").unwrap();
        assert_eq!(from_env.replicate, vec!["a", "b"]);
    }
}
