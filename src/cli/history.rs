//! `drbot history [--pair NAME]`: a pair's runs with the RPO the next check
//! measured after each and how long each took, newest first, from the same
//! store the bot records them in (`history PAIR` in chat). `--json` prints
//! the entries for scripts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::config::Config;
use crate::readiness::history;
use crate::readiness::report::duration;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The TOML configuration file (as `drbot serve` reads it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The pair (needed when there are several).
    #[arg(long)]
    pub pair: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// The entries as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn main(args: HistoryArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let pair = super::pair::chosen(&config, args.pair.as_deref()).await?;
    let store = super::pair::open_store(&config).await?;
    let readings = store.readings(&pair.name, 0, 10_000).await?;
    store.close().await;
    let items = history::items(&readings, args.limit);
    if items.is_empty() && !args.json {
        println!("pair {}: nothing recorded yet (a run or a scheduled check records its readiness)", pair.name);
    }
    for item in items {
        let at = chrono::DateTime::from_timestamp_millis(item.at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        if args.json {
            let line = json!({"pair": pair.name, "kind": item.kind, "id": item.id, "at_ms": item.at_ms,
                "outcome": item.outcome, "rpo_ms": item.rpo_ms, "duration_ms": item.duration_ms});
            println!("{line}");
        } else {
            println!(
                "{at}\t{}\t{}\t{}\t{}\t{}",
                item.kind,
                item.outcome,
                match (item.kind, item.rpo_ms) {
                    ("replication", Some(ms)) => format!("RPO {} after", duration(ms)),
                    ("replication", None) => "RPO not measured since".into(),
                    (_, Some(ms)) => format!("data loss {}", duration(ms)),
                    (_, None) => "data loss not measured".into(),
                },
                match (item.kind, item.duration_ms) {
                    (_, None) => String::new(),
                    ("replication", Some(ms)) => format!("took {}", duration(ms)),
                    (_, Some(ms)) => format!("RTO {}", duration(ms)),
                },
                item.id
            );
        }
    }
    Ok(())
}
