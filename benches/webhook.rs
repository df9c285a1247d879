//! The webhook benchmark: drbot against a botbuilder-js echo bot, side by side
//! in one run, with the same signed Teams traffic.
//!
//! Both bots run as their own processes on loopback, validate channel tokens
//! against the sandbox's OpenID metadata, get their own token from the
//! sandbox's Entra ID and reply through the sandbox's connector. The load
//! (pre-minted channel token, one conversation per request so Teams' pacing
//! never applies) comes from this process. Run it with `benches/run-webhook`.
//!
//! Prints: requests/s at saturation (closed loop), p50/p99 latency at a fixed
//! 1,000 requests/s (open loop, latency measured from the scheduled send time
//! so a stall is not hidden), resident memory idle and at peak under load,
//! and, for drbot, resident memory after `BENCH_CONVERSATIONS` (200,000)
//! one-off conversations in all and a minute of rest (per-conversation state
//! must not stay behind).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::teams::Conversation;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID, SANDBOX_TENANT_ID};

struct Settings {
    seconds: u64,
    concurrency: usize,
    fixed_rate: u64,
    conversations: u64,
    rest_seconds: u64,
    /// Seconds of rest between the warm-up and the idle reading.
    idle_seconds: u64,
    /// Requests in the warm-up: a count, not a time, so the idle reading
    /// follows the same work on a fast machine and a slow one.
    warm_up_requests: u64,
}

/// How long a closed loop runs.
#[derive(Clone, Copy)]
enum Span {
    For(Duration),
    Requests(u64),
}

struct BotUnderTest {
    name: &'static str,
    child: Child,
    base_url: String,
    ready_path: &'static str,
}

impl Drop for BotUnderTest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Measured {
    saturation_rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    fixed_rate_achieved: f64,
    idle_rss_mb: f64,
    load_rss_mb: f64,
    rested_rss_mb: f64,
    errors: u64,
    replies_missing: i64,
}

fn main() -> anyhow::Result<()> {
    let settings = Settings {
        seconds: env_number("BENCH_SECONDS", 10),
        concurrency: env_number("BENCH_CONCURRENCY", 32) as usize,
        fixed_rate: env_number("BENCH_FIXED_RATE", 1000),
        conversations: env_number("BENCH_CONVERSATIONS", 200_000),
        rest_seconds: env_number("BENCH_REST_SECONDS", 60),
        idle_seconds: env_number("BENCH_IDLE_SECONDS", 2),
        warm_up_requests: env_number("BENCH_WARM_UP_REQUESTS", 15_000),
    };
    // The load generator and the sandbox share one runtime; two worker threads as on CI.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The deployed (release, LTO) binary, copied aside by benches/run-webhook: `cargo bench`
    // builds drbot in the bench profile (no LTO) and puts that build at target/release/drbot.
    let drbot_binary =
        std::env::var_os("DRBOT_BINARY").map_or_else(|| root.join("target/release/drbot"), PathBuf::from);
    anyhow::ensure!(
        drbot_binary.exists(),
        "build drbot first: cargo build --release -p drbot, and run the bench through benches/run-webhook"
    );
    let echo_bot = root.join("benches/botbuilder-echo");
    anyhow::ensure!(
        echo_bot.join("node_modules/botbuilder").exists(),
        "install the echo bot: (cd benches/botbuilder-echo && npm ci)"
    );

    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    sandbox.connector.set_recording(false);
    let state = root.join("target/bench-webhook");
    std::fs::create_dir_all(&state)?;

    let drbot_port = free_port()?;
    let config_path = state.join("drbot.toml");
    std::fs::write(&config_path, sandbox.bot_config_toml(&format!("127.0.0.1:{drbot_port}"), false))?;
    let drbot = BotUnderTest {
        name: "drbot (Rust)",
        child: Command::new(&drbot_binary)
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file(&state, "drbot.log")?)
            .spawn()?,
        base_url: format!("http://127.0.0.1:{drbot_port}"),
        ready_path: "/readyz",
    };

    let echo_port = free_port()?;
    let echo = BotUnderTest {
        name: "botbuilder-js echo",
        child: Command::new("node")
            .arg(echo_bot.join("index.js"))
            .env("PORT", echo_port.to_string())
            .env("MicrosoftAppId", SANDBOX_BOT_APP_ID)
            .env("MicrosoftAppType", "UserAssignedMSI")
            .env("MicrosoftAppTenantId", SANDBOX_TENANT_ID)
            .env("ToBotFromChannelOpenIdMetadataUrl", sandbox.channel.openid_metadata_url())
            .env("IDENTITY_ENDPOINT", sandbox.entra.managed_identity_endpoint())
            .env("IDENTITY_HEADER", sandbox::entra::MANAGED_IDENTITY_HEADER_SECRET)
            .stdout(Stdio::null())
            .stderr(log_file(&state, "botbuilder.log")?)
            .spawn()?,
        base_url: format!("http://127.0.0.1:{echo_port}"),
        ready_path: "/healthz",
    };

    let mut results = Vec::new();
    for bot in [&drbot, &echo] {
        wait_ready(bot).await?;
        eprintln!("measuring {} ...", bot.name);
        // The one-off conversations phase takes minutes at the echo bot's rate; drbot's memory is the question.
        let one_offs = std::ptr::eq(bot, &drbot);
        results.push((bot.name, measure(&sandbox, bot, &settings, one_offs).await?));
    }
    print_table(&settings, &results);
    Ok(())
}

async fn measure(
    sandbox: &Sandbox,
    bot: &BotUnderTest,
    settings: &Settings,
    one_offs: bool,
) -> anyhow::Result<Measured> {
    let load = Load::new(sandbox, bot);
    let pid = bot.child.id();
    let mut measured = Measured::default();

    // Warm up: the bot fetches its own token and keys on the first requests.
    load.closed_loop(4, Span::Requests(settings.warm_up_requests)).await;
    tokio::time::sleep(Duration::from_secs(settings.idle_seconds)).await;
    measured.idle_rss_mb = rss_mb(pid);
    // Where idle memory sits: the heap and stacks (anonymous) or the binary's own pages (file-backed,
    // shared and reclaimable, but counted in RSS).
    let anonymous_mb = rollup_mb(pid, "Anonymous:");
    eprintln!(
        "{} idle: {:.2} MB anonymous, {:.2} MB file-backed",
        bot.name,
        anonymous_mb,
        measured.idle_rss_mb - anonymous_mb
    );

    let replies_before = sandbox.connector.accepted_count() as i64;
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_peak_rss(pid, peak.clone()));
    let saturated = load.closed_loop(settings.concurrency, Span::For(Duration::from_secs(settings.seconds))).await;
    sampler.abort();
    measured.load_rss_mb = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    measured.saturation_rps = saturated.ok as f64 / saturated.elapsed.as_secs_f64();
    measured.errors = saturated.failed;

    let fixed = load.open_loop(settings.fixed_rate, Duration::from_secs(settings.seconds)).await;
    measured.errors += fixed.failed;
    measured.fixed_rate_achieved = fixed.ok as f64 / fixed.elapsed.as_secs_f64();
    let mut latencies = fixed.latencies;
    latencies.sort_unstable();
    measured.p50_ms = percentile(&latencies, 0.50);
    measured.p99_ms = percentile(&latencies, 0.99);
    // Let the last replies land, then check every answered request replied once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replies = sandbox.connector.accepted_count() as i64 - replies_before;
    measured.replies_missing = (saturated.ok + fixed.ok) as i64 - replies;

    measured.rested_rss_mb = f64::NAN;
    if one_offs {
        // Every request so far was a conversation of its own; top up to the total, then rest.
        while load.counter.load(Ordering::Relaxed) < settings.conversations {
            let outcome = load.closed_loop(settings.concurrency, Span::For(Duration::from_secs(1))).await;
            measured.errors += outcome.failed;
        }
        eprintln!(
            "{} conversations made; resting {} s ...",
            load.counter.load(Ordering::Relaxed),
            settings.rest_seconds
        );
        tokio::time::sleep(Duration::from_secs(settings.rest_seconds)).await;
        measured.rested_rss_mb = rss_mb(pid);
        let anonymous_mb = rollup_mb(pid, "Anonymous:");
        eprintln!(
            "{} after rest: {:.2} MB anonymous, {:.2} MB file-backed",
            bot.name,
            anonymous_mb,
            measured.rested_rss_mb - anonymous_mb
        );
    }
    Ok(measured)
}

/// Signed message activities for one bot, each in a conversation of its own.
struct Load {
    http: reqwest::Client,
    endpoint: String,
    authorization: String,
    template: serde_json::Value,
    counter: AtomicU64,
}

struct Outcome {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn new(sandbox: &Sandbox, bot: &BotUnderTest) -> Arc<Load> {
        let alice = sandbox.teams.user("alice").expect("alice");
        let chat = sandbox.teams.personal(&alice);
        let template = sandbox.teams.message(&alice, &chat, "help");
        let token = sandbox.channel.token(SANDBOX_BOT_APP_ID, &sandbox.teams.service_url());
        Arc::new(Load {
            // Like a front end deployed as drbot asks (its idle timeout below
            // `[server] idle_connection_ms`), the client closes its idle
            // connections first: after 30 s, inside the minute of rest.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            endpoint: format!("{}/api/messages", bot.base_url),
            authorization: format!("Bearer {token}"),
            template,
            counter: AtomicU64::new(0),
        })
    }

    async fn send_one(&self) -> bool {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut activity = self.template.clone();
        let conversation = Conversation::Personal { id: format!("a:bench-{n}") };
        activity["conversation"]["id"] = serde_json::json!(conversation.id());
        activity["id"] = serde_json::json!(format!("bench-{n}"));
        let response = self
            .http
            .post(&self.endpoint)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .body(activity.to_string())
            .send()
            .await;
        matches!(response, Ok(r) if r.status().is_success())
    }

    /// `concurrency` clients sending back to back for `duration`.
    async fn closed_loop(self: &Arc<Self>, concurrency: usize, span: Span) -> Outcome {
        let started = Instant::now();
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        // Requests handed out so far, for a span of a given count.
        let sent = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (load, ok, failed, sent) = (self.clone(), ok.clone(), failed.clone(), sent.clone());
                tokio::spawn(async move {
                    loop {
                        let more = match span {
                            Span::For(duration) => started.elapsed() < duration,
                            Span::Requests(count) => sent.fetch_add(1, Ordering::Relaxed) < count,
                        };
                        if !more {
                            break;
                        }
                        let counter = if load.send_one().await { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.await;
        }
        Outcome {
            ok: ok.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            latencies: Vec::new(),
        }
    }

    /// `rate` requests a second on a fixed schedule; latency counts from the scheduled time.
    async fn open_loop(self: &Arc<Self>, rate: u64, duration: Duration) -> Outcome {
        let total = rate * duration.as_secs();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let started = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let scheduled = started + interval * i as u32;
            tokio::time::sleep_until(scheduled).await;
            let load = self.clone();
            tasks.push(tokio::spawn(async move {
                let ok = load.send_one().await;
                (ok, scheduled.elapsed())
            }));
        }
        let mut outcome =
            Outcome { ok: 0, failed: 0, elapsed: Duration::ZERO, latencies: Vec::with_capacity(tasks.len()) };
        for task in tasks {
            match task.await {
                Ok((true, latency)) => {
                    outcome.ok += 1;
                    outcome.latencies.push(latency);
                }
                _ => outcome.failed += 1,
            }
        }
        outcome.elapsed = started.elapsed();
        outcome
    }
}

fn print_table(settings: &Settings, results: &[(&str, Measured)]) {
    type Metric = fn(&Measured) -> f64;
    let rows: [(&str, Metric); 9] = [
        ("requests/s at saturation", |m| m.saturation_rps),
        ("p50 latency at fixed rate (ms)", |m| m.p50_ms),
        ("p99 latency at fixed rate (ms)", |m| m.p99_ms),
        ("fixed rate achieved (req/s)", |m| m.fixed_rate_achieved),
        ("RSS idle (MB)", |m| m.idle_rss_mb),
        ("RSS peak under load (MB)", |m| m.load_rss_mb),
        ("RSS after the one-off conversations and rest (MB)", |m| m.rested_rss_mb),
        ("failed requests", |m| m.errors as f64),
        ("answered without a reply", |m| m.replies_missing as f64),
    ];
    let (ours, theirs) = (&results[0].1, &results[1].1);
    println!();
    println!(
        "webhook benchmark: {} s per phase, {} concurrent clients at saturation, fixed rate {} req/s, {} cores",
        settings.seconds,
        settings.concurrency,
        settings.fixed_rate,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!();
    println!("| metric | {} | {} | ratio |", results[0].0, results[1].0);
    println!("|---|---:|---:|---:|");
    for (name, value) in &rows {
        let (a, b) = (value(ours), value(theirs));
        let ratio = if b != 0.0 && b.is_finite() { format!("{:.2}", a / b) } else { "-".into() };
        println!("| {name} | {a:.2} | {b:.2} | {ratio} |");
    }
    println!();
    println!(
        "one-off conversations: {} in all for drbot, then {} s of rest; RSS after rest minus idle: {:.2} MB",
        settings.conversations,
        settings.rest_seconds,
        ours.rested_rss_mb - ours.idle_rss_mb
    );
    println!();
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

async fn sample_peak_rss(pid: u32, peak_kb: Arc<AtomicU64>) {
    loop {
        peak_kb.fetch_max((rss_mb(pid) * 1024.0) as u64, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Resident set size of a process, from /proc.
fn rss_mb(pid: u32) -> f64 {
    proc_field_mb(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// One field of a process's memory totals (`/proc/PID/smaps_rollup`), in MB.
fn rollup_mb(pid: u32, field: &str) -> f64 {
    proc_field_mb(&format!("/proc/{pid}/smaps_rollup"), field)
}

/// A `Name:  1234 kB` line of a /proc file, in MB.
fn proc_field_mb(path: &str, field: &str) -> f64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn wait_ready(bot: &BotUnderTest) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("{}{}", bot.base_url, bot.ready_path);
    while Instant::now() < deadline {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{} did not become ready at {url}", bot.name)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log_file(dir: &Path, name: &str) -> std::io::Result<std::fs::File> {
    std::fs::File::create(dir.join(name))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
