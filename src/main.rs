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
    /// Build the Teams app package (manifest.json and icons, zipped) for this deployment.
    Package {
        /// The Teams app id (manifest `id`), usually the bot's Entra app id.
        #[arg(long)]
        app_id: String,
        /// The bot's Entra app id, if it differs from --app-id.
        #[arg(long)]
        bot_id: Option<String>,
        /// The app version, X.Y.Z (default: drbot's version).
        #[arg(long)]
        version: Option<String>,
        /// A directory with manifest.json and icons to use instead of the built-in ones.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where to write the zip.
        #[arg(long, default_value = "drbot.zip")]
        out: PathBuf,
    },
    /// Configure the Entra app registration and the Azure Bot's OAuth connection for Teams SSO (idempotent).
    Setup(drbot::setup::cli::SetupArgs),
    /// Replicate Unity Catalog from the primary to the secondary: --dry-run, --apply or --via-job JOB_ID.
    Replicate(drbot::cli::replicate::ReplicateArgs),
    /// Deploy the hub or a spoke in both regions (What-If first), then bootstrap Databricks.
    Deploy(drbot::deploy::cli::DeployArgs),
    /// DR readiness: reachability, last run, drift, RPO and the worst offenders.
    Status(drbot::readiness::cli::StatusArgs),
    /// The DR pairs: list, add (both workspaces and the warehouse checked first), remove.
    Pair(drbot::cli::pair::PairArgs),
    /// A pair's runs with the RPO measured after each and how long each took, newest first.
    History(drbot::cli::history::HistoryArgs),
    /// Prove per table that the secondary holds the primary's data: columns, rows, versions (--deep: row hashes).
    Verify(drbot::cli::verify::VerifyArgs),
    /// A pair's failover runbook (--dry-run): steps, expected data loss per table, RPO, what blocks it.
    Failover(drbot::cli::failover::FailoverArgs),
    /// A failed-over pair's failback runbook (--dry-run).
    Failback(drbot::cli::failover::RunbookArgs),
    /// A pair's drill runbook (--dry-run): a rehearsal that leaves both sides as they were.
    Drill(drbot::cli::failover::RunbookArgs),
    /// Past drills, with their RTO and findings.
    Drills(drbot::cli::failover::DrillsArgs),
}

fn main() -> ExitCode {
    drbot::memory::limit_allocator_arenas();
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
        Commands::Package { app_id, bot_id, version, from, out } => package(app_id, bot_id, version, from, &out),
        Commands::Setup(args) => runtime.block_on(drbot::setup::cli::main(args)),
        Commands::Replicate(args) => match runtime.block_on(drbot::cli::replicate::main(args)) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Commands::Deploy(args) => runtime.block_on(drbot::deploy::cli::main(args)),
        Commands::Status(args) => runtime.block_on(drbot::readiness::cli::main(args)),
        Commands::Pair(args) => runtime.block_on(drbot::cli::pair::main(args)),
        Commands::Failover(args) => runtime.block_on(drbot::cli::failover::failover(args)),
        Commands::Failback(args) => runtime.block_on(drbot::cli::failover::failback(args)),
        Commands::Drill(args) => runtime.block_on(drbot::cli::failover::drill(args)),
        Commands::Drills(args) => runtime.block_on(drbot::cli::failover::drills(args)),
        Commands::History(args) => runtime.block_on(drbot::cli::history::main(args)),
        Commands::Verify(args) => match runtime.block_on(drbot::cli::verify::main(args)) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
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

fn package(
    app_id: String,
    bot_id: Option<String>,
    version: Option<String>,
    from: Option<PathBuf>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    use drbot::teams_app::{build, PackageOptions, Source};
    let source = from.map_or(Source::Embedded, Source::Dir);
    let package = build(&PackageOptions { app_id, bot_id, version, source })?;
    package.write(out)?;
    print!("{}", package.summary(out));
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
