//! Real `drbot serve` processes for the crash tests: started on a free
//! loopback port (optionally with `DRBOT_FAULT` naming a point to abort at),
//! waited for with deadlines, SIGKILLed when their guard drops; a person
//! chatting with them through the sandbox's Teams; the configuration they
//! share (short lease, fast ticks).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandbox::connector::{Recorded, Verb};
use sandbox::directory::User;
use sandbox::teams::{BotResponse, Conversation};
use sandbox::token_service::SANDBOX_CONNECTION_NAME;
use sandbox::Sandbox;
use serde_json::Value;

use super::chat::card_text;
use super::PATIENCE;

/// How long a whole replication (or a takeover) may take before the test gives up.
pub const RUN_PATIENCE: Duration = Duration::from_secs(45);

/// A `drbot serve` child process, killed when dropped.
pub struct BotProcess {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl BotProcess {
    /// Starts `drbot serve --config FILE` on a free loopback port (the
    /// environment overrides `[server] listen`, so every instance shares the file).
    pub fn start(config: &Path, log: PathBuf) -> BotProcess {
        BotProcess::start_faulty(config, log, None)
    }

    /// [`start`](Self::start), aborting at the named fault point (`DRBOT_FAULT`).
    pub fn start_faulty(config: &Path, log: PathBuf, fault: Option<&str>) -> BotProcess {
        let port = free_port();
        let stderr = File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_drbot"));
        if let Some(point) = fault {
            command.env("DRBOT_FAULT", point);
        }
        let child = command
            .args(["--log-format", "text", "serve", "--config"])
            .arg(config)
            .env("DRBOT__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("drbot starts");
        BotProcess { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn endpoint(&self) -> String {
        format!("{}/api/messages", self.url())
    }

    /// Polls /readyz until the bot has its signing keys; fails at once if it exited.
    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        let http = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("drbot exited ({status}): {}", self.log_text());
            }
            let ready = http.get(format!("{}/readyz", self.url())).send().await.map(|r| r.status().is_success());
            if matches!(ready, Ok(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "drbot never became ready: {}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (with a deadline) for the process to end on its own.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.wait_exit_within(RUN_PATIENCE).await
    }

    /// [`wait_exit`](Self::wait_exit) with a deadline of `patience`.
    pub async fn wait_exit_within(&mut self, patience: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "drbot did not stop: {}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no last words.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// The sandbox's bot configuration, with a short lease and fast ticks, and
/// `store` as the `[store]` section's body.
pub fn write_config(sandbox: &Sandbox, dir: &Path, store: &str) -> PathBuf {
    let mut text = sandbox.bot_config_toml("127.0.0.1:0", false);
    text.push_str(
        "\n[operations]\nlease_secs = 2\ncard_update_interval_ms = 300\nscheduler_tick_ms = 200\n\n[store]\n",
    );
    text.push_str(store);
    text.push('\n');
    let path = dir.join("drbot.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A person in a personal chat with the bot, through the sandbox's Teams.
pub struct Person<'a> {
    pub sandbox: &'a Sandbox,
    pub user: User,
    pub conversation: Conversation,
}

impl<'a> Person<'a> {
    pub fn personal(sandbox: &'a Sandbox, login: &str) -> Person<'a> {
        let user = sandbox.teams.user(login).expect("a sandbox user");
        let conversation = sandbox.teams.personal(&user);
        Person { sandbox, user, conversation }
    }

    /// `login` in the group chat `room`.
    pub fn in_group(sandbox: &'a Sandbox, room: &Conversation, login: &str) -> Person<'a> {
        let user = sandbox.teams.user(login).expect("a sandbox user");
        Person { sandbox, user, conversation: room.clone() }
    }

    /// Clicks an `Action.Execute` button of the card sent as `card_activity_id`.
    pub async fn click(&self, card_activity_id: &str, verb: &str, data: Value) -> BotResponse {
        let invoke = self.sandbox.teams.card_action(&self.user, &self.conversation, card_activity_id, verb, data);
        let answer = self.sandbox.teams.send(&invoke).await.expect("the bot answers the click");
        assert_eq!(answer.status, 200, "{verb}: {}", answer.body);
        answer
    }

    /// Types `text`; returns the first activity the bot sends afterwards.
    pub async fn say(&self, text: &str) -> Recorded {
        let before = self.sandbox.connector.recorded().len();
        let message = self.sandbox.teams.message(&self.user, &self.conversation, text);
        let answer = self.sandbox.teams.send(&message).await.expect("the bot answers");
        assert_eq!(answer.status, 200, "typing {text:?}");
        // The reply to this message: a progress card of an earlier run may be
        // updated in between, so "the next activity" is not necessarily it.
        let id = message["id"].as_str().unwrap_or_default().to_string();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let seen = self.sandbox.connector.recorded();
            if let Some(reply) = seen[before.min(seen.len())..]
                .iter()
                .find(|r| r.verb == sandbox::connector::Verb::Reply && r.reply_to_id.as_deref() == Some(id.as_str()))
            {
                return reply.clone();
            }
            assert!(std::time::Instant::now() < deadline, "no reply to {text:?}");
            let _ = self.sandbox.connector.wait_for(seen.len() + 1, std::time::Duration::from_millis(200)).await;
        }
    }

    /// Signs in with Teams SSO, as `support::chat::Chat::sign_in` does.
    pub async fn sign_in(&self) {
        let prompt = self.say("whoami").await;
        let Some(id) = prompt.body["attachments"][0]["content"]["tokenExchangeResource"]["id"].as_str() else {
            return;
        };
        let before = self.sandbox.connector.recorded().len();
        let token = self.sandbox.entra.teams_sso_token(&self.user, sandbox::SANDBOX_BOT_APP_ID);
        let invoke =
            self.sandbox.teams.token_exchange(&self.user, &self.conversation, id, SANDBOX_CONNECTION_NAME, &token);
        let answer = self.sandbox.teams.send(&invoke).await.expect("exchange answered");
        assert_eq!(answer.status, 200, "token exchange");
        self.sandbox.connector.wait_for(before + 1, PATIENCE).await.expect("whoami after sign-in");
    }

    /// `replicate`: the id of the card and the plan card that replaced "Planning".
    pub async fn plan(&self) -> (String, Value) {
        self.plan_with("replicate").await
    }

    /// [`plan`](Self::plan) with `command` (`replicate --assets-only`).
    pub async fn plan_with(&self, command: &str) -> (String, Value) {
        let planning = self.say(command).await;
        assert!(card_text(&planning).contains("Planning"), "{}", card_text(&planning));
        let id = planning.activity_id.clone();
        let plan =
            wait_for_activity(self.sandbox, "the plan card", |r| r.verb == Verb::Update && r.activity_id == id).await;
        (id, plan.adaptive_card().cloned().expect("a card"))
    }

    /// Plans and clicks Run; the run's card id.
    pub async fn plan_and_run(&self) -> String {
        self.plan_and_run_with("replicate").await
    }

    /// [`plan_and_run`](Self::plan_and_run) with `command`.
    pub async fn plan_and_run_with(&self, command: &str) -> String {
        let (card_id, card) = self.plan_with(command).await;
        let data = card["actions"]
            .as_array()
            .and_then(|actions| actions.iter().find(|a| a["verb"] == "replicate.run"))
            .map(|a| a["data"].clone())
            .unwrap_or_else(|| panic!("a Run button: {card}"));
        let invoke = self.sandbox.teams.card_action(&self.user, &self.conversation, &card_id, "replicate.run", data);
        let clicked = self.sandbox.teams.send(&invoke).await.expect("the bot answers the click");
        assert_eq!(clicked.status, 200, "{}", clicked.body);
        card_id
    }
}

/// Waits (with a deadline) until the connector has accepted an activity matching `found`.
pub async fn wait_for_activity(sandbox: &Sandbox, what: &str, found: impl Fn(&Recorded) -> bool) -> Recorded {
    let deadline = Instant::now() + RUN_PATIENCE;
    loop {
        let seen = sandbox.connector.recorded();
        if let Some(hit) = seen.iter().find(|r| found(r)) {
            return hit.clone();
        }
        assert!(Instant::now() < deadline, "never saw {what} ({} activities)", seen.len());
        let _ = sandbox.connector.wait_for(seen.len() + 1, Duration::from_millis(200)).await;
    }
}

/// Polls `check` every 50 ms until it gives a value, or fails after `patience`.
pub async fn eventually<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
