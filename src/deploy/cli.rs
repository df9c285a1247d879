//! `drbot deploy hub|transit|spoke NAME [--what-if] [--config FILE] [--state FILE]`:
//! What-If in both regions, then the deployment with one line per resource.
//!
//! Tokens: `AZURE_ACCESS_TOKEN` (for ARM) and `DATABRICKS_ACCESS_TOKEN` (for
//! the bootstrap) when set, e.g. from `az account get-access-token`; the
//! bot's own identity (client secret, managed or workload identity, as
//! configured) for whatever scope has none. `--state FILE` keeps the
//! checkpoint, so running the same command again after an interruption
//! follows the deployments instead of starting new ones. Ctrl-C cancels the
//! deployments in ARM.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bootstrap::BootstrapSettings;
use super::{prepare, run, what_if, DeployEvent, DeployState, RunOptions, StaticTokens, Target, Tokens};
use crate::azure::{ArmClient, PollOptions, ProvisioningState};
use crate::config::Config;
use crate::identity::app::AppIdentity;
use crate::identity::{AccessToken, IdentityError, ARM_SCOPE, DATABRICKS_SCOPE};

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// What to deploy: `hub`, `transit` (the region's browser-authentication spoke), or `spoke` followed by its name.
    #[arg(value_parser = ["hub", "transit", "spoke"])]
    pub kind: String,
    /// The spoke's name (lowercase letters, digits and hyphens).
    pub name: Option<String>,
    /// Show what would change in both regions, and stop.
    #[arg(long)]
    pub what_if: bool,
    /// The TOML configuration file (`[deploy]` section); settings can also come from the environment.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where to keep the checkpoint, to resume after an interruption.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// Tokens handed in through the environment, else the bot's own.
struct CliTokens {
    given: StaticTokens,
    given_scopes: Vec<&'static str>,
    app: Option<AppIdentity>,
}

impl Tokens for CliTokens {
    async fn token(&self, scope: &str) -> Result<AccessToken, IdentityError> {
        if self.given_scopes.contains(&scope) {
            return self.given.token(scope).await;
        }
        match &self.app {
            Some(app) => app.token(scope).await,
            None => Err(IdentityError::Unavailable(format!("no token for {scope}: set AZURE_ACCESS_TOKEN"))),
        }
    }
}

pub async fn main(args: DeployArgs) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(args.config.as_deref(), &env)?;
    let target = Target::parse(&args.kind, args.name.as_deref())?;

    let mut given = StaticTokens::new();
    let mut given_scopes = Vec::new();
    for (variable, scope) in [("AZURE_ACCESS_TOKEN", ARM_SCOPE), ("DATABRICKS_ACCESS_TOKEN", DATABRICKS_SCOPE)] {
        if let Some(token) = env.get(variable).filter(|t| !t.trim().is_empty()) {
            given = given.with(scope, AccessToken::new(token.trim()));
            given_scopes.push(scope);
        }
    }
    let app = if given_scopes.len() < 2 { AppIdentity::from_config(&config).ok() } else { None };
    let tokens = CliTokens { given, given_scopes, app };

    let http = crate::http_client::client();
    let client = ArmClient::new(http.clone(), &config.deploy.arm_url);
    let plan = prepare(&client, &tokens, &config.deploy, target).await?;
    let cancel = CancellationToken::new();
    let polling = PollOptions::new(Duration::from_secs(2), Duration::from_secs(600), cancel.clone());
    let summary = what_if(&client, &tokens, &plan, &polling).await.context("What-If")?;
    print!("{summary}");
    if args.what_if {
        return Ok(());
    }

    let saved: Option<DeployState> = match &args.state {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a deploy checkpoint", path.display()))?,
            )
        }
        _ => None,
    };
    let options = RunOptions { bootstrap: Some(BootstrapSettings::for_bot(&config, http)), ..Default::default() };
    let (sender, mut receiver) = mpsc::channel(256);
    let state_file = args.state.clone();
    let printer = tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            match (&event, &state_file) {
                (DeployEvent::Checkpoint(state), Some(path)) => {
                    if let Err(error) = write_checkpoint(path, state) {
                        eprintln!("drbot: cannot write the checkpoint {}: {error}", path.display());
                    }
                }
                (DeployEvent::Checkpoint(_), None) => {}
                _ => println!("{event}"),
            }
        }
    });
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("drbot: cancelling the deployments");
            interrupt.cancel();
        }
    });
    let outcome = run(&client, &tokens, &plan, saved, &options, sender, cancel).await;
    let _ = printer.await;
    let outcome = outcome?;
    for (role, url) in &outcome.workspace_urls {
        println!("{role} workspace: {url}");
    }
    println!("deployment {}", outcome.state);
    if outcome.state != ProvisioningState::Succeeded {
        anyhow::bail!("the deployment ended {}", outcome.state);
    }
    Ok(())
}

/// Written to a temporary file and renamed, so an interruption never leaves half a checkpoint.
fn write_checkpoint(path: &std::path::Path, state: &DeployState) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
    std::fs::rename(&temporary, path)
}
