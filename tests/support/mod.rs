//! The harness every integration test uses: the sandbox and drbot, both on
//! ephemeral loopback ports, drbot configured exactly as `drbot-sandbox
//! --write-bot-config` would configure it.

#![allow(dead_code)]

pub mod chat;
pub mod deploy;
#[macro_use]
pub mod fresh;
pub mod logs;
pub mod postgres;
pub mod process;
pub mod runbook;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drbot::config::Config;
use drbot::server::RunningServer;
use sandbox::{Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

pub struct World {
    pub sandbox: Sandbox,
    pub bot: RunningServer,
    pub config: Config,
    /// The bot's data directory (its SQLite store), removed when the test ends.
    pub data_dir: tempfile::TempDir,
}

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(15);

impl World {
    pub async fn start() -> World {
        World::start_with(|_| {}).await
    }

    /// Starts both, letting the test adjust the bot's configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> World {
        World::start_with_clock(adjust, std::sync::Arc::new(drbot::clock::SystemClock)).await
    }

    /// Starts both; scheduled posts go by `clock`.
    pub async fn start_with_clock(
        adjust: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn drbot::clock::Clock>,
    ) -> World {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox starts");
        let mut config =
            Config::from_toml(&sandbox.bot_config_toml("127.0.0.1:0", false), &BTreeMap::new()).expect("valid config");
        let data_dir = tempfile::tempdir().expect("temp dir");
        config.store.data_dir = data_dir.path().to_path_buf();
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let bot = drbot::server::start_on_with_clock(&config, listener, CancellationToken::new(), clock)
            .await
            .expect("bot starts");
        sandbox.teams.set_bot_endpoint(&format!("{}/api/messages", bot.url()));
        let world = World { sandbox, bot, config, data_dir };
        world.wait_ready().await;
        world
    }

    /// A restart: a second bot on the same store and configuration takes
    /// the chat over, then the first one shuts down (its long work lets go).
    pub async fn restart_bot(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let next = drbot::server::start_on(&self.config, listener, CancellationToken::new()).await.expect("bot starts");
        self.sandbox.teams.set_bot_endpoint(&format!("{}/api/messages", next.url()));
        let first = std::mem::replace(&mut self.bot, next);
        first.shutdown().await.expect("the first bot stops");
        self.wait_ready().await;
    }

    /// Polls /readyz until the bot has its signing keys (with a deadline).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        let http = reqwest::Client::new();
        loop {
            let ready = http.get(format!("{}/readyz", self.bot.url())).send().await.map(|r| r.status().is_success());
            if matches!(ready, Ok(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "the bot never became ready");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn alice(&self) -> sandbox::directory::User {
        self.sandbox.teams.user("alice").expect("alice")
    }
}
