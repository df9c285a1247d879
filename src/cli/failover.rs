//! `drbot failover PAIR [--planned|--forced] --dry-run`, `drbot failback
//! PAIR --dry-run`, `drbot drill PAIR --dry-run` and `drbot drills [PAIR]`:
//! a pair's runbook as it would run now (every step, what it touches, the
//! expected loss per table, the current RPO, what blocks it), and the drills
//! run so far. Read from the same store the bot uses; nothing changes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::pair::open_store;
use crate::config::Config;
use crate::failover::mode::Mode;
use crate::failover::runbook;
use crate::failover::text;

#[derive(Args, Debug)]
pub struct FailoverArgs {
    /// The TOML configuration file (as `drbot serve` reads it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    pub pair: String,
    /// Freeze the primary and sync first: zero data loss (the default).
    #[arg(long, conflicts_with = "forced")]
    pub planned: bool,
    /// The primary is down: freeze and sync are best effort; the loss is each table's window.
    #[arg(long)]
    pub forced: bool,
    /// Show the runbook; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct RunbookArgs {
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    pub pair: String,
    /// Show the runbook; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct DrillsArgs {
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Only this pair's drills.
    pub pair: Option<String>,
}

pub async fn failover(args: FailoverArgs) -> anyhow::Result<()> {
    let mode = if args.forced { Mode::Forced } else { Mode::Planned };
    show(args.config, &args.pair, mode, args.dry_run).await
}

pub async fn failback(args: RunbookArgs) -> anyhow::Result<()> {
    show(args.config, &args.pair, Mode::Failback, args.dry_run).await
}

pub async fn drill(args: RunbookArgs) -> anyhow::Result<()> {
    show(args.config, &args.pair, Mode::Drill, args.dry_run).await
}

pub async fn drills(args: DrillsArgs) -> anyhow::Result<()> {
    let config = load(args.config)?;
    let store = open_store(&config).await?;
    let listed = store.drills(args.pair.as_deref(), 50).await;
    store.close().await;
    print!("{}", text::drills(&listed?));
    Ok(())
}

async fn show(config: Option<PathBuf>, pair: &str, mode: Mode, dry_run: bool) -> anyhow::Result<()> {
    if !dry_run {
        bail!("a {} runs from chat, approved there; here only --dry-run shows its runbook", mode.as_str());
    }
    let config = load(config)?;
    let store = open_store(&config).await?;
    let found = store.pair(pair).await;
    let versions = store.table_versions(pair).await;
    store.close().await;
    let found = found?.with_context(|| format!("there is no pair named {pair}"))?;
    if let (Some(group), false) = (&found.failover_group, mode == Mode::Drill) {
        // Its runbook is planned from the group as the account API shows it
        // now, read with a person's identity: chat has one, this command not.
        bail!(
            "pair {pair} fails over through managed DR's failover group {group}: its runbook reads the group with \
             your identity, so ask for it in chat ({} {pair} --dry-run)",
            if mode == Mode::Failback { "failback" } else { "failover" }
        );
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let settings = runbook::RunbookSettings::of_pair(&config.failover, pair);
    let planned = runbook::plan(&found, mode, &settings, &versions?, &[], now_ms)?;
    print!("{}", text::runbook(&planned));
    Ok(())
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    Ok(Config::load(path.as_deref(), &env)?)
}
