//! The replication benchmark (docs/BENCHMARKS.md): a first replication of
//! the sandbox's primary with 10,000 tables into an emptied secondary, over
//! REST, with 50 ms of API latency, clones of 1–5 s and a warehouse that
//! runs 16 statements at once; everything runs on a clock sped up by
//! `BENCH_SPEED` (latency, statement durations, polling and the bound scale
//! together, and every time printed is the sped-up time actually measured).
//!
//! Prints the makespan, the lower bound (the larger of the warehouse's work
//! ÷ its concurrency and the longest dependency chain, both from the
//! durations the warehouse actually drew for each statement and the REST
//! calls' measured times), their ratio, the planning time and the `status`
//! time (reading both metastores and diffing them; the readiness module is
//! another engineer's, so this measures what it will be built on).
//!
//! `status` is then measured as people wait for it: 50 ms a call and
//! statement times of BENCH_QUERY_MS, not sped up, with
//! BENCH_READ_CONCURRENCY (32) requests in flight per side, printing the REST
//! calls and statements it made: once on the warehouse (`information_schema`)
//! and once with the warehouse stopped (REST only).
//!
//! Then, unless status-only, an incremental cycle: 1 % of the primary's Delta
//! tables get an append (a data-only commit: the commit properties do not
//! move), and a cycle reads both metastores, reads each source Delta table's
//! latest commit (`DESCRIBE HISTORY … LIMIT 1`, READ_CONCURRENCY in flight),
//! plans against the versions recorded by the first run, and re-clones what
//! changed. Its lower bound: the reads as measured + the changed tables'
//! clone work ÷ the warehouse's concurrency (from the drawn statement times).
//!
//! Environment: BENCH_TABLES (10000), BENCH_SPEED (5), BENCH_CONCURRENCY (16),
//! BENCH_LATENCY_MS (50), BENCH_CLONE_MS ("1000-5000"), BENCH_QUERY_MS
//! ("200-600"), BENCH_READ_CONCURRENCY (32), BENCH_STATUS_ONLY (0: skip the
//! replication and measure `status` on the seeded pair).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use drbot::config::Config;
use drbot::databricks::statements::Polling;
use drbot::databricks::{RetryPolicy, WorkspaceClient};
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::diff::diff;
use drbot::replication::execute::{lower_bound, Lane, Limits};
use drbot::replication::history::{freshen, tables_to_read};
use drbot::replication::mapping::LocationMapping;
use drbot::replication::plan::ActionKind;
use drbot::replication::read::{read_snapshot, ReadOptions};
use drbot::replication::run::{replicated_commit, run_plan, steps, ActionStatus, FixedToken, RunOptions, Workspaces};
use drbot::replication::sql::{render, Request};
use drbot::replication::{plan, ReplicationConfig};
use sandbox::databricks::seed::LOCATION_MAPPING;
use sandbox::databricks::statements::{StatementTiming, PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio_util::sync::CancellationToken;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let tables: usize = env("BENCH_TABLES", 10_000);
    let speed: f64 = env("BENCH_SPEED", 5.0);
    let status_only = env("BENCH_STATUS_ONLY", 0u8) == 1;
    let query_range: String = env("BENCH_QUERY_MS", "200-600".to_string());
    let (query_lo, query_hi) = query_range
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("BENCH_QUERY_MS is LO-HI");
    let concurrency: usize = env("BENCH_CONCURRENCY", 16);
    // Statements drbot keeps submitted: the warehouse's slots plus a queue
    // there, so a freed slot is refilled at once instead of when our next
    // poll notices the end (see replication/run.rs).
    let lane: usize = env("BENCH_LANE", concurrency + concurrency / 2);
    let latency_ms: f64 = env("BENCH_LATENCY_MS", 50.0);
    let clone_range: String = env("BENCH_CLONE_MS", "1000-5000".to_string());
    let (clone_lo, clone_hi) = clone_range
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("BENCH_CLONE_MS is LO-HI");
    let scaled = |d: Duration| d.div_f64(speed);

    let setup = Instant::now();
    let sandbox = Sandbox::start(SandboxConfig { tables, ..SandboxConfig::default() }).await.unwrap();
    // A first replication: the secondary keeps only what Unity Catalog makes by itself.
    if !status_only {
        let mut metastore = sandbox.secondary.metastore.write();
        metastore.catalogs.retain(|name, _| name == "system");
        metastore.schemas.retain(|_, s| s.catalog == "system");
        metastore.tables.retain(|_, t| t.catalog == "system");
        metastore.volumes.retain(|_, v| v.catalog == "system");
    }
    // Latency in whole milliseconds, drawn around the scaled mean.
    let latency = latency_ms / speed;
    let faults =
        FaultConfig { latency_ms: Some((latency.floor() as u64, latency.ceil() as u64)), ..FaultConfig::default() };
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.faults.set(faults.clone());
        ws.set_page_size(1000);
        ws.statements.set_timing(StatementTiming {
            queue_ms: 0,
            run_ms: (100, 500),
            clone_ms: (clone_lo, clone_hi),
            failure_ratio: 0.0,
            closed_ratio: 0.0,
            start_ms: 5_000,
            speed,
        });
        ws.statements.set_concurrency(Some(concurrency));
    }
    let token = alice(&sandbox).await;
    let retry = RetryPolicy { base_delay: scaled(Duration::from_millis(500)), ..RetryPolicy::default() };
    let client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url).with_retry(retry.clone());
    let workspaces = Workspaces {
        primary: client(&sandbox.primary_url()),
        secondary: client(&sandbox.secondary_url()),
        warehouse_id: SANDBOX_WAREHOUSE_ID.into(),
    };
    let config = ReplicationConfig::new(LocationMapping::new(LOCATION_MAPPING.iter().copied()));
    // The secondary's read; the primary's is the same on its own warehouse.
    let read_options = ReadOptions {
        warehouse_id: Some(SANDBOX_WAREHOUSE_ID.into()),
        concurrency: env("BENCH_READ_CONCURRENCY", 32),
        statement_timeout: Duration::from_secs(60),
        ..ReadOptions::default()
    };
    // What `status` reads: no view GETs (readiness/check.rs).
    let primary_read_options = ReadOptions { warehouse_id: Some(PRIMARY_WAREHOUSE_ID.into()), ..read_options.clone() };
    let status_options = ReadOptions { view_dependencies: false, ..read_options.clone() };
    let primary_status_options = ReadOptions { view_dependencies: false, ..primary_read_options.clone() };
    eprintln!("sandbox seeded with {tables} tables in {:.1} s", setup.elapsed().as_secs_f64());

    // `status`: both metastores read at once, then the diff.
    let status_started = Instant::now();
    let (p, s) = tokio::join!(
        read_snapshot(&workspaces.primary, &token, &primary_status_options),
        read_snapshot(&workspaces.secondary, &token, &status_options)
    );
    let drift = diff(&p.unwrap(), &s.unwrap(), &config);
    let status_time = status_started.elapsed();
    let (primary, secondary) = tokio::join!(
        read_snapshot(&workspaces.primary, &token, &primary_read_options),
        read_snapshot(&workspaces.secondary, &token, &read_options)
    );
    let (primary, secondary) = (primary.unwrap(), secondary.unwrap());

    let planning_started = Instant::now();
    let plan = plan(&primary, &secondary, &config);
    let planning_time = planning_started.elapsed();
    let clones = plan.actions.iter().filter(|a| matches!(a.kind, ActionKind::CloneTable { .. })).count();
    eprintln!("{} drift items; plan of {} actions ({clones} clones); running…", drift.len(), plan.actions.len());

    let options = RunOptions {
        limits: Limits { warehouse: lane, api: 8 },
        statement_timeout: Duration::from_secs(600),
        action_budget: Duration::from_secs(3600),
        polling: Polling { first: scaled(Duration::from_millis(50)), max: scaled(Duration::from_millis(250)) },
        backoff: retry.clone(),
        ..RunOptions::default()
    };
    let replication = if status_only {
        None
    } else {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let report =
            run_plan(&plan, &workspaces, &FixedToken(token.clone()), options.clone(), CancellationToken::new(), tx)
                .await;
        let failed = report.results.values().filter(|r| r.status != ActionStatus::Succeeded).count();

        // The bound from what each step really took: the warehouse's drawn
        // running time for statements, the measured time for REST calls.
        let drawn: HashMap<String, Duration> =
            sandbox.secondary.statements.history().into_iter().map(|s| (s.statement, s.run)).collect();
        let mut bound_steps = steps(&plan, &options);
        let mut warehouse_work = Duration::ZERO;
        for (step, action) in bound_steps.iter_mut().zip(&plan.actions) {
            step.estimate = match (step.lane, render(action)) {
                (Lane::Warehouse, Ok(Request::Sql(sql))) => drawn.get(&sql).copied().unwrap_or_default(),
                _ => report.results.get(&action.id).map(|r| r.duration).unwrap_or_default(),
            };
            if step.lane == Lane::Warehouse {
                warehouse_work += step.estimate;
            }
        }
        // The bound is the warehouse's: its own concurrency, not our lane's.
        let bound = lower_bound(&bound_steps, Limits { warehouse: concurrency, api: options.limits.api });
        Some((failed, warehouse_work, report.makespan, bound, report))
    };

    // The incremental cycle, against the versions the first run recorded.
    let incremental = match &replication {
        None => None,
        Some((_, _, _, _, first)) => {
            let dir = tempfile::tempdir().unwrap();
            let store = drbot::store::Store::open(&format!("sqlite://{}", dir.path().join("drbot.db").display()))
                .await
                .unwrap();
            let now = || chrono::Utc::now().timestamp_millis();
            for (id, result) in &first.results {
                if let (Some(commit), Some(action)) = (replicated_commit(&plan, id, result), plan.get(id)) {
                    store.record_replicated("default", &action.object.full_name(), commit, now()).await.unwrap();
                }
            }
            let candidates = tables_to_read(&primary);
            let changed: Vec<&String> = candidates.iter().step_by(100).collect();
            {
                let mut metastore = sandbox.primary.metastore.write();
                for name in &changed {
                    if let Some(table) = metastore.tables.get_mut(*name) {
                        table.append(now());
                    }
                }
            }
            let secondary_before = sandbox.secondary.statements.history().len();
            let primary_before = sandbox.primary.statements.history().len();
            let started = Instant::now();
            let (p, s) = tokio::join!(
                read_snapshot(&workspaces.primary, &token, &primary_read_options),
                read_snapshot(&workspaces.secondary, &token, &read_options)
            );
            let (mut p, mut s) = (p.unwrap(), s.unwrap());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
            let unread = freshen(
                &store,
                "default",
                &workspaces.primary,
                &token,
                PRIMARY_WAREHOUSE_ID,
                read_options.concurrency,
                deadline,
                &mut p,
                &mut s,
            )
            .await
            .unwrap();
            assert!(unread.is_empty(), "{unread:?}");
            let reads = started.elapsed();
            let again = drbot::replication::plan(&p, &s, &config);
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let report = run_plan(
                &again,
                &workspaces,
                &FixedToken(token.clone()),
                options.clone(),
                CancellationToken::new(),
                tx,
            )
            .await;
            let makespan = started.elapsed();
            let failed = report.results.values().filter(|r| r.status != ActionStatus::Succeeded).count();
            let recloned = again.actions.iter().filter(|a| matches!(a.kind, ActionKind::CloneTable { .. })).count();
            let history_statements = sandbox.primary.statements.history().len() - primary_before;
            let drawn: HashMap<String, Duration> = sandbox.secondary.statements.history()[secondary_before..]
                .iter()
                .map(|s| (s.statement.clone(), s.run))
                .collect();
            let mut cycle_steps = steps(&again, &options);
            for (step, action) in cycle_steps.iter_mut().zip(&again.actions) {
                step.estimate = match (step.lane, render(action)) {
                    (Lane::Warehouse, Ok(Request::Sql(sql))) => drawn.get(&sql).copied().unwrap_or_default(),
                    _ => report.results.get(&action.id).map(|r| r.duration).unwrap_or_default(),
                };
            }
            let bound = reads + lower_bound(&cycle_steps, Limits { warehouse: concurrency, api: options.limits.api });
            Some((changed.len(), recloned, history_statements, failed, reads, makespan, bound))
        }
    };

    // `status` again as people wait for it: 50 ms a call and statement
    // times not sped up.
    for ws in [&sandbox.primary, &sandbox.secondary] {
        ws.faults
            .set(FaultConfig { latency_ms: Some((latency_ms as u64, latency_ms as u64)), ..FaultConfig::default() });
        ws.statements.set_timing(StatementTiming {
            queue_ms: 0,
            run_ms: (query_lo, query_hi),
            clone_ms: (clone_lo, clone_hi),
            failure_ratio: 0.0,
            closed_ratio: 0.0,
            start_ms: 5_000,
            speed: 1.0,
        });
    }
    let unscaled_client = |url: &str| WorkspaceClient::new(reqwest::Client::new(), url);
    let (primary_client, secondary_client) =
        (unscaled_client(&sandbox.primary_url()), unscaled_client(&sandbox.secondary_url()));
    let counts = || sandbox.primary.counts() + sandbox.secondary.counts();
    let by_endpoint = || {
        let mut all = sandbox.primary.counts_by_endpoint();
        for (endpoint, n) in sandbox.secondary.counts_by_endpoint() {
            *all.entry(endpoint).or_insert(0) += n;
        }
        all
    };
    let mut status_runs = Vec::new();
    let mut endpoint_runs = Vec::new();
    for stopped in [false, true] {
        if stopped {
            sandbox.primary.statements.stop_warehouse();
            sandbox.secondary.statements.stop_warehouse();
        }
        let before = counts();
        let endpoints_before = by_endpoint();
        let started = Instant::now();
        let (p, s) = tokio::join!(
            read_snapshot(&primary_client, &token, &primary_status_options),
            read_snapshot(&secondary_client, &token, &status_options)
        );
        let (p, s) = (p.unwrap(), s.unwrap());
        let remaining = diff(&p, &s, &config);
        status_runs.push((started.elapsed(), counts() - before, p.read_path.to_string(), remaining.len()));
        let mut endpoints = by_endpoint();
        for (endpoint, n) in endpoints.iter_mut() {
            *n -= endpoints_before.get(endpoint).copied().unwrap_or(0);
        }
        endpoints.retain(|_, n| *n > 0);
        endpoint_runs.push(endpoints);
    }

    let mut table: BTreeMap<usize, (String, String)> = BTreeMap::new();
    let mut row = |label: &str, value: String| {
        let n = table.len();
        table.insert(n, (label.to_string(), value));
    };
    row("tables in the primary", tables.to_string());
    row("speed factor (all replication times below are sped-up wall time)", format!("{speed}×"));
    row("warehouse concurrency (statements drbot keeps submitted)", format!("{concurrency} ({lane})"));
    row("actions (clones)", format!("{} ({clones})", plan.actions.len()));
    row("planning time (plan only)", ms(planning_time));
    if let Some((failed, warehouse_work, makespan, bound, _)) = &replication {
        let (makespan, bound) = (*makespan, *bound);
        row("failed or skipped actions", failed.to_string());
        row("warehouse work (sum of statement run times)", ms(*warehouse_work));
        row("makespan", ms(makespan));
        row("lower bound", ms(bound));
        row("makespan ÷ lower bound", format!("{:.3}", makespan.as_secs_f64() / bound.as_secs_f64()));
    }
    if let Some((changed, recloned, history, failed, reads, makespan, bound)) = incremental {
        row("incremental: tables appended to (data-only commits)", changed.to_string());
        row("incremental: DESCRIBE HISTORY statements / clones", format!("{history} / {recloned}"));
        row("incremental: failed or skipped actions", failed.to_string());
        row("incremental: reads (both metastores + histories)", ms(reads));
        row("incremental: cycle makespan (reads, plan, run)", ms(makespan));
        row("incremental: lower bound (reads + clone work ÷ concurrency)", ms(bound));
        row("incremental: makespan ÷ lower bound", format!("{:.3}", makespan.as_secs_f64() / bound.as_secs_f64()));
    }
    row("status time (read both + diff, sped-up latency)", ms(status_time));
    let in_flight = status_options.concurrency;
    for ((time, counts, path, drift), label) in status_runs.iter().zip(["warehouse running", "warehouse stopped"]) {
        row(
            &format!("status, {label}: time ({latency_ms} ms a call, queries {query_range} ms, {in_flight} in flight a side)"),
            ms(*time),
        );
        row(
            &format!("status, {label}: REST calls / statements (both sides)"),
            format!("{} / {}", counts.rest_calls, counts.statements),
        );
        row(&format!("status, {label}: primary read via"), path.clone());
        row(&format!("status, {label}: drift items"), drift.to_string());
    }
    println!("| metric | value |\n|---|---:|");
    for (label, value) in table.values() {
        println!("| {label} | {value} |");
    }
    for (endpoints, label) in endpoint_runs.iter().zip(["warehouse running", "warehouse stopped"]) {
        println!("\n| status, {label}: requests by endpoint (both sides) | count |\n|---|---:|");
        for (endpoint, n) in endpoints {
            println!("| `{endpoint}` | {n} |");
        }
    }
    if let Some((_, _, makespan, bound, _)) = &replication {
        let ratio = makespan.as_secs_f64() / bound.as_secs_f64();
        println!("\ntarget makespan ≤ 1.05 × bound: {}", if ratio <= 1.05 { "met" } else { "NOT met" });
    }
    let status_time = status_runs[0].0;
    println!(
        "target status ≤ 1 s on the warehouse: {}",
        if status_time <= Duration::from_secs(1) { "met" } else { "NOT met" }
    );
    sandbox.shutdown().await;
}

/// alice's Databricks token (she is in dr-operators), by SSO then on-behalf-of.
async fn alice(sandbox: &Sandbox) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user("alice").unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}
