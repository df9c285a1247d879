//! Quoting for the SQL drbot sends: identifiers, names, string literals and
//! securable keywords, each refusing what could change a statement's
//! meaning (a control character, an empty name). Kept apart from `sql.rs`,
//! which renders whole actions, so the renderers of other kinds
//! (`metadata_action.rs`) quote the same way without depending on it.

use super::object::ObjectKind;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("an identifier may not be empty")]
    EmptyIdentifier,
    #[error("{what} contains a control character")]
    ControlCharacter { what: &'static str },
    #[error("{0:?} is not a Unity Catalog privilege")]
    BadPrivilege(String),
    #[error("{0:?} is not a table format")]
    BadFormat(String),
    #[error("the view definition cannot be used: {0}")]
    BadViewDefinition(&'static str),
    #[error("this action cannot run: {0}")]
    Blocked(String),
    #[error("{0} cannot be rendered")]
    Unsupported(String),
}

/// `` `name` `` with every backtick doubled.
pub fn quote_identifier(name: &str) -> Result<String, SqlError> {
    if name.is_empty() {
        return Err(SqlError::EmptyIdentifier);
    }
    no_control(name, "an identifier")?;
    Ok(format!("`{}`", name.replace('`', "``")))
}

/// A multi-part name, each part quoted: `` `c`.`s`.`t` ``.
pub fn quote_name<S: AsRef<str>>(parts: &[S]) -> Result<String, SqlError> {
    if parts.is_empty() {
        return Err(SqlError::EmptyIdentifier);
    }
    let quoted: Result<Vec<String>, SqlError> = parts.iter().map(|p| quote_identifier(p.as_ref())).collect();
    Ok(quoted?.join("."))
}

/// `'text'` with `\` and `'` backslash-escaped.
pub fn quote_literal(text: &str) -> Result<String, SqlError> {
    no_control(text, "a string literal")?;
    Ok(format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")))
}

pub(crate) fn no_control(text: &str, what: &'static str) -> Result<(), SqlError> {
    if text.chars().any(char::is_control) {
        return Err(SqlError::ControlCharacter { what });
    }
    Ok(())
}

/// The securable keyword of `GRANT … ON`, `ALTER … OWNER TO` and `ALTER … SET TAGS`.
pub(crate) fn securable(kind: ObjectKind) -> Result<&'static str, SqlError> {
    Ok(match kind {
        ObjectKind::Catalog => "CATALOG",
        ObjectKind::Schema => "SCHEMA",
        ObjectKind::Table => "TABLE",
        ObjectKind::View => "VIEW",
        ObjectKind::Volume => "VOLUME",
        // A registered model is granted as a function (Unity Catalog
        // privileges reference: "use GRANT ON FUNCTION" for models).
        ObjectKind::Function | ObjectKind::Model => "FUNCTION",
        other => return Err(SqlError::Unsupported(format!("a grant or owner on a {}", other.as_str()))),
    })
}
