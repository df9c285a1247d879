//! The instruction-count guard: CPU instructions drbot spends per handled
//! activity, counted by callgrind, against the baseline kept in
//! `benches/webhook_instructions.baseline`. Run it with `.ci/instructions`.
//!
//! Instruction counts do not depend on how busy the machine is, so this is
//! the regression check that can run on a shared CI runner where requests/s
//! cannot. drbot (release without LTO: the `guard` profile) runs under
//! `valgrind --tool=callgrind` against the sandbox on loopback; this
//! process sends signed `help` messages one at a time, each in a
//! conversation of its own, and waits for every reply at the sandbox's
//! connector. Start-up, the first token and the signing keys are
//! the same in two runs, one with a short warm-up only and one with
//! `BENCH_ACTIVITIES` more messages; the difference divided by the count is
//! the cost of one turn (HTTP in, token check, parse, card, reply out).
//!
//! Fails (exit 1) when the count exceeds the baseline by more than its
//! margin. `BENCH_UPDATE_BASELINE=1` writes the measured count as the new
//! baseline instead (do that when a change legitimately costs more, and say
//! so in the commit). `DRBOT_BINARY` measures another build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::teams::Conversation;
use sandbox::{Sandbox, SandboxConfig, SANDBOX_BOT_APP_ID};

/// Messages before counting starts to matter (both runs send them).
const WARM_UP: usize = 10;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = std::env::var_os("DRBOT_BINARY").map_or_else(|| root.join("target/guard/drbot"), PathBuf::from);
    anyhow::ensure!(binary.exists(), "build drbot first: cargo build --profile guard -p drbot (.ci/instructions does)");
    // drbot runs in a directory of its own (its SQLite store goes there).
    let binary = binary.canonicalize()?;
    let activities = env_number("BENCH_ACTIVITIES", 200);
    let baseline_path = root.join("benches/webhook_instructions.baseline");
    let baseline = Baseline::read(&baseline_path)?;

    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    sandbox.connector.set_recording(false);
    let state = root.join("target/bench-instructions");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;

    let warm_only = count_instructions(&sandbox, &binary, &state, 0).await?;
    let measured = count_instructions(&sandbox, &binary, &state, activities).await?;
    let per_activity = measured.saturating_sub(warm_only) / activities as u64;

    let limit = baseline.per_activity * (100 + baseline.margin_percent) / 100;
    println!();
    println!("instructions per handled activity (callgrind, {activities} activities, {})", binary.display());
    println!();
    println!("| | instructions |");
    println!("|---|---:|");
    println!("| start-up and warm-up ({WARM_UP} activities) | {warm_only} |");
    println!("| per activity, measured | {per_activity} |");
    println!("| per activity, baseline | {} |", baseline.per_activity);
    println!("| allowed (baseline + {} %) | {limit} |", baseline.margin_percent);
    println!();
    if std::env::var("BENCH_UPDATE_BASELINE").is_ok_and(|v| v == "1") {
        Baseline { per_activity, ..baseline }.write(&baseline_path)?;
        println!("baseline updated to {per_activity}");
        return Ok(());
    }
    if baseline.per_activity == 0 {
        println!(
            "FAIL: no baseline recorded yet; record this build's count with BENCH_UPDATE_BASELINE=1 .ci/instructions"
        );
        std::process::exit(1);
    }
    let change = (per_activity as f64 / baseline.per_activity as f64 - 1.0) * 100.0;
    if per_activity > limit {
        println!("FAIL: {per_activity} instructions per activity, {change:+.1} % against the baseline");
        std::process::exit(1);
    }
    println!("ok: {change:+.1} % against the baseline");
    Ok(())
}

/// Starts drbot under callgrind, sends the warm-up and `activities` more
/// messages, stops it with SIGTERM and returns the instructions it executed.
async fn count_instructions(sandbox: &Sandbox, binary: &Path, state: &Path, activities: usize) -> anyhow::Result<u64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = state.join(format!("run-{activities}"));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("drbot.toml");
    std::fs::write(&config, sandbox.bot_config_toml(&format!("127.0.0.1:{port}"), false))?;
    let out = dir.join("callgrind.out");
    let mut child = Command::new("valgrind")
        .args(["--tool=callgrind", "--dump-line=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("drbot.log"))?)
        .spawn()
        .map_err(|e| anyhow::anyhow!("valgrind: {e} (.ci/setup.d/70-valgrind.sh installs it)"))?;
    let base_url = format!("http://127.0.0.1:{port}");
    let sent = async {
        wait_ready(&base_url).await?;
        let client = reqwest::Client::new();
        // One channel token for every message, as the channel reuses its token.
        let token = sandbox.channel.token(SANDBOX_BOT_APP_ID, &sandbox.teams.service_url());
        let replies_before = sandbox.connector.accepted_count();
        for n in 0..WARM_UP + activities {
            send_help(sandbox, &client, &base_url, &token, &format!("{activities}-{n}")).await?;
        }
        let expected = replies_before + WARM_UP + activities;
        sandbox.connector.wait_for(expected, Duration::from_secs(120)).await.map(|_| ())
    };
    let outcome = sent.await;
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait()?;
    outcome?;
    anyhow::ensure!(status.success(), "drbot under callgrind exited with {status} (see {})", dir.display());
    total_instructions(&out)
}

/// One signed `help` in a conversation of its own; the bot must answer 200.
async fn send_help(
    sandbox: &Sandbox,
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<()> {
    let alice = sandbox.teams.user("alice").expect("alice");
    let chat = sandbox.teams.personal(&alice);
    let mut activity = sandbox.teams.message(&alice, &chat, "help");
    activity["conversation"]["id"] = serde_json::json!(Conversation::Personal { id: format!("a:count-{id}") }.id());
    activity["id"] = serde_json::json!(format!("count-{id}"));
    let response = client
        .post(format!("{base_url}/api/messages"))
        .bearer_auth(token)
        .json(&activity)
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "drbot answered {}", response.status());
    Ok(())
}

/// The `summary:` (or `totals:`) line of a callgrind output file: instructions executed.
fn total_instructions(out: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(out)?;
    text.lines()
        .filter_map(|line| line.strip_prefix("summary:").or_else(|| line.strip_prefix("totals:")))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no instruction total in {}", out.display()))
}

async fn wait_ready(base_url: &str) -> anyhow::Result<()> {
    // Under callgrind start-up is some fifty times slower than native.
    let deadline = Instant::now() + Duration::from_secs(300);
    let url = format!("{base_url}/readyz");
    while Instant::now() < deadline {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("drbot under callgrind did not become ready at {url}")
}

/// `benches/webhook_instructions.baseline`: `key = value` lines, `#` comments.
struct Baseline {
    per_activity: u64,
    margin_percent: u64,
    /// Comment lines, kept as they are when the baseline is rewritten.
    comments: Vec<String>,
}

impl Baseline {
    fn read(path: &Path) -> anyhow::Result<Baseline> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let value = |key: &str| -> anyhow::Result<u64> {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .and_then(|(_, v)| v.trim().replace('_', "").parse().ok())
                .ok_or_else(|| anyhow::anyhow!("{}: no number for {key}", path.display()))
        };
        Ok(Baseline {
            per_activity: value("instructions_per_activity")?,
            margin_percent: value("margin_percent")?,
            comments: text.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect(),
        })
    }

    fn write(&self, path: &Path) -> anyhow::Result<()> {
        let commit = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok();
        let commit = commit.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        let comments: Vec<String> = self
            .comments
            .iter()
            .map(
                |line| {
                    if line.starts_with("# Measured on:") {
                        format!("# Measured on: {commit}")
                    } else {
                        line.clone()
                    }
                },
            )
            .collect();
        let mut text = comments.join("\n");
        text.push_str(&format!(
            "\ninstructions_per_activity = {}\nmargin_percent = {}\n",
            self.per_activity, self.margin_percent
        ));
        std::fs::write(path, text)?;
        Ok(())
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
