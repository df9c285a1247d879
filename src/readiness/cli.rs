//! `drbot status`: the readiness report in a terminal (a table for people,
//! `--json` for machines), from the same configuration file `drbot serve`
//! reads. Tokens come from the bot's own identity, or from the operator
//! (`--token-from-env`), as for `drbot setup`. Progress goes to stderr so
//! that stdout stays the report alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::check::{check_with, Progress, Target};
use super::report::{AssessOptions, LastRun};
use super::text::render_with;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::databricks::WorkspaceClient;
use crate::identity::app::AppIdentity;
use crate::identity::device_code::{sign_in_on_terminal, AZURE_CLI_CLIENT_ID};
use crate::identity::{AccessToken, DATABRICKS_SCOPE};
use crate::pairs::Pair;
use crate::replication::read::{ReadFilter, ReadOptions};
use crate::replication::ReplicationConfig;
use crate::store::table_versions::TableVersion;
use crate::store::Store;

/// The operator's Databricks token for `--token-from-env` (one Entra token
/// for the Azure Databricks resource serves both workspaces), e.g.
/// `az account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d --query accessToken -o tsv`.
pub const TOKEN_ENV: &str = "DRBOT_DATABRICKS_TOKEN";

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The bot's TOML configuration (its pairs, the bot identity).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The DR pair (needed when there are several).
    #[arg(long)]
    pub pair: Option<String>,
    /// Print the report as JSON (for machines) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this catalog.
    #[arg(long)]
    pub catalog: Option<String>,
    /// Run as the operator: the Databricks token from DRBOT_DATABRICKS_TOKEN. Without it, status runs as the bot.
    #[arg(long, conflicts_with = "device_code")]
    pub token_from_env: bool,
    /// Run as the operator, signed in on a device code (a URL and a code are printed on stderr).
    #[arg(long)]
    pub device_code: bool,
    /// The public client `--device-code` signs in with (default: the Azure CLI's).
    #[arg(long, default_value = AZURE_CLI_CLIENT_ID, requires = "device_code")]
    pub client_id: String,
    /// The RPO target in hours: tables behind by more are flagged.
    #[arg(long, default_value_t = 24)]
    pub rpo_target_hours: u32,
    /// How many worst offenders to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Requests in flight per workspace at most.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// The secondary's SQL warehouse (default: the pair's), to read its
    /// metastore's global id and grants with.
    #[arg(long)]
    pub warehouse_id: Option<String>,
    /// The primary's SQL warehouse (default: the pair's): an id names a
    /// warehouse in one workspace only.
    #[arg(long)]
    pub primary_warehouse_id: Option<String>,
}

/// What to replicate for `pair` (the same as chat and the CLI plan with).
pub fn replication_config(config: &Config, pair: &Pair) -> ReplicationConfig {
    config.replication.for_pair(pair).replication_config(None)
}

pub async fn main(args: StatusArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let pair = crate::cli::pair::chosen(&config, args.pair.as_deref()).await?;
    let (primary_host, secondary_host) = (pair.primary.url.clone(), pair.secondary.url.clone());
    let token = if args.token_from_env {
        let token = env
            .get(TOKEN_ENV)
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .with_context(|| format!("--token-from-env: {TOKEN_ENV} is not set"))?;
        AccessToken::from_secret(Secret::new(token))
    } else if args.device_code {
        let tenant = config.bot.tenant_id.as_deref().unwrap_or("organizations");
        sign_in_on_terminal(&config.endpoints.login_authority, tenant, &args.client_id, DATABRICKS_SCOPE).await?
    } else {
        let identity = AppIdentity::from_config(&config)?;
        identity.token(DATABRICKS_SCOPE).await.context("a Databricks token as the bot")?
    };

    let mut replication = replication_config(&config, &pair);
    replication.principals = principal_map(&config, &pair.name).await;
    if let Some(catalog) = &args.catalog {
        replication.catalogs = Some([catalog.clone()].into());
    }
    let read = |warehouse_id: Option<String>| ReadOptions {
        filter: ReadFilter { catalog: args.catalog.clone(), schema_pattern: replication.schema_pattern.clone() },
        concurrency: args.concurrency.max(1),
        warehouse_id,
        ..ReadOptions::default()
    };
    let reads = [
        read(args.primary_warehouse_id.clone().or_else(|| pair.primary_warehouse_id.clone())),
        read(args.warehouse_id.clone().or_else(|| pair.warehouse_id.clone())),
    ];
    let options = AssessOptions {
        rpo_target_ms: i64::from(args.rpo_target_hours) * 3_600_000,
        offenders: args.top,
        last_run: last_run(&config).await,
        table_versions: table_versions(&config, &pair.name).await,
        volume_files: volume_manifest(&config, &pair.name).await,
        ..AssessOptions::for_pair()
    };

    let http = crate::http_client::client();
    let primary = WorkspaceClient::new(http.clone(), &primary_host);
    let secondary = WorkspaceClient::new(http, &secondary_host);
    let now_ms = SystemClock.unix_ms();
    eprintln!("drbot status: reading {primary_host} and {secondary_host}");
    let work = check_with(
        Target { client: &primary, token: &token },
        Target { client: &secondary, token: &token },
        &reads,
        &replication,
        now_ms,
        &options,
        &report_progress,
    );
    let readiness = with_ticker(work).await;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&readiness)?);
    } else {
        use std::io::IsTerminal;
        print!("{}", render_with(&readiness, std::io::stdout().is_terminal()));
    }
    Ok(())
}

fn report_progress(progress: Progress) {
    match progress {
        Progress::Reading { side, latency_ms } => {
            eprintln!("  {}: reachable ({latency_ms} ms), reading its metastore…", side.as_str())
        }
        Progress::Read { side, objects, elapsed_ms } => {
            eprintln!("  {}: read {objects} objects in {:.1} s", side.as_str(), elapsed_ms as f64 / 1000.0)
        }
        Progress::Unreachable { side, error } => eprintln!("  {}: unreachable: {error}", side.as_str()),
    }
}

/// Runs `work`, saying every few seconds that it still is, so a long read
/// of a large metastore does not look like a hang.
async fn with_ticker<T>(work: impl std::future::Future<Output = T>) -> T {
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval_at(started + Duration::from_secs(3), Duration::from_secs(3));
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = ticker.tick() => eprintln!("  still reading… {} s", started.elapsed().as_secs()),
        }
    }
}

/// `pair`'s recorded table versions and the last cycle's readings, from the
/// bot's store (none when it does not exist yet or cannot be read, said on stderr).
/// The pair's principal mapping (its mapping table), empty without a store.
pub async fn principal_map(config: &Config, pair: &str) -> crate::replication::principals::PrincipalMap {
    if config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        return Default::default();
    }
    let result = async {
        let store = Store::open(&config.store.url()).await?;
        let mapping = store.asset_mapping(pair).await;
        store.close().await;
        mapping
    }
    .await;
    match result {
        Ok(mapping) => crate::replication::principals::PrincipalMap::new(mapping.principals()),
        Err(error) => {
            eprintln!(
                "drbot status: the pair's principal mapping is unknown, so grants are compared unmapped: {error}"
            );
            Default::default()
        }
    }
}

/// The pair's copy manifest, so the drift compares managed volumes' files;
/// `None` without a store (nothing was copied from here: not compared).
pub async fn volume_manifest(config: &Config, pair: &str) -> Option<crate::replication::volume_survey::Manifest> {
    if config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        return None;
    }
    let result = async {
        let store = Store::open(&config.store.url()).await?;
        let rows = store.copied_files(pair).await;
        store.close().await;
        rows
    }
    .await;
    match result {
        Ok(rows) => Some(crate::replication::volume_survey::manifest(&rows)),
        Err(error) => {
            eprintln!("drbot status: the copy manifest is unknown, so volume files are not compared: {error}");
            None
        }
    }
}

pub async fn table_versions(config: &Config, pair: &str) -> Vec<TableVersion> {
    if config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        return Vec::new();
    }
    let result = async {
        let store = Store::open(&config.store.url()).await?;
        let rows = store.table_versions(pair).await;
        store.close().await;
        rows
    }
    .await;
    result.unwrap_or_else(|error| {
        eprintln!("drbot status: recorded table versions are unknown: {error}");
        Vec::new()
    })
}

/// The newest replication run that was not a dry run, from the bot's store.
/// A store that does not exist yet means no run; one that cannot be read is
/// said on stderr and the report goes on without it.
async fn last_run(config: &Config) -> Option<LastRun> {
    if config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        return None;
    }
    let result = async {
        let store = Store::open(&config.store.url()).await?;
        let runs = store.recent_runs(20).await;
        store.close().await;
        runs
    }
    .await;
    match result {
        Ok(runs) => runs.iter().find(|run| !run.dry_run && !run.skipped()).map(LastRun::from),
        Err(error) => {
            eprintln!("drbot status: the last replication run is unknown: {error}");
            None
        }
    }
}
