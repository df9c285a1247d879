//! `status` over many DR pairs (issue 19): one card for every pair, worst
//! first, under Teams' size limit, as a person waits for it in chat.
//!
//! The sandbox and drbot run as the integration tests run them
//! (`tests/support`); the bot gets BENCH_PAIRS pairs (50), the configured
//! `default` and copies of it under other names (so every pair reads the
//! sandbox's two workspaces, as several spokes share one hub). Every REST
//! call and statement request takes BENCH_LATENCY_MS (50, not sped up) and
//! every statement runs BENCH_QUERY_MS ("200-600"). alice types `status` and
//! the time runs until the card that replaces "Checking readiness…" reaches
//! the connector. Prints the time, the REST calls and statements both
//! workspaces answered, and the card's size against Teams' limit.
//!
//! `cargo bench --bench status_pairs` (add `--profile dev` on a shared
//! machine: the counts and the card do not depend on the build).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use drbot::cards::views::MAX_CARD_BYTES;
use drbot::pairs::Pair;
use drbot::store::pairs::Origin;
use sandbox::connector::Verb;
use sandbox::databricks::statements::StatementTiming;
use sandbox::faults::FaultConfig;
use support::chat::{wait_for, Chat};
use support::World;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let pairs: usize = env("BENCH_PAIRS", 50);
    let latency_ms: u64 = env("BENCH_LATENCY_MS", 50);
    let query_range: String = env("BENCH_QUERY_MS", "200-600".to_string());
    let (query_lo, query_hi) = query_range
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("BENCH_QUERY_MS is LO-HI");

    let world = World::start().await;
    let store = &world.bot.app.store;
    let default = store.pair("default").await.unwrap().expect("the configured pair");
    let now = chrono::Utc::now().timestamp_millis();
    for i in 1..pairs {
        let mut pair = Pair::new(&format!("spoke-{i:02}"), default.primary.clone(), default.secondary.clone());
        pair.warehouse_id = default.warehouse_id.clone();
        pair.primary_warehouse_id = default.primary_warehouse_id.clone();
        pair.location_mapping = default.location_mapping.clone();
        assert!(store.add_pair(&pair, Origin::Added, now).await.unwrap());
    }
    let alice = Chat::personal(&world, "alice");
    alice.sign_in().await;

    for ws in [&world.sandbox.primary, &world.sandbox.secondary] {
        ws.faults.set(FaultConfig { latency_ms: Some((latency_ms, latency_ms)), ..FaultConfig::default() });
        ws.statements.set_timing(StatementTiming {
            queue_ms: 0,
            run_ms: (query_lo, query_hi),
            clone_ms: (1000, 5000),
            failure_ratio: 0.0,
            closed_ratio: 0.0,
            start_ms: 5_000,
            speed: 1.0,
        });
    }
    let counts = || world.sandbox.primary.counts() + world.sandbox.secondary.counts();

    // One pair first, for the tokens' first exchange and a per-pair figure.
    let mut runs = Vec::new();
    for command in ["status default", "status"] {
        let before = counts();
        world.sandbox.primary.reset_peak_in_flight();
        world.sandbox.secondary.reset_peak_in_flight();
        let started = Instant::now();
        let asked = alice.say(command).await;
        let id = asked.activity_id.clone();
        let card = wait_for(&world, command, |r| r.verb == Verb::Update && r.activity_id == id).await;
        let time = started.elapsed();
        let card = card.adaptive_card().expect("a card").clone();
        let peak = world.sandbox.primary.peak_in_flight().max(world.sandbox.secondary.peak_in_flight());
        runs.push((command, time, counts() - before, card, peak));
    }

    println!("| `status` over the sandbox, {latency_ms} ms a call, queries {query_range} ms | value |");
    println!("|---|---:|");
    println!("| pairs | {pairs} |");
    for (command, time, counts, card, peak) in &runs {
        let bytes = serde_json::to_vec(card).unwrap().len();
        let rows = card.to_string().matches("\"text\":\"status ").count();
        println!("| `{command}`: time | {:.0} ms |", time.as_secs_f64() * 1000.0);
        println!(
            "| `{command}`: REST calls / statements (both workspaces) | {} / {} |",
            counts.rest_calls, counts.statements
        );
        println!("| `{command}`: most requests in flight at one workspace | {peak} |");
        println!("| `{command}`: card size (Teams' limit {MAX_CARD_BYTES}) | {bytes} bytes |");
        if *command == "status" {
            println!("| `{command}`: rows (a pair each) | {rows} |");
        }
    }
    let (_, time, _, card, _) = &runs[1];
    let bytes = serde_json::to_vec(card).unwrap().len();
    println!(
        "\ntarget all-pairs status ≤ 3 s: {}; one card under the size limit: {}",
        if *time <= Duration::from_secs(3) { "met" } else { "NOT met" },
        if bytes <= MAX_CARD_BYTES { "met" } else { "NOT met" }
    );
    world.bot.shutdown().await.ok();
    world.sandbox.shutdown().await;
}
