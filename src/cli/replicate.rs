//! `drbot replicate`: the replication from a terminal, for operators and
//! scheduled pipelines, with the same planner and executor the bot uses.
//!
//! `--dry-run` reads both metastores (at once), plans, and prints the plan
//! grouped by kind; `--apply` runs it with a progress line and keeps every
//! result in the store; `--via-job JOB_ID` starts the team's own Databricks
//! job instead and follows it task by task. `--assets` adds the workspace
//! assets (jobs, paused in the secondary) after the data, `--assets-only`
//! replicates only those. The exit code is non-zero when anything failed, so
//! a pipeline notices.
//!
//! Identity: the bot's own (client secret, managed or workload identity, as
//! `drbot serve` uses), or with `--token-from-env` the operator's token in
//! `DRBOT_DATABRICKS_TOKEN` (e.g. `az account get-access-token --resource
//! 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`), as `drbot setup` takes its tokens.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::assets::coverage::Coverage;
use crate::assets::{AssetContext, AssetEvent};
use crate::config::{Config, ReplicationSettings, Secret};
use crate::databricks::WorkspaceClient;
use crate::identity::app::AppIdentity;
use crate::identity::device_code::{sign_in_on_terminal, AZURE_CLI_CLIENT_ID};
use crate::identity::{AccessToken, IdentityError, DATABRICKS_SCOPE};
use crate::pairs::Pair;
use crate::replication::execute::Limits;
use crate::replication::job::{run_job, JobEvent, JobPolling};
use crate::replication::plan::{Action, ActionKind, Plan};
use crate::replication::principals::PrincipalMap;
use crate::replication::read::{read_snapshot, ReadError, ReadFilter, ReadOptions};
use crate::replication::run::{record, run_plan, ActionStatus, RunEvent, RunOptions, TokenSource, Workspaces};
use crate::replication::snapshot::Snapshot;
use crate::replication::{plan, principal_survey, volume_survey, ReplicationConfig};
use crate::store::runs::Run;
use crate::store::Store;

/// The operator's Databricks token with `--token-from-env`.
pub const DATABRICKS_TOKEN_ENV: &str = "DRBOT_DATABRICKS_TOKEN";

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "apply", "via_job"])))]
pub struct ReplicateArgs {
    /// The TOML configuration file (as `drbot serve` reads it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the plan.
    #[arg(long)]
    pub apply: bool,
    /// Start this Databricks job (on the secondary) instead, and follow it.
    #[arg(long, value_name = "JOB_ID")]
    pub via_job: Option<i64>,
    /// The DR pair (needed when there are several).
    #[arg(long)]
    pub pair: Option<String>,
    /// Only this catalog.
    #[arg(long)]
    pub catalog: Option<String>,
    /// Only schemas whose name matches this glob (`*`, `?`).
    #[arg(long, value_name = "PATTERN")]
    pub schema: Option<String>,
    /// Drop what only the secondary has.
    #[arg(long)]
    pub prune: bool,
    /// The workspace assets (jobs…) too, after the data.
    #[arg(long, conflicts_with_all = ["assets_only", "data_only", "via_job"])]
    pub assets: bool,
    /// Only the workspace assets (jobs…), not the data.
    #[arg(long, conflicts_with_all = ["data_only", "via_job"])]
    pub assets_only: bool,
    /// Only the data (the default).
    #[arg(long)]
    pub data_only: bool,
    /// Use the operator's token from DRBOT_DATABRICKS_TOKEN instead of the bot's identity.
    #[arg(long, conflicts_with = "device_code")]
    pub token_from_env: bool,
    /// Run as the operator, signed in on a device code (a URL and a code are printed on stderr).
    #[arg(long)]
    pub device_code: bool,
    /// The public client `--device-code` signs in with (default: the Azure CLI's).
    #[arg(long, default_value = AZURE_CLI_CLIENT_ID, requires = "device_code")]
    pub client_id: String,
}

/// Where tokens come from.
pub enum CliTokens {
    Bot(Box<AppIdentity>),
    Fixed(AccessToken),
}

impl TokenSource for CliTokens {
    async fn token(&self, _fresh: bool) -> Result<AccessToken, IdentityError> {
        match self {
            // The credential refreshes by itself before expiry.
            CliTokens::Bot(identity) => identity.token(DATABRICKS_SCOPE).await,
            CliTokens::Fixed(token) => Ok(token.clone()),
        }
    }
}

/// The configuration's one pair (`[[pairs]]` or the old single-pair keys).
fn configured_pair(config: &Config) -> anyhow::Result<Pair> {
    let mut pairs = config.pairs()?;
    match pairs.len() {
        1 => Ok(pairs.remove(0)),
        0 => {
            anyhow::bail!("no pair is configured (databricks.primary_host and databricks.secondary_host, or [[pairs]])")
        }
        _ => anyhow::bail!("several pairs are configured: name one with --pair"),
    }
}

/// The workspaces of the configuration's one pair.
pub fn workspaces(config: &Config) -> anyhow::Result<Workspaces> {
    pair_workspaces(&configured_pair(config)?)
}

/// The workspaces and warehouse of `pair`.
pub fn pair_workspaces(pair: &Pair) -> anyhow::Result<Workspaces> {
    let http = crate::http_client::client();
    let warehouse_id = pair
        .warehouse_id
        .clone()
        .with_context(|| format!("pair {} has no warehouse (the secondary's SQL warehouse)", pair.name))?;
    Ok(Workspaces {
        primary: WorkspaceClient::new(http.clone(), &pair.primary.url),
        secondary: WorkspaceClient::new(http, &pair.secondary.url),
        warehouse_id,
    })
}

/// The planner's configuration for the configuration's one pair (the
/// `[replication]` settings alone when there is none) and the command's filters.
pub fn replication_config(
    config: &Config,
    catalog: Option<&str>,
    schema: Option<&str>,
    prune: bool,
) -> ReplicationConfig {
    let settings = match configured_pair(config) {
        Ok(pair) => config.replication.for_pair(&pair),
        Err(_) => config.replication.clone(),
    };
    planner_config(&settings, catalog, schema, prune)
}

/// The planner's configuration for `pair` (its mapping and sharing names) and the command's filters.
pub fn pair_replication_config(
    config: &Config,
    pair: &Pair,
    catalog: Option<&str>,
    schema: Option<&str>,
    prune: bool,
) -> ReplicationConfig {
    planner_config(&config.replication.for_pair(pair), catalog, schema, prune)
}

fn planner_config(
    settings: &ReplicationSettings,
    catalog: Option<&str>,
    schema: Option<&str>,
    prune: bool,
) -> ReplicationConfig {
    let mut out = settings.replication_config(catalog);
    out.schema_pattern = schema.map(str::to_string);
    out.prune = prune;
    out
}

/// Reads both metastores at once (each read is itself concurrent), each
/// with its own warehouse (the primary's may be `None`: its tags and the
/// options of its non-Delta tables then go unread, and say so).
pub async fn read_both(
    workspaces: &Workspaces,
    primary_warehouse_id: Option<String>,
    token: &AccessToken,
    filter: ReadFilter,
    concurrency: usize,
    statement_timeout: Duration,
) -> Result<(Snapshot, Snapshot), ReadError> {
    let options = ReadOptions {
        filter,
        concurrency,
        warehouse_id: primary_warehouse_id,
        statement_timeout,
        bulk: true,
        view_dependencies: true,
        shared_permits: None,
    };
    // The secondary is read whole under the catalog filter: its mounted share
    // catalogs (drbot's plumbing) must be seen for the plan to reuse them.
    let mut secondary_options = options.clone();
    secondary_options.warehouse_id = Some(workspaces.warehouse_id.clone());
    secondary_options.filter.catalog = None;
    // A planning read on both sides, as the bot's: the secondary's registered
    // models are only read by one (without them every run planned to create
    // the models again).
    tokio::try_join!(
        read_snapshot(&workspaces.primary, token, &options),
        read_snapshot(&workspaces.secondary, token, &secondary_options)
    )
}

/// Whose tokens a command runs with: the operator's (`--token-from-env`,
/// `--device-code` with `client_id`), or the bot's own identity.
pub async fn cli_tokens(
    config: &Config,
    env: &BTreeMap<String, String>,
    token_from_env: bool,
    device_code: bool,
    client_id: &str,
) -> anyhow::Result<CliTokens> {
    Ok(if token_from_env {
        let token = env
            .get(DATABRICKS_TOKEN_ENV)
            .filter(|t| !t.trim().is_empty())
            .with_context(|| format!("--token-from-env: {DATABRICKS_TOKEN_ENV} is not set"))?;
        CliTokens::Fixed(AccessToken::from_secret(Secret::new(token.trim())))
    } else if device_code {
        let tenant = config.bot.tenant_id.as_deref().unwrap_or("organizations");
        let authority = &config.endpoints.login_authority;
        CliTokens::Fixed(sign_in_on_terminal(authority, tenant, client_id, DATABRICKS_SCOPE).await?)
    } else {
        CliTokens::Bot(Box::new(AppIdentity::from_config(config)?))
    })
}

pub async fn main(args: ReplicateArgs) -> anyhow::Result<bool> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let tokens = cli_tokens(&config, &env, args.token_from_env, args.device_code, &args.client_id).await?;
    let pair = crate::cli::pair::chosen(&config, args.pair.as_deref()).await?;
    pair.replicates_from_primary()?;
    let workspaces = pair_workspaces(&pair)?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling: statements on the warehouse are cancelled, nothing new starts");
            stop.cancel();
        }
    });
    if let Some(job_id) = args.via_job {
        return via_job(&workspaces, &tokens, job_id, cancel).await;
    }
    let coverage = match (args.assets, args.assets_only) {
        (true, _) => Coverage::Both,
        (_, true) => Coverage::Assets,
        _ => Coverage::Data,
    };
    let mut succeeded = true;
    if coverage.data() {
        succeeded = data(&args, &config, &pair, &workspaces, &tokens, cancel.clone()).await?;
    }
    if coverage.assets() {
        succeeded &= assets(&config, &pair, &workspaces, &tokens, args.dry_run, cancel).await?;
    }
    Ok(succeeded)
}

/// The workspace assets: the plan printed (`--dry-run`), or applied with each
/// result kept in the store's run history.
async fn assets(
    config: &Config,
    pair: &Pair,
    workspaces: &Workspaces,
    tokens: &CliTokens,
    dry_run: bool,
    cancel: CancellationToken,
) -> anyhow::Result<bool> {
    let store = Store::open(&config.store.url()).await.context("opening the store")?;
    let ctx = AssetContext {
        pair: pair.name.clone(),
        primary: workspaces.primary.clone(),
        secondary: workspaces.secondary.clone(),
        tokens,
        mapping: store
            .asset_mapping(&pair.name)
            .await?
            .with_pair_warehouses(pair.primary_warehouse_id.as_deref(), pair.warehouse_id.as_deref()),
        options: crate::assets::AssetOptions::for_pair(
            pair.primary_warehouse_id.as_deref(),
            pair.warehouse_id.as_deref(),
        ),
        store: Some(store.clone()),
        principals: Default::default(),
    };
    eprintln!("reading both workspaces' assets…");
    let kinds = crate::assets::kinds::registered();
    let plan = crate::assets::run::plan(&kinds, &ctx).await;
    if dry_run {
        print!("{}", crate::assets::text::render(&plan));
        return Ok(true);
    }
    // As for the data: not beside a run of the bot's on the same pair.
    let run_id = start_cli_run(&store, &pair.name, None).await?;
    let now = || chrono::Utc::now().timestamp_millis();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let total = plan.items.len();
    let progress = async {
        let mut finished = 0usize;
        while let Some(event) = rx.recv().await {
            if let AssetEvent::Finished(result) = event {
                finished += 1;
                if let Some(row) = crate::assets::history::object_result(&run_id, &plan, &result) {
                    if let Err(error) = store.record_result(&row, now()).await {
                        tracing::warn!(%error, "a result could not be stored");
                    }
                }
                eprint!("\r\x1b[2K[{finished}/{total}] {}", result.id);
                let _ = std::io::stderr().flush();
            }
        }
        eprintln!();
    };
    let run = async {
        let results = crate::assets::run::run(&plan, &kinds, &ctx, &Default::default(), &cancel, &tx).await;
        drop(tx);
        results
    };
    let (results, ()) = tokio::join!(run, progress);
    let tally = crate::assets::apply::tally(&results);
    store.finish_run(&run_id, now(), &serde_json::json!({ "assets": tally })).await?;
    for result in results.iter().filter(|r| r.outcome.reason().is_some()) {
        println!("{}\t{}\t{}", result.outcome.label(), result.id, result.outcome.reason().unwrap_or_default());
    }
    let said: Vec<String> = tally.iter().map(|(label, n)| format!("{n} {label}")).collect();
    println!("workspace assets: {} (run {run_id})", said.join(", "));
    Ok(!tally.contains_key("failed") && !tally.contains_key("cancelled"))
}

/// The data (Unity Catalog): the plan printed, or run.
async fn data(
    args: &ReplicateArgs,
    config: &Config,
    pair: &Pair,
    workspaces: &Workspaces,
    tokens: &CliTokens,
    cancel: CancellationToken,
) -> anyhow::Result<bool> {
    let settings = &config.replication;
    let statement_timeout = Duration::from_secs(settings.statement_timeout_secs);
    let token = tokens.token(false).await.map_err(anyhow::Error::msg).context("a Databricks token")?;
    let filter = ReadFilter { catalog: args.catalog.clone(), schema_pattern: args.schema.clone() };
    eprintln!("reading both metastores…");
    let (mut primary, mut secondary) =
        read_both(workspaces, pair.primary_warehouse_id.clone(), &token, filter, 32, statement_timeout).await?;
    // Managed volumes' files, with the manifest of what earlier runs copied.
    let store = Store::open(&config.store.url()).await.context("opening the store")?;
    volume_survey::survey(
        &store,
        &pair.name,
        &workspaces.primary,
        &workspaces.secondary,
        &token,
        8,
        &mut primary,
        &mut secondary,
    )
    .await?;
    let mut replication =
        pair_replication_config(config, pair, args.catalog.as_deref(), args.schema.as_deref(), args.prune);
    // Grants and owners under the pair's principal mapping; those naming a
    // principal the secondary lacks are planned blocked.
    replication.principals = PrincipalMap::new(store.asset_mapping(&pair.name).await?.principals());
    principal_survey::survey(&workspaces.secondary, &token, &primary, &mut secondary, &replication, 8).await;
    let plan = plan(&primary, &secondary, &replication);
    if args.dry_run {
        print!("{}", render_plan(&plan));
        return Ok(plan.blocked().count() == 0);
    }
    let options = RunOptions {
        limits: Limits { warehouse: settings.concurrency, api: settings.api_concurrency },
        statement_timeout,
        action_budget: Duration::from_secs(settings.action_budget_secs),
        ..RunOptions::default()
    };
    apply(config, &pair.name, &plan, workspaces, tokens, options, cancel, args.catalog.clone()).await
}

/// Records a CLI run of `pair` in the store, and its id. A pair replicates
/// once at a time: the bot's runs (a click, a schedule) are guarded by the
/// store; a CLI run is no operation, so it looks first and does not start
/// beside one (a bot run started after this look is not held back: keep CLI
/// runs for pairs without a schedule).
async fn start_cli_run(store: &Store, pair: &str, catalog: Option<String>) -> anyhow::Result<String> {
    if let Some(busy) = store.active_on_pair(pair).await? {
        anyhow::bail!("pair {pair} is replicating already (run {}): wait for it to end, or cancel it", busy.id);
    }
    let run_id = format!("cli-{}", uuid::Uuid::new_v4());
    store
        .start_run(&Run {
            id: run_id.clone(),
            started_by_oid: None,
            started_by_upn: None,
            catalog_filter: catalog,
            dry_run: false,
            started_ms: chrono::Utc::now().timestamp_millis(),
            finished_ms: None,
            counts: None,
            scheduled: false,
        })
        .await?;
    Ok(run_id)
}

/// Runs the plan with a progress line on stderr and the results in the store.
#[allow(clippy::too_many_arguments)]
async fn apply(
    config: &Config,
    pair: &str,
    plan: &Plan,
    workspaces: &Workspaces,
    tokens: &CliTokens,
    options: RunOptions,
    cancel: CancellationToken,
    catalog: Option<String>,
) -> anyhow::Result<bool> {
    let store = Store::open(&config.store.url()).await.context("opening the store")?;
    let run_id = start_cli_run(&store, pair, catalog).await?;
    let now = || chrono::Utc::now().timestamp_millis();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let total = plan.actions.len();
    let progress = async {
        let (mut finished, mut failed) = (0usize, 0usize);
        while let Some(event) = rx.recv().await {
            if let Err(error) = record(&store, pair, &run_id, plan, &event).await {
                tracing::warn!(%error, "a result could not be stored");
            }
            if let RunEvent::Finished { action, result } = &event {
                finished += 1;
                failed += usize::from(result.status != ActionStatus::Succeeded);
                eprint!("\r\x1b[2K[{finished}/{total}] {failed} not succeeded · {action}");
                let _ = std::io::stderr().flush();
            }
        }
        eprintln!();
    };
    let run = run_plan(plan, workspaces, tokens, options, cancel, tx);
    let (report, ()) = tokio::join!(run, progress);
    let counts = serde_json::json!({
        "succeeded": report.count(ActionStatus::Succeeded),
        "failed": report.count(ActionStatus::Failed),
        "blocked": report.count(ActionStatus::Blocked),
        "skipped": report.count(ActionStatus::Skipped),
        "canceled": report.count(ActionStatus::Canceled),
    });
    store.finish_run(&run_id, now(), &counts).await?;
    for (id, result) in report.results.iter().filter(|(_, r)| r.status != ActionStatus::Succeeded) {
        println!("{:?}\t{id}\t{}", result.status, result.error.as_deref().unwrap_or(""));
    }
    println!(
        "{} succeeded, {} failed, {} blocked, {} skipped, {} canceled in {:.1} s (run {run_id})",
        counts["succeeded"],
        counts["failed"],
        counts["blocked"],
        counts["skipped"],
        counts["canceled"],
        report.makespan.as_secs_f64()
    );
    Ok(report.is_success())
}

async fn via_job(
    workspaces: &Workspaces,
    tokens: &CliTokens,
    job_id: i64,
    cancel: CancellationToken,
) -> anyhow::Result<bool> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let operation = format!("cli-{}", uuid::Uuid::new_v4());
    let parameters = BTreeMap::new();
    let run =
        run_job(&workspaces.secondary, tokens, job_id, &operation, &parameters, JobPolling::default(), cancel, tx);
    let print = async {
        while let Some(event) = rx.recv().await {
            match event {
                JobEvent::RunStarted { run_id, run_page_url } => {
                    println!("run {run_id} {}", run_page_url.unwrap_or_default())
                }
                JobEvent::TaskStarted { task_key } => println!("  {task_key}: running"),
                JobEvent::TaskFinished { task_key, result, message } => {
                    println!("  {task_key}: {result:?} {}", message.unwrap_or_default())
                }
                JobEvent::RunFinished { result, message } => {
                    println!("run: {result:?} {}", message.unwrap_or_default())
                }
            }
        }
    };
    let (report, ()) = tokio::join!(run, print);
    let report = report.map_err(anyhow::Error::msg)?;
    Ok(report.succeeded())
}

/// The dry run: the plan grouped by kind, blocked actions and extras last.
pub fn render_plan(plan: &Plan) -> String {
    let mut groups: BTreeMap<(usize, &str), Vec<&Action>> = BTreeMap::new();
    for action in &plan.actions {
        groups.entry(group(action)).or_default().push(action);
    }
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("Nothing to do: the secondary matches the primary.\n");
    }
    for ((_, title), actions) in &groups {
        out.push_str(&format!("{title} ({})\n", actions.len()));
        for action in actions {
            out.push_str(&format!("  {}\n", action.describe()));
        }
    }
    for note in &plan.not_compared {
        out.push_str(&format!("Not compared: {note}\n"));
    }
    if !plan.extras.is_empty() {
        out.push_str(&format!("Only on the secondary, left alone without --prune ({})\n", plan.extras.len()));
        for object in &plan.extras {
            out.push_str(&format!("  {object}\n"));
        }
    }
    out.push_str(&format!("{} action(s), {} blocked\n", plan.actions.len(), plan.blocked().count()));
    out
}

fn group(action: &Action) -> (usize, &'static str) {
    match action.kind {
        ActionKind::CreateCatalog { .. } | ActionKind::UpdateCatalog { .. } => (0, "Catalogs"),
        ActionKind::CreateSchema { .. } | ActionKind::UpdateSchema { .. } => (1, "Schemas"),
        ActionKind::CreateRecipient { .. }
        | ActionKind::CreateShare
        | ActionKind::AddSchemasToShare { .. }
        | ActionKind::GrantShareSelect { .. }
        | ActionKind::TransferShare { .. }
        | ActionKind::MountSharedCatalog { .. } => (2, "Delta Sharing set-up"),
        ActionKind::CloneTable { .. } => (3, "Deep clones"),
        ActionKind::RegisterExternalTable { .. } => (4, "External tables"),
        ActionKind::CreateExternalVolume { .. } | ActionKind::CreateManagedVolume { .. } => (5, "Volumes"),
        ActionKind::CopyVolumeFiles(_) => (5, "Volumes"),
        ActionKind::CreateFunction { .. } => (6, "Functions"),
        ActionKind::CreateView { .. } => (7, "Views"),
        ActionKind::CreateDataset { .. } => (7, "Materialized views and streaming tables"),
        ActionKind::SetRowFilter { .. } | ActionKind::SetColumnMask { .. } => (8, "Row filters and column masks"),
        ActionKind::AddConstraint { .. } | ActionKind::DropConstraint { .. } => (8, "Primary and foreign keys"),
        ActionKind::Grant { .. } | ActionKind::Revoke { .. } => (9, "Grants"),
        ActionKind::Metadata(_) => (10, "Comments, tags and properties"),
        ActionKind::SetOwner { .. } => (11, "Owners"),
        ActionKind::Model(_) => (11, "Registered models"),
        ActionKind::Drop => (12, "Drops (--prune)"),
        ActionKind::Blocked(_) => (13, "Blocked"),
    }
}
