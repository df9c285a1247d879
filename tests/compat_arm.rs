//! The official Azure SDK for Python (azure-mgmt-resource), unchanged, against
//! the sandbox's Azure Resource Manager (tests/compat/test_azure_sdk.py).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sandbox::arm::ARM_AUDIENCE;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_SUBSCRIPTION_ID};

#[tokio::test]
async fn the_official_azure_sdk_deploys_against_the_sandbox() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/compat-venv/bin/python");
    assert!(python.exists(), "the Python SDKs are missing: run .ci/setup.d/21-python-azure.sh");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    sandbox.arm.set_resource_duration(Duration::from_millis(20));
    let alice = sandbox.teams.user("alice").unwrap();
    let token = sandbox.entra.user_token(&alice, "compat-tests", ARM_AUDIENCE, "user_impersonation");
    let endpoint = sandbox.arm_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/compat/test_azure_sdk.py"])
            .current_dir(root)
            .env("ARM_ENDPOINT", endpoint)
            .env("ARM_TOKEN", token)
            .env("SUBSCRIPTION_ID", SANDBOX_SUBSCRIPTION_ID)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "azure-mgmt-resource against the sandbox failed:\n{report}");
    assert!(report.contains("1 passed"), "{report}");
}
