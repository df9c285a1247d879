//! The `drbot` command line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use drbot::config::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "drbot", version, about = "Disaster recovery for Azure Databricks, from Microsoft Teams")]
struct Cli {
    /// Log format: JSON lines for production, text for people.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the bot's messaging endpoint.
    Serve {
        /// The TOML configuration file; every setting can also come from the environment.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Deploy the hub or a spoke in both regions (What-If first), then bootstrap Databricks.
    Deploy(drbot::deploy::cli::DeployArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("drbot: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Commands::Serve { config } => runtime.block_on(serve(config)),
        Commands::Deploy(args) => runtime.block_on(drbot::deploy::cli::main(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("drbot: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(config_path.as_deref(), &env)?;
    let stop = CancellationToken::new();
    let server = drbot::server::start(&config, stop.clone()).await?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    match tokio::time::timeout(grace, server.shutdown()).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("requests still in flight after the grace period; exiting"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
