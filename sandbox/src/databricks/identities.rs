//! The principals a workspace's metastore knows, and the workspace's SCIM
//! lookups of them.
//!
//! Unity Catalog grants to, and lets own objects, only "a user, service
//! principal, or group known to the metastore" (Databricks SQL reference,
//! Principal); a grant or an owner change naming any other fails with
//! `PRINCIPAL_DOES_NOT_EXIST` (an error code of the databricks-sdk's
//! `ErrorCode`). The sandbox's account knows: the directory's users and
//! groups, the account groups the seed grants to ([`ACCOUNT_GROUPS`]),
//! every identity that has called a workspace (Entra issued its token, so
//! the account has it) or that a test added ([`super::account::Account::add_principal`]),
//! and every principal a metastore of the account names or once named
//! (Unity Catalog accepted it there). A test makes a principal
//! unknown to one workspace's metastore with [`Workspace::forget_principal`]
//! (an identity of another account, or one deleted since).
//!
//! SCIM (`/api/2.0/preview/scim/v2/{Users,ServicePrincipals,Groups}`) lists
//! them with an `eq` filter on `userName`, `applicationId` or `displayName`
//! (RFC 7644 §3.4.2.2) and answers a `ListResponse` paged by `startIndex`
//! and `count`; any other filter is refused. A known principal is a user when its name has an `@`, a
//! service principal when it is an application id (a UUID), else a group.
//! FIDELITY.md cites each rule.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::metastore::{Common, Metastore};
use super::Workspace;

/// Account groups the seed grants privileges to (besides the directory's).
pub const ACCOUNT_GROUPS: &[&str] =
    &["dr-operators", "dr-readers", "data-engineers", "analysts", "auditors", "contractors", "compat-auditors"];

/// Unity Catalog's name for every user of the account.
pub const ACCOUNT_USERS: &str = "account users";

/// Workspace-local groups every workspace has (the Permissions API and
/// secret ACLs may name them; Unity Catalog does not know them).
pub const WORKSPACE_GROUPS: &[&str] = &["users", "admins"];

/// The Permissions API's refusal of a principal the workspace does not have
/// (terraform-provider-databricks #2302 quotes the API refusing a principal
/// that "does not exist"; the exact text is the sandbox's): `field` is
/// `user_name`, `group_name` or `service_principal_name`.
pub fn unknown_principal(ws: &Workspace, field: &str, name: &str) -> Option<Response> {
    if WORKSPACE_GROUPS.contains(&name) || ws.knows_principal(name) {
        return None;
    }
    let kind = match field {
        "user_name" => "UserName",
        "service_principal_name" => "ServicePrincipalName",
        _ => "GroupName",
    };
    Some(super::databricks_error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        &format!("Principal: {kind}({name}) does not exist."),
    ))
}

/// The error a grant or owner change naming an unknown principal gets.
pub fn unknown_principal_message(name: &str) -> String {
    format!("Could not find principal with name {name}.")
}

/// Whether `metastore` names `principal` as an owner or a grantee anywhere.
pub fn names(metastore: &Metastore, principal: &str) -> bool {
    let holds = |common: &Common| common.owner == principal || common.grants.contains_key(principal);
    metastore.catalogs.values().any(|c| holds(&c.common))
        || metastore.schemas.values().any(|s| holds(&s.common))
        || metastore.tables.values().any(|t| holds(&t.common))
        || metastore.volumes.values().any(|v| holds(&v.common))
        || metastore.functions.values().any(|f| holds(&f.common))
        || metastore.models.values().any(|m| holds(&m.common))
        || metastore.external_locations.values().any(|l| holds(&l.common))
        || metastore.storage_credentials.values().any(|c| holds(&c.common))
}

/// The SCIM resource type a known principal is listed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    User,
    ServicePrincipal,
    Group,
}

impl Kind {
    fn of(name: &str) -> Kind {
        if uuid::Uuid::parse_str(name).is_ok() {
            Kind::ServicePrincipal
        } else if name.contains('@') {
            Kind::User
        } else {
            Kind::Group
        }
    }

    fn parse(resource: &str) -> Option<Kind> {
        match resource {
            "Users" => Some(Kind::User),
            "ServicePrincipals" => Some(Kind::ServicePrincipal),
            "Groups" => Some(Kind::Group),
            _ => None,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::ServicePrincipal => "applicationId",
            Kind::Group => "displayName",
        }
    }

    fn schema(self) -> &'static str {
        match self {
            Kind::User => "urn:ietf:params:scim:schemas:core:2.0:User",
            Kind::ServicePrincipal => "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal",
            Kind::Group => "urn:ietf:params:scim:schemas:core:2.0:Group",
        }
    }
}

impl Workspace {
    /// Makes `name` unknown to this workspace's metastore (and its SCIM):
    /// grants and owner changes naming it fail there.
    pub fn forget_principal(&self, name: &str) {
        self.forgotten_principals.lock().insert(name.to_string());
    }

    /// Whether this workspace's metastore knows the principal `name`. Never
    /// called with a metastore lock held: it reads every workspace's.
    pub fn knows_principal(&self, name: &str) -> bool {
        if self.forgotten_principals.lock().contains(name) {
            return false;
        }
        name == ACCOUNT_USERS
            || ACCOUNT_GROUPS.contains(&name)
            || self.directory.users.iter().any(|u| u.upn.eq_ignore_ascii_case(name))
            || self.directory.groups.iter().any(|g| g.name == name)
            || self.account.knows_identity(name)
            || self
                .account
                .workspaces()
                .iter()
                .any(|w| names(&w.metastore.read(), name) || w.sharing.lock().shares.values().any(|s| s.owner == name))
    }

    /// `PRINCIPAL_DOES_NOT_EXIST` for the first of `principals` the
    /// metastore does not know.
    /// A known one is remembered by the account: revoking its last grant
    /// does not make it unknown.
    pub fn require_principals<'a>(&self, principals: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        for principal in principals {
            if !self.knows_principal(principal) {
                return Err(unknown_principal_message(principal));
            }
            self.account.saw_identity(principal);
        }
        Ok(())
    }

    /// Every principal this workspace knows by name, for a SCIM list.
    fn known_principals(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ACCOUNT_GROUPS.iter().map(|g| g.to_string()).collect();
        out.extend(self.directory.users.iter().map(|u| u.upn.clone()));
        out.extend(self.directory.groups.iter().map(|g| g.name.clone()));
        out.extend(self.account.identities());
        for workspace in self.account.workspaces() {
            let metastore = workspace.metastore.read();
            let commons = metastore
                .catalogs
                .values()
                .map(|c| &c.common)
                .chain(metastore.schemas.values().map(|s| &s.common))
                .chain(metastore.tables.values().map(|t| &t.common))
                .chain(metastore.volumes.values().map(|v| &v.common))
                .chain(metastore.functions.values().map(|f| &f.common))
                .chain(metastore.models.values().map(|m| &m.common));
            for common in commons {
                out.insert(common.owner.clone());
                out.extend(common.grants.keys().cloned());
            }
        }
        let forgotten = self.forgotten_principals.lock();
        out.retain(|p| !p.is_empty() && p != ACCOUNT_USERS && !forgotten.contains(p));
        out
    }
}

pub fn router() -> Router<Arc<Workspace>> {
    Router::new().route("/api/2.0/preview/scim/v2/{resource}", get(list))
}

/// A SCIM error (RFC 7644 §3.12).
fn scim_error(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "detail": detail,
        "status": status.as_u16().to_string(),
    });
    (status, Json(body)).into_response()
}

/// A stable SCIM id for a principal's name.
fn scim_id(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// `attribute eq "value"`, the only filter the sandbox understands.
fn equality(filter: &str, attribute: &str) -> Option<String> {
    let rest = filter.trim().strip_prefix(attribute)?.trim_start();
    let rest = rest.strip_prefix("eq ").or_else(|| rest.strip_prefix("EQ "))?.trim();
    let quoted = rest.strip_prefix('"')?.strip_suffix('"')?;
    // Unescape \" and \\ (JSON string rules, RFC 7644 §3.4.2.2).
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

async fn list(
    State(ws): State<Arc<Workspace>>,
    headers: HeaderMap,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(kind) = Kind::parse(&resource) else {
        return super::not_found().await;
    };
    if let Err(refusal) = ws.caller(&headers, &format!("/api/2.0/preview/scim/v2/{resource}")) {
        return refusal;
    }
    let query = super::unity_catalog::query(raw);
    let known = ws.known_principals();
    let mut found: Vec<&String> = known.iter().filter(|p| Kind::of(p) == kind).collect();
    if let Some(filter) = query.get("filter") {
        let Some(wanted) = equality(filter, kind.attribute()) else {
            return scim_error(
                StatusCode::BAD_REQUEST,
                &format!("Unsupported filter: {filter} (the sandbox understands `{} eq \"…\"`)", kind.attribute()),
            );
        };
        found.retain(|p| match kind {
            Kind::User => p.eq_ignore_ascii_case(&wanted),
            _ => **p == wanted,
        });
    }
    // Pages: `startIndex` is 1-based (RFC 7644 §3.4.2.4); a client reads on
    // until a page comes back empty.
    let number = |key: &str| query.get(key).map(|v| v.parse::<usize>());
    let (start, count) = match (number("startIndex"), number("count")) {
        (Some(Err(_)), _) | (_, Some(Err(_))) => {
            return scim_error(StatusCode::BAD_REQUEST, "startIndex and count are numbers");
        }
        (start, count) => (start.and_then(Result::ok).unwrap_or(1).max(1), count.and_then(Result::ok)),
    };
    let resources: Vec<Value> = found
        .iter()
        .skip(start - 1)
        .take(count.unwrap_or(usize::MAX))
        .map(|name| {
            let mut resource = json!({"schemas": [kind.schema()], "id": scim_id(name)});
            resource[kind.attribute()] = json!(name);
            if kind != Kind::Group {
                resource["displayName"] = json!(name);
            }
            resource
        })
        .collect();
    Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": found.len(),
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_equality_filters_are_understood() {
        assert_eq!(equality(r#"userName eq "a@b.c""#, "userName"), Some("a@b.c".into()));
        assert_eq!(equality(r#"displayName eq "we\"ird\\""#, "displayName"), Some(r#"we"ird\"#.into()));
        assert_eq!(equality(r#"userName co "a""#, "userName"), None);
        assert_eq!(equality(r#"displayName eq "a""#, "userName"), None);
        assert_eq!(equality(r#"userName eq "a" or userName eq "b""#, "userName"), None);
    }
}
