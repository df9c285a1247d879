//! Who may do what with drbot.
//!
//! Unity Catalog and Azure RBAC judge every call drbot makes for a person;
//! this is the bot's own, coarser gate in front of them: which tenants may
//! talk to the bot at all, and who may start a replication, a deployment or
//! read the audit log. Members are named by Entra group object id or by
//! user principal name, both read from the claims of the person's own token.
//! An empty list for a role means nobody holds it: access is never granted
//! by omission.

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
    /// May read the audit log; admins hold every role.
    #[serde(deserialize_with = "list")]
    pub admins: Vec<String>,
    /// A deployment needs a second person's approval.
    pub deploy_needs_second_approver: bool,
    /// Roles (`replicate`, `deploy`, `admin`) of the Agents Playground's
    /// anonymous user in local anonymous mode; ignored otherwise.
    #[serde(deserialize_with = "list")]
    pub local_roles: Vec<String>,
}

/// What a person asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Replicate,
    Deploy,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Replicate, Role::Deploy, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Replicate => "replicate",
            Role::Deploy => "deploy",
            Role::Admin => "admin",
        }
    }
}

/// The claims of a person that roles are checked against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person<'a> {
    pub upn: &'a str,
    pub groups: &'a [String],
}

impl AccessConfig {
    /// Whether `person` holds `role` (admins hold every role).
    pub fn allows(&self, person: &Person<'_>, role: Role) -> bool {
        let members = match role {
            Role::Replicate => &self.replicate,
            Role::Deploy => &self.deploy,
            Role::Admin => &self.admins,
        };
        is_member(members, person) || (role != Role::Admin && is_member(&self.admins, person))
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
    members.iter().any(|member| {
        (!person.upn.is_empty() && member.eq_ignore_ascii_case(person.upn))
            || person.groups.iter().any(|group| group.eq_ignore_ascii_case(member))
    })
}

/// A list in TOML, or a comma-separated string (how it arrives from an
/// environment variable such as `DRBOT__ACCESS__REPLICATE`).
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
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

    fn config() -> AccessConfig {
        AccessConfig {
            replicate: vec![OPERATORS.into(), "dave@contoso.example".into()],
            deploy: vec![OPERATORS.into()],
            admins: vec!["erin@contoso.example".into()],
            ..Default::default()
        }
    }

    #[test]
    fn roles_come_from_groups_or_upns_and_admins_hold_all() {
        let groups = vec![OPERATORS.to_string()];
        let operator = Person { upn: "alice@contoso.example", groups: &groups };
        let dave = Person { upn: "Dave@Contoso.example", groups: &[] };
        let reader = Person { upn: "bob@contoso.example", groups: &[] };
        let admin = Person { upn: "erin@contoso.example", groups: &[] };
        let c = config();
        assert!(c.allows(&operator, Role::Replicate) && c.allows(&operator, Role::Deploy));
        assert!(!c.allows(&operator, Role::Admin));
        assert!(c.allows(&dave, Role::Replicate) && !c.allows(&dave, Role::Deploy));
        assert!(!c.allows(&reader, Role::Replicate));
        assert!(c.allows(&admin, Role::Replicate) && c.allows(&admin, Role::Admin));
        assert!(!AccessConfig::default().allows(&operator, Role::Replicate), "empty means nobody");
        assert!(!c.allows(&Person { upn: "", groups: &[] }, Role::Replicate));
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
