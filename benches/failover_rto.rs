//! The failover RTO benchmark: a planned failover of a pair with
//! BENCH_TABLES (10,000) tables and BENCH_JOBS (1,000) jobs, run by drbot's
//! runner over its live services (`src/bot/failover_services.rs`) against
//! the sandbox, and how much of the RTO is drbot's own.
//!
//! Setup (not timed): the sandbox's primary with its tables and jobs, the
//! jobs copied to the secondary paused and tagged (as the asset sync leaves
//! them), the BI warehouse running on the primary, a geo-redundant storage
//! account, one replication of everything, then BENCH_CHANGED (1 %) of the
//! Delta tables written. Then the services get their latencies: BENCH_LATENCY_MS
//! (50) per REST call, ordinary statements 100–500 ms and clones
//! BENCH_CLONE_MS (1000–5000) on a warehouse running BENCH_CONCURRENCY (16)
//! at once, warehouses 5 s to start, the storage failover 10 s; all divided
//! by BENCH_SPEED (5), as in `benches/replication.rs`.
//!
//! Measured: the RTO (approval to the end of validation, on the wall
//! clock), and drbot's own share: the CPU time of every thread but the
//! sandbox's (the sandbox runs on a runtime of its own whose threads are
//! named `sandbox`), i.e. the time drbot computes rather than waits. The
//! rest is waiting on services (calls, statements, polls); the table also
//! shows it at real latencies (× BENCH_SPEED). Goal: drbot's share ≤ 5 s.
//! Linux only (it reads `/proc/self`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drbot::config::Config;
use drbot::failover::jobs::SOURCE_JOB_TAG;
use drbot::failover::mode::Mode;
use drbot::failover::progress::Progress;
use drbot::failover::run::{run, Ended, Halt, Journal, RunOptions, Services};
use drbot::failover::runbook::{plan, RunbookSettings};
use drbot::failover::warehouses::WarehouseControl;
use drbot::pairs::Side;
use sandbox::databricks::statements::StatementTiming;
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn range(name: &str, default: &str) -> (u64, u64) {
    let text: String = env(name, default.to_string());
    text.split_once('-')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or_else(|| panic!("{name} is LO-HI"))
}

/// Checkpoints kept in memory (the store's are the engine's, not timed here).
struct Memory;

impl Journal for Memory {
    async fn save(&mut self, _progress: &Progress) -> Result<(), Halt> {
        Ok(())
    }

    async fn cancel_requested(&mut self) -> bool {
        false
    }
}

/// CPU time of the whole process so far (`/proc/self/stat` utime + stime).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux");
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// CPU time of the sandbox's threads so far (`/proc/self/task/*/schedstat`).
fn sandbox_cpu() -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("Linux").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "sandbox" {
            continue;
        }
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += schedstat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(total)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    let tables: usize = env("BENCH_TABLES", 10_000);
    let jobs: usize = env("BENCH_JOBS", 1_000);
    let speed: f64 = env("BENCH_SPEED", 5.0);
    let changed: f64 = env("BENCH_CHANGED", 0.01);
    let latency_ms: f64 = env("BENCH_LATENCY_MS", 50.0);
    let concurrency: usize = env("BENCH_CONCURRENCY", 16);
    let clone_ms = range("BENCH_CLONE_MS", "1000-5000");

    // The sandbox on threads of its own, so that its CPU is not drbot's.
    let services_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sandbox")
        .enable_all()
        .build()
        .unwrap();
    let sandbox = services_runtime
        .block_on(Sandbox::start(SandboxConfig { tables, jobs, ..SandboxConfig::default() }))
        .expect("the sandbox starts");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut config =
            Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).expect("config");
        let data_dir = tempfile::tempdir().unwrap();
        config.store.data_dir = data_dir.path().to_path_buf();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = drbot::server::start_on(&config, listener, CancellationToken::new()).await.expect("drbot starts");
        let bot = server.app.bot.clone();
        let store = server.app.store.clone();

        let setup = Instant::now();
        for (id, mut settings) in sandbox.primary.job_definitions.all() {
            for trigger in ["schedule", "trigger", "continuous"] {
                if let Some(object) = settings.get_mut(trigger).and_then(Value::as_object_mut) {
                    object.insert("pause_status".into(), json!("PAUSED"));
                }
            }
            if !settings["tags"].is_object() {
                settings["tags"] = json!({});
            }
            settings["tags"][SOURCE_JOB_TAG] = Value::String(id.to_string());
            sandbox.secondary.job_definitions.insert("alice@contoso.example", settings).unwrap();
        }
        sandbox.primary.warehouses.seed(true);
        sandbox.secondary.warehouses.seed(false);
        sandbox.arm.add_storage_account("rg-dr", "stext", "westeurope", "northeurope", "Standard_RAGRS");
        let storage_id = format!(
            "/subscriptions/{}/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/stext",
            sandbox::SANDBOX_SUBSCRIPTION_ID
        );
        let services = bot.failover_services_as_bot("default").await.expect("the pair's services");
        let warehouses = services.warehouses(Side::Primary).warehouses().await.unwrap();
        let bi = warehouses.iter().find(|w| w.name == "BI dashboards").expect("seeded");
        services.warehouses(Side::Primary).start(&bi.id).await.unwrap();
        // Every Delta table written since the seed's copies, then replicated once.
        let delta: Vec<String> = {
            let metastore = sandbox.primary.metastore.read();
            let listed = metastore.tables.iter().filter(|(_, t)| t.data_source_format.as_deref() == Some("DELTA"));
            listed.map(|(name, _)| name.clone()).collect()
        };
        let write = |table: &str, commit_ms: i64| {
            let mut metastore = sandbox.primary.metastore.write();
            let table = metastore.tables.get_mut(table).unwrap();
            table.append(commit_ms);
            if let Some(path) = &table.storage_location {
                let files = (table.delta_version, commit_ms);
                sandbox.primary.account.storage.tables.write().insert(path.trim_end_matches('/').to_string(), files);
            }
        };
        let now_ms = || chrono::Utc::now().timestamp_millis();
        for table in &delta {
            write(table, now_ms() + 60_000);
        }
        for ws in [&sandbox.primary, &sandbox.secondary] {
            ws.set_page_size(1000);
            ws.statements.set_timing(StatementTiming { run_ms: (1, 5), clone_ms: (5, 20), ..StatementTiming::default() });
        }
        // The seed leaves some schemas unreadable by the shares' owner (a
        // readiness blocker the tests use); a pair ready to fail over has
        // them readable, so the timed failover copies everything.
        {
            let mut metastore = sandbox.primary.metastore.write();
            for catalog in metastore.catalogs.values_mut() {
                let grants = catalog.common.grants.entry(sandbox::databricks::seed::ADMIN_GROUP.into()).or_default();
                for privilege in ["USE CATALOG", "USE SCHEMA", "SELECT"] {
                    grants.insert(privilege.into());
                }
            }
        }
        services.sync(Side::Primary, Side::Secondary).await.expect("the first replication");
        let written = ((delta.len() as f64) * changed).ceil() as usize;
        for table in delta.iter().step_by((delta.len() / written.max(1)).max(1)).take(written) {
            write(table, now_ms() + 120_000);
        }
        let setup = setup.elapsed();

        // The services' latencies, sped up.
        let latency = latency_ms / speed;
        let faults =
            FaultConfig { latency_ms: Some((latency.floor() as u64, latency.ceil() as u64)), ..FaultConfig::default() };
        for ws in [&sandbox.primary, &sandbox.secondary] {
            ws.faults.set(faults.clone());
            ws.statements.set_timing(StatementTiming {
                queue_ms: 0,
                run_ms: (100, 500),
                clone_ms,
                failure_ratio: 0.0,
                closed_ratio: 0.0,
                start_ms: 5_000,
                speed,
            });
            ws.statements.set_concurrency(Some(concurrency));
            ws.warehouses.set_power_delay(Duration::from_secs_f64(5.0 / speed));
        }
        sandbox.arm.faults.set(faults);
        sandbox.arm.set_storage_failover_duration(Duration::from_secs_f64(10.0 / speed));

        let pair = store.pair("default").await.unwrap().unwrap();
        let settings = RunbookSettings {
            run_wait_ms: 60_000,
            forced_timeout_ms: 30_000,
            storage_account_id: Some(storage_id),
            smoke_tables: delta.iter().take(3).cloned().collect(),
            ..RunbookSettings::default()
        };
        let versions = store.table_versions("default").await.unwrap();
        let runbook = plan(&pair, Mode::Planned, &settings, &versions, &[], now_ms()).expect("a runbook");
        let services = bot
            .failover_services_as_bot("default")
            .await
            .unwrap()
            .with_arm_poll(Duration::from_secs_f64(2.0 / speed));

        let (cpu_before, sandbox_before) = (process_cpu(), sandbox_cpu());
        let started = Instant::now();
        let mut progress = Progress::new(services.now_ms());
        let ended = run(&services, &mut Memory, &runbook, RunOptions::default(), &mut progress).await.unwrap();
        let rto = started.elapsed();
        let drbot = (process_cpu() - cpu_before).saturating_sub(sandbox_cpu() - sandbox_before);
        let waiting = rto.saturating_sub(drbot);

        let outcome = match &ended {
            Ended::Completed { .. } => "completed".to_string(),
            Ended::Stopped { step, why, .. } => format!("stopped at {}: {why}", step.as_str()),
            Ended::Cancelled { before, .. } => format!("cancelled before {}", before.as_str()),
        };
        println!("Planned failover: {outcome} (setup {})", secs(setup));
        println!();
        println!("| tables | jobs | written since | REST latency | clones | speed | RTO measured | waiting | drbot's share | RTO at real latencies | goal (share) |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {written} | {latency_ms} ms | {}–{} ms, {concurrency} at once | ×{speed} | {} | {} | {} | {} | ≤ 5 s: {} |",
            delta.len(),
            sandbox.primary.job_definitions.all().len(),
            clone_ms.0,
            clone_ms.1,
            secs(rto),
            secs(waiting),
            secs(drbot),
            secs(waiting.mul_f64(speed) + drbot),
            if drbot <= Duration::from_secs(5) { "met" } else { "not met" },
        );
        println!();
        println!("| step | took (measured) |");
        println!("|---|---|");
        for step in &progress.steps {
            let took = Duration::from_millis((step.finished_ms - step.started_ms).max(0) as u64);
            println!("| {} | {} |", step.kind.as_str(), secs(took));
        }
        drop(server);
        drop(data_dir);
    });
    drop(sandbox);
    services_runtime.shutdown_background();
}
