//! Typed view models for the card templates in `adaptive-cards/`, and the
//! one function that renders them.
//!
//! Views hold plain strings and numbers, already worded for people (dates
//! formatted, durations spelled out): the domain maps its results onto them
//! and the templates only lay them out. Lists are passed whole; [`render`]
//! keeps the first few, adds an "and N more" line, and shortens further until
//! the card fits Teams' message size limit.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use serde_json::Value;

use super::template::{Template, TemplateError};

/// Teams refuses bot messages above about 28 KB; the card must fit with room
/// for the activity around it.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

/// Longest text of any single field, so one stack trace cannot fill a card.
const MAX_TEXT_CHARS: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("card template {name}: {source}")]
    Template { name: &'static str, source: TemplateError },
    #[error("card {name} is {bytes} bytes even with its lists cut, above the {MAX_CARD_BYTES}-byte limit")]
    TooLarge { name: &'static str, bytes: usize },
    #[error("card view {name} did not serialize: {source}")]
    View { name: &'static str, source: serde_json::Error },
}

/// A status colour of Adaptive Cards (`color` of a TextBlock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tone {
    #[default]
    Default,
    Good,
    Warning,
    Attention,
    Accent,
}

impl Tone {
    /// The Adaptive Cards `color` value.
    pub fn color(self) -> &'static str {
        match self {
            Tone::Default => "Default",
            Tone::Good => "Good",
            Tone::Warning => "Warning",
            Tone::Attention => "Attention",
            Tone::Accent => "Accent",
        }
    }
}

/// The templates, one per file in `adaptive-cards/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardTemplate {
    Welcome,
    Help,
    Dashboard,
    Plan,
    Progress,
    Result,
    Runs,
    Run,
    Subscriptions,
    Signin,
    Error,
    Refusal,
    Audit,
    DeployPlan,
    DeployProgress,
    DeployResult,
    Verify,
    History,
    Runbook,
    RunbookRun,
    Drills,
}

impl CardTemplate {
    pub const ALL: [CardTemplate; 21] = [
        CardTemplate::Welcome,
        CardTemplate::Help,
        CardTemplate::Dashboard,
        CardTemplate::Plan,
        CardTemplate::Progress,
        CardTemplate::Result,
        CardTemplate::Runs,
        CardTemplate::Run,
        CardTemplate::Subscriptions,
        CardTemplate::Signin,
        CardTemplate::Error,
        CardTemplate::Refusal,
        CardTemplate::Audit,
        CardTemplate::DeployPlan,
        CardTemplate::DeployProgress,
        CardTemplate::DeployResult,
        CardTemplate::Verify,
        CardTemplate::History,
        CardTemplate::Runbook,
        CardTemplate::RunbookRun,
        CardTemplate::Drills,
    ];

    /// The file name without `.json` (also the sample's name).
    pub fn name(self) -> &'static str {
        match self {
            CardTemplate::Welcome => "welcome",
            CardTemplate::Help => "help",
            CardTemplate::Dashboard => "dashboard",
            CardTemplate::Plan => "plan",
            CardTemplate::Progress => "progress",
            CardTemplate::Result => "result",
            CardTemplate::Runs => "runs",
            CardTemplate::Run => "run",
            CardTemplate::Subscriptions => "subscriptions",
            CardTemplate::Signin => "signin",
            CardTemplate::Error => "error",
            CardTemplate::Refusal => "refusal",
            CardTemplate::Audit => "audit",
            CardTemplate::DeployPlan => "deploy_plan",
            CardTemplate::DeployProgress => "deploy_progress",
            CardTemplate::DeployResult => "deploy_result",
            CardTemplate::Verify => "verify",
            CardTemplate::History => "history",
            CardTemplate::Runbook => "runbook",
            CardTemplate::RunbookRun => "runbook_run",
            CardTemplate::Drills => "drills",
        }
    }

    /// The template's JSON text, compiled into the binary.
    pub fn source(self) -> &'static str {
        match self {
            CardTemplate::Welcome => include_str!("../../adaptive-cards/welcome.json"),
            CardTemplate::Help => include_str!("../../adaptive-cards/help.json"),
            CardTemplate::Dashboard => include_str!("../../adaptive-cards/dashboard.json"),
            CardTemplate::Plan => include_str!("../../adaptive-cards/plan.json"),
            CardTemplate::Progress => include_str!("../../adaptive-cards/progress.json"),
            CardTemplate::Result => include_str!("../../adaptive-cards/result.json"),
            CardTemplate::Runs => include_str!("../../adaptive-cards/runs.json"),
            CardTemplate::Run => include_str!("../../adaptive-cards/run.json"),
            CardTemplate::Subscriptions => include_str!("../../adaptive-cards/subscriptions.json"),
            CardTemplate::Signin => include_str!("../../adaptive-cards/signin.json"),
            CardTemplate::Error => include_str!("../../adaptive-cards/error.json"),
            CardTemplate::Refusal => include_str!("../../adaptive-cards/refusal.json"),
            CardTemplate::Audit => include_str!("../../adaptive-cards/audit.json"),
            CardTemplate::DeployPlan => include_str!("../../adaptive-cards/deploy_plan.json"),
            CardTemplate::DeployProgress => include_str!("../../adaptive-cards/deploy_progress.json"),
            CardTemplate::DeployResult => include_str!("../../adaptive-cards/deploy_result.json"),
            CardTemplate::Verify => include_str!("../../adaptive-cards/verify.json"),
            CardTemplate::History => include_str!("../../adaptive-cards/history.json"),
            CardTemplate::Runbook => include_str!("../../adaptive-cards/runbook.json"),
            CardTemplate::RunbookRun => include_str!("../../adaptive-cards/runbook_run.json"),
            CardTemplate::Drills => include_str!("../../adaptive-cards/drills.json"),
        }
    }

    /// The lists this card shows only the start of: (field, how many at most).
    /// A `<field>_more` text ("and 12 more", or empty) is added for each.
    fn lists(self) -> &'static [(&'static str, usize)] {
        match self {
            CardTemplate::Dashboard => &[("offenders", 8)],
            CardTemplate::Plan => &[("actions", 15), ("blocked", 8)],
            CardTemplate::Progress => &[("current", 5)],
            CardTemplate::Result => &[("failures", 10), ("blocked_items", 10), ("skipped_items", 5)],
            CardTemplate::Runs => &[("runs", 10)],
            CardTemplate::Run => &[("failures", 10), ("blocked_items", 10)],
            CardTemplate::Subscriptions => &[("subscriptions", 20)],
            CardTemplate::Audit => &[("entries", 15)],
            CardTemplate::DeployResult => &[("failures", 10)],
            CardTemplate::Verify => &[("items", 12)],
            CardTemplate::History => &[("entries", 15)],
            CardTemplate::Runbook => &[("losses", 10), ("blocked", 8)],
            CardTemplate::RunbookRun => &[("findings", 10)],
            CardTemplate::Drills => &[("drills", 10)],
            _ => &[],
        }
    }
}

/// Expands `template` over `view`: long lists cut (see [`CardTemplate`]), long
/// texts clipped, and the card checked to fit [`MAX_CARD_BYTES`], cutting the
/// lists further while it does not.
pub fn render(template: CardTemplate, view: &impl Serialize) -> Result<Value, CardError> {
    render_with_data(template, view).map(|(_, card)| card)
}

/// [`render`], also returning the data the template was finally expanded
/// over (lists cut, texts clipped): what the reference tests expand with npm.
pub fn render_with_data(template: CardTemplate, view: &impl Serialize) -> Result<(Value, Value), CardError> {
    let name = template.name();
    let parsed = parsed(template).map_err(|source| CardError::Template { name, source })?;
    let mut data = serde_json::to_value(view).map_err(|source| CardError::View { name, source })?;
    clip_texts(&mut data);
    let mut divisor = 1;
    loop {
        let mut cut = data.clone();
        for (field, max) in template.lists() {
            cut_list(&mut cut, field, (max / divisor).max(1));
        }
        let mut card = parsed.expand(&cut).map_err(|source| CardError::Template { name, source })?;
        super::universal::add_submit_fallbacks(&mut card);
        let bytes = serde_json::to_string(&card).map_or(usize::MAX, |s| s.len());
        if bytes <= MAX_CARD_BYTES {
            return Ok((cut, card));
        }
        if template.lists().iter().all(|(_, max)| max / divisor <= 1) {
            return Err(CardError::TooLarge { name, bytes });
        }
        divisor *= 2;
    }
}

/// Each template parsed once per process (progress cards are redrawn often).
fn parsed(template: CardTemplate) -> Result<&'static Template, TemplateError> {
    static PARSED: OnceLock<Vec<Result<Template, TemplateError>>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        CardTemplate::ALL
            .iter()
            .map(|t| {
                let json: Value = serde_json::from_str(t.source()).map_err(|e| TemplateError::Syntax {
                    expression: format!("adaptive-cards/{}.json", t.name()),
                    problem: e.to_string(),
                })?;
                Template::parse(&json)
            })
            .collect()
    });
    let index = CardTemplate::ALL.iter().position(|t| *t == template).unwrap_or(0);
    all[index].as_ref().map_err(Clone::clone)
}

/// Keeps the first `max` items of `data[field]` and sets `data[field_more]`.
fn cut_list(data: &mut Value, field: &str, max: usize) {
    let Some(object) = data.as_object_mut() else { return };
    let total = match object.get_mut(field) {
        Some(Value::Array(items)) => {
            let total = items.len();
            items.truncate(max);
            total
        }
        _ => 0,
    };
    let more = if total > max { format!("and {} more", group_thousands(total - max)) } else { String::new() };
    object.insert(format!("{field}_more"), Value::String(more));
}

fn clip_texts(value: &mut Value) {
    match value {
        Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => {
            *s = format!("{}…", s.chars().take(MAX_TEXT_CHARS).collect::<String>());
        }
        Value::Array(items) => items.iter_mut().for_each(clip_texts),
        Value::Object(map) => map.values_mut().for_each(clip_texts),
        _ => {}
    }
}

/// 12345 → "12,345".
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------- welcome, help

/// `welcome.json`: sent once when drbot joins a conversation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeView {
    /// Commands to suggest, e.g. `["status", "replicate --dry-run"]`; may be empty.
    pub suggestions: Vec<String>,
}

/// `help.json`: the list of commands.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpView {
    /// "drbot commands", or "help: replicate" for one command.
    pub title: String,
    pub commands: Vec<HelpEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpEntry {
    /// Shown in monospace, e.g. "replicate [catalog] [--dry-run]".
    pub usage: String,
    /// One line.
    pub summary: String,
}

// ---------------------------------------------------------------- readiness

/// `dashboard.json`: readiness of one workspace pair at a glance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardView {
    /// The spoke (workspace pair) name, e.g. "sales-emea".
    pub spoke: String,
    /// When the readiness was computed, worded, e.g. "24 Nov 2026 08:00 UTC".
    pub checked_at: String,
    pub overall: Overall,
    /// Primary then secondary.
    pub workspaces: Vec<WorkspaceHealth>,
    /// Three to four headline figures: last replication, worst RPO, drift total, …
    pub tiles: Vec<Tile>,
    /// Drift per object kind; only kinds with some drift, or empty for none at all.
    pub drift: Vec<DriftRow>,
    /// The objects furthest behind, worst first (cut to 8 with "and N more").
    pub offenders: Vec<Offender>,
    /// Objects in scope that replication cannot copy, a row per reason.
    #[serde(default)]
    pub unreplicable: Vec<UnreplicableRow>,
    /// The last seven days: worst RPO and drift per day.
    #[serde(default)]
    pub trend: Trend,
}

/// A pair's last days as charts (`Chart.Line` for the worst RPO,
/// `Chart.VerticalBar` for drift: Teams renders both), each with a text
/// fallback for clients that render no charts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trend {
    /// Whether there is anything to chart (the section is left out otherwise).
    pub shown: bool,
    /// The worst RPO of each day with a reading, in minutes.
    pub rpo: Vec<ChartPoint>,
    /// The drift (objects) of each day with a reading.
    pub drift: Vec<ChartPoint>,
    /// The same as words, e.g. "Worst RPO by day (min): 30 Nov 12 · 1 Dec 45: getting worse".
    pub rpo_text: String,
    pub drift_text: String,
}

/// `history PAIR`: what the pair's runs (later its failovers and drills)
/// achieved, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryView {
    pub pair: String,
    /// e.g. "The last 12 runs, newest first", or why there are none.
    pub subtitle: String,
    pub entries: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// "Replication" (later "Failover", "Drill").
    pub kind: String,
    pub id: String,
    pub at: String,
    pub outcome_label: String,
    pub outcome_color: Tone,
    /// e.g. "RPO 12 min after", "RPO not measured since".
    pub rpo: String,
    /// e.g. "took 4 min 12 s" (a failover's: "RTO 9 min").
    pub time: String,
}

/// One point of a chart: the day's label and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartPoint {
    pub x: String,
    pub y: i64,
}

/// Objects that cannot be replicated for one kind of reason.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnreplicableRow {
    /// e.g. "no location mapping".
    pub category: String,
    pub count: u64,
    /// The first few objects, e.g. "main.raw.events, main.raw.clicks and 3 more".
    pub examples: String,
    /// The first object's reason, with its fix.
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overall {
    /// "Ready", "At risk" or "Not ready".
    pub label: String,
    pub color: Tone,
    /// One sentence on why, e.g. "3 tables are past the 4 h RPO target."
    pub summary: String,
    /// The other reasons, a paragraph each (a pair can be blocked for
    /// several reasons at once, each with its own fix), the first few.
    #[serde(default)]
    pub more_reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceHealth {
    /// "Primary" or "Secondary".
    pub role: String,
    /// Workspace name (or host) as people know it.
    pub name: String,
    /// Azure region, e.g. "West Europe".
    pub region: String,
    /// "Healthy", "Degraded" or "Unreachable".
    pub health_label: String,
    pub health_color: Tone,
    /// A short explanation when not healthy (empty otherwise).
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tile {
    /// Small caption, e.g. "Last replication".
    pub label: String,
    /// The figure, e.g. "2 h ago".
    pub value: String,
    pub color: Tone,
    /// A line under the figure, e.g. "succeeded · 812 objects" (may be empty).
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftRow {
    /// Plural kind, e.g. "Tables", "Grants".
    pub kind: String,
    /// In the primary, not in the secondary.
    pub missing: u64,
    /// In both, but different (schema, properties, grants).
    pub different: u64,
    /// In the secondary only.
    pub extra: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offender {
    /// Full name, e.g. "main.sales.orders".
    pub name: String,
    /// Singular kind, e.g. "Table".
    pub kind: String,
    /// What is wrong, short: "26 h behind", "missing in secondary".
    pub problem: String,
    pub color: Tone,
    /// Its Catalog Explorer page (on the primary when the secondary lacks
    /// it, else on the secondary); empty when it has none.
    #[serde(default)]
    pub url: String,
}

// ---------------------------------------------------------------- replication

/// `plan.json`: a replication plan, shown before it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanView {
    /// Carried by the Run and Cancel buttons.
    pub plan_id: String,
    /// "catalog main" or "all catalogs".
    pub catalog_label: String,
    /// Primary workspace name.
    pub source: String,
    /// Secondary workspace name.
    pub target: String,
    /// Worded time, e.g. "08:02 UTC".
    pub created_at: String,
    /// Display name of who asked.
    pub requested_by: String,
    /// A dry run shows the plan without a Run button.
    pub dry_run: bool,
    /// Whether to offer Run (false for dry runs, empty plans, or when nothing can run).
    pub can_run: bool,
    /// Whether to offer Cancel (discarding the plan).
    pub can_cancel: bool,
    /// For everyone but the plan's author: who may run it, and why (their
    /// own view, through the card's refresh). Empty for the author.
    #[serde(default)]
    pub who_may_act: String,
    /// Every action, runnable or not.
    pub total_actions: u64,
    /// Count per kind of action, e.g. ("Create table", 120).
    pub summary: Vec<KindCount>,
    /// "First 15 of 830 actions" or "Actions": the heading over `actions`.
    pub actions_heading: String,
    /// Actions in plan order (cut to 15 with "and N more").
    pub actions: Vec<PlannedAction>,
    /// How many actions cannot run.
    pub blocked_total: u64,
    /// The actions that cannot run, with why (cut to 8).
    pub blocked: Vec<BlockedAction>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindCount {
    pub kind: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedAction {
    /// e.g. "Create table", "Sync data", "Update grants".
    pub kind: String,
    /// Full object name.
    pub object: String,
    /// Optional short detail, e.g. "1.2 GB · 14 M rows" (may be empty).
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedAction {
    pub object: String,
    /// Why it cannot run, e.g. "no storage mapping for abfss://raw@…".
    pub reason: String,
}

/// `progress.json`: a run in flight, updated in place.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressView {
    pub run_id: String,
    pub plan_id: String,
    pub catalog_label: String,
    pub started_at: String,
    pub started_by: String,
    /// When this card was last updated, worded.
    pub updated_at: String,
    pub done: u64,
    pub total: u64,
    /// 0–100, rounded down.
    pub percent: u64,
    /// Progress bar weights: `percent` and `100 - percent` (a zero hides its part).
    pub bar_done: u64,
    pub bar_left: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub blocked: u64,
    pub skipped: u64,
    /// Per kind of action: done of total.
    pub kinds: Vec<KindProgress>,
    /// What is running right now (cut to 5).
    pub current: Vec<CurrentItem>,
    /// Whether to offer Cancel.
    pub can_cancel: bool,
}

impl ProgressView {
    /// Sets `percent`, `bar_done` and `bar_left` from `done` and `total`.
    pub fn with_bar(mut self) -> Self {
        self.percent = (self.done.min(self.total).saturating_mul(100)).checked_div(self.total).unwrap_or(100);
        self.bar_done = self.percent;
        self.bar_left = 100 - self.percent;
        self
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindProgress {
    pub kind: String,
    pub done: u64,
    pub total: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentItem {
    pub action: String,
    pub object: String,
}

/// `result.json`: a finished run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultView {
    pub run_id: String,
    pub catalog_label: String,
    /// "succeeded", "finished with failures", "cancelled", "failed".
    pub outcome_label: String,
    pub outcome_color: Tone,
    pub finished_at: String,
    /// e.g. "4 min 12 s".
    pub duration: String,
    pub succeeded: u64,
    pub failed: u64,
    /// Never attempted: a person must settle something first.
    pub blocked: u64,
    pub skipped: u64,
    /// Every failure (cut to 10 with "and N more").
    pub failures: Vec<Failure>,
    /// Every blocked object with what to settle (cut to 10).
    pub blocked_items: Vec<ObjectReason>,
    /// Every skipped object with why (cut to 5).
    pub skipped_items: Vec<ObjectReason>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub object: String,
    /// The action that failed, e.g. "Sync data".
    pub action: String,
    /// The error as people should read it (clipped to 400 characters).
    pub error: String,
}

/// An object and why it was not done (blocked or skipped).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectReason {
    pub object: String,
    pub reason: String,
}

/// `runs.json`: run history, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsView {
    /// e.g. "Last 10 runs of sales-emea".
    pub subtitle: String,
    /// Newest first (cut to 10).
    pub runs: Vec<RunSummary>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSummary {
    /// Clicking the row runs the command `run <run_id>`.
    pub run_id: String,
    pub catalog_label: String,
    pub started_at: String,
    pub started_by: String,
    pub duration: String,
    /// e.g. "812 ok · 3 failed".
    pub counts_label: String,
    /// "Succeeded", "Failed", "Running", "Cancelled".
    pub outcome_label: String,
    pub outcome_color: Tone,
}

/// `run.json`: one run in detail.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunView {
    pub run_id: String,
    pub plan_id: String,
    pub catalog_label: String,
    pub outcome_label: String,
    pub outcome_color: Tone,
    pub started_at: String,
    pub started_by: String,
    /// "still running" while it runs.
    pub finished_at: String,
    pub duration: String,
    pub succeeded: u64,
    pub failed: u64,
    pub blocked: u64,
    pub skipped: u64,
    pub kinds: Vec<KindResult>,
    /// Every failure (cut to 10).
    pub failures: Vec<Failure>,
    /// Every blocked object with what to settle (cut to 10).
    pub blocked_items: Vec<ObjectReason>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindResult {
    pub kind: String,
    pub succeeded: u64,
    pub failed: u64,
    pub blocked: u64,
    pub skipped: u64,
}

// ---------------------------------------------------------------- the rest

/// `subscriptions.json`: scheduled posts of this conversation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsView {
    /// "this chat", "#dr-ops".
    pub conversation_label: String,
    pub subscriptions: Vec<SubscriptionRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRow {
    /// e.g. "Daily 08:00 Europe/Paris", "Every 6 h".
    pub schedule_label: String,
    /// What is posted, e.g. "readiness".
    pub what: String,
    pub next_run: String,
    pub created_by: String,
    /// "Active", "Paused", "Failing".
    pub status_label: String,
    pub status_color: Tone,
}

/// `signin.json`: the person must sign in first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigninView {
    /// Why, e.g. "Replication acts with your identity, so drbot needs you to sign in."
    pub reason: String,
    /// Optional sign-in link (empty: no button).
    pub sign_in_url: String,
    /// The command to run again after signing in (empty: no button).
    pub retry_command: String,
    /// May be empty.
    pub correlation_id: String,
}

/// `error.json`: something failed on drbot's side.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorView {
    /// Usually "Something went wrong".
    pub title: String,
    pub message: String,
    /// What the person can do (may be empty).
    pub hint: String,
    /// Ties the card to the logs.
    pub correlation_id: String,
    /// Offered as "Try again" (empty: no button).
    pub retry_command: String,
}

/// `refusal.json`: the person may not do this.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalView {
    /// What they tried, as a verb phrase: "run a replication".
    pub action: String,
    /// The role needed, e.g. "DR operator".
    pub required_role: String,
    /// Where the role is needed (may be empty), e.g. "catalog main".
    pub scope: String,
    /// Display name or UPN.
    pub user: String,
    pub your_roles: Vec<String>,
    /// Whom to ask.
    pub hint: String,
    pub correlation_id: String,
}

/// `audit.json`: who did what, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditView {
    pub subtitle: String,
    /// Newest first (cut to 15).
    pub entries: Vec<AuditEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// e.g. "24 Nov".
    pub date: String,
    /// e.g. "08:02".
    pub time: String,
    pub who: String,
    /// Verb phrase: "ran a replication".
    pub action: String,
    /// The object (may be empty).
    pub target: String,
    pub outcome_label: String,
    pub outcome_color: Tone,
}

/// `deploy_plan.json`: the What-If of a deployment, Approve and Cancel.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployPlanView {
    /// "Deploy spoke sales".
    pub title: String,
    /// "What-If by Alice at 24 Nov 2026, 08:02 UTC".
    pub subtitle: String,
    /// What Approve and Cancel carry.
    pub plan_id: String,
    /// The first region of the What-If (the primary, or the hub's only one).
    pub first: DeployRegionView,
    /// The second region (`shown` false when there is none).
    pub second: DeployRegionView,
    /// Any region deletes something: the warning line.
    pub deletes_resources: bool,
    /// "Two people with the deploy role must approve.", who approved so far, or empty.
    pub approval_note: String,
    pub approval_color: Tone,
    /// Someone who may not approve it (now) sees no buttons: their own
    /// view, through the card's refresh.
    #[serde(default)]
    pub hide_buttons: bool,
    /// Why they see none ("Only people with the deploy role approve …"), or empty.
    #[serde(default)]
    pub viewer_note: String,
}

/// One region's What-If counts and the resources it deletes or modifies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRegionView {
    pub shown: bool,
    /// "primary · westeurope · rg-drbot-sales-westeurope".
    pub heading: String,
    /// Counts as text ("3"), so they read as numbers on the card.
    pub creates: String,
    pub modifies: String,
    pub deletes: String,
    pub no_change: String,
    /// Warning when something is modified, else Default.
    pub modify_color: Tone,
    /// Attention when something is deleted, else Default.
    pub delete_color: Tone,
    /// Resource ids deleted (the first 10; see `deleted_more`).
    pub deleted: Vec<DeployResourceView>,
    /// "and 4 more" (the template adds "deletes"), or empty.
    pub deleted_more: String,
    /// Resource ids modified, with the changed property paths (the first 10).
    pub modified: Vec<DeployModifiedView>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployResourceView {
    pub id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployModifiedView {
    pub id: String,
    /// "properties.addressSpace, tags".
    pub paths: String,
}

/// `deploy_progress.json`: both regions' resources done, the one in
/// progress, failures, and Cancel while it runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployProgressView {
    /// "Deploying spoke sales".
    pub title: String,
    /// "Started by Alice at 08:02 UTC · op-1".
    pub subtitle: String,
    pub operation_id: String,
    pub primary: DeployRegionProgressView,
    pub secondary: DeployRegionProgressView,
    /// The last Databricks bootstrap step, "primary: catalog sales done (3 steps)", or empty.
    pub bootstrap: String,
    pub canceling: bool,
    /// When the card was drawn, worded.
    pub updated_at: String,
    /// Still running: the Cancel button is shown.
    pub running: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRegionProgressView {
    /// "primary: 2 of 3 resources done · running".
    pub summary: String,
    /// The resource being deployed now, or empty.
    pub in_progress: String,
    /// Failed resources (the first 10).
    pub failures: Vec<DeployFailureView>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFailureView {
    /// "primary" on the result card; empty on the progress card (the region is the section).
    #[serde(default)]
    pub region: String,
    pub resource: String,
    pub error: String,
}

/// `deploy_result.json`: the one card posted when a deployment ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployResultView {
    /// "Deployed spoke sales", "Deployment of spoke sales failed", ….
    pub title: String,
    pub title_color: Tone,
    /// "op-1 · started by Alice · 12 min 3 s".
    pub subtitle: String,
    /// The new workspaces, by role.
    pub workspaces: Vec<DeployWorkspaceView>,
    /// What failed (cut to 10).
    pub failures: Vec<DeployFailureView>,
    /// Why the whole deployment stopped, or empty.
    pub error: String,
    /// What the bootstrap could not do with the identity at hand, and who
    /// must (an account admin's metastore, a workspace admin's warehouse).
    #[serde(default)]
    pub needs: Vec<DeployNeedView>,
    /// Shown unless it succeeded.
    pub correlation_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployNeedView {
    /// `secondary: metastore of northeurope not done (an account admin must …)`.
    pub text: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployWorkspaceView {
    pub role: String,
    pub url: String,
}

// ---------------------------------------------------------------- verify

/// `verify.json`: a verification in progress (`running`) or finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyView {
    /// e.g. "Verification of finance: catalog main".
    pub title: String,
    /// Who, when, how long, and whether rows were hashed.
    pub subtitle: String,
    /// e.g. "All 14 tables equal or blocked with a reason", "2 tables differ".
    pub outcome_label: String,
    pub outcome_color: Tone,
    pub running: bool,
    pub done: u64,
    pub total: u64,
    pub equal: u64,
    pub different: u64,
    pub blocked: u64,
    pub failed: u64,
    /// "Not equal", "Not equal so far".
    pub items_title: String,
    /// Every table not equal, different and failed first, then blocked
    /// (cut to 12 with "and N more").
    pub items: Vec<VerifyItem>,
    /// One line under the list.
    pub footnote: String,
    /// The command "Verify again" sends, and the one "Readiness" sends.
    pub again: String,
    pub readiness: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyItem {
    pub table: String,
    /// "different", "failed" or "blocked".
    pub result: String,
    pub color: Tone,
    /// What differs, why it is blocked, or the error.
    pub detail: String,
}

/// `runbook.json`: a failover, failback or drill as it would run, before
/// anything changes: every step and what it touches, the loss per table,
/// the current RPO, what blocks it, and who approved it so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookView {
    /// "Planned failover of pair finance".
    pub title: String,
    /// "primary → secondary · planned by Alice at 6 Dec 2026, 19:02 UTC".
    pub subtitle: String,
    /// What Approve and Discard carry.
    pub plan_id: String,
    /// "4 min", or "not measured".
    pub rpo: String,
    /// "none: writers are frozen and the copy proven by version", or the worst window.
    pub loss_summary: String,
    /// "secondary (adb-2….azuredatabricks.net)".
    pub ends_active: String,
    pub steps: Vec<RunbookStepView>,
    /// Each table's expected loss (cut to 10 with "and N more").
    pub losses: Vec<RunbookLossView>,
    /// What stops it at preflight unless overridden (cut to 8).
    pub blocked: Vec<TextLine>,
    /// What approving overrides, when the runbook was asked for with `--override`.
    pub override_note: String,
    /// "Two people with the failover role must approve.", who approved so far.
    pub approval_note: String,
    pub approval_color: Tone,
    /// "Approve failover", "Approve drill".
    pub approve_label: String,
    /// A dry run, or someone who may not approve (now): no buttons.
    #[serde(default)]
    pub hide_buttons: bool,
    /// Why there are none, or empty.
    #[serde(default)]
    pub viewer_note: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookStepView {
    pub number: String,
    /// "Freeze writers".
    pub name: String,
    /// " (best effort, timeout 30 s)", or empty.
    pub tags: String,
    /// What it changes or reads, joined.
    pub touches: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookLossView {
    pub table: String,
    /// "none", "12 min (commits since …)", "unbounded (never replicated)".
    pub loss: String,
    pub color: Tone,
}

/// One line of text in a list, with its colour.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextLine {
    pub text: String,
    #[serde(default)]
    pub color: Tone,
}

/// `runbook_run.json`: a runbook while it runs (kept current in place) and
/// the one card when it has ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookRunView {
    /// "Planned failover of pair finance".
    pub title: String,
    /// "Approved by Alice and Bob · op-…".
    pub subtitle: String,
    pub operation_id: String,
    pub pair: String,
    /// "Running: final sync", "Completed: the secondary is active", "Stopped at freeze: …".
    pub state: String,
    pub state_color: Tone,
    pub steps: Vec<RunbookStepRunView>,
    /// "2 min 10 s" (approval to validated), or "running".
    pub rto: String,
    /// "none (proven by version)", the worst window of a forced failover.
    pub loss: String,
    /// "secondary (adb-2…)".
    pub active: String,
    /// What the steps found (cut to 10).
    pub findings: Vec<TextLine>,
    /// What people and clients do next (the new workspace's link).
    pub next: String,
    pub updated_at: String,
    /// Cancel (between steps) while it runs.
    pub running: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookStepRunView {
    pub name: String,
    /// "done", "already done", "failed (best effort): …", "running", "waiting".
    pub outcome: String,
    pub color: Tone,
    /// "12 s", or empty.
    pub took: String,
}

/// `drills.json`: past drills with their RTO and findings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillsView {
    /// "Drills of pair finance", "Drills".
    pub title: String,
    pub drills: Vec<DrillRowView>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRowView {
    pub id: String,
    pub pair: String,
    pub at: String,
    pub outcome: String,
    pub color: Tone,
    pub rto: String,
    /// The findings joined, or "no findings".
    pub findings: String,
}

macro_rules! renderers {
    ($($fn_name:ident($view:ty) => $template:ident;)*) => {$(
        #[doc = concat!("Renders `", stringify!($template), "` (see [`", stringify!($view), "`]).")]
        pub fn $fn_name(view: &$view) -> Result<Value, CardError> {
            render(CardTemplate::$template, view)
        }
    )*};
}

renderers! {
    render_welcome(WelcomeView) => Welcome;
    render_help(HelpView) => Help;
    render_dashboard(DashboardView) => Dashboard;
    render_plan(PlanView) => Plan;
    render_progress(ProgressView) => Progress;
    render_result(ResultView) => Result;
    render_runs(RunsView) => Runs;
    render_run(RunView) => Run;
    render_subscriptions(SubscriptionsView) => Subscriptions;
    render_signin(SigninView) => Signin;
    render_error(ErrorView) => Error;
    render_refusal(RefusalView) => Refusal;
    render_audit(AuditView) => Audit;
    render_deploy_plan(DeployPlanView) => DeployPlan;
    render_deploy_progress(DeployProgressView) => DeployProgress;
    render_deploy_result(DeployResultView) => DeployResult;
    render_verify(VerifyView) => Verify;
    render_history(HistoryView) => History;
    render_runbook(RunbookView) => Runbook;
    render_runbook_run(RunbookRunView) => RunbookRun;
    render_drills(DrillsView) => Drills;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_parses() {
        for template in CardTemplate::ALL {
            let json: Value = serde_json::from_str(template.source()).unwrap();
            assert_eq!(json["version"], "1.5", "{}", template.name());
            Template::parse(&json).unwrap_or_else(|e| panic!("{}: {e}", template.name()));
        }
    }

    #[test]
    fn long_lists_are_cut_with_and_n_more() {
        let mut data = json!({"runs": (0..25).collect::<Vec<_>>()});
        cut_list(&mut data, "runs", 10);
        assert_eq!(data["runs"].as_array().unwrap().len(), 10);
        assert_eq!(data["runs_more"], "and 15 more");
        let mut short = json!({"runs": [1]});
        cut_list(&mut short, "runs", 10);
        assert_eq!(short["runs_more"], "");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }

    #[test]
    fn a_card_too_large_is_cut_further_until_it_fits() {
        let failure =
            |i: usize| Failure { object: format!("main.s.t{i}"), action: "Sync data".into(), error: "x".repeat(5000) };
        let view = ResultView {
            run_id: "r1".into(),
            catalog_label: "all catalogs".into(),
            outcome_label: "failed".into(),
            outcome_color: Tone::Attention,
            finished_at: "now".into(),
            duration: "1 s".into(),
            succeeded: 0,
            failed: 500,
            blocked: 0,
            skipped: 0,
            failures: (0..500).map(failure).collect(),
            blocked_items: Vec::new(),
            skipped_items: Vec::new(),
        };
        let card = render_result(&view).unwrap();
        let text = card.to_string();
        assert!(text.len() <= MAX_CARD_BYTES);
        assert!(text.contains("and 490 more"), "{text}");
        assert!(!text.contains(&"x".repeat(401)), "long errors are clipped");
    }
}
