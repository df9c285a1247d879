//! The browser end-to-end suite (tests/e2e/run.mjs) as one cargo test, so
//! `cargo test` and `.ci/test` count it: drbot in the Microsoft 365 Agents
//! Playground, driven by chromium as a person would. Missing tools fail the
//! test with what to run; nothing is skipped quietly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The suite's own bounds (each wait, the whole run) live in run.mjs; this is
/// only what the test needs to find and start it.
#[test]
fn drbot_works_in_the_agents_playground() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = root.join("tests/e2e");
    let node = which("node").expect("node is missing: run tests/e2e/setup.sh (or .ci/setup.d/50-e2e.sh)");
    assert!(
        suite.join("node_modules/playwright-core").is_dir()
            && suite.join("node_modules/@microsoft/m365agentsplayground").is_dir(),
        "the e2e packages are missing: run tests/e2e/setup.sh (npm ci in tests/e2e)"
    );
    let chromium = std::env::var_os("DRBOT_E2E_CHROMIUM").map(PathBuf::from).unwrap_or("/usr/bin/chromium".into());
    assert!(chromium.exists(), "{} is missing: run tests/e2e/setup.sh (apt-get install chromium)", chromium.display());

    // Cargo built drbot for this test; the sandbox binary is another package's,
    // so it is built here, into the same profile directory.
    let drbot = PathBuf::from(env!("CARGO_BIN_EXE_drbot"));
    let bin_dir = drbot.parent().expect("drbot's directory");
    build_sandbox(&root, bin_dir);

    let output = Command::new(node)
        .arg(suite.join("run.mjs"))
        .current_dir(&root)
        .env("DRBOT_E2E_NO_BUILD", "1")
        .env("DRBOT_E2E_BIN_DIR", bin_dir)
        // docs/screenshots changes only when someone runs run.mjs on purpose,
        // not with every `cargo test` (each screenshot shows the time).
        .env("DRBOT_E2E_SCREENSHOTS", Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots"))
        .output()
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the e2e suite failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("ok   01 welcome"), "the welcome step did not run:\n{stdout}\n{stderr}");
    assert!(stdout.contains("steps passed"), "the suite did not report its steps:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

/// `cargo build` of drbot-sandbox into `bin_dir`'s profile (debug or release).
fn build_sandbox(root: &Path, bin_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or("cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(root).args(["build", "--quiet", "-p", "drbot-sandbox", "--bin", "drbot-sandbox"]);
    if bin_dir.ends_with("release") {
        build.arg("--release");
    }
    // Cargo gives this test its package's CARGO_PKG_*, CARGO_MANIFEST_DIR, ...;
    // build scripts that watch those (ring's does) would rebuild every time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_MANIFEST_"].iter().any(|p| name.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_TARGET_TMPDIR",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&name.as_ref());
        if set_for_tests {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("cargo starts");
    assert!(status.success(), "cargo build -p drbot-sandbox failed");
    assert!(bin_dir.join("drbot-sandbox").exists(), "drbot-sandbox is not in {}", bin_dir.display());
}

/// The first `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| path.is_file())
}
