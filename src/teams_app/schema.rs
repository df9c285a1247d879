//! Validation against Microsoft's Teams manifest schema v1.30, the copy kept
//! in manifest/schema/ (from the npm package `@microsoft/app-manifest`), so a
//! package is checked offline, before Teams Admin Center sees it.

use std::sync::OnceLock;

use serde_json::Value;

/// The schema as Microsoft publishes it.
pub const SCHEMA_V1_30: &str = include_str!("../../manifest/schema/MicrosoftTeams.schema.v1.30.json");
/// Where Microsoft publishes it (the manifest's `$schema`).
pub const SCHEMA_URL: &str = "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json";

/// The one pattern of the schema that Rust's regex engine cannot compile: an
/// ECMAScript look-ahead refusing control characters in an add-in's `.xll`
/// file name. `[\S]` already refuses the whitespace ones, so refusing the
/// other two (bell U+0007, and backspace, which `\b` means inside a class)
/// alongside keeps the meaning.
const LOOKAHEAD_PATTERN: &str = r"^(?!.*[\r\n\f\b\v\u0007\t])[\S]*\.xll$";
const LOOKAHEAD_EQUIVALENT: &str = r"^[^\s\u0007\u0008]*\.xll$";

struct Compiled {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

fn compiled() -> Result<&'static Compiled, String> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let mut schema: Value = serde_json::from_str(SCHEMA_V1_30).map_err(|e| format!("schema: {e}"))?;
            replace_pattern(&mut schema);
            // The schema says draft-04 but uses later keywords (`const` for
            // manifestVersion, `if`/`then`), which Microsoft's validator
            // (ajv) enforces anyway. Read as draft-07, they are enforced
            // here too; the schema has none of the draft-04 forms draft-07
            // reads differently (boolean exclusiveMinimum/Maximum, `id`).
            schema["$schema"] = Value::String("http://json-schema.org/draft-07/schema#".into());
            let mut compiler = boon::Compiler::new();
            compiler.enable_format_assertions();
            compiler.add_resource(SCHEMA_URL, schema).map_err(|e| format!("schema: {e}"))?;
            let mut schemas = boon::Schemas::new();
            let index = compiler.compile(SCHEMA_URL, &mut schemas).map_err(|e| format!("schema: {e:#}"))?;
            Ok(Compiled { schemas, index })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn replace_pattern(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "pattern" && child.as_str() == Some(LOOKAHEAD_PATTERN) {
                    *child = Value::String(LOOKAHEAD_EQUIVALENT.to_string());
                } else {
                    replace_pattern(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(replace_pattern),
        _ => {}
    }
}

/// Every place the manifest breaks the schema, one line each (empty: valid).
pub fn violations(manifest: &Value) -> Vec<String> {
    let compiled = match compiled() {
        Ok(compiled) => compiled,
        Err(error) => return vec![error],
    };
    match compiled.schemas.validate(manifest, compiled.index) {
        Ok(()) => Vec::new(),
        Err(error) => {
            let mut lines = Vec::new();
            leaves(&error, &mut lines);
            lines
        }
    }
}

/// The innermost causes, each with where in the manifest it is.
fn leaves(error: &boon::ValidationError, lines: &mut Vec<String>) {
    if error.causes.is_empty() {
        lines.push(format!("at '{}': {}", error.instance_location, error.kind));
    } else {
        for cause in &error.causes {
            leaves(cause, lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_repository_manifest_is_valid() {
        let manifest: Value = serde_json::from_str(include_str!("../../manifest/manifest.json")).expect("json");
        assert_eq!(violations(&manifest), Vec::<String>::new());
    }

    #[test]
    fn the_schema_rejects_what_it_should() {
        let mut manifest: Value = serde_json::from_str(include_str!("../../manifest/manifest.json")).expect("json");
        manifest["id"] = json!("not-a-guid");
        manifest["accentColor"] = json!("blue");
        manifest["unexpected"] = json!(true);
        let found = violations(&manifest);
        assert!(found.iter().any(|v| v.contains("/id")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("/accentColor")), "{found:?}");
        assert!(found.iter().any(|v| v.contains("unexpected")), "{found:?}");
    }

    #[test]
    fn keywords_newer_than_draft_04_are_enforced_as_microsoft_does() {
        let mut manifest: Value = serde_json::from_str(include_str!("../../manifest/manifest.json")).expect("json");
        manifest["manifestVersion"] = json!("1.29");
        let found = violations(&manifest);
        assert!(found.iter().any(|v| v.starts_with("at '/manifestVersion'")), "const: {found:?}");
        assert!(!SCHEMA_V1_30.contains("exclusiveMinimum") && !SCHEMA_V1_30.contains("exclusiveMaximum"));
    }

    #[test]
    fn the_rewritten_pattern_means_the_same() {
        let original = serde_json::from_str::<Value>(SCHEMA_V1_30).expect("json").to_string();
        assert!(original.contains(&serde_json::to_string(LOOKAHEAD_PATTERN).expect("str")), "still in the schema");
        let mut compiler = boon::Compiler::new();
        compiler.add_resource("urn:xll", json!({"pattern": LOOKAHEAD_EQUIVALENT})).expect("resource");
        let mut schemas = boon::Schemas::new();
        let index = compiler.compile("urn:xll", &mut schemas).expect("compiles");
        let matches = |name: &str| schemas.validate(&json!(name), index).is_ok();
        assert!(matches("addin.xll"));
        assert!(!matches("add in.xll"));
        assert!(!matches("add\u{7}in.xll"));
        assert!(!matches("add\u{8}in.xll"));
        assert!(!matches("add\tin.xll"));
        assert!(!matches("addin.xlsx"));
    }
}
