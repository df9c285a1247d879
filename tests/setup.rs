//! `drbot setup` against the sandbox's Microsoft Graph and ARM: the first run
//! makes the app registration and the Azure Bot ready for Teams SSO, the
//! second changes nothing, a dry run changes nothing, a rotated secret
//! touches only the connection, failures say what was already done, and no
//! token or secret is ever printed.

use std::process::Command;

use drbot::config::Secret;
use drbot::setup::desired;
use drbot::setup::plan::Change;
use drbot::setup::{run, SetupError, SetupOptions};
use sandbox::arm::ARM_AUDIENCE;
use sandbox::graph::GRAPH_AUDIENCE;
use sandbox::{
    Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID, SANDBOX_BOT_NAME, SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_BOT_SECRET,
    SANDBOX_SUBSCRIPTION_ID, SANDBOX_TENANT_ID,
};
use serde_json::{json, Value};

const CONNECTION: &str = "drbot-sso";

/// Options for a run as `user` (an operator signed in with the Azure CLI, say).
fn options_as(sandbox: &Sandbox, user: &str) -> SetupOptions {
    let user = sandbox.teams.user(user).expect("user");
    SetupOptions {
        app_id: SANDBOX_BOT_APP_ID.into(),
        tenant_id: SANDBOX_TENANT_ID.into(),
        subscription_id: SANDBOX_SUBSCRIPTION_ID.into(),
        resource_group: SANDBOX_BOT_RESOURCE_GROUP.into(),
        bot_name: SANDBOX_BOT_NAME.into(),
        connection_name: CONNECTION.into(),
        client_secret: Secret::new(SANDBOX_BOT_SECRET),
        graph_url: sandbox.graph_url(),
        arm_url: sandbox.arm_url(),
        graph_token: Secret::new(sandbox.entra.user_token(
            &user,
            "azure-cli",
            GRAPH_AUDIENCE,
            "Application.ReadWrite.All",
        )),
        arm_token: Secret::new(sandbox.entra.user_token(&user, "azure-cli", ARM_AUDIENCE, "user_impersonation")),
        dry_run: false,
    }
}

fn application(sandbox: &Sandbox) -> Value {
    sandbox.graph.application_by_app_id(SANDBOX_BOT_APP_ID).expect("the bot's app registration")
}

#[tokio::test]
async fn the_first_run_sets_everything_up_and_the_second_changes_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let options = options_as(&sandbox, "alice");

    let first = run(&options).await.expect("first run");
    assert_eq!(first.changes.len(), 8, "{first}");
    assert_eq!(sandbox.graph.write_count(), 7, "six PATCHes and a service principal");
    assert_eq!(sandbox.arm.resource_writes().len(), 1, "one connection PUT");

    let app = application(&sandbox);
    assert_eq!(app["identifierUris"], json!([format!("api://botid-{SANDBOX_BOT_APP_ID}")]));
    assert_eq!(app["web"]["redirectUris"], json!(["https://token.botframework.com/.auth/web/redirect"]));
    assert_eq!(app["api"]["requestedAccessTokenVersion"], 2);
    assert_eq!(app["groupMembershipClaims"], "SecurityGroup", "roles match group ids: tokens carry them");
    let scope = &app["api"]["oauth2PermissionScopes"][0];
    let scope_id = desired::scope_id(SANDBOX_BOT_APP_ID);
    assert_eq!(
        (scope["value"].as_str(), scope["type"].as_str(), scope["isEnabled"].as_bool()),
        (Some("access_as_user"), Some("User"), Some(true))
    );
    assert_eq!(scope["id"], scope_id.as_str());
    let clients: Vec<(&str, &Value)> = app["api"]["preAuthorizedApplications"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| (c["appId"].as_str().unwrap_or_default(), &c["delegatedPermissionIds"]))
        .collect();
    assert_eq!(
        clients,
        vec![
            ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", &json!([scope_id])),
            ("5e3ce6c0-2b1f-4285-8d4b-75ee78787346", &json!([scope_id]))
        ]
    );
    let permissions: Vec<(String, String)> = app["requiredResourceAccess"]
        .as_array()
        .expect("permissions")
        .iter()
        .flat_map(|r| {
            r["resourceAccess"].as_array().into_iter().flatten().map(move |a| {
                (
                    r["resourceAppId"].as_str().unwrap_or_default().to_string(),
                    a["id"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    for (resource, permission) in [
        ("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "739272be-e143-11e8-9f32-f2801f1b9fd1"),
        ("797f4846-ba00-4fd7-ba43-dac1f8f63013", "41094075-9dad-400e-a0bd-54e686782033"),
        ("00000003-0000-0000-c000-000000000000", "e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
        ("00000003-0000-0000-c000-000000000000", "7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
    ] {
        assert!(permissions.contains(&(resource.to_string(), permission.to_string())), "{resource} {permission}");
    }
    assert_eq!(permissions.len(), 7);

    let connection =
        sandbox.arm.bot_connection(SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_BOT_NAME, CONNECTION).expect("connection");
    let properties = &connection["properties"];
    assert_eq!(properties["serviceProviderDisplayName"], "Azure Active Directory v2");
    assert_eq!(properties["serviceProviderId"], "30dd229c-58e3-4a48-bdfd-91ec48eb906c");
    assert_eq!(properties["clientId"], SANDBOX_BOT_APP_ID);
    assert_eq!(properties["clientSecret"], SANDBOX_BOT_SECRET);
    assert_eq!(
        properties["parameters"],
        json!([{"key": "tenantID", "value": SANDBOX_TENANT_ID}, {"key": "tokenExchangeUrl", "value": format!("api://botid-{SANDBOX_BOT_APP_ID}")}])
    );

    let second = run(&options).await.expect("second run");
    assert!(second.changes.is_empty(), "{second}");
    assert_eq!(second.to_string(), "Teams SSO set-up is complete: nothing to change.\n");
    assert_eq!(sandbox.graph.write_count(), 7, "no Graph write the second time");
    assert_eq!(sandbox.arm.resource_writes().len(), 1, "no ARM write the second time");
}

#[tokio::test]
async fn a_dry_run_lists_the_changes_and_makes_none() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let before = application(&sandbox);
    let report = run(&SetupOptions { dry_run: true, ..options_as(&sandbox, "alice") }).await.expect("dry run");
    let text = report.to_string();
    assert!(text.starts_with("Would change (dry run, nothing changed):\n"), "{text}");
    assert_eq!(text.lines().count(), 9, "{text}");
    assert!(text.contains("set the application ID URI api://botid-"), "{text}");
    assert!(text.contains("pre-authorise Teams desktop/mobile and Teams web for access_as_user"), "{text}");
    assert!(text.contains("create the Azure Bot OAuth connection drbot-sso"), "{text}");
    assert_eq!(sandbox.graph.write_count(), 0);
    assert!(sandbox.arm.resource_writes().is_empty());
    assert_eq!(application(&sandbox), before);
}

#[tokio::test]
async fn a_new_client_secret_updates_only_the_connection() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    run(&options_as(&sandbox, "alice")).await.expect("first run");
    let graph_writes = sandbox.graph.write_count();

    let rotated = SetupOptions { client_secret: Secret::new("rotated-secret"), ..options_as(&sandbox, "alice") };
    let report = run(&rotated).await.expect("rotation");
    assert_eq!(report.changes.len(), 1, "{report}");
    assert!(matches!(&report.changes[0], Change::Connection { create: false, .. }));
    assert_eq!(report.changes[0].to_string(), "update the Azure Bot OAuth connection drbot-sso: client secret");
    assert!(!report.to_string().contains("rotated-secret"));
    assert_eq!(sandbox.graph.write_count(), graph_writes);
    assert_eq!(sandbox.arm.resource_writes().len(), 2);
    let connection =
        sandbox.arm.bot_connection(SANDBOX_BOT_RESOURCE_GROUP, SANDBOX_BOT_NAME, CONNECTION).expect("connection");
    assert_eq!(connection["properties"]["clientSecret"], "rotated-secret");
}

#[tokio::test]
async fn a_refusal_says_what_was_done_and_the_next_run_finishes() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    // bob may edit the app registration (his Graph token) but is not in dr-operators for ARM.
    let mut options = options_as(&sandbox, "alice");
    options.arm_token = options_as(&sandbox, "bob").arm_token;
    // The read of the (missing) connection succeeds for bob; the PUT is refused.
    let error = run(&options).await.expect_err("ARM refuses bob");
    let SetupError::Partly { done, failed, error } = &error else { panic!("{error:?}") };
    assert_eq!(done.len(), 7, "{done:?}");
    assert!(failed.starts_with("create the Azure Bot OAuth connection"));
    assert!(matches!(**error, SetupError::Service { status: 403, ref code, .. } if code == "AuthorizationFailed"));

    let finished = run(&options_as(&sandbox, "alice")).await.expect("alice finishes");
    assert_eq!(finished.changes.len(), 1, "only the connection was left: {finished}");
}

#[tokio::test]
async fn bad_tokens_and_ids_are_refused_without_printing_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let options = SetupOptions { graph_token: Secret::new("forged.token.value"), ..options_as(&sandbox, "alice") };
    let error = run(&options).await.expect_err("401").to_string();
    assert!(error.contains("401") && error.contains("InvalidAuthenticationToken"), "{error}");
    assert!(!error.contains("forged.token.value"));

    let options = SetupOptions { app_id: "b0770000' or 1 eq 1".into(), ..options_as(&sandbox, "alice") };
    assert!(matches!(run(&options).await, Err(SetupError::Argument(_))));
    let options = SetupOptions { bot_name: "drbot/../other".into(), ..options_as(&sandbox, "alice") };
    assert!(matches!(run(&options).await, Err(SetupError::Argument(_))));
    let options =
        SetupOptions { app_id: "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(), ..options_as(&sandbox, "alice") };
    let error = run(&options).await.expect_err("unknown app").to_string();
    assert!(error.contains("no app registration with app id 6f1b2c3d"), "{error}");
    assert_eq!(sandbox.graph.write_count(), 0);
}

/// The command itself, as the bot's own identity, configured by the file
/// the sandbox writes for `drbot serve`: twice, the second time with nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_runs_as_the_bot_and_never_prints_its_secret() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("drbot.toml");
    std::fs::write(&config, sandbox.bot_config_toml("127.0.0.1:0", false)).expect("config");
    let setup = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_drbot"))
            .args(["--log-format", "text", "setup", "--config"])
            .arg(&config)
            .args(["--subscription", SANDBOX_SUBSCRIPTION_ID, "--resource-group", SANDBOX_BOT_RESOURCE_GROUP])
            .args([
                "--bot-name",
                SANDBOX_BOT_NAME,
                "--graph-url",
                &sandbox.graph_url(),
                "--arm-url",
                &sandbox.arm_url(),
            ])
            .args(extra)
            .env_remove("MicrosoftAppPassword")
            .output()
            .expect("drbot runs");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!stdout.contains(SANDBOX_BOT_SECRET) && !stderr.contains(SANDBOX_BOT_SECRET), "the secret leaked");
        assert!(!stdout.contains("eyJ") && !stderr.contains("eyJ"), "a token leaked");
        (output.status.success(), stdout, stderr)
    };
    // The blocking child process needs the sandbox's runtime free to answer it.
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| setup(&["--dry-run"]));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("Would change"), "{stdout}");
    assert_eq!(sandbox.graph.write_count(), 0);

    let (ok, stdout, stderr) = tokio::task::block_in_place(|| setup(&[]));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("Changed:\n"), "{stdout}");
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| setup(&[]));
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "Teams SSO set-up is complete: nothing to change.\n");
    assert_eq!(sandbox.graph.write_count(), 7);
    assert_eq!(sandbox.arm.resource_writes().len(), 1);
}

#[tokio::test]
async fn a_reader_may_dry_run_but_not_read_the_secret() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    run(&options_as(&sandbox, "alice")).await.expect("set up");
    let writes = (sandbox.graph.write_count(), sandbox.arm.resource_writes().len());
    // bob reads ARM but may not list the connection's secret.
    let options = SetupOptions {
        dry_run: true,
        arm_token: options_as(&sandbox, "bob").arm_token,
        ..options_as(&sandbox, "alice")
    };
    let report = run(&options).await.expect("a reader's dry run");
    let said: Vec<String> = report.changes.iter().map(ToString::to_string).collect();
    assert_eq!(said, ["update the Azure Bot OAuth connection drbot-sso: client secret (not readable with these rights, so sent again)"]);
    assert_eq!((sandbox.graph.write_count(), sandbox.arm.resource_writes().len()), writes);
}

/// The operator signs in on a device code: `drbot setup --device-code`
/// prints a URL and a code, waits while Entra answers
/// `authorization_pending`, and once alice typed the code it gets her Graph
/// token, trades the refresh token for ARM, and dry-runs as her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_signs_in_with_a_device_code() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    sandbox.entra.set_device_code_timing(std::time::Duration::from_secs(1), std::time::Duration::from_secs(900));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("drbot.toml");
    std::fs::write(&config, sandbox.bot_config_toml("127.0.0.1:0", false)).expect("config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drbot"))
        .args(["--log-format", "text", "setup", "--config"])
        .arg(&config)
        .args(["--subscription", SANDBOX_SUBSCRIPTION_ID, "--resource-group", SANDBOX_BOT_RESOURCE_GROUP])
        .args(["--bot-name", SANDBOX_BOT_NAME, "--graph-url", &sandbox.graph_url(), "--arm-url", &sandbox.arm_url()])
        .args(["--device-code", "--dry-run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("drbot runs");
    let deadline = std::time::Duration::from_secs(60);

    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut shown = Vec::new();
    let user_code = tokio::time::timeout(deadline, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            shown.push(line.clone());
            if let Some(rest) = line.split("enter the code ").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .expect("the prompt in time")
    .unwrap_or_else(|| panic!("no device code prompt: {shown:?}"));
    assert!(shown.iter().any(|l| l.contains("https://microsoft.com/devicelogin")), "{shown:?}");
    assert_eq!(sandbox.entra.pending_device_codes(), 1, "setup waits for the sign-in");

    let alice = sandbox.teams.user("alice").expect("alice");
    assert!(sandbox.entra.approve_device_code(&user_code, &alice));
    let output = tokio::time::timeout(deadline, child.wait_with_output()).await.expect("setup ends").expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let rest = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{rest}");
    assert!(stdout.starts_with("Would change"), "{stdout}");
    assert!(!stdout.contains("eyJ") && !rest.contains("eyJ"), "a token leaked");
    assert_eq!(sandbox.graph.write_count(), 0, "a dry run");
    assert_eq!(sandbox.entra.pending_device_codes(), 0, "the code was redeemed");
}

/// The sandbox's device code grant answers as Entra does (sandbox/README.md
/// cites the documentation): pending until the user signs in, `slow_down`
/// to a client that polls too fast, `expired_token` once the code is too
/// old, `bad_verification_code` for a code it never issued, and no grant at
/// all for a confidential client.
#[tokio::test]
async fn the_sandbox_device_code_grant_answers_as_entra() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let entra = &sandbox.entra;
    let http = reqwest::Client::new();
    let base = format!("{}/{}/oauth2/v2.0", entra.base_url(), SANDBOX_TENANT_ID);
    let cli = sandbox::entra::device_code::AZURE_CLI_CLIENT_ID;
    let post = |path: &str, form: Vec<(&str, String)>| {
        let request = http.post(format!("{base}/{path}")).form(&form);
        async move {
            let response = request.send().await.expect("entra answers");
            (response.status().as_u16(), response.json::<Value>().await.expect("json"))
        }
    };
    let start = |client: &str| {
        post("devicecode", vec![("client_id", client.to_string()), ("scope", format!("{ARM_AUDIENCE}/.default"))])
    };
    let poll = |code: &str| {
        post(
            "token",
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".into()),
                ("client_id", cli.into()),
                ("device_code", code.into()),
            ],
        )
    };

    entra.set_device_code_timing(std::time::Duration::from_secs(60), std::time::Duration::from_secs(900));
    let (status, started) = start(cli).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!((started["expires_in"].as_u64(), started["interval"].as_u64()), (Some(900), Some(60)));
    let device_code = started["device_code"].as_str().expect("device code").to_string();
    let (status, first) = poll(&device_code).await;
    assert_eq!((status, first["error"].as_str()), (400, Some("authorization_pending")), "{first}");
    assert_eq!(first["error_codes"], json!([70016]));
    let (_, second) = poll(&device_code).await;
    assert_eq!(second["error"], "slow_down", "polled again at once");
    let (_, bad) = poll("never-issued").await;
    assert_eq!((bad["error"].as_str(), &bad["error_codes"]), (Some("bad_verification_code"), &json!([70018])));

    entra.set_device_code_timing(std::time::Duration::from_secs(5), std::time::Duration::ZERO);
    let (_, stale) = start(cli).await;
    let (_, expired) = poll(stale["device_code"].as_str().expect("code")).await;
    assert_eq!((expired["error"].as_str(), &expired["error_codes"]), (Some("expired_token"), &json!([70019])));

    let (status, confidential) = start(SANDBOX_BOT_APP_ID).await;
    assert_eq!((status, confidential["error"].as_str()), (401, Some("invalid_client")), "{confidential}");
}
