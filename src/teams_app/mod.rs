//! The Teams app package (`drbot package`): the manifest in manifest/ with
//! this deployment's ids filled in, the icons checked, everything validated
//! (the v1.30 schema, then Teams' own rules and drbot's command table) and
//! zipped. A package Teams would refuse is refused here, with the reasons,
//! instead of after an upload.
//!
//! The ids are set structurally (the manifest's `id`, the bot's `botId`,
//! `webApplicationInfo`), not by text substitution, so the committed
//! manifest keeps a valid sample GUID and validates as it is.

pub mod archive;
pub mod icons;
pub mod rules;
pub mod schema;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::commands::Scope;
use icons::IconRole;

/// The manifest and icons compiled into the binary, so `drbot package`
/// works from any directory.
const EMBEDDED_MANIFEST: &str = include_str!("../../manifest/manifest.json");
const EMBEDDED_COLOR: &[u8] = include_bytes!("../../manifest/color.png");
const EMBEDDED_OUTLINE: &[u8] = include_bytes!("../../manifest/outline.png");

/// Where the manifest template and icons come from.
#[derive(Clone, Debug, Default)]
pub enum Source {
    /// The copy built into drbot.
    #[default]
    Embedded,
    /// A directory holding manifest.json and the icons it names.
    Dir(PathBuf),
}

#[derive(Clone, Debug, Default)]
pub struct PackageOptions {
    /// The Teams app id (the manifest's `id`); usually the bot's Entra app id.
    pub app_id: String,
    /// The bot's Entra app id (Azure Bot's Microsoft App ID); defaults to `app_id`.
    pub bot_id: Option<String>,
    /// The app version, `X.Y.Z`; defaults to drbot's own version.
    pub version: Option<String>,
    pub source: Source,
}

/// A validated package, ready to zip.
#[derive(Clone, Debug)]
pub struct Package {
    pub manifest: Value,
    /// (file name, bytes) of the colour and outline icons.
    pub color: (String, Vec<u8>),
    pub outline: (String, Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0}")]
    Argument(String),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("manifest.json is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the package would not pass Teams' validation:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error("cannot write the package: {0}")]
    Write(String),
}

/// A GUID in its canonical hyphenated form, lower-cased: Entra app ids and
/// Teams app ids are compared as strings downstream.
pub fn parse_guid(what: &str, text: &str) -> Result<String, PackageError> {
    let text = text.trim();
    let hyphens_in_place = text.len() == 36 && [8, 13, 18, 23].iter().all(|i| text.as_bytes()[*i] == b'-');
    match uuid::Uuid::parse_str(text) {
        Ok(id) if hyphens_in_place => Ok(id.hyphenated().to_string()),
        _ => Err(PackageError::Argument(format!(
            "{what} must be a GUID like 00000000-0000-0000-0000-000000000000, not {text:?}"
        ))),
    }
}

/// `X.Y.Z` without leading zeros, as the schema's pattern requires.
fn parse_version(text: &str) -> Result<String, PackageError> {
    let parts: Vec<&str> = text.split('.').collect();
    let number =
        |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'));
    if parts.len() == 3 && parts.iter().all(number) {
        Ok(text.to_string())
    } else {
        Err(PackageError::Argument(format!("--version must be X.Y.Z (e.g. 1.0.3), not {text:?}")))
    }
}

/// Reads the template, fills in the ids and version, and validates it all.
pub fn build(options: &PackageOptions) -> Result<Package, PackageError> {
    let app_id = parse_guid("--app-id", &options.app_id)?;
    let bot_id = match &options.bot_id {
        Some(bot_id) => parse_guid("--bot-id", bot_id)?,
        None => app_id.clone(),
    };
    let version = parse_version(options.version.as_deref().unwrap_or(env!("CARGO_PKG_VERSION")))?;

    let (text, dir) = match &options.source {
        Source::Embedded => (EMBEDDED_MANIFEST.to_string(), None),
        Source::Dir(dir) => (read(&dir.join("manifest.json"))?, Some(dir.as_path())),
    };
    let mut manifest: Value = serde_json::from_str(&text).map_err(PackageError::NotJson)?;
    let mut problems = Vec::new();
    let color = icon(&manifest, dir, IconRole::Color, &mut problems)?;
    let outline = icon(&manifest, dir, IconRole::Outline, &mut problems)?;

    manifest["id"] = json!(app_id);
    manifest["version"] = json!(version);
    // SSO: Teams asks Entra for a token for the bot's own API, the
    // application ID URI `drbot setup` puts on the bot's app registration.
    manifest["webApplicationInfo"]["id"] = json!(bot_id);
    manifest["webApplicationInfo"]["resource"] = json!(format!("api://botid-{bot_id}"));
    match manifest["bots"].as_array_mut() {
        Some(bots) if !bots.is_empty() => bots.iter_mut().for_each(|bot| bot["botId"] = json!(bot_id)),
        _ => problems.push("the manifest has no bot".to_string()),
    }

    problems.extend(schema::violations(&manifest));
    problems.extend(rules::violations(&manifest));
    let domains = manifest["validDomains"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !domains.iter().any(|d| d == "token.botframework.com") {
        problems.push("validDomains must include token.botframework.com (the SSO sign-in page)".to_string());
    }
    if !problems.is_empty() {
        return Err(PackageError::Invalid(problems));
    }
    Ok(Package { manifest, color, outline })
}

fn read(path: &Path) -> Result<String, PackageError> {
    std::fs::read_to_string(path).map_err(|source| PackageError::Read { path: path.to_path_buf(), source })
}

/// The icon the manifest names, read and checked; a missing file or a wrong
/// size is a problem to report with the others, not an early exit.
fn icon(
    manifest: &Value,
    dir: Option<&Path>,
    role: IconRole,
    problems: &mut Vec<String>,
) -> Result<(String, Vec<u8>), PackageError> {
    let key = match role {
        IconRole::Color => "color",
        IconRole::Outline => "outline",
    };
    let Some(name) = manifest["icons"][key].as_str() else {
        problems.push(format!("icons.{key} is missing"));
        return Ok((String::new(), Vec::new()));
    };
    // Teams wants the icons at the package's root, next to manifest.json.
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        problems.push(format!("icons.{key} must be a file name at the package root, not {name:?}"));
        return Ok((name.to_string(), Vec::new()));
    }
    let bytes = match dir {
        None => match role {
            IconRole::Color => EMBEDDED_COLOR.to_vec(),
            IconRole::Outline => EMBEDDED_OUTLINE.to_vec(),
        },
        Some(dir) => match std::fs::read(dir.join(name)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("icons.{key}: {name} does not exist in {}", dir.display()));
                return Ok((name.to_string(), Vec::new()));
            }
            Err(source) => return Err(PackageError::Read { path: dir.join(name), source }),
        },
    };
    if let Err(problem) = icons::check(role, name, &bytes) {
        problems.push(problem);
    }
    Ok((name.to_string(), bytes))
}

/// The compose box's command lists, from the command table: one list for
/// the personal scope and one for team and group chats, each command with
/// its usage and summary as the description. The committed manifest holds
/// exactly these (a test compares them), so the table is the one source.
pub fn command_lists() -> Value {
    let list = |scopes: &[Scope]| {
        let commands: Vec<Value> = crate::bot::cmd::offered_in(scopes[0])
            .map(|spec| {
                let summary = spec.summary.trim_end_matches('.');
                let description =
                    if spec.usage == spec.name { summary.to_string() } else { format!("{}: {summary}", spec.usage) };
                json!({"title": spec.name, "description": description})
            })
            .collect();
        json!({"scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "commands": commands})
    };
    json!([list(&[Scope::Personal]), list(&[Scope::Team, Scope::GroupChat])])
}

impl Package {
    /// manifest.json and the icons, zipped.
    pub fn zip(&self) -> Result<Vec<u8>, PackageError> {
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(|e| PackageError::Write(e.to_string()))?;
        archive::zip_files(&[
            ("manifest.json", &manifest),
            (&self.color.0, &self.color.1),
            (&self.outline.0, &self.outline.1),
        ])
        .map_err(|e| PackageError::Write(e.to_string()))
    }

    pub fn write(&self, out: &Path) -> Result<(), PackageError> {
        let bytes = self.zip()?;
        std::fs::write(out, bytes).map_err(|e| PackageError::Write(format!("{}: {e}", out.display())))
    }

    /// What `drbot package` prints: the ids it used and the commands it listed.
    pub fn summary(&self, out: &Path) -> String {
        let m = &self.manifest;
        let mut text = format!(
            "wrote {}: Teams app {} version {}, bot {}, SSO resource {}\n",
            out.display(),
            m["id"].as_str().unwrap_or_default(),
            m["version"].as_str().unwrap_or_default(),
            m["bots"][0]["botId"].as_str().unwrap_or_default(),
            m["webApplicationInfo"]["resource"].as_str().unwrap_or_default(),
        );
        for list in m["bots"][0]["commandLists"].as_array().into_iter().flatten() {
            let scopes: Vec<&str> = list["scopes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let titles: Vec<&str> =
                list["commands"].as_array().into_iter().flatten().filter_map(|c| c["title"].as_str()).collect();
            text.push_str(&format!("  commands for {}: {}\n", scopes.join(", "), titles.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn guids_are_checked_and_canonical() {
        assert_eq!(parse_guid("x", " 6F1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D ").unwrap(), APP);
        for bad in [
            "",
            "not-a-guid",
            "6f1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d",
            "{6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}",
            "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4",
        ] {
            assert!(parse_guid("--app-id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_follow_the_schema() {
        assert!(parse_version("1.0.3").is_ok());
        assert!(parse_version("10.20.0").is_ok());
        for bad in ["1.0", "1.0.03", "v1.0.0", "1.0.0-beta", "", "1..0"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_embedded_template_fills_in_ids() {
        let bot = "0a1b2c3d-0000-4000-8000-00000000b0b0";
        let package = build(&PackageOptions {
            app_id: APP.into(),
            bot_id: Some(bot.into()),
            version: Some("2.3.4".into()),
            source: Source::Embedded,
        })
        .expect("valid");
        let m = &package.manifest;
        assert_eq!(m["id"], APP);
        assert_eq!(m["version"], "2.3.4");
        assert_eq!(m["bots"][0]["botId"], bot);
        assert_eq!(m["webApplicationInfo"], json!({"id": bot, "resource": format!("api://botid-{bot}")}));
        let listed: Vec<&str> = m["bots"][0]["commandLists"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["commands"].as_array().into_iter().flatten())
            .filter_map(|c| c["title"].as_str())
            .collect();
        assert!(listed.iter().all(|t| crate::bot::cmd::find(t).is_some()), "{listed:?}");
        assert!(listed.contains(&"help"));
    }

    /// The committed manifest lists what the command table offers, scope by
    /// scope; after a change to the table, paste the lists this prints.
    #[test]
    fn the_manifest_lists_the_command_table() {
        let committed: Value = serde_json::from_str(EMBEDDED_MANIFEST).expect("json");
        let expected = command_lists();
        assert_eq!(
            committed["bots"][0]["commandLists"],
            expected,
            "manifest/manifest.json's commandLists should be:\n{}",
            serde_json::to_string_pretty(&expected).unwrap_or_default()
        );
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_is_read() {
        let options = PackageOptions {
            app_id: APP.into(),
            source: Source::Dir("/nonexistent".into()),
            version: Some("1.0".into()),
            ..Default::default()
        };
        assert!(matches!(build(&options), Err(PackageError::Argument(m)) if m.contains("X.Y.Z")));
        let options = PackageOptions { app_id: "nope".into(), ..Default::default() };
        assert!(matches!(build(&options), Err(PackageError::Argument(m)) if m.contains("--app-id")));
    }
}
