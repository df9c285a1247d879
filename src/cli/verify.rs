//! `drbot verify [PAIR] [CATALOG] [--deep] [--json]`: the per-table proof
//! from a terminal, with the same comparison chat runs (`crate::verify`).
//!
//! It only reads. Identity as for `drbot replicate`: the bot's own, or the
//! operator's (`--token-from-env`, `--device-code`), whose Unity Catalog
//! access decides what may be compared. Progress goes to stderr, the
//! report to stdout (a table, or `--json`). The exit code is non-zero when
//! any table is different or failed, so a pipeline notices; blocked tables
//! are listed with their reason and do not fail it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::sync::Semaphore;

use super::replicate::cli_tokens;
use crate::config::Config;
use crate::databricks::WorkspaceClient;
use crate::identity::device_code::AZURE_CLI_CLIENT_ID;
use crate::verify::judge::Verdict;
use crate::verify::run::{read_and_compare, Manifest, Sides};
use crate::verify::{Report, Tally};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The DR pair (needed when there are several).
    pub pair: Option<String>,
    /// Only this catalog.
    pub catalog: Option<String>,
    /// Also compare a hash of every row, on tables up to `[replication] verify_deep_max_bytes`.
    #[arg(long)]
    pub deep: bool,
    /// Print the report as JSON (for machines) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The TOML configuration file (as `drbot serve` reads it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Run as the operator: the Databricks token from DRBOT_DATABRICKS_TOKEN.
    #[arg(long, conflicts_with = "device_code")]
    pub token_from_env: bool,
    /// Run as the operator, signed in on a device code (a URL and a code are printed on stderr).
    #[arg(long)]
    pub device_code: bool,
    /// The public client `--device-code` signs in with (default: the Azure CLI's).
    #[arg(long, default_value = AZURE_CLI_CLIENT_ID, requires = "device_code")]
    pub client_id: String,
}

/// Runs `drbot verify`; `Ok(false)` when a table is different or failed.
pub async fn main(args: VerifyArgs) -> anyhow::Result<bool> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    if let Some(catalog) = &args.catalog {
        crate::commands::words::name(catalog).map_err(anyhow::Error::msg)?;
    }
    let tokens = cli_tokens(&config, &env, args.token_from_env, args.device_code, &args.client_id).await?;
    let pair = crate::cli::pair::chosen(&config, args.pair.as_deref()).await?;
    let settings = config.replication.for_pair(&pair);
    let verify = settings.verify_settings(args.deep).map_err(|side| {
        anyhow::anyhow!(
            "pair {} has no warehouse on the {} (verify runs statements on both sides)",
            pair.name,
            side.as_str()
        )
    })?;
    let mut reads = settings.read_options_per_side(args.catalog.as_deref());
    for read in &mut reads {
        read.view_dependencies = false;
    }
    let replication = settings.replication_config(args.catalog.as_deref());
    let recorded = crate::readiness::cli::table_versions(&config, &pair.name).await;

    let http = crate::http_client::client();
    let primary = WorkspaceClient::new(http.clone(), &pair.primary.url);
    let secondary = WorkspaceClient::new(http, &pair.secondary.url);
    let slots =
        [Arc::new(Semaphore::new(settings.concurrency.max(1))), Arc::new(Semaphore::new(settings.concurrency.max(1)))];
    let sides = Sides { primary: &primary, secondary: &secondary, slots };
    eprintln!("drbot verify: reading {} and {}", pair.primary.url, pair.secondary.url);
    let started_ms = chrono::Utc::now().timestamp_millis();
    let progress = |tally: &Tally| eprintln!("  {} of {} tables", tally.done, tally.total);
    // The copy manifest judges managed volumes' files; without a store yet
    // (nothing replicated from here) they are reported as not listed.
    let store = match config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        true => None,
        false => Some(crate::store::Store::open(&config.store.url()).await.map_err(anyhow::Error::from)?),
    };
    let manifest = store.as_ref().map(|store| Manifest { store, pair: &pair.name });
    let tables =
        read_and_compare(&sides, &tokens, &verify, &reads, &replication, &recorded, manifest, &progress).await?;
    if let Some(store) = store {
        store.close().await;
    }
    let report = Report {
        pair: pair.name.clone(),
        catalog: args.catalog.clone(),
        deep: args.deep,
        deep_max_bytes: settings.verify_deep_max_bytes,
        started_ms,
        finished_ms: chrono::Utc::now().timestamp_millis(),
        tally: Tally::of(&tables),
        tables,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(report.tally.different == 0 && report.tally.failed == 0)
}

/// The report for people: one line per table, then the tally.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for table in &report.tables {
        let detail = match &table.verdict {
            Verdict::Equal if table.primary.as_ref().is_some_and(|f| f.files.is_some() || f.versions.is_some()) => {
                let facts = table.primary.as_ref();
                match (facts.and_then(|f| f.files), facts.and_then(|f| f.versions)) {
                    (Some(files), _) => format!("{files} files"),
                    (_, Some(versions)) => format!("{versions} versions"),
                    _ => String::new(),
                }
            }
            Verdict::Equal => {
                let rows = table.primary.as_ref().and_then(|f| f.rows).map(|r| format!("{r} rows")).unwrap_or_default();
                let version = table
                    .secondary
                    .as_ref()
                    .and_then(|f| f.source_version)
                    .map(|v| format!(", source version {v}"))
                    .unwrap_or_default();
                format!("{rows}{version}")
            }
            Verdict::Different { differences } => differences.join("; "),
            Verdict::Blocked { reason } => reason.clone(),
            Verdict::Failed { error } => error.clone(),
        };
        let name = match table.kind.as_str() {
            "model" | "managed_volume" | "external_volume" => {
                format!("{} {}", table.kind.replace('_', " "), table.table)
            }
            _ => table.table.clone(),
        };
        out.push_str(&format!("{:<10} {name}  {detail}\n", table.verdict.word()));
    }
    let t = &report.tally;
    out.push_str(&format!(
        "\n{} tables, models and volumes: {} equal, {} different, {} blocked, {} failed{}\n",
        t.total,
        t.equal,
        t.different,
        t.blocked,
        t.failed,
        if report.deep { " (deep: row hashes compared)" } else { "" }
    ));
    out
}
