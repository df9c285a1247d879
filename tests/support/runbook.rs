//! What the runbook crash tests share: a small sandbox with warehouses and
//! a geo-redundant storage account, the configuration they run `drbot
//! serve` with, two approvers in one chat, and the counts a resumed runbook
//! must not raise (every pause and unpause is one `jobs/update`, every
//! warehouse start or stop one call, every storage failover one ARM
//! request). A watcher samples the pair's active side throughout.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drbot::assets::job_settings::PauseState;
use drbot::pairs::Side;
use drbot::store::operations::Operation;
use drbot::store::Store;
use sandbox::connector::{Recorded, Verb};
use sandbox::databricks::metastore::{Common, ExternalLocation};
use sandbox::databricks::seed::{ADMIN_GROUP, LOCATION_MAPPING};
use sandbox::databricks::{Workspace, DATABRICKS_AUDIENCE};
use sandbox::directory::DR_OPERATORS_GROUP;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use super::chat::{button, card_text};
use super::process::{eventually, write_config, BotProcess, Person};

/// The seeded BI warehouse, on each side.
pub const BI: &str = "BI dashboards";
pub const PRIMARY_BI_ID: &str = "b1a0c0ffee000001";

/// The private DNS zone of the clients' alias, the alias and its value on each side.
pub const ZONE: &str = "corp.contoso.internal";
pub const ALIAS: &str = "databricks";
pub const PRIMARY_HOST: &str = "adb-1111111111111111.11.azuredatabricks.net";
pub const SECONDARY_HOST: &str = "adb-2222222222222222.22.azuredatabricks.net";

/// `[failover]` lines giving the default pair the alias (a CNAME to each side's host).
pub fn alias_config() -> String {
    format!(
        "\n[[failover.aliases.default]]\nzone = \"/subscriptions/{}/resourceGroups/rg-hub/providers/Microsoft.Network/privateDnsZones/{ZONE}\"\n\
         name = \"{ALIAS}\"\ntype = \"CNAME\"\nprimary = \"{PRIMARY_HOST}\"\nsecondary = \"{SECONDARY_HOST}\"\nttl = 30\n",
        sandbox::SANDBOX_SUBSCRIPTION_ID
    )
}

/// A group that writes the main catalog until a freeze takes MODIFY from it
/// (the DR group, `dr-operators`, keeps it).
pub const WRITERS: &str = "dr-readers";

/// `[failover]` lines making the default pair's freeze stop the warehouses
/// and revoke MODIFY from all but the DR group.
pub fn freeze_config() -> String {
    "\n[failover.freeze.default]\nstop_warehouses = true\nrevoke_modify_except = \"dr-operators\"\n".to_string()
}

/// Grants `group` MODIFY on the main catalog of `workspace`.
pub fn grant_modify(workspace: &Workspace, group: &str) {
    let mut metastore = workspace.metastore.write();
    let main = metastore.catalogs.get_mut("main").expect("the main catalog");
    main.common.grants.entry(group.into()).or_default().insert("MODIFY".into());
}

/// Whether `group` holds MODIFY on the main catalog of `workspace`.
pub fn may_modify(workspace: &Workspace, group: &str) -> bool {
    let metastore = workspace.metastore.read();
    metastore
        .catalogs
        .get("main")
        .is_some_and(|main| main.common.grants.get(group).is_some_and(|g| g.contains("MODIFY")))
}

/// Where the alias points now (`None`: never written).
pub fn alias_target(sandbox: &Sandbox) -> Option<String> {
    sandbox.arm.dns_record("rg-hub", ZONE, "CNAME", ALIAS).and_then(|(values, _)| values.first().cloned())
}

/// A small sandbox (replication takes a second or two) with warehouses on
/// both sides, the primary's BI warehouse running, and a geo-redundant
/// storage account that fails over with the pair.
pub async fn small_sandbox() -> Sandbox {
    let config = SandboxConfig { tables: 6, jobs: 30, ..SandboxConfig::default() };
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    sandbox.primary.warehouses.seed(true);
    sandbox.secondary.warehouses.seed(false);
    sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
    sandbox.arm.set_storage_failover_duration(Duration::from_millis(200));
    sandbox.arm.add_private_dns_zone("rg-hub", ZONE);
    // The BI team's warehouse runs on the primary, started as an admin would.
    let alice = sandbox.teams.user("alice").expect("alice");
    let token = sandbox.entra.user_token(&alice, sandbox::SANDBOX_BOT_APP_ID, DATABRICKS_AUDIENCE, "all-apis");
    let started = reqwest::Client::new()
        .post(format!("{}/api/2.0/sql/warehouses/{PRIMARY_BI_ID}/start", sandbox.primary_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("the start is answered");
    assert!(started.status().is_success(), "{}", started.text().await.unwrap_or_default());
    sandbox
}

pub fn storage_account_id() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext",
        sandbox::SANDBOX_SUBSCRIPTION_ID
    )
}

/// The crash tests' configuration (short lease, fast ticks) with Carol
/// given the failover role beside the operators (two approvers, the
/// default), freezes that wait two seconds for active runs, and the storage
/// account of the default pair.
pub fn runbook_config(sandbox: &Sandbox, dir: &Path, store: &str) -> PathBuf {
    runbook_config_with(sandbox, dir, store, "")
}

/// [`runbook_config`] with `failover` (lines of `[failover]`) added.
pub fn runbook_config_with(sandbox: &Sandbox, dir: &Path, store: &str, failover: &str) -> PathBuf {
    let path = write_config(sandbox, dir, store);
    let text = std::fs::read_to_string(&path).expect("config read");
    let carol = sandbox.teams.user("carol").expect("carol").oid;
    let role = format!("failover = [\"{DR_OPERATORS_GROUP}\"]");
    assert!(text.contains(&role), "the sandbox's config names the operators for failover");
    let mut text = text.replace(&role, &format!("failover = [\"{DR_OPERATORS_GROUP}\", \"{carol}\"]"));
    text.push_str(&format!(
        "\n[failover]\nrun_wait_secs = 2\n{failover}\n\n[failover.storage_accounts]\ndefault = {:?}\n",
        storage_account_id()
    ));
    std::fs::write(&path, text).expect("config written");
    path
}

/// A `drbot serve` on `config` (aborting at `fault`, if named), ready, and
/// the one the sandbox's Teams sends to.
pub async fn serving(sandbox: &Sandbox, config: &Path, log: PathBuf, fault: Option<&str>) -> BotProcess {
    let mut bot = BotProcess::start_faulty(config, log, fault);
    bot.wait_ready().await;
    sandbox.teams.set_bot_endpoint(&bot.endpoint());
    bot
}

/// Alice and Carol (both with the failover role) in one group chat, signed in.
pub async fn bridge(sandbox: &Sandbox) -> (Person<'_>, Person<'_>) {
    let room = sandbox.teams.group_chat("dr-bridge");
    for who in ["alice", "carol"] {
        Person::personal(sandbox, who).sign_in().await;
    }
    let (alice, carol) = (Person::in_group(sandbox, &room, "alice"), Person::in_group(sandbox, &room, "carol"));
    sandbox.connector.set_members(room.id(), &[alice.user.clone(), carol.user.clone()]);
    (alice, carol)
}

/// Types `command`; the card that replaces its "Planning" placeholder.
pub async fn card_for(person: &Person<'_>, command: &str) -> (String, Value) {
    let first = person.say(command).await;
    let id = first.activity_id.clone();
    if !card_text(&first).contains("Planning") {
        return (id, first.adaptive_card().cloned().expect("a card"));
    }
    let card =
        wait_long(person.sandbox, "the card after planning", |r| r.verb == Verb::Update && r.activity_id == id).await;
    (id, card.adaptive_card().cloned().expect("a card"))
}

/// How long a whole replication or runbook may take here: these tests run
/// real processes side by side, and a loaded machine (2 cores shared with
/// other builds) slows them several times over.
pub const LONG_PATIENCE: Duration = Duration::from_secs(150);

/// Waits until the connector has accepted an activity matching `found`, for
/// at most [`LONG_PATIENCE`].
pub async fn wait_long(sandbox: &Sandbox, what: &str, found: impl Fn(&Recorded) -> bool) -> Recorded {
    eventually(what, LONG_PATIENCE, || {
        let hit = sandbox.connector.recorded().into_iter().find(|r| found(r));
        async move { hit }
    })
    .await
}

/// Replicates data and assets, so the secondary holds paused copies of the jobs.
pub async fn replicate_everything(person: &Person<'_>) {
    let card_id = person.plan_and_run_with("replicate --assets").await;
    wait_long(person.sandbox, "the replication's result", |r| {
        r.activity_id == card_id && card_text(r).contains("Run details")
    })
    .await;
}

/// The primary's metastore gets an external location on the secondary's
/// storage prefix (as the bootstrap gives the secondary one on the
/// primary's): a failback clones the external tables back by path.
pub fn primary_reads_secondary_storage(sandbox: &Sandbox) {
    let mut primary = sandbox.primary.metastore.write();
    let location = ExternalLocation {
        name: "external_delta_secondary".into(),
        url: LOCATION_MAPPING[1].1.into(),
        credential_name: format!("uc-access-connector-{}", primary.region),
        read_only: true,
        common: Common { owner: ADMIN_GROUP.into(), ..Default::default() },
    };
    primary.external_locations.insert(location.name.clone(), location);
}

/// Source job id → whether every trigger is paused (copies by their source tag).
pub fn paused_by_source(workspace: &Workspace, copies: bool) -> Vec<(i64, bool)> {
    let mut out: Vec<(i64, bool)> = workspace
        .job_definitions
        .all()
        .iter()
        .map(|(id, settings)| {
            let source = if copies {
                settings["tags"]["drbot_source_job_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1)
            } else {
                *id
            };
            (source, PauseState::of(settings).all_paused())
        })
        .collect();
    out.sort();
    out
}

/// The sources whose jobs fire (not every trigger paused).
pub fn firing(states: &[(i64, bool)]) -> Vec<i64> {
    states.iter().filter(|(_, paused)| !paused).map(|(source, _)| *source).collect()
}

/// How many jobs changed between two readings of the same side.
pub fn changed(before: &[(i64, bool)], after: &[(i64, bool)]) -> usize {
    after.iter().filter(|job| !before.contains(job)).count()
}

pub fn calls(workspace: &Workspace, path: &str) -> usize {
    workspace.calls().iter().filter(|c| c.path == path).count()
}

pub fn warehouse_state(workspace: &Workspace, name: &str) -> Option<String> {
    workspace.warehouses.by_name(name).and_then(|w| w.own_state)
}

/// What the workspaces looked like when the runbook was approved, and what
/// had been asked of them by then.
pub struct Before {
    pub primary: Vec<(i64, bool)>,
    pub secondary: Vec<(i64, bool)>,
    pub primary_updates: usize,
    pub secondary_updates: usize,
    pub primary_resets: usize,
    pub secondary_resets: usize,
    pub primary_starts: usize,
    pub primary_stops: usize,
    pub secondary_starts: usize,
    pub secondary_stops: usize,
    pub storage_failovers: usize,
    pub dns_writes: usize,
    pub primary_grants: usize,
    pub secondary_grants: usize,
}

impl Before {
    pub fn read(sandbox: &Sandbox) -> Before {
        let (p, s) = (&sandbox.primary, &sandbox.secondary);
        Before {
            primary: paused_by_source(p, false),
            secondary: paused_by_source(s, true),
            primary_updates: calls(p, "jobs.update"),
            secondary_updates: calls(s, "jobs.update"),
            primary_resets: calls(p, "jobs.reset"),
            secondary_resets: calls(s, "jobs.reset"),
            primary_starts: calls(p, "sql.warehouses.start"),
            primary_stops: calls(p, "sql.warehouses.stop"),
            secondary_starts: calls(s, "sql.warehouses.start"),
            secondary_stops: calls(s, "sql.warehouses.stop"),
            storage_failovers: sandbox.arm.storage_failover_requests().len(),
            dns_writes: sandbox.arm.dns_writes().len(),
            primary_grants: calls(p, "permissions.update"),
            secondary_grants: calls(s, "permissions.update"),
        }
    }

    /// The primary's jobs whose triggers ran, that have a copy on the secondary.
    pub fn unpaused_with_copies(&self) -> Vec<i64> {
        let copied: BTreeSet<i64> = self.secondary.iter().map(|(source, _)| *source).collect();
        self.primary.iter().filter(|(id, paused)| !paused && copied.contains(id)).map(|(id, _)| *id).collect()
    }
}

/// Samples the pair's active side until stopped: the sides it was seen on, in order.
pub struct ActiveWatch {
    seen: Arc<Mutex<Vec<Side>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl ActiveWatch {
    pub fn start(store: Store) -> ActiveWatch {
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (into, stopped) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(Some(pair)) = store.pair("default").await {
                    let mut seen = into.lock().unwrap();
                    if seen.last() != Some(&pair.active) {
                        seen.push(pair.active);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        ActiveWatch { seen, stop, task }
    }

    pub async fn finish(self) -> Vec<Side> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let seen = self.seen.lock().unwrap().clone();
        seen
    }
}

/// The conversation's runbook operations of `mode` (`planned`, `forced`,
/// `failback`, `drill`).
pub async fn runbooks(store: &Store, conversation: &str, mode: &str) -> Vec<Operation> {
    let ops = store.recent_operations(conversation, 20).await.expect("operations");
    ops.into_iter().filter(|op| op.kind.as_str() == "failover" && op.payload["runbook"]["mode"] == mode).collect()
}

/// Waits for the runbook of `mode` to end with its card delivered.
pub async fn runbook_ended(store: &Store, conversation: &str, mode: &str) -> Operation {
    eventually("the runbook to end and post its card", LONG_PATIENCE, || async {
        runbooks(store, conversation, mode).await.into_iter().find(|op| op.state.is_terminal() && op.final_posted)
    })
    .await
}

/// The step kinds the checkpoint records as over, in order.
pub fn steps_recorded(op: &Operation) -> Vec<String> {
    let steps = op.payload["progress"]["steps"].as_array().cloned().unwrap_or_default();
    steps.iter().filter_map(|s| s["kind"].as_str().map(str::to_string)).collect()
}

/// Each recorded step's outcome (`done`, `already_done`, `failed`), by kind.
pub fn outcomes_recorded(op: &Operation) -> Vec<(String, String)> {
    let steps = op.payload["progress"]["steps"].as_array().cloned().unwrap_or_default();
    steps.iter().filter_map(|s| Some((s["kind"].as_str()?.to_string(), s["outcome"].as_str()?.to_string()))).collect()
}

/// Asks for `command` in `requester`'s chat and approves it by each of
/// `approvers`; the runbook card's id.
pub async fn approve(requester: &Person<'_>, command: &str, approvers: &[&Person<'_>]) -> String {
    let (card_id, runbook) = card_for(requester, command).await;
    let approve = button(&runbook, "failover.approve");
    let Some((last, first)) = approvers.split_last() else { return card_id };
    for person in first {
        person.click(&card_id, "failover.approve", approve.clone()).await;
    }
    // The last approval starts the runbook, which may reach its fault point
    // (and abort the process) before the answer to the click is written:
    // a connection closed here is that abort, which `aborted_at` checks.
    let invoke = last.sandbox.teams.card_action(&last.user, &last.conversation, &card_id, "failover.approve", approve);
    if let Ok(answer) = last.sandbox.teams.send(&invoke).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    card_id
}

/// Waits for the child to abort at its fault point.
pub async fn aborted_at(bot: &mut BotProcess, point: &str) {
    let status = bot.wait_exit_within(LONG_PATIENCE).await;
    assert!(!status.success(), "{point}: aborted, not stopped: {}", bot.log_text());
    let log = bot.log_text();
    assert!(log.contains("DRBOT_FAULT: aborting here") && log.contains(point), "{point}: {log}");
}
