//! `drbot-sandbox`: every stand-in on loopback, until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Parser;
use sandbox::{Sandbox, SandboxConfig};

#[derive(Parser)]
#[command(name = "drbot-sandbox", about = "Loopback stand-ins for Entra ID, the Bot Framework, Databricks and ARM")]
struct Args {
    /// The bot's messaging endpoint, where simulated Teams traffic goes.
    #[arg(long, default_value = "http://127.0.0.1:3978/api/messages")]
    bot_endpoint: String,
    /// Port of the Entra ID stand-in (0 = any free port).
    #[arg(long, default_value_t = 0)]
    entra_port: u16,
    /// Port of the Bot Framework stand-in (channel metadata, connector, token service).
    #[arg(long, default_value_t = 0)]
    botframework_port: u16,
    /// Write a drbot configuration file pointing at this sandbox.
    #[arg(long)]
    write_bot_config: Option<PathBuf>,
    /// The `server.listen` to put into the written bot configuration.
    #[arg(long, default_value = "127.0.0.1:3978")]
    bot_listen: String,
    /// Write the bot configuration with local anonymous mode on (for the Agents Playground).
    #[arg(long)]
    local_anonymous: bool,
    /// Seed of the generated metastores: same seed, same world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// How many tables and views the primary metastore has.
    #[arg(long, default_value_t = 60)]
    tables: usize,
    /// How many job definitions the primary workspace has.
    #[arg(long, default_value_t = 300)]
    jobs: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let config = SandboxConfig {
        entra_port: args.entra_port,
        botframework_port: args.botframework_port,
        bot_endpoint: args.bot_endpoint.clone(),
        seed: args.seed,
        tables: args.tables,
        jobs: args.jobs,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await?;
    if let Some(path) = &args.write_bot_config {
        std::fs::write(path, sandbox.bot_config_toml(&args.bot_listen, args.local_anonymous))?;
        println!("bot configuration written to {}", path.display());
    }
    println!("Entra ID        {}", sandbox.entra_url());
    println!("Bot Framework   {}  (connector, channel metadata, token service)", sandbox.botframework_url());
    println!(
        "Teams (inject)  POST {}/_sandbox/teams/send {{\"user\":\"alice\",\"text\":\"help\"}}",
        sandbox.botframework_url()
    );
    println!("Databricks      primary {}  secondary {}", sandbox.primary_url(), sandbox.secondary_url());
    println!("bot endpoint    {}", args.bot_endpoint);
    println!("ready");
    shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
