//! Rendering actions into what a workspace runs: Databricks SQL for the
//! secondary's warehouse, and typed REST calls for what SQL does not cover
//! (catalog and schema creation with their properties, Delta Sharing, drops).
//!
//! Names come from another system (a metastore anyone with CREATE may fill),
//! so nothing is ever pasted into SQL as is: identifiers are always
//! backtick-quoted with backticks doubled, string literals single-quoted with
//! backslashes and quotes backslash-escaped (Spark SQL concatenates adjacent
//! literals, so a doubled `''` would silently drop the quote instead of
//! escaping it), and NUL or any other control character is refused outright
//! rather than escaped. Privileges are checked against Unity Catalog's naming
//! (`SELECT`, `USE_CATALOG`…) and rendered as keywords.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::constraints::Key;
use super::object::ObjectKind;
use super::plan::{Action, ActionKind, CloneSource, ProviderRef, Side};
use super::snapshot::ColumnDef;
pub(crate) use super::sql_quote::{no_control, securable};
pub use super::sql_quote::{quote_identifier, quote_literal, quote_name, SqlError};

/// `USE_CATALOG` → `USE CATALOG`: privileges are keywords, so only
/// upper-case words joined by underscores are accepted.
pub fn privilege(name: &str) -> Result<String, SqlError> {
    let valid = !name.is_empty() && name.split('_').all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase()));
    if !valid {
        return Err(SqlError::BadPrivilege(name.into()));
    }
    Ok(name.replace('_', " "))
}

fn privileges<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<String, SqlError> {
    let rendered: Result<Vec<String>, SqlError> = names.into_iter().map(|p| privilege(p)).collect();
    let rendered = rendered?;
    if rendered.is_empty() {
        return Err(SqlError::BadPrivilege(String::new()));
    }
    Ok(rendered.join(", "))
}

/// A view's definition is SQL by nature and goes in as written, but only if
/// it is one statement: no NUL or control characters besides line breaks and
/// tabs, and no `;` outside quotes and comments (a second statement).
pub fn check_view_definition(definition: &str) -> Result<(), SqlError> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Quoted(char),
        LineComment,
        BlockComment,
    }
    if definition.trim().is_empty() {
        return Err(SqlError::BadViewDefinition("it is empty"));
    }
    if definition.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(SqlError::BadViewDefinition("it contains a control character"));
    }
    let chars: Vec<char> = definition.chars().collect();
    let mut state = State::Code;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match state {
            State::Code => match c {
                ';' => return Err(SqlError::BadViewDefinition("it holds more than one statement")),
                '\'' | '"' | '`' => state = State::Quoted(c),
                '-' if next == Some('-') => state = State::LineComment,
                '/' if next == Some('*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                _ => {}
            },
            State::Quoted(quote) => {
                if c == '\\' && quote != '`' {
                    i += 1;
                } else if c == quote {
                    state = State::Code;
                }
            }
            State::LineComment if c == '\n' => state = State::Code,
            State::LineComment => {}
            State::BlockComment if c == '*' && next == Some('/') => {
                state = State::Code;
                i += 1;
            }
            State::BlockComment => {}
        }
        i += 1;
    }
    match state {
        State::Code | State::LineComment => Ok(()),
        _ => Err(SqlError::BadViewDefinition("a quote or comment is not closed")),
    }
}

/// What the executor sends for one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// One statement for the secondary's SQL warehouse.
    Sql(String),
    /// One REST call, to the workspace `RestCall::side` names.
    Rest(RestCall),
    /// Mounting a share whose provider is not known yet: run `lookup` on
    /// the secondary, take the provider's name from its answer, then send
    /// `mount_share(catalog, share, provider)`.
    MountAfterProviderLookup { lookup: RestCall, catalog: String, share: String },
    /// A volume's files: many Files API calls on both workspaces, run by
    /// `volume_copy.rs` from the action itself.
    VolumeFiles,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Unity Catalog and Delta Sharing calls, typed; `method`, `path`, `query`
/// and `body` give their wire form (under `/api/2.1/unity-catalog`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestCall {
    CreateCatalog {
        name: String,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
        storage_root: Option<String>,
    },
    UpdateCatalog {
        name: String,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    CreateSchema {
        catalog: String,
        name: String,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
        storage_root: Option<String>,
    },
    UpdateSchema {
        full_name: String,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    CreateRecipient {
        name: String,
        global_metastore_id: String,
    },
    CreateShare {
        name: String,
    },
    /// At most 100 schemas (full names), as the API allows.
    AddSchemasToShare {
        share: String,
        schemas: Vec<String>,
    },
    GrantShareSelect {
        share: String,
        recipient: String,
    },
    /// `PATCH /shares/{share} {owner}`: the owner, or a metastore admin, may.
    TransferShare {
        share: String,
        owner: String,
    },
    /// On the secondary: the provider sharing from this metastore id.
    ListProviders {
        global_metastore_id: String,
    },
    MountShare {
        catalog: String,
        provider: String,
        share: String,
    },
    /// A registered model change (`models.rs`) on the model at `path`.
    Model {
        path: Vec<String>,
        change: super::model_info::ModelChange,
    },
    /// `POST /volumes` of a managed volume.
    CreateManagedVolume {
        catalog: String,
        schema: String,
        name: String,
        comment: Option<String>,
    },
    /// Drops (prune only); catalogs and schemas with their contents.
    Delete {
        kind: ObjectKind,
        full_name: String,
    },
}

/// Path segments: everything but unreserved characters is escaped, so a
/// name with `/`, `?` or `#` stays one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_').remove(b'~');

fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

impl RestCall {
    pub fn side(&self) -> Side {
        match self {
            RestCall::CreateRecipient { .. }
            | RestCall::CreateShare { .. }
            | RestCall::AddSchemasToShare { .. }
            | RestCall::GrantShareSelect { .. }
            | RestCall::TransferShare { .. } => Side::Primary,
            _ => Side::Secondary,
        }
    }

    pub fn method(&self) -> Method {
        match self {
            RestCall::CreateCatalog { .. }
            | RestCall::CreateSchema { .. }
            | RestCall::CreateManagedVolume { .. }
            | RestCall::CreateRecipient { .. }
            | RestCall::CreateShare { .. }
            | RestCall::MountShare { .. } => Method::Post,
            RestCall::UpdateCatalog { .. }
            | RestCall::UpdateSchema { .. }
            | RestCall::AddSchemasToShare { .. }
            | RestCall::GrantShareSelect { .. }
            | RestCall::TransferShare { .. } => Method::Patch,
            RestCall::ListProviders { .. } => Method::Get,
            RestCall::Delete { .. } => Method::Delete,
            RestCall::Model { path, change } => match change.request(path).0 {
                "POST" => Method::Post,
                "PUT" => Method::Put,
                "DELETE" => Method::Delete,
                _ => Method::Patch,
            },
        }
    }

    /// The path below the workspace URL, segments percent-encoded.
    pub fn path(&self) -> String {
        let rest = match self {
            RestCall::Model { path, change } => return change.request(path).1,
            RestCall::CreateCatalog { .. } | RestCall::MountShare { .. } => "catalogs".to_string(),
            RestCall::UpdateCatalog { name, .. } => format!("catalogs/{}", segment(name)),
            RestCall::CreateSchema { .. } => "schemas".to_string(),
            RestCall::CreateManagedVolume { .. } => "volumes".to_string(),
            RestCall::UpdateSchema { full_name, .. } => format!("schemas/{}", segment(full_name)),
            RestCall::CreateRecipient { .. } => "recipients".to_string(),
            RestCall::CreateShare { .. } => "shares".to_string(),
            RestCall::AddSchemasToShare { share, .. } | RestCall::TransferShare { share, .. } => {
                format!("shares/{}", segment(share))
            }
            RestCall::GrantShareSelect { share, .. } => format!("shares/{}/permissions", segment(share)),
            RestCall::ListProviders { .. } => "providers".to_string(),
            RestCall::Delete { kind, full_name } => {
                let collection = match kind {
                    ObjectKind::Catalog | ObjectKind::SharedCatalog => "catalogs",
                    ObjectKind::Schema => "schemas",
                    ObjectKind::Volume => "volumes",
                    ObjectKind::Function => "functions",
                    ObjectKind::Share => "shares",
                    ObjectKind::Recipient => "recipients",
                    ObjectKind::Table | ObjectKind::View => "tables",
                    ObjectKind::Model => "models",
                };
                format!("{collection}/{}", segment(full_name))
            }
        };
        format!("/api/2.1/unity-catalog/{rest}")
    }

    pub fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            RestCall::ListProviders { global_metastore_id } => {
                vec![("data_provider_global_metastore_id", global_metastore_id.clone())]
            }
            RestCall::Delete { kind: ObjectKind::Catalog | ObjectKind::Schema, .. } => vec![("force", "true".into())],
            RestCall::Model { path, change } => change.query(path),
            _ => Vec::new(),
        }
    }

    /// The JSON body, if the call has one. A `None` comment is sent as ""
    /// so that an update clears it (PATCH leaves absent fields alone).
    pub fn body(&self) -> Option<Value> {
        let comment = |c: &Option<String>| c.clone().unwrap_or_default();
        Some(match self {
            RestCall::CreateCatalog { name, comment: c, properties, storage_root } => {
                let mut body = json!({ "name": name, "properties": properties });
                if let Some(c) = c {
                    body["comment"] = json!(c);
                }
                if let Some(root) = storage_root {
                    body["storage_root"] = json!(root);
                }
                body
            }
            RestCall::UpdateCatalog { comment: c, properties, .. }
            | RestCall::UpdateSchema { comment: c, properties, .. } => {
                json!({ "comment": comment(c), "properties": properties })
            }
            RestCall::CreateSchema { catalog, name, comment: c, properties, storage_root } => {
                let mut body = json!({ "name": name, "catalog_name": catalog, "properties": properties });
                if let Some(c) = c {
                    body["comment"] = json!(c);
                }
                if let Some(root) = storage_root {
                    body["storage_root"] = json!(root);
                }
                body
            }
            RestCall::CreateRecipient { name, global_metastore_id } => json!({
                "name": name,
                "authentication_type": "DATABRICKS",
                "data_recipient_global_metastore_id": global_metastore_id,
            }),
            RestCall::CreateManagedVolume { catalog, schema, name, comment: c } => {
                let mut body =
                    json!({ "catalog_name": catalog, "schema_name": schema, "name": name, "volume_type": "MANAGED" });
                if let Some(c) = c {
                    body["comment"] = json!(c);
                }
                body
            }
            RestCall::CreateShare { name } => json!({ "name": name }),
            RestCall::AddSchemasToShare { schemas, .. } => json!({
                "updates": schemas
                    .iter()
                    .map(|s| json!({ "action": "ADD", "data_object": { "name": s, "data_object_type": "SCHEMA" } }))
                    .collect::<Vec<_>>()
            }),
            RestCall::GrantShareSelect { recipient, .. } => {
                json!({ "changes": [{ "principal": recipient, "add": ["SELECT"] }] })
            }
            RestCall::MountShare { catalog, provider, share } => {
                json!({ "name": catalog, "provider_name": provider, "share_name": share })
            }
            RestCall::TransferShare { owner, .. } => json!({ "owner": owner }),
            RestCall::Model { path, change } => return change.request(path).2,
            RestCall::ListProviders { .. } | RestCall::Delete { .. } => return None,
        })
    }
}

/// The call mounting `share` from `provider` as `catalog` on the secondary.
pub fn mount_share(catalog: &str, share: &str, provider: &str) -> Result<RestCall, SqlError> {
    for text in [catalog, share, provider] {
        no_control(text, "a name")?;
    }
    Ok(RestCall::MountShare { catalog: catalog.into(), provider: provider.into(), share: share.into() })
}

/// A SQL type as the functions API writes it (`STRING`, `DECIMAL(10,2)`,
/// `ARRAY<STRING>`, `STRUCT<a: INT>`): keywords, digits and the punctuation
/// of type syntax only, so nothing but a type can ride along.
pub fn sql_type(text: &str) -> Result<String, SqlError> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '(' | ')' | ',' | '<' | '>' | ':' | ' '));
    if !valid {
        return Err(SqlError::Unsupported(format!("the type {text:?}")));
    }
    Ok(text.to_string())
}

/// A filter's or mask's function, by its dotted full name (Unity Catalog
/// names it so; a part holding a dot could not be told apart and is refused
/// by being quoted as the three parts it splits into).
fn policy_function(full_name: &str) -> Result<String, SqlError> {
    let parts: Vec<&str> = full_name.split('.').collect();
    if parts.len() != 3 {
        return Err(SqlError::Unsupported(format!("the function name {full_name:?}")));
    }
    quote_name(&parts)
}

/// A foreign key's parent table, quoted part by part (three parts).
fn parent(full_name: &str) -> Result<String, SqlError> {
    let parts: Vec<&str> = full_name.split('.').collect();
    if parts.len() != 3 {
        return Err(SqlError::Unsupported(format!("the parent table name {full_name:?}")));
    }
    quote_name(&parts)
}

/// `` `a`, `b` `` for a filter's `ON (…)` or a mask's `USING COLUMNS (…)`.
fn columns(names: &[String]) -> Result<String, SqlError> {
    let quoted: Result<Vec<String>, SqlError> = names.iter().map(|c| quote_identifier(c)).collect();
    Ok(quoted?.join(", "))
}

/// The statement making the dataset at `path`: created when missing,
/// redefined in place when `existing`.
pub fn dataset_statement(
    path: &[String],
    dataset: super::dataset::Dataset,
    definition: &str,
    existing: bool,
) -> Result<String, SqlError> {
    check_view_definition(definition)?;
    let verb = match (dataset, existing) {
        (super::dataset::Dataset::MaterializedView, false) => "CREATE MATERIALIZED VIEW IF NOT EXISTS",
        (super::dataset::Dataset::MaterializedView, true) => "CREATE OR REPLACE MATERIALIZED VIEW",
        (super::dataset::Dataset::StreamingTable, false) => "CREATE STREAMING TABLE IF NOT EXISTS",
        (super::dataset::Dataset::StreamingTable, true) => "CREATE OR REFRESH STREAMING TABLE",
    };
    Ok(format!("{verb} {} AS {}", quote_name(path)?, definition.trim()))
}

/// What the executor sends for `action`; a blocked action is an error
/// carrying its reason.
pub fn render(action: &Action) -> Result<Request, SqlError> {
    let object = &action.object;
    let path = &object.path;
    if path.len() != object.kind.name_parts() {
        return Err(SqlError::Unsupported(format!("a {} named by {} part(s)", object.kind.as_str(), path.len())));
    }
    for part in path {
        no_control(part, "a name")?;
    }
    let name = object.full_name();
    let rest = |call: RestCall| Ok(Request::Rest(call));
    match &action.kind {
        ActionKind::CreateCatalog { storage_root, comment, properties } => rest(RestCall::CreateCatalog {
            name,
            comment: comment.clone(),
            properties: properties.clone(),
            storage_root: storage_root.clone(),
        }),
        ActionKind::UpdateCatalog { comment, properties } => {
            rest(RestCall::UpdateCatalog { name, comment: comment.clone(), properties: properties.clone() })
        }
        ActionKind::CreateSchema { storage_root, comment, properties } => rest(RestCall::CreateSchema {
            catalog: path[0].clone(),
            name: path[1].clone(),
            comment: comment.clone(),
            properties: properties.clone(),
            storage_root: storage_root.clone(),
        }),
        ActionKind::UpdateSchema { comment, properties } => {
            rest(RestCall::UpdateSchema { full_name: name, comment: comment.clone(), properties: properties.clone() })
        }
        ActionKind::CreateRecipient { global_metastore_id } => {
            rest(RestCall::CreateRecipient { name, global_metastore_id: global_metastore_id.clone() })
        }
        ActionKind::CreateShare => rest(RestCall::CreateShare { name }),
        ActionKind::AddSchemasToShare { schemas } => {
            rest(RestCall::AddSchemasToShare { share: name, schemas: schemas.iter().map(|s| s.join(".")).collect() })
        }
        ActionKind::GrantShareSelect { recipient } => {
            rest(RestCall::GrantShareSelect { share: name, recipient: recipient.clone() })
        }
        ActionKind::TransferShare { owner } => {
            no_control(owner, "a principal")?;
            rest(RestCall::TransferShare { share: name, owner: owner.clone() })
        }
        ActionKind::MountSharedCatalog { share, provider } => match provider {
            ProviderRef::Known(provider) => rest(mount_share(&name, share, provider)?),
            ProviderRef::LookUp { global_metastore_id } => Ok(Request::MountAfterProviderLookup {
                lookup: RestCall::ListProviders { global_metastore_id: global_metastore_id.clone() },
                catalog: name,
                share: share.clone(),
            }),
        },
        ActionKind::CloneTable { source, location, .. } => {
            let target = quote_name(path)?;
            let source = match source {
                CloneSource::Shared(table) => quote_name(table)?,
                // `delta` names the data source, a keyword, and the quoted path is the table.
                CloneSource::DeltaPath(path) => format!("delta.{}", quote_identifier(path)?),
            };
            let location = match location {
                Some(location) => format!(" LOCATION {}", quote_literal(location)?),
                None => String::new(),
            };
            Ok(Request::Sql(format!("CREATE OR REPLACE TABLE {target} DEEP CLONE {source}{location}")))
        }
        ActionKind::RegisterExternalTable { format, location, columns, options } => {
            if format.is_empty() || !format.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(SqlError::BadFormat(format.clone()));
            }
            let mut definition = String::new();
            if !columns.is_empty() {
                let listed: Result<Vec<String>, SqlError> = columns
                    .iter()
                    .map(|c| Ok(format!("{} {}", quote_identifier(&c.name)?, sql_type(&c.type_text)?)))
                    .collect();
                definition = format!(" ({})", listed?.join(", "));
            }
            definition.push_str(&format!(" USING {}", quote_identifier(&format.to_ascii_lowercase())?));
            if !options.is_empty() {
                let listed: Result<Vec<String>, SqlError> =
                    options.iter().map(|(k, v)| Ok(format!("{} = {}", quote_literal(k)?, quote_literal(v)?))).collect();
                definition.push_str(&format!(" OPTIONS ({})", listed?.join(", ")));
            }
            let mut partitions: Vec<&ColumnDef> = columns.iter().filter(|c| c.partition_index.is_some()).collect();
            partitions.sort_by_key(|c| c.partition_index);
            if !partitions.is_empty() {
                let listed: Result<Vec<String>, SqlError> =
                    partitions.iter().map(|c| quote_identifier(&c.name)).collect();
                definition.push_str(&format!(" PARTITIONED BY ({})", listed?.join(", ")));
            }
            Ok(Request::Sql(format!(
                "CREATE TABLE IF NOT EXISTS {}{definition} LOCATION {}",
                quote_name(path)?,
                quote_literal(location)?
            )))
        }
        ActionKind::CreateView { definition, existing, .. } => {
            check_view_definition(definition)?;
            let verb = if *existing { "ALTER VIEW" } else { "CREATE VIEW IF NOT EXISTS" };
            Ok(Request::Sql(format!("{verb} {} AS {}", quote_name(path)?, definition.trim())))
        }
        ActionKind::CreateDataset { dataset, definition, existing, .. } => {
            Ok(Request::Sql(dataset_statement(path, *dataset, definition, *existing)?))
        }
        ActionKind::CreateFunction { parameters, returns, body, existing, comment, .. } => {
            check_view_definition(body)?;
            let parameters: Result<Vec<String>, SqlError> = parameters
                .iter()
                .map(|(name, type_text)| Ok(format!("{} {}", quote_identifier(name)?, sql_type(type_text)?)))
                .collect();
            let verb = if *existing { "CREATE OR REPLACE FUNCTION" } else { "CREATE FUNCTION IF NOT EXISTS" };
            let comment = match comment {
                Some(text) => format!(" COMMENT {}", super::metadata_action::text_literal(text)?),
                None => String::new(),
            };
            Ok(Request::Sql(format!(
                "{verb} {} ({}) RETURNS {}{comment} RETURN {}",
                quote_name(path)?,
                parameters?.join(", "),
                sql_type(returns)?,
                body.trim()
            )))
        }
        ActionKind::SetRowFilter { filter } => {
            let table = quote_name(path)?;
            Ok(Request::Sql(match filter {
                Some(filter) => format!(
                    "ALTER TABLE {table} SET ROW FILTER {} ON ({})",
                    policy_function(&filter.function_name)?,
                    columns(&filter.columns)?
                ),
                None => format!("ALTER TABLE {table} DROP ROW FILTER"),
            }))
        }
        ActionKind::SetColumnMask { column, mask } => {
            let target = format!("ALTER TABLE {} ALTER COLUMN {}", quote_name(path)?, quote_identifier(column)?);
            Ok(Request::Sql(match mask {
                Some(mask) if mask.columns.is_empty() => {
                    format!("{target} SET MASK {}", policy_function(&mask.function_name)?)
                }
                Some(mask) => format!(
                    "{target} SET MASK {} USING COLUMNS ({})",
                    policy_function(&mask.function_name)?,
                    columns(&mask.columns)?
                ),
                None => format!("{target} DROP MASK"),
            }))
        }
        ActionKind::AddConstraint { constraint } => {
            let key = match &constraint.key {
                Key::Primary => format!("PRIMARY KEY ({})", columns(&constraint.columns)?),
                Key::Foreign { parent_table, parent_columns } => format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({})",
                    columns(&constraint.columns)?,
                    parent(parent_table)?,
                    columns(parent_columns)?
                ),
            };
            let rely = if constraint.rely { " RELY" } else { "" };
            Ok(Request::Sql(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {key}{rely}",
                quote_name(path)?,
                quote_identifier(&constraint.name)?
            )))
        }
        ActionKind::DropConstraint { name } => Ok(Request::Sql(format!(
            "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
            quote_name(path)?,
            quote_identifier(name)?
        ))),
        ActionKind::CreateExternalVolume { location } => Ok(Request::Sql(format!(
            "CREATE EXTERNAL VOLUME IF NOT EXISTS {} LOCATION {}",
            quote_name(path)?,
            quote_literal(location)?
        ))),
        ActionKind::Grant { principal, privileges: granted } => Ok(Request::Sql(format!(
            "GRANT {} ON {} {} TO {}",
            privileges(granted)?,
            securable(object.kind)?,
            quote_name(path)?,
            quote_identifier(principal)?
        ))),
        ActionKind::Revoke { principal, privileges: revoked } => Ok(Request::Sql(format!(
            "REVOKE {} ON {} {} FROM {}",
            privileges(revoked)?,
            securable(object.kind)?,
            quote_name(path)?,
            quote_identifier(principal)?
        ))),
        ActionKind::SetOwner { owner } => Ok(Request::Sql(format!(
            "ALTER {} {} OWNER TO {}",
            securable(object.kind)?,
            quote_name(path)?,
            quote_identifier(owner)?
        ))),
        ActionKind::Model(change) => rest(RestCall::Model { path: path.clone(), change: change.clone() }),
        ActionKind::Metadata(change) => Ok(Request::Sql(super::metadata_action::render(object, change)?)),
        ActionKind::CreateManagedVolume { comment } => rest(RestCall::CreateManagedVolume {
            catalog: path[0].clone(),
            schema: path[1].clone(),
            name: path[2].clone(),
            comment: comment.clone(),
        }),
        ActionKind::CopyVolumeFiles(_) => Ok(Request::VolumeFiles),
        ActionKind::Drop => rest(RestCall::Delete { kind: object.kind, full_name: name }),
        ActionKind::Blocked(reason) => Err(SqlError::Blocked(reason.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::object::ObjectRef;
    use crate::replication::plan::{ActionId, BlockReason, CloneReason};
    use sandbox::databricks::sql::parse::{self, parse, Statement};

    const HOSTILE: &[&str] = &["we`ird", "it's", "semi;colon", "back\\slash", "sp ace", "`; DROP TABLE x; --", "ünï"];

    fn action(kind: ObjectKind, path: &[&str], action: ActionKind) -> Action {
        Action {
            id: ActionId("t".into()),
            object: ObjectRef::new(kind, path.iter().copied()),
            kind: action,
            depends_on: vec![],
        }
    }

    fn sql(action: &Action) -> String {
        match render(action) {
            Ok(Request::Sql(sql)) => sql,
            other => panic!("expected SQL, got {other:?}"),
        }
    }

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn identifiers_and_literals_are_quoted_and_control_characters_refused() {
        assert_eq!(quote_identifier("a`b").unwrap(), "`a``b`");
        assert_eq!(quote_identifier("x; DROP TABLE y").unwrap(), "`x; DROP TABLE y`");
        assert_eq!(quote_name(&["c", "s`", "t"]).unwrap(), "`c`.`s```.`t`");
        assert_eq!(quote_literal("it's").unwrap(), r"'it\'s'");
        assert_eq!(quote_literal(r"a\'b").unwrap(), r"'a\\\'b'");
        for bad in ["a\nb", "a\0b", "a\rb", "\u{7f}", "tab\there"] {
            assert!(matches!(quote_identifier(bad), Err(SqlError::ControlCharacter { .. })), "{bad:?}");
            assert!(matches!(quote_literal(bad), Err(SqlError::ControlCharacter { .. })), "{bad:?}");
        }
        assert_eq!(quote_identifier(""), Err(SqlError::EmptyIdentifier));
        assert_eq!(privilege("USE_CATALOG").unwrap(), "USE CATALOG");
        assert_eq!(privilege("ALL_PRIVILEGES").unwrap(), "ALL PRIVILEGES");
        for bad in ["select", "SELECT;", "SELECT ON", "", "_X", "USE__CATALOG", "SELECT`"] {
            assert!(privilege(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_names_round_trip_through_the_warehouse_parser() {
        for &name in HOSTILE {
            let path = ["c", name, name];
            let statement = sql(&action(
                ObjectKind::Table,
                &path,
                ActionKind::CloneTable {
                    source: CloneSource::Shared(strings(&["drbot_shared_c", name, name])),
                    location: None,
                    source_delta: None,
                    reason: CloneReason::Missing,
                },
            ));
            assert_eq!(
                parse(&statement).unwrap(),
                Statement::CloneTable {
                    name: strings(&path),
                    or_replace: true,
                    if_not_exists: false,
                    deep: true,
                    source: parse::CloneSource::Table(strings(&["drbot_shared_c", name, name])),
                    location: None
                },
                "{statement}"
            );
            let location = format!("abfss://geo@b.dfs.core.windows.net/{name}");
            let statement = sql(&action(
                ObjectKind::Table,
                &path,
                ActionKind::CloneTable {
                    source: CloneSource::DeltaPath(format!("abfss://x@a.dfs.core.windows.net/{name}")),
                    location: Some(location.clone()),
                    source_delta: None,
                    reason: CloneReason::Stale,
                },
            ));
            assert_eq!(
                parse(&statement).unwrap(),
                Statement::CloneTable {
                    name: strings(&path),
                    or_replace: true,
                    if_not_exists: false,
                    deep: true,
                    source: parse::CloneSource::Path(format!("abfss://x@a.dfs.core.windows.net/{name}")),
                    location: Some(location.clone())
                },
                "{statement}"
            );
            let statement = sql(&action(
                ObjectKind::Table,
                &path,
                ActionKind::RegisterExternalTable {
                    format: "CSV".into(),
                    location: location.clone(),
                    columns: vec![
                        ColumnDef { name: "i`d".into(), type_text: "decimal(10,2)".into(), partition_index: None },
                        ColumnDef { name: "region".into(), type_text: "string".into(), partition_index: Some(0) },
                    ],
                    options: [("header".to_string(), "true".to_string()), ("delimiter".to_string(), "';".to_string())]
                        .into(),
                },
            ));
            assert_eq!(
                parse(&statement).unwrap(),
                Statement::CreateTableUsing {
                    name: strings(&path),
                    if_not_exists: true,
                    format: "CSV".into(),
                    location: location.clone(),
                    columns: vec![("i`d".into(), "DECIMAL(10,2)".into()), ("region".into(), "STRING".into())],
                    options: [("header".to_string(), "true".to_string()), ("delimiter".to_string(), "';".to_string())]
                        .into(),
                    partitioned_by: vec!["region".into()],
                },
                "{statement}"
            );
            let statement = sql(&action(
                ObjectKind::Volume,
                &path,
                ActionKind::CreateExternalVolume { location: location.clone() },
            ));
            assert_eq!(
                parse(&statement).unwrap(),
                Statement::CreateExternalVolume {
                    name: strings(&path),
                    if_not_exists: true,
                    location: location.clone()
                }
            );
            let grant =
                ActionKind::Grant { principal: name.into(), privileges: ["SELECT".into(), "MODIFY".into()].into() };
            let Statement::Grant { privileges, name: granted_on, principal, .. } =
                parse(&sql(&action(ObjectKind::Table, &path, grant))).unwrap()
            else {
                panic!("not a grant")
            };
            assert_eq!(
                (privileges, granted_on, principal),
                (strings(&["MODIFY", "SELECT"]), strings(&path), name.to_string())
            );
            let revoke = ActionKind::Revoke { principal: name.into(), privileges: ["USE_CATALOG".into()].into() };
            let Statement::Revoke { privileges, principal, .. } =
                parse(&sql(&action(ObjectKind::Catalog, &[name], revoke))).unwrap()
            else {
                panic!("not a revoke")
            };
            assert_eq!((privileges, principal), (strings(&["USE_CATALOG"]), name.to_string()));
            for kind in
                [ObjectKind::Catalog, ObjectKind::Schema, ObjectKind::Table, ObjectKind::View, ObjectKind::Volume]
            {
                let depth = match kind {
                    ObjectKind::Catalog => 1,
                    ObjectKind::Schema => 2,
                    _ => 3,
                };
                let statement = sql(&action(kind, &path[..depth], ActionKind::SetOwner { owner: name.into() }));
                let Statement::AlterOwner { name: altered, owner, .. } = parse(&statement).unwrap() else {
                    panic!("not an owner change: {statement}")
                };
                assert_eq!((altered, owner), (strings(&path[..depth]), name.to_string()));
            }
        }
    }

    #[test]
    fn views_go_in_as_one_statement() {
        let definition = "SELECT * FROM `c`.`s`.`t;x` WHERE a = 'x;y' -- c;d\n";
        let statement = sql(&action(
            ObjectKind::View,
            &["c", "s", "v"],
            ActionKind::CreateView { definition: definition.into(), dependencies: vec![], existing: false },
        ));
        let Statement::CreateView { name, dependencies, or_replace: false, if_not_exists: true, .. } =
            parse(&statement).unwrap()
        else {
            panic!("not a plain create: {statement}")
        };
        assert_eq!(name, strings(&["c", "s", "v"]));
        assert_eq!(dependencies, vec![strings(&["c", "s", "t;x"])]);
        // An existing view is altered, never replaced (a replace drops its grants).
        let statement = sql(&action(
            ObjectKind::View,
            &["c", "s", "v"],
            ActionKind::CreateView { definition: definition.into(), dependencies: vec![], existing: true },
        ));
        let Statement::AlterViewAs { name, dependencies, .. } = parse(&statement).unwrap() else {
            panic!("not an alter: {statement}")
        };
        assert_eq!(name, strings(&["c", "s", "v"]));
        assert_eq!(dependencies, vec![strings(&["c", "s", "t;x"])]);
        for bad in [
            "SELECT 1; DROP TABLE x",
            "SELECT 1 -- it's\n; DROP TABLE x",
            "SELECT '\\'; DROP TABLE x",
            "SELECT 1 /* ; */; DROP",
            "SELECT 'unclosed",
            "SELECT \0",
            "  ",
        ] {
            assert!(check_view_definition(bad).is_err(), "{bad:?}");
        }
        assert!(check_view_definition("SELECT 1 /* ; */ FROM t").is_ok());
        assert!(check_view_definition("SELECT \"a;b\" FROM t\r\n\tWHERE x = `y;`").is_ok());
    }

    #[test]
    fn rest_calls_are_typed_and_paths_escaped() {
        let mount = render(&action(
            ObjectKind::SharedCatalog,
            &["drbot_shared_main"],
            ActionKind::MountSharedCatalog {
                share: "drbot_main".into(),
                provider: ProviderRef::LookUp { global_metastore_id: "azure:westeurope:1".into() },
            },
        ))
        .unwrap();
        let Request::MountAfterProviderLookup { lookup, catalog, share } = mount else { panic!("{mount:?}") };
        assert_eq!((lookup.method(), lookup.path().as_str()), (Method::Get, "/api/2.1/unity-catalog/providers"));
        assert_eq!(lookup.query(), vec![("data_provider_global_metastore_id", "azure:westeurope:1".to_string())]);
        let call = mount_share(&catalog, &share, "primary").unwrap();
        assert_eq!(
            call.body().unwrap(),
            json!({"name": "drbot_shared_main", "provider_name": "primary", "share_name": "drbot_main"})
        );
        assert_eq!(call.side(), Side::Secondary);

        let Ok(Request::Rest(recipient)) = render(&action(
            ObjectKind::Recipient,
            &["drbot_secondary"],
            ActionKind::CreateRecipient { global_metastore_id: "azure:northeurope:2".into() },
        )) else {
            panic!()
        };
        assert_eq!(recipient.side(), Side::Primary);
        assert_eq!(recipient.method(), Method::Post);
        assert_eq!(
            recipient.body().unwrap(),
            json!({"name": "drbot_secondary", "authentication_type": "DATABRICKS", "data_recipient_global_metastore_id": "azure:northeurope:2"})
        );
        let Ok(Request::Rest(add)) = render(&action(
            ObjectKind::Share,
            &["drbot_main"],
            ActionKind::AddSchemasToShare { schemas: vec![strings(&["main", "sales"])] },
        )) else {
            panic!()
        };
        assert_eq!((add.method(), add.path().as_str()), (Method::Patch, "/api/2.1/unity-catalog/shares/drbot_main"));
        assert_eq!(
            add.body().unwrap(),
            json!({"updates": [{"action": "ADD", "data_object": {"name": "main.sales", "data_object_type": "SCHEMA"}}]})
        );
        let Ok(Request::Rest(select)) = render(&action(
            ObjectKind::Share,
            &["drbot_main"],
            ActionKind::GrantShareSelect { recipient: "drbot_secondary".into() },
        )) else {
            panic!()
        };
        assert_eq!(select.path(), "/api/2.1/unity-catalog/shares/drbot_main/permissions");
        assert_eq!(select.body().unwrap(), json!({"changes": [{"principal": "drbot_secondary", "add": ["SELECT"]}]}));

        let Ok(Request::Rest(drop)) = render(&action(ObjectKind::Schema, &["c/../x", "s?#"], ActionKind::Drop)) else {
            panic!()
        };
        assert_eq!(drop.method(), Method::Delete);
        assert_eq!(drop.path(), "/api/2.1/unity-catalog/schemas/c%2F..%2Fx.s%3F%23");
        assert_eq!(drop.query(), vec![("force", "true".to_string())]);

        let Ok(Request::Rest(create)) = render(&action(
            ObjectKind::Schema,
            &["main", "sales"],
            ActionKind::CreateSchema {
                storage_root: Some("abfss://uc@b/main/sales".into()),
                comment: Some("it's".into()),
                properties: [("k".to_string(), "v".to_string())].into(),
            },
        )) else {
            panic!()
        };
        assert_eq!(
            create.body().unwrap(),
            json!({"name": "sales", "catalog_name": "main", "comment": "it's", "properties": {"k": "v"}, "storage_root": "abfss://uc@b/main/sales"})
        );
        let blocked = render(&action(
            ObjectKind::Table,
            &["c", "s", "t"],
            ActionKind::Blocked(BlockReason::Unmapped { location: "abfss://x".into() }),
        ));
        assert!(matches!(blocked, Err(SqlError::Blocked(reason)) if reason.contains("abfss://x")));
        let newline = render(&action(ObjectKind::Table, &["c", "s", "t\n"], ActionKind::Drop));
        assert!(matches!(newline, Err(SqlError::ControlCharacter { .. })));
        let short = render(&action(ObjectKind::Table, &["c", "s"], ActionKind::Drop));
        assert!(matches!(short, Err(SqlError::Unsupported(_))));
        let Ok(Request::Rest(update)) = render(&action(
            ObjectKind::Catalog,
            &["main"],
            ActionKind::UpdateCatalog { comment: None, properties: Default::default() },
        )) else {
            panic!()
        };
        assert_eq!((update.method(), update.path().as_str()), (Method::Patch, "/api/2.1/unity-catalog/catalogs/main"));
        // No comment on the primary clears the secondary's.
        assert_eq!(update.body().unwrap(), json!({"comment": "", "properties": {}}));
    }
}
