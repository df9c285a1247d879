//! Whether a workspace has a principal (SCIM 2.0, `/api/2.0/preview/scim/v2`):
//! `GET /Users?filter=userName eq "…"`, `GET /Groups?filter=displayName eq
//! "…"`, `GET /ServicePrincipals?filter=applicationId eq "…"` →
//! `{totalResults, Resources: [...]}`. Users, groups and service principals
//! are the account's, but each workspace has only those assigned to it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DatabricksError, WorkspaceClient};
use crate::identity::AccessToken;

/// What a principal is, as the Permissions API's principal fields say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PrincipalKind {
    User,
    Group,
    ServicePrincipal,
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

    /// From the name alone (secret ACLs name a principal without its kind):
    /// a user name is an e-mail address, a service principal an application
    /// id (a UUID), anything else a group.
    pub fn guess(name: &str) -> PrincipalKind {
        if name.contains('@') {
            PrincipalKind::User
        } else if uuid::Uuid::parse_str(name).is_ok() {
            PrincipalKind::ServicePrincipal
        } else {
            PrincipalKind::Group
        }
    }

    fn endpoint_and_attribute(self) -> (&'static str, &'static str) {
        match self {
            PrincipalKind::User => ("Users", "userName"),
            PrincipalKind::Group => ("Groups", "displayName"),
            PrincipalKind::ServicePrincipal => ("ServicePrincipals", "applicationId"),
        }
    }
}

/// A SCIM filter's string literal (RFC 7644 §3.4.2.2: a JSON string).
fn literal(name: &str) -> String {
    Value::String(name.to_string()).to_string()
}

impl WorkspaceClient {
    /// Whether the workspace has this principal.
    pub async fn has_principal(
        &self,
        token: &AccessToken,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<bool, DatabricksError> {
        #[derive(Deserialize)]
        struct Found {
            #[serde(default, rename = "totalResults")]
            total: Option<u64>,
            #[serde(default, rename = "Resources")]
            resources: Vec<Value>,
        }
        let (endpoint, attribute) = kind.endpoint_and_attribute();
        let query = [
            ("filter", format!("{attribute} eq {}", literal(name))),
            ("attributes", "id".to_string()),
            ("count", "1".to_string()),
        ];
        let found: Found = self.get(&format!("/api/2.0/preview/scim/v2/{endpoint}"), &query, token).await?;
        Ok(!found.resources.is_empty() || found.total.is_some_and(|n| n > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_fields_or_names_and_names_are_quoted() {
        assert_eq!(PrincipalKind::from_field("group_name"), Some(PrincipalKind::Group));
        assert_eq!(PrincipalKind::guess("a@contoso.com"), PrincipalKind::User);
        assert_eq!(PrincipalKind::guess("5b0f3c9e-6a41-4d0a-9a57-0c1d2e3f4a01"), PrincipalKind::ServicePrincipal);
        assert_eq!(PrincipalKind::guess("data engineers"), PrincipalKind::Group);
        assert_eq!(literal(r#"odd "name"\"#), r#""odd \"name\"\\""#);
    }
}
