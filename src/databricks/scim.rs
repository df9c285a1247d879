//! The workspace's identities, looked up by the name Unity Catalog gives
//! them in owners and grants (SCIM 2.0 under `/api/2.0/preview/scim/v2`):
//! a user by `userName`, a service principal by `applicationId`, a group by
//! `displayName`, each with an `eq` filter (RFC 7644 §3.4.2.2), so one
//! lookup is one small answer whatever the size of the directory.
//!
//! Answer: `{"totalResults", "Resources": [...]}`. A resource is taken only
//! when it carries the name asked for (a server that ignored the filter
//! would otherwise make every name known).

use serde::Deserialize;
use serde_json::Value;

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

const SCIM: &str = "/api/2.0/preview/scim/v2";

/// The SCIM resource types a principal can be, and the attribute naming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    User,
    ServicePrincipal,
    Group,
}

impl PrincipalKind {
    /// From a Permissions API principal field (`user_name`, `group_name`,
    /// `service_principal_name`).
    pub fn from_field(field: &str) -> Option<PrincipalKind> {
        match field {
            "user_name" => Some(PrincipalKind::User),
            "group_name" => Some(PrincipalKind::Group),
            "service_principal_name" => Some(PrincipalKind::ServicePrincipal),
            _ => None,
        }
    }

    fn resource(self) -> &'static str {
        match self {
            PrincipalKind::User => "Users",
            PrincipalKind::ServicePrincipal => "ServicePrincipals",
            PrincipalKind::Group => "Groups",
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            PrincipalKind::User => "userName",
            PrincipalKind::ServicePrincipal => "applicationId",
            PrincipalKind::Group => "displayName",
        }
    }

    /// What `name` may be, likeliest first: an application id (a UUID) a
    /// service principal, a name with `@` a user; either may also be a
    /// group's name, and anything else is one.
    pub fn candidates(name: &str) -> &'static [PrincipalKind] {
        if uuid::Uuid::parse_str(name).is_ok() {
            &[PrincipalKind::ServicePrincipal, PrincipalKind::Group]
        } else if name.contains('@') {
            &[PrincipalKind::User, PrincipalKind::Group]
        } else {
            &[PrincipalKind::Group]
        }
    }
}

/// A SCIM list response, as far as a lookup reads it.
#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "Resources", default)]
    resources: Vec<Value>,
}

/// `name` as a SCIM filter's string value: quoted, `"` and `\` escaped.
fn filter_value(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

impl WorkspaceClient {
    /// Whether the workspace has a `kind` named `name`.
    pub async fn has_principal_of(
        &self,
        token: &AccessToken,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<bool, DatabricksError> {
        let filter = format!("{} eq {}", kind.attribute(), filter_value(name));
        let query = [("filter", filter), ("attributes", format!("id,{}", kind.attribute())), ("count", "1".into())];
        let answer: ListResponse = self.get(&format!("{SCIM}/{}", kind.resource()), &query, token).await?;
        Ok(answer.resources.iter().any(|resource| {
            resource.get(kind.attribute()).and_then(Value::as_str).is_some_and(|found| match kind {
                // User names are e-mail addresses: case does not matter.
                PrincipalKind::User => found.eq_ignore_ascii_case(name),
                _ => found == name,
            })
        }))
    }

    /// Whether the workspace has a user, service principal or group that
    /// Unity Catalog would call `name`.
    pub async fn has_principal(&self, token: &AccessToken, name: &str) -> Result<bool, DatabricksError> {
        for kind in PrincipalKind::candidates(name) {
            if self.has_principal_of(token, *kind, name).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_looked_up_where_they_can_be() {
        assert_eq!(
            PrincipalKind::candidates("6a1b2c3d-0000-4000-8000-00000000abcd"),
            [PrincipalKind::ServicePrincipal, PrincipalKind::Group]
        );
        assert_eq!(PrincipalKind::candidates("a@contoso.com"), [PrincipalKind::User, PrincipalKind::Group]);
        assert_eq!(PrincipalKind::candidates("data-engineers"), [PrincipalKind::Group]);
        assert_eq!(filter_value(r#"we"ird\"#), r#""we\"ird\\""#);
        assert_eq!(PrincipalKind::from_field("group_name"), Some(PrincipalKind::Group));
        assert_eq!(PrincipalKind::from_field("owner"), None);
    }
}
