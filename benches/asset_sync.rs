//! The asset-sync benchmark (docs/BENCHMARKS.md): a first sync of the
//! sandbox primary's 1,000 jobs and 5,000 notebooks (in folders, with a few
//! files and a git folder) into an empty secondary, every kind on the one
//! asset framework, at an unscaled 50 ms per REST call on both workspaces.
//!
//! The sandbox answers each endpoint's documented rate limit ("Resource
//! limits", API rate limits: Jobs create 20/s, Permissions GET 100/s and
//! PATCH/PUT 30/s, Workspace export 60/s and import 30/s, …; sandbox
//! FIDELITY.md "Rate limits") with 429. The lower bound is what those limits
//! allow for the calls the sync needs: for each workspace and limited
//! endpoint, the calls made there ÷ its limit; the busiest one bounds the
//! whole sync even if everything else ran beside it. Prints the sync time
//! (plan + apply), the bound with every endpoint's share, their ratio (goal
//! ≤ 1.2), and how many requests were refused (drbot paces itself: none
//! should be).
//!
//! Environment: ASSET_BENCH_JOBS (1000), ASSET_BENCH_NOTEBOOKS (5000),
//! ASSET_BENCH_LATENCY_MS (50), ASSET_BENCH_VERIFY (0: 1 plans again after
//! the sync and prints what is left to do, which must be nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use drbot::assets::apply::tally;
use drbot::assets::mapping::AssetMapping;
use drbot::assets::{kinds, run, AssetContext, AssetKind, AssetOptions};
use drbot::config::Config;
use drbot::databricks::WorkspaceClient;
use drbot::identity::{AccessToken, OnBehalfOf, UserAssertion, DATABRICKS_SCOPE};
use drbot::replication::workspaces::FixedToken;
use sandbox::databricks::rate_limits::LIMITS;
use sandbox::databricks::statements::{PRIMARY_WAREHOUSE_ID, SANDBOX_WAREHOUSE_ID};
use sandbox::faults::FaultConfig;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

async fn alice(sandbox: &Sandbox) -> AccessToken {
    let config = Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).unwrap();
    let obo = OnBehalfOf::new(&config, reqwest::Client::new());
    let user = sandbox.teams.user("alice").unwrap();
    let assertion = UserAssertion::from_token(&sandbox.entra.teams_sso_token(&user, SANDBOX_BOT_APP_ID)).unwrap();
    obo.token(&assertion, DATABRICKS_SCOPE, false).await.unwrap()
}

/// One workspace's calls to one limited endpoint, and what its limit allows.
struct Share {
    workspace: &'static str,
    endpoint: &'static str,
    calls: usize,
    limit: String,
    at_limit: Duration,
}

fn shares(workspace: &'static str, admitted: &BTreeMap<&'static str, usize>) -> Vec<Share> {
    admitted
        .iter()
        .filter_map(|(endpoint, calls)| {
            let limit = LIMITS.iter().find(|l| l.name == *endpoint)?;
            let per = if limit.window.as_secs() >= 60 { "min" } else { "s" };
            Some(Share {
                workspace,
                endpoint,
                calls: *calls,
                limit: format!("{}/{per}", limit.limit),
                at_limit: limit.window.mul_f64(*calls as f64 / limit.limit as f64),
            })
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let jobs: usize = env("ASSET_BENCH_JOBS", 1_000);
    let notebooks: usize = env("ASSET_BENCH_NOTEBOOKS", 5_000);
    let latency_ms: u64 = env("ASSET_BENCH_LATENCY_MS", 50);
    let verify = env("ASSET_BENCH_VERIFY", 0u8) == 1;

    let sandbox = Sandbox::start(SandboxConfig { tables: 3, jobs, ..SandboxConfig::default() }).await.unwrap();
    sandbox.primary.tree.seed(true, notebooks);
    let tree_objects = sandbox.primary.tree.paths().len();
    let latency = FaultConfig { latency_ms: Some((latency_ms, latency_ms)), ..FaultConfig::default() };
    sandbox.primary.faults.set(latency.clone());
    sandbox.secondary.faults.set(latency);

    let token = FixedToken(alice(&sandbox).await);
    let ctx = AssetContext {
        pair: "bench".into(),
        primary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.primary_url()),
        secondary: WorkspaceClient::new(reqwest::Client::new(), &sandbox.secondary_url()),
        tokens: &token,
        mapping: AssetMapping::default().with_pair_warehouses(Some(PRIMARY_WAREHOUSE_ID), Some(SANDBOX_WAREHOUSE_ID)),
        options: AssetOptions::for_pair(Some(PRIMARY_WAREHOUSE_ID), Some(SANDBOX_WAREHOUSE_ID)),
        store: None,
        principals: Default::default(),
    };
    let kinds: Vec<&dyn AssetKind> = kinds::registered();
    let (before_primary, before_secondary) =
        (sandbox.primary.rate_limits.admitted(), sandbox.secondary.rate_limits.admitted());

    let started = Instant::now();
    let plan = run::plan(&kinds, &ctx).await;
    let planned = started.elapsed();
    let (events, _received) = mpsc::unbounded_channel();
    let results = run::run(&plan, &kinds, &ctx, &BTreeSet::new(), &CancellationToken::new(), &events).await;
    let synced = started.elapsed();

    let since = |now: BTreeMap<&'static str, usize>, before: &BTreeMap<&'static str, usize>| {
        now.into_iter().map(|(k, n)| (k, n - before.get(k).copied().unwrap_or(0))).filter(|(_, n)| *n > 0).collect()
    };
    let mut all = shares("primary", &since(sandbox.primary.rate_limits.admitted(), &before_primary));
    all.extend(shares("secondary", &since(sandbox.secondary.rate_limits.admitted(), &before_secondary)));
    all.sort_by_key(|share| std::cmp::Reverse(share.at_limit));
    let bound = all.first().map_or(Duration::ZERO, |share| share.at_limit);
    let refused: usize = sandbox.primary.rate_limits.refused().values().sum::<usize>()
        + sandbox.secondary.rate_limits.refused().values().sum::<usize>();

    println!(
        "Asset sync: {jobs} jobs, {notebooks} notebooks ({tree_objects} tree objects), {latency_ms} ms a call, \
         into an empty secondary"
    );
    println!("  plan {}, apply {}: sync {}", secs(planned), secs(synced - planned), secs(synced));
    if let Some(busiest) = all.first() {
        println!(
            "  lower bound {} ({} on the {}: {} calls at its documented {})",
            secs(bound),
            busiest.endpoint,
            busiest.workspace,
            busiest.calls,
            busiest.limit
        );
    }
    let ratio = synced.as_secs_f64() / bound.as_secs_f64().max(f64::EPSILON);
    println!("  ratio {ratio:.3} (goal ≤ 1.2: {})", if ratio <= 1.2 { "met" } else { "not met" });
    println!("  per limited endpoint: calls, documented limit, time at that limit");
    for share in &all {
        println!(
            "    {:<9} {:<22} {:>6}  {:>8}  {}",
            share.workspace,
            share.endpoint,
            share.calls,
            share.limit,
            secs(share.at_limit)
        );
    }
    println!("  requests refused with 429: {refused}");
    let outcomes: Vec<String> = tally(&results).into_iter().map(|(label, n)| format!("{n} {label}")).collect();
    println!("  results: {}", outcomes.join(", "));
    if verify {
        let again = run::plan(&kinds, &ctx).await;
        println!("  a second plan: {} to do", again.differences().count());
    }
}
