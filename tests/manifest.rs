//! The Teams app package end to end: `drbot package` run as a user runs it,
//! the zip opened again, its manifest validated against the v1.30 schema kept
//! in the repository and against Teams' rules; and the packages Teams would
//! refuse (a 40-character command title, a missing icon, a wrong size)
//! refused by `drbot package` itself.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use drbot::bot::cmd;
use drbot::teams_app::{self, rules, schema, PackageError, PackageOptions, Source};
use serde_json::{json, Value};

const APP_ID: &str = "3c9a4e21-7b5d-4f08-9a6e-1d2c3b4a5f60";
const BOT_ID: &str = "b0770000-0000-4000-8000-0000000000b0";

fn repo_manifest_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest"))
}

/// A copy of manifest/ the test may break.
fn manifest_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["manifest.json", "color.png", "outline.png"] {
        std::fs::copy(repo_manifest_dir().join(name), dir.path().join(name)).expect("copy");
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).expect("json")).expect("write");
}

fn options(dir: &Path) -> PackageOptions {
    PackageOptions { app_id: APP_ID.into(), bot_id: None, version: None, source: Source::Dir(dir.to_path_buf()) }
}

fn problems(result: Result<teams_app::Package, PackageError>) -> Vec<String> {
    match result {
        Err(PackageError::Invalid(problems)) => problems,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn drbot_package_writes_a_zip_teams_accepts() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("drbot.zip");
    let run = Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["package", "--app-id", APP_ID, "--bot-id", BOT_ID, "--version", "1.2.3", "--out"])
        .arg(&out)
        .output()
        .expect("drbot runs");
    assert!(run.status.success(), "stderr: {}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("wrote"));

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&out).expect("zip exists")).expect("a zip");
    let mut names: Vec<String> = archive.file_names().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"], "everything at the root, nothing else");

    let mut text = String::new();
    archive.by_name("manifest.json").expect("manifest").read_to_string(&mut text).expect("utf-8");
    let manifest: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(schema::violations(&manifest), Vec::<String>::new(), "valid against the v1.30 schema");
    assert_eq!(rules::violations(&manifest), Vec::<String>::new(), "and Teams' own rules");
    assert_eq!(manifest["manifestVersion"], "1.30");
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["version"], "1.2.3");
    assert_eq!(manifest["bots"][0]["botId"], BOT_ID);
    assert_eq!(manifest["bots"][0]["scopes"], json!(["personal", "team", "groupChat"]));
    assert_eq!(manifest["webApplicationInfo"], json!({"id": BOT_ID, "resource": format!("api://botid-{BOT_ID}")}));
    assert!(manifest["validDomains"].as_array().expect("list").contains(&json!("token.botframework.com")));

    for (name, size) in [("color.png", 192), ("outline.png", 32)] {
        let mut bytes = Vec::new();
        archive.by_name(name).expect("icon").read_to_end(&mut bytes).expect("read");
        assert_eq!(bytes, std::fs::read(repo_manifest_dir().join(name)).expect("repo icon"), "{name} as committed");
        let info = teams_app::icons::png_info(&bytes).expect("a PNG");
        assert_eq!((info.width, info.height), (size, size), "{name}");
    }
}

#[test]
fn drbot_package_refuses_a_bad_guid_and_writes_nothing() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("drbot.zip");
    let run = Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["package", "--app-id", "not-a-guid", "--out"])
        .arg(&out)
        .output()
        .expect("drbot runs");
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--app-id must be a GUID"));
    assert!(!out.exists());
}

#[test]
fn every_scope_has_a_list_of_real_commands() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(repo_manifest_dir().join("manifest.json")).expect("read")).expect("json");
    let lists = manifest["bots"][0]["commandLists"].as_array().expect("command lists");
    for scope in ["personal", "team", "groupChat"] {
        let list = lists
            .iter()
            .find(|l| l["scopes"].as_array().is_some_and(|s| s.contains(&json!(scope))))
            .unwrap_or_else(|| panic!("no command list for {scope}"));
        let titles: Vec<&str> =
            list["commands"].as_array().expect("commands").iter().filter_map(|c| c["title"].as_str()).collect();
        assert!(titles.len() <= rules::MAX_COMMANDS && titles.contains(&"help"), "{scope}: {titles:?}");
        for title in &titles {
            assert!(cmd::find(title).is_some(), "{scope}: {title} is not in the command table");
            assert_eq!(titles.iter().filter(|t| *t == title).count(), 1, "{scope}: {title} twice");
        }
    }
    // Nothing the table offers is missing from both lists, except what the
    // twelve-command limit pushes out of one of them; a command offered in no
    // scope (every list is full) is typed, and help lists it.
    for command in cmd::TABLE {
        let listed = lists
            .iter()
            .flat_map(|l| l["commands"].as_array().into_iter().flatten())
            .any(|c| c["title"] == command.name);
        assert!(listed || command.offered_in.is_empty(), "{} is in no command list", command.name);
        assert!(!listed || !command.offered_in.is_empty(), "{} is listed but offered nowhere", command.name);
    }
}

#[test]
fn a_forty_character_title_is_refused() {
    let dir = manifest_copy();
    let long = "replicate-everything-from-primary-please";
    assert_eq!(long.len(), 40);
    edit_manifest(dir.path(), |m| m["bots"][0]["commandLists"][0]["commands"][0]["title"] = json!(long));
    let found = problems(teams_app::build(&options(dir.path())));
    assert!(found.iter().any(|p| p.contains("40 characters") && p.contains("allows 32")), "{found:?}");
}

#[test]
fn a_missing_or_wrong_icon_is_refused() {
    let dir = manifest_copy();
    std::fs::remove_file(dir.path().join("outline.png")).expect("remove");
    let found = problems(teams_app::build(&options(dir.path())));
    assert!(found.iter().any(|p| p.contains("outline.png does not exist")), "{found:?}");

    let dir = manifest_copy();
    std::fs::copy(repo_manifest_dir().join("outline.png"), dir.path().join("color.png")).expect("copy");
    let found = problems(teams_app::build(&options(dir.path())));
    assert!(found.iter().any(|p| p.contains("32×32; Teams requires 192×192")), "{found:?}");

    let dir = manifest_copy();
    edit_manifest(dir.path(), |m| m["icons"].as_object_mut().expect("icons").remove("color").map(|_| ()).unwrap_or(()));
    let found = problems(teams_app::build(&options(dir.path())));
    assert!(found.iter().any(|p| p.contains("icons.color is missing")), "{found:?}");
    assert!(found.iter().any(|p| p.starts_with("at '/icons'")), "the schema says so too: {found:?}");
}

#[test]
fn what_the_schema_refuses_is_refused() {
    let dir = manifest_copy();
    edit_manifest(dir.path(), |m| {
        m["accentColor"] = json!("navy");
        m["validDomains"] = json!(["portal.azure.com"]);
    });
    let found = problems(teams_app::build(&options(dir.path())));
    assert!(found.iter().any(|p| p.contains("/accentColor")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("token.botframework.com")), "{found:?}");
}
