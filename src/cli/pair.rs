//! `drbot pair list|add|set|remove|map`: the DR pairs from a terminal, and the
//! `--pair` of `drbot status` and `drbot replicate`. `map` keeps a pair's
//! mapping table for workspace assets (a cluster policy, warehouse, cluster,
//! instance pool or pipeline id, a principal or a path prefix of the primary
//! and what the secondary calls it).
//!
//! The same store the bot uses holds the pairs (the configuration's
//! `[[pairs]]` are written into it first, as the bot does at start-up).
//! Adding checks both workspaces and the warehouse the way `pair add` in
//! chat does; adding and removing are audited as the command line's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::assets::mapping::MappingKind;
use crate::config::{Config, Secret};
use crate::identity::app::AppIdentity;
use crate::identity::{AccessToken, DATABRICKS_SCOPE};
use crate::pairs::{check_url, Pair, PairWorkspace};
use crate::readiness::probe;
use crate::store::audit::AuditEntry;
use crate::store::pairs::{Origin, Removal};
use crate::store::Store;

/// The operator's Databricks token with `--token-from-env`.
pub const TOKEN_ENV: &str = "DRBOT_DATABRICKS_TOKEN";

#[derive(Args, Debug)]
pub struct PairArgs {
    /// The TOML configuration file (as `drbot serve` reads it).
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PairCommand,
}

#[derive(Subcommand, Debug)]
pub enum PairCommand {
    /// Every pair, one line each.
    List,
    /// Add a pair after checking that both workspaces answer and the warehouse exists.
    Add {
        /// A lowercase letter, then lowercase letters, digits, _ or -.
        name: String,
        #[arg(long)]
        primary: String,
        #[arg(long)]
        secondary: String,
        /// The secondary's SQL warehouse drbot runs statements on.
        #[arg(long)]
        warehouse: String,
        /// The primary's SQL warehouse, for what drbot asks the primary in
        /// SQL (tags, history, verify): warehouse ids are per workspace.
        #[arg(long)]
        primary_warehouse: Option<String>,
        /// A storage prefix mapping, FROM,TO (repeat for more).
        #[arg(long, value_name = "FROM,TO")]
        mapping: Vec<String>,
        /// Check with the operator's token from DRBOT_DATABRICKS_TOKEN instead of the bot's identity.
        #[arg(long)]
        token_from_env: bool,
    },
    /// Set a pair's primary SQL warehouse (a deployed spoke's pair has none),
    /// after checking that both workspaces and warehouses answer.
    Set {
        name: String,
        #[arg(long)]
        primary_warehouse: String,
        /// Check with the operator's token from DRBOT_DATABRICKS_TOKEN instead of the bot's identity.
        #[arg(long)]
        token_from_env: bool,
    },
    /// Remove a pair (refused while an operation of it runs). Nothing in its workspaces changes.
    Remove { name: String },
    /// The pair's mapping table for workspace assets: list it, or map (or with
    /// `--remove` unmap) one primary reference to the secondary's.
    Map {
        name: String,
        /// cluster_policy, warehouse, cluster, instance_pool, pipeline, principal, path_prefix or key_vault.
        kind: Option<String>,
        /// The primary's id, name or path prefix.
        source: Option<String>,
        /// The secondary's (not with `--remove`).
        target: Option<String>,
        #[arg(long)]
        remove: bool,
    },
}

pub async fn main(args: PairArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let store = open_store(&config).await?;
    match args.command {
        PairCommand::List => {
            for pair in store.pairs().await? {
                println!(
                    "{}\t{} -> {}\twarehouse {}\tactive {}",
                    pair.name,
                    pair.primary.url,
                    pair.secondary.url,
                    pair.warehouse_id.as_deref().unwrap_or("-"),
                    pair.active.as_str()
                );
            }
        }
        PairCommand::Add { name, primary, secondary, warehouse, primary_warehouse, mapping, token_from_env } => {
            let pair = pair_from_args(&name, &primary, &secondary, &warehouse, primary_warehouse.as_deref(), &mapping)?;
            let token = token(&config, &env, token_from_env).await?;
            let problems = probe::problems(&pair, &crate::http_client::client(), &token).await;
            if !problems.is_empty() {
                audit(&store, "add a pair", &name, &format!("refused: {}", problems.join("; "))).await;
                bail!("pair {name} was not added: {}", problems.join("; "));
            }
            if !store.add_pair(&pair, Origin::Added, now_ms()).await? {
                bail!("a pair named {name} exists; remove it first to change it");
            }
            audit(&store, "add a pair", &name, "added").await;
            println!("pair {name} added (recipient {}, shares {}*)", pair.sharing.recipient, pair.sharing.share_prefix);
        }
        PairCommand::Set { name, primary_warehouse, token_from_env } => {
            let Some(mut pair) = store.pair(&name).await? else { bail!("there is no pair named {name}") };
            pair.primary_warehouse_id = Some(primary_warehouse.clone());
            pair.validate().map_err(anyhow::Error::msg)?;
            let token = token(&config, &env, token_from_env).await?;
            let problems = probe::problems(&pair, &crate::http_client::client(), &token).await;
            let action = "set a pair's primary warehouse";
            if !problems.is_empty() {
                audit(&store, action, &name, &format!("refused: {}", problems.join("; "))).await;
                bail!("pair {name} was not changed: {}", problems.join("; "));
            }
            if !store.set_primary_warehouse(&name, &primary_warehouse, now_ms()).await? {
                audit(&store, action, &name, "refused: changed meanwhile").await;
                bail!("pair {name} was removed or changed meanwhile: try again");
            }
            audit(&store, action, &name, "set").await;
            println!("pair {name}: primary warehouse {primary_warehouse}");
        }
        PairCommand::Map { name, kind, source, target, remove } => {
            map(&store, &name, kind.as_deref(), source.as_deref(), target.as_deref(), remove).await?
        }
        PairCommand::Remove { name } => {
            let removal = store.remove_pair(&name).await?;
            let result = match removal {
                Removal::Removed => "removed",
                Removal::NotFound => "refused: no such pair",
                Removal::InFlight => "refused: operation in flight",
            };
            audit(&store, "remove a pair", &name, result).await;
            match removal {
                Removal::Removed => println!("pair {name} removed"),
                Removal::NotFound => bail!("there is no pair named {name}"),
                Removal::InFlight => bail!("an operation of pair {name} is running: wait for it (or cancel it) first"),
            }
        }
    }
    store.close().await;
    Ok(())
}

/// `pair map`: lists the table, or sets or removes one row (audited).
async fn map(
    store: &Store,
    name: &str,
    kind: Option<&str>,
    source: Option<&str>,
    target: Option<&str>,
    remove: bool,
) -> anyhow::Result<()> {
    if store.pair(name).await?.is_none() {
        bail!("there is no pair named {name}");
    }
    let Some(kind) = kind else {
        for (kind, rows) in store.asset_mapping(name).await?.entries {
            for (source, target) in rows {
                println!("{}\t{source}\t{target}", kind.as_str());
            }
        }
        return Ok(());
    };
    let kind = MappingKind::parse(kind).with_context(|| {
        "the kind is one of cluster_policy, warehouse, cluster, instance_pool, pipeline, principal, path_prefix, key_vault"
    })?;
    let source = source.context("name the primary's reference")?;
    let target_text = format!("{} {source}", kind.as_str());
    if remove {
        let removed = store.remove_asset_mapping(name, kind, source).await?;
        audit(store, "unmap an asset reference", name, if removed { "removed" } else { "refused: not mapped" }).await;
        if !removed {
            bail!("{target_text} is not mapped for pair {name}");
        }
        println!("{target_text} unmapped for pair {name}");
    } else {
        let target = target.context("name the secondary's reference")?;
        store.set_asset_mapping(name, kind, source, target).await?;
        audit(store, "map an asset reference", name, &format!("{target_text} -> {target}")).await;
        println!("{target_text} -> {target} for pair {name}");
    }
    Ok(())
}

/// The pair `--pair` names, or the only one; with several and none named,
/// the message lists them.
pub async fn chosen(config: &Config, named: Option<&str>) -> anyhow::Result<Pair> {
    // Without a store yet (a fresh checkout), the configuration's pairs are all there are.
    let pairs = if config.store.uses_data_dir() && !config.store.data_dir.join("drbot.db").exists() {
        config.pairs()?
    } else {
        let store = open_store(config).await?;
        let pairs = store.pairs().await?;
        store.close().await;
        pairs
    };
    let names = || pairs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    match named {
        Some(name) => match pairs.iter().find(|p| p.name == name) {
            Some(pair) => Ok(pair.clone()),
            None => bail!("there is no pair named {name} (pairs: {})", names()),
        },
        None => match pairs.as_slice() {
            [only] => Ok(only.clone()),
            [] => bail!(
                "no pair is configured: add [[pairs]] to the configuration (or databricks.primary_host and \
                 databricks.secondary_host), or run drbot pair add"
            ),
            _ => bail!("several pairs ({}): name one with --pair", names()),
        },
    }
}

/// The store, with the configuration's pairs written into it.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.store.uses_data_dir() {
        std::fs::create_dir_all(&config.store.data_dir)
            .with_context(|| format!("store.data_dir {}", config.store.data_dir.display()))?;
    }
    let store = Store::open(&config.store.url()).await?;
    crate::bot::pairs::seed(&store, config).await?;
    Ok(store)
}

fn pair_from_args(
    name: &str,
    primary: &str,
    secondary: &str,
    warehouse: &str,
    primary_warehouse: Option<&str>,
    mapping: &[String],
) -> anyhow::Result<Pair> {
    crate::pairs::check_name(name).map_err(anyhow::Error::msg)?;
    for url in [primary, secondary] {
        check_url(url).map_err(anyhow::Error::msg)?;
    }
    let mut pair = Pair::new(
        name,
        PairWorkspace::at(primary.trim_end_matches('/')),
        PairWorkspace::at(secondary.trim_end_matches('/')),
    );
    pair.warehouse_id = Some(warehouse.to_string());
    pair.primary_warehouse_id = primary_warehouse.map(str::to_string);
    for entry in mapping {
        let (from, to) = entry.split_once(',').context("--mapping FROM,TO (two storage URLs)")?;
        pair.location_mapping.push((from.to_string(), to.to_string()));
    }
    pair.validate().map_err(anyhow::Error::msg)?;
    Ok(pair)
}

async fn token(config: &Config, env: &BTreeMap<String, String>, from_env: bool) -> anyhow::Result<AccessToken> {
    if from_env {
        let token = env
            .get(TOKEN_ENV)
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .with_context(|| format!("--token-from-env: {TOKEN_ENV} is not set"))?;
        return Ok(AccessToken::from_secret(Secret::new(token)));
    }
    let identity = AppIdentity::from_config(config)?;
    identity.token(DATABRICKS_SCOPE).await.context("a Databricks token as the bot")
}

async fn audit(store: &Store, action: &str, target: &str, result: &str) {
    let entry = AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        at_ms: now_ms(),
        actor_oid: None,
        actor_upn: Some("drbot command line".into()),
        action: action.into(),
        target: Some(target.into()),
        result: result.into(),
        correlation_id: None,
    };
    if let Err(error) = store.append_audit(&entry).await {
        eprintln!("drbot pair: the audit entry was not written: {error}");
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
