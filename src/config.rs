//! Configuration: one TOML file, environment overrides, and the Bot Framework
//! names for the bot's identity.
//!
//! Every outside endpoint is configuration, so one binary runs against Azure
//! or against the local sandbox. Start-up stops on a wrong or missing setting
//! with a message naming it: a bot that starts half-configured fails later,
//! in front of a user, with a worse message.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Environment variables with this prefix override file settings:
/// `DRBOT__SERVER__LISTEN=…` sets `[server] listen`.
pub const ENV_PREFIX: &str = "DRBOT__";

/// The Bot Framework's own names, read from the environment as they are.
pub const BOT_FRAMEWORK_ENV: [&str; 4] =
    ["MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppType", "MicrosoftAppTenantId"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bot: BotIdentity,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub endpoints: Endpoints,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub sso: SsoConfig,
    #[serde(default)]
    pub databricks: DatabricksConfig,
    #[serde(default)]
    pub replication: ReplicationSettings,
    #[serde(default)]
    pub app_identity: AppIdentityConfig,
    #[serde(default)]
    pub access: crate::access::AccessConfig,
    #[serde(default)]
    pub operations: OperationsConfig,
    #[serde(default)]
    pub deploy: DeployConfig,
    #[serde(default)]
    pub failover: FailoverConfig,
    /// The DR pairs the store is seeded with (`[[pairs]]`).
    #[serde(default)]
    pub pairs: Vec<PairConfig>,
}

/// One `[[pairs]]` entry: a pair as the configuration seeds it (the sharing
/// names are derived from the name; the active side is the store's).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    pub name: String,
    pub primary: crate::pairs::PairWorkspace,
    pub secondary: crate::pairs::PairWorkspace,
    /// The secondary's SQL warehouse.
    #[serde(default)]
    pub warehouse_id: Option<String>,
    /// The primary's SQL warehouse (a warehouse id names one workspace's).
    #[serde(default)]
    pub primary_warehouse_id: Option<String>,
    #[serde(default)]
    pub location_mapping: Vec<(String, String)>,
    #[serde(default)]
    pub failover_group: Option<String>,
    /// Alert the pair's chats when its worst RPO exceeds this many minutes.
    #[serde(default)]
    pub rpo_alert_minutes: Option<u32>,
    /// Who also gets the pair's alerts in their Teams activity feed (Entra
    /// object ids or user principal names).
    #[serde(default)]
    pub alert_users: Vec<String>,
    /// Teams whose members also get them (`GROUP_ID`, or `GROUP_ID/CHANNEL_ID`
    /// for one channel's members).
    #[serde(default)]
    pub alert_teams: Vec<String>,
    /// Group chats whose members also get them (chat ids).
    #[serde(default)]
    pub alert_chats: Vec<String>,
}

/// Long-running operations started from chat: `[operations]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperationsConfig {
    /// How long an instance holds an operation without renewing; a crashed
    /// instance's operations are taken over this long after it stopped.
    pub lease_secs: u64,
    /// A progress card is rewritten at most this often (Teams' limits, and
    /// people's eyes).
    pub card_update_interval_ms: u64,
    /// How long a plan shown on a card can still be run.
    pub plan_ttl_secs: u64,
    /// How often due scheduled posts are looked for.
    pub scheduler_tick_ms: u64,
    /// How often a pair with an RPO threshold that no subscription follows
    /// is read by the bot to check it (once across every instance).
    pub rpo_check_secs: u64,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        OperationsConfig {
            lease_secs: 30,
            card_update_interval_ms: 2000,
            plan_ttl_secs: 3600,
            scheduler_tick_ms: 15_000,
            rpo_check_secs: 900,
        }
    }
}

/// How runbooks (failover, failback, drill) are planned: `[failover]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// How long a planned freeze waits for active job runs before cancelling them.
    pub run_wait_secs: u64,
    /// A forced failover's timeout for each best-effort step (the primary is
    /// presumed down: nobody waits long on it).
    pub forced_timeout_secs: u64,
    /// Per pair, the ARM id of the geo-redundant storage account that fails
    /// over with it (`storage_accounts.finance = "/subscriptions/…"`).
    pub storage_accounts: BTreeMap<String, String>,
    /// Per pair, the tables whose row counts validate a promotion.
    pub smoke_tables: BTreeMap<String, Vec<String>>,
    /// Per pair, the private DNS records the repoint step moves to the
    /// promoted side (`[[failover.aliases.finance]]`: `zone`, `name`,
    /// `type` A or CNAME, `primary`, `secondary`, `ttl`).
    pub aliases: BTreeMap<String, Vec<crate::failover::aliases::DnsAlias>>,
    /// Per pair, the job (by name) the validate step runs once on the
    /// promoted side, a drill's too (`validate_jobs.finance = "smoke-test"`).
    pub validate_jobs: BTreeMap<String, String>,
    /// How long that run may take before it is cancelled and validation fails.
    pub validate_job_timeout_secs: u64,
    /// Per pair, what a freeze does beyond pausing jobs (`[failover.freeze.finance]`:
    /// `stop_warehouses`, `revoke_modify_except = "GROUP"`).
    pub freeze: BTreeMap<String, crate::failover::freeze::FreezeOptions>,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            run_wait_secs: 600,
            forced_timeout_secs: 30,
            storage_accounts: BTreeMap::new(),
            smoke_tables: BTreeMap::new(),
            aliases: BTreeMap::new(),
            validate_jobs: BTreeMap::new(),
            validate_job_timeout_secs: 1800,
            freeze: BTreeMap::new(),
        }
    }
}

/// How the bot proves who it is for work nobody typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppCredentialKind {
    ClientSecret,
    ManagedIdentity,
    WorkloadIdentity,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppIdentityConfig {
    /// Unset: a managed identity for UserAssignedMSI bots, the client secret otherwise.
    #[serde(rename = "kind")]
    pub kind_setting: Option<AppCredentialKind>,
    /// The projected service account token (default: `AZURE_FEDERATED_TOKEN_FILE`).
    pub federated_token_file: Option<std::path::PathBuf>,
}

impl AppIdentityConfig {
    pub fn kind(&self, app_type: AppType) -> AppCredentialKind {
        self.kind_setting.unwrap_or(match app_type {
            AppType::UserAssignedMSI => AppCredentialKind::ManagedIdentity,
            AppType::SingleTenant | AppType::MultiTenant => AppCredentialKind::ClientSecret,
        })
    }
}

/// Teams single sign-on: the Azure Bot resource's OAuth connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsoConfig {
    pub connection_name: String,
}

impl Default for SsoConfig {
    fn default() -> Self {
        SsoConfig { connection_name: "drbot-sso".into() }
    }
}

/// The single workspace pair of older configurations: it becomes the pair
/// named `default` (deprecated: use `[[pairs]]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabricksConfig {
    /// `https://adb-….azuredatabricks.net` of the primary (active) workspace.
    pub primary_host: Option<String>,
    /// The secondary (passive) workspace.
    pub secondary_host: Option<String>,
}

/// How replication runs: `[replication]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSettings {
    /// The secondary's SQL warehouse that runs the clones and DDL.
    pub warehouse_id: Option<String>,
    /// The primary's SQL warehouse, for the statements drbot runs there
    /// (tags, history, verify): warehouse ids are per workspace.
    pub primary_warehouse_id: Option<String>,
    /// Storage URL prefixes, `[primary, secondary]` pairs; longest match wins.
    pub location_mapping: Vec<(String, String)>,
    /// Statements drbot keeps submitted at once. About 1.5 × the
    /// warehouse's own concurrency: the few beyond it wait in the
    /// warehouse's queue, so a slot that frees is refilled at once rather
    /// than when drbot's next poll notices the end (docs/BENCHMARKS.md).
    pub concurrency: usize,
    /// REST calls at once (creates, sharing): spares the workspaces' rate limits.
    pub api_concurrency: usize,
    /// Requests in flight while reading a metastore (status, planning).
    pub read_concurrency: usize,
    /// How long one statement may run before it is cancelled (the
    /// warehouse's own default is two days).
    pub statement_timeout_secs: u64,
    /// How long one action may take, retries of transient failures included.
    pub action_budget_secs: u64,
    /// The Delta Sharing recipient created on the primary for the secondary.
    pub recipient_name: String,
    pub share_prefix: String,
    pub shared_catalog_prefix: String,
    /// The Databricks job for `replicate --via-job` when none is given.
    pub job_id: Option<i64>,
    /// The Databricks group of the DR operators and the bot's service
    /// principal: it owns the DR shares (replication hands each new share to
    /// it), so any member, and the bot's scheduled runs, may extend a share
    /// another member created; the deployment bootstrap gives it what a
    /// share's owner needs (USE CATALOG, USE SCHEMA, SELECT on the replicated
    /// catalogs) and makes it an admin of the spoke's catalog. Unset: a share
    /// stays with whoever created it.
    pub dr_group: Option<String>,
    /// `verify --deep` hashes every row of a table on both sides, so only of
    /// tables at most this large (`DESCRIBE DETAIL`'s `sizeInBytes` on the
    /// primary); larger ones are reported blocked, with their size.
    pub verify_deep_max_bytes: u64,
    /// The catalogs of the pair these settings were made for
    /// ([`Self::for_pair`]); empty: every managed catalog. Not a setting.
    #[serde(skip)]
    pub catalogs: Vec<String>,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            warehouse_id: None,
            primary_warehouse_id: None,
            location_mapping: Vec::new(),
            concurrency: 24,
            api_concurrency: 8,
            read_concurrency: 128,
            statement_timeout_secs: 3600,
            action_budget_secs: 4 * 3600,
            recipient_name: "drbot_secondary".into(),
            share_prefix: "drbot_".into(),
            shared_catalog_prefix: "drbot_shared_".into(),
            job_id: None,
            dr_group: None,
            // 10 GiB: a scan of minutes on a small warehouse, twice.
            verify_deep_max_bytes: 10 * 1024 * 1024 * 1024,
            catalogs: Vec::new(),
        }
    }
}

/// Where durable state lives.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite's file goes here when no `url` is given.
    pub data_dir: std::path::PathBuf,
    /// `postgres://…` when several instances share state; `sqlite://…` for an explicit file.
    pub url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { data_dir: "data".into(), url: None }
    }
}

impl StoreConfig {
    /// The URL the store opens.
    pub fn url(&self) -> String {
        self.url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("drbot.db").display()))
    }

    /// Whether the default SQLite file under `data_dir` is used.
    pub fn uses_data_dir(&self) -> bool {
        self.url.is_none()
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A PostgreSQL URL may carry a password: show only where it points.
        let shown = self.url.as_deref().map(|u| match u.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://…@{}", rest.rsplit('@').next().unwrap_or_default()),
            None => "<invalid>".to_string(),
        });
        f.debug_struct("StoreConfig").field("data_dir", &self.data_dir).field("url", &shown).finish()
    }
}

/// Who the bot is, in the Bot Framework's words.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotIdentity {
    #[serde(rename = "MicrosoftAppId")]
    pub app_id: String,
    #[serde(rename = "MicrosoftAppPassword", default)]
    pub app_password: Option<Secret>,
    #[serde(rename = "MicrosoftAppType")]
    pub app_type: AppType,
    #[serde(rename = "MicrosoftAppTenantId", default)]
    pub tenant_id: Option<String>,
}

impl BotIdentity {
    /// The tenant whose token endpoint issues the bot's own tokens.
    pub fn token_tenant(&self) -> &str {
        match self.app_type {
            AppType::MultiTenant => "botframework.com",
            _ => self.tenant_id.as_deref().unwrap_or("botframework.com"),
        }
    }
}

impl fmt::Debug for BotIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotIdentity")
            .field("app_id", &self.app_id)
            .field("app_password", &self.app_password.as_ref().map(|_| "<set>"))
            .field("app_type", &self.app_type)
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum AppType {
    SingleTenant,
    MultiTenant,
    UserAssignedMSI,
}

/// A secret string that never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Requests larger than this get 413. Teams activities are far smaller.
    pub max_body_bytes: usize,
    /// Accept requests without a token (the Agents Playground sends none).
    /// Only allowed when `listen` is a loopback address.
    pub local_anonymous: bool,
    /// Accept Entra ID tokens issued to the bot itself (emulator-style, app
    /// only). Teams never sends them; off unless a test harness needs them.
    pub accept_emulator_tokens: bool,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// A connection with no request under way for this long is closed (an
    /// idle keep-alive connection, or one whose request head never arrives).
    /// Longer than the idle timeout of the proxies and load balancers that
    /// commonly keep connections to a bot (60 s for nginx's upstream
    /// keep-alive and AWS's ALB): the side that closes an idle connection
    /// must be the client's, or a POST it sends as drbot closes is lost
    /// (nginx does not retry a POST). 100 ms to 1 hour.
    pub idle_connection_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3978)),
            max_body_bytes: 256 * 1024,
            local_anonymous: false,
            accept_emulator_tokens: false,
            shutdown_grace_secs: 30,
            idle_connection_ms: 120_000,
        }
    }
}

/// Every outside endpoint the Bot Framework side talks to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    /// Token URL = `{login_authority}/{tenant}/oauth2/v2.0/token`.
    pub login_authority: String,
    pub channel_openid_metadata: String,
    pub channel_issuer: String,
    /// Metadata for emulator-style tokens (issued by Entra ID to the bot itself).
    pub entra_openid_metadata: String,
    pub token_service: String,
    pub botframework_scope: String,
    /// Microsoft Graph, asked for a person's group membership when their
    /// token has too many groups to carry them.
    pub graph: String,
    /// Hosts the bot's own token may be sent to (an activity's `serviceUrl`):
    /// `host`, `host:port` or `*.suffix`. Teams' and the Bot Framework's
    /// published connector hosts by default; loopback only in local mode.
    #[serde(deserialize_with = "crate::access::list")]
    pub service_hosts: Vec<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            login_authority: "https://login.microsoftonline.com".into(),
            channel_openid_metadata: "https://login.botframework.com/v1/.well-known/openidconfiguration".into(),
            channel_issuer: "https://api.botframework.com".into(),
            entra_openid_metadata: "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
                .into(),
            token_service: "https://token.botframework.com".into(),
            botframework_scope: "https://api.botframework.com/.default".into(),
            graph: "https://graph.microsoft.com".into(),
            service_hosts: crate::botframework::service_hosts::PUBLISHED.iter().map(|h| h.to_string()).collect(),
        }
    }
}

/// Azure Resource Manager's public endpoint.
pub const DEFAULT_ARM_URL: &str = "https://management.azure.com";
/// The Databricks account API of Azure Databricks.
pub const DEFAULT_DATABRICKS_ACCOUNTS_URL: &str = "https://accounts.azuredatabricks.net";

/// `[deploy]` in the configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    /// Azure Resource Manager (the sandbox's URL in tests and the demo).
    pub arm_url: String,
    /// Where hub.json, spoke.json and their parameter files are.
    pub templates_dir: std::path::PathBuf,
    pub subscription_id: String,
    pub primary: RegionConfig,
    pub secondary: RegionConfig,
    /// How often the chat runner asks ARM about What-If results, deployments
    /// and their resources (tests make it short).
    pub poll_interval_ms: u64,
    /// The Databricks account both workspaces belong to (its id, from the
    /// account console): the bootstrap creates the serverless network
    /// connectivity configuration there. Without it, the deployment result
    /// says what an account admin must do by hand.
    pub databricks_account_id: Option<String>,
    /// The Databricks account API (the sandbox's URL in tests).
    pub databricks_accounts_url: String,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            arm_url: DEFAULT_ARM_URL.into(),
            templates_dir: "infra".into(),
            subscription_id: String::new(),
            primary: RegionConfig::new("westeurope"),
            secondary: RegionConfig::new("northeurope"),
            poll_interval_ms: 5000,
            databricks_account_id: None,
            databricks_accounts_url: DEFAULT_DATABRICKS_ACCOUNTS_URL.into(),
        }
    }
}

/// One region of the pair.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// The Azure region, e.g. `westeurope`.
    pub location: String,
    /// The hub's resource group.
    #[serde(default)]
    pub hub_resource_group: Option<String>,
    /// The transit spoke's resource group (the region's browser-authentication endpoint).
    #[serde(default)]
    pub transit_resource_group: Option<String>,
    /// A spoke's resource group; `{spoke}` is replaced by the spoke's name.
    #[serde(default)]
    pub spoke_resource_group: Option<String>,
    /// The Unity Catalog metastore of this region, assigned to new workspaces.
    #[serde(default)]
    pub metastore_id: Option<String>,
}

impl RegionConfig {
    pub fn new(location: &str) -> RegionConfig {
        RegionConfig {
            location: location.into(),
            hub_resource_group: None,
            transit_resource_group: None,
            spoke_resource_group: None,
            metastore_id: None,
        }
    }
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {setting}: {problem}")]
    Setting { setting: String, problem: String },
}

fn setting(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Setting { setting: setting.to_string(), problem: problem.into() }
}

impl Config {
    /// Reads the file (if any), applies the environment and validates.
    pub fn load(path: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?,
            None => String::new(),
        };
        Config::from_toml(&text, env)
    }

    /// Parses TOML text, applies the environment and validates.
    pub fn from_toml(text: &str, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        apply_environment(&mut table, env)?;
        let config: Config =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bot = &self.bot;
        if bot.app_id.trim().is_empty() {
            return Err(setting("bot.MicrosoftAppId", "is empty"));
        }
        match bot.app_type {
            AppType::SingleTenant | AppType::MultiTenant => {
                if bot.app_password.as_ref().is_none_or(|p| p.expose().is_empty()) {
                    return Err(setting(
                        "bot.MicrosoftAppPassword",
                        format!("is required when MicrosoftAppType is {:?}", bot.app_type),
                    ));
                }
            }
            AppType::UserAssignedMSI => {}
        }
        if bot.app_type != AppType::MultiTenant && bot.tenant_id.as_deref().is_none_or(str::is_empty) {
            return Err(setting(
                "bot.MicrosoftAppTenantId",
                format!("is required when MicrosoftAppType is {:?}", bot.app_type),
            ));
        }
        if self.server.local_anonymous && !self.server.listen.ip().is_loopback() {
            return Err(setting(
                "server.local_anonymous",
                format!(
                    "anonymous mode is only allowed on a loopback address, not {} (it accepts requests without a token)",
                    self.server.listen
                ),
            ));
        }
        for host in &self.endpoints.service_hosts {
            if !crate::botframework::service_hosts::is_valid_entry(host) {
                return Err(setting(
                    "endpoints.service_hosts",
                    format!("{host:?} is not a host, host:port or *.suffix"),
                ));
            }
        }
        if let Some(url) = &self.store.url {
            if !["sqlite:", "postgres://", "postgresql://"].iter().any(|prefix| url.starts_with(prefix)) {
                return Err(setting("store.url", "must start with sqlite: or postgres://"));
            }
        }
        if self.sso.connection_name.trim().is_empty() {
            return Err(setting("sso.connection_name", "is empty"));
        }
        // Every pair (the `[[pairs]]` entries and the old keys' `default`) is checked
        // the way `pair add` checks one, naming the setting.
        let pairs = self.pairs()?;
        for (index, pair) in pairs.iter().enumerate() {
            if pairs[..index].iter().any(|earlier| earlier.name == pair.name) {
                return Err(setting("pairs", format!("two pairs are named {}", pair.name)));
            }
        }
        for (index, entry) in self.pairs.iter().enumerate() {
            check_mapping(&format!("pairs[{index}].location_mapping"), &entry.location_mapping)?;
        }
        let r = &self.replication;
        check_mapping("replication.location_mapping", &r.location_mapping)?;
        for (pair, freeze) in &self.failover.freeze {
            if freeze.revoke_modify_except.as_deref().is_some_and(|group| group.trim().is_empty()) {
                return Err(setting(
                    &format!("failover.freeze.{pair}.revoke_modify_except"),
                    "names the group that keeps MODIFY: it may not be empty",
                ));
            }
        }
        for (pair, aliases) in &self.failover.aliases {
            for (index, alias) in aliases.iter().enumerate() {
                alias.check().map_err(|problem| setting(&format!("failover.aliases.{pair}[{index}]"), problem))?;
            }
        }
        // One check per setting, so the message names the one that is wrong.
        let at_least_one = [
            ("replication.concurrency", r.concurrency as u64, "must be at least 1"),
            ("replication.api_concurrency", r.api_concurrency as u64, "must be at least 1"),
            ("replication.statement_timeout_secs", r.statement_timeout_secs, "must be at least 1 second"),
            ("replication.action_budget_secs", r.action_budget_secs, "must be at least 1 second"),
            ("operations.lease_secs", self.operations.lease_secs, "must be at least 1 second"),
            ("operations.plan_ttl_secs", self.operations.plan_ttl_secs, "must be at least 1 second"),
            (
                "failover.validate_job_timeout_secs",
                self.failover.validate_job_timeout_secs,
                "must be at least 1 second",
            ),
        ];
        if let Some((name, _, problem)) = at_least_one.into_iter().find(|(_, value, _)| *value == 0) {
            return Err(setting(name, problem));
        }
        if r.shared_catalog_prefix.is_empty() {
            return Err(setting("replication.shared_catalog_prefix", "may not be empty"));
        }
        if r.recipient_name.trim().is_empty() {
            return Err(setting("replication.recipient_name", "may not be empty"));
        }
        if !(100..=3_600_000).contains(&self.server.idle_connection_ms) {
            return Err(setting("server.idle_connection_ms", "must be from 100 (ms) to 3600000 (1 hour)"));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(setting("server.max_body_bytes", "must be at least 1024"));
        }
        let e = &self.endpoints;
        for (name, value) in [
            ("endpoints.login_authority", &e.login_authority),
            ("endpoints.channel_openid_metadata", &e.channel_openid_metadata),
            ("endpoints.entra_openid_metadata", &e.entra_openid_metadata),
            ("endpoints.token_service", &e.token_service),
            ("endpoints.graph", &e.graph),
        ] {
            let url = url::Url::parse(value).map_err(|err| setting(name, format!("is not a URL ({err})")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(setting(name, "must be an http(s) URL"));
            }
        }
        Ok(())
    }

    /// The tenant whose token endpoint issues the bot's own tokens.
    pub fn token_tenant(&self) -> &str {
        self.bot.token_tenant()
    }

    /// The pairs this configuration seeds the store with: each `[[pairs]]`
    /// entry, and `default` from the old single-pair keys when they are set.
    pub fn pairs(&self) -> Result<Vec<crate::pairs::Pair>, ConfigError> {
        let mut pairs = Vec::new();
        for (index, entry) in self.pairs.iter().enumerate() {
            let mut pair = crate::pairs::Pair::new(&entry.name, entry.primary.clone(), entry.secondary.clone());
            pair.warehouse_id = entry.warehouse_id.clone();
            pair.primary_warehouse_id = entry.primary_warehouse_id.clone();
            pair.location_mapping = entry.location_mapping.clone();
            pair.failover_group = entry.failover_group.clone();
            pair.rpo_alert_minutes = entry.rpo_alert_minutes;
            pair.alert_users = entry.alert_users.clone();
            pair.alert_teams = entry.alert_teams.clone();
            pair.alert_chats = entry.alert_chats.clone();
            for target in crate::teams::feed_target::feed_targets(&pair) {
                crate::teams::feed_target::FeedTarget::parse(&target)
                    .map_err(|problem| setting(&format!("pairs[{index}]"), problem))?;
            }
            pair.validate().map_err(|problem| setting(&format!("pairs[{index}]"), problem))?;
            pairs.push(pair);
        }
        if let Some(pair) = self.legacy_pair()? {
            pairs.push(pair);
        }
        Ok(pairs)
    }

    /// The pair `default` of `[databricks] primary_host/secondary_host` and
    /// `[replication] warehouse_id/location_mapping`. It keeps the sharing
    /// names of `[replication]` (by default the ones single-pair drbot
    /// always created), so an existing secondary's shares stay its own.
    pub fn legacy_pair(&self) -> Result<Option<crate::pairs::Pair>, ConfigError> {
        let d = &self.databricks;
        for (name, host) in
            [("databricks.primary_host", &d.primary_host), ("databricks.secondary_host", &d.secondary_host)]
        {
            if let Some(host) = host {
                crate::pairs::check_url(host).map_err(|problem| setting(name, problem))?;
            }
        }
        let (Some(primary), Some(secondary)) = (&d.primary_host, &d.secondary_host) else { return Ok(None) };
        if self.pairs.iter().any(|p| p.name == crate::pairs::DEFAULT_PAIR) {
            return Err(setting(
                "databricks.primary_host",
                "a [[pairs]] entry is already named default: move these settings into it",
            ));
        }
        let r = &self.replication;
        let mut pair = crate::pairs::Pair::new(
            crate::pairs::DEFAULT_PAIR,
            crate::pairs::PairWorkspace::at(primary),
            crate::pairs::PairWorkspace::at(secondary),
        );
        pair.warehouse_id = r.warehouse_id.clone();
        pair.primary_warehouse_id = r.primary_warehouse_id.clone();
        pair.location_mapping = r.location_mapping.clone();
        pair.sharing = crate::pairs::SharingNames {
            recipient: r.recipient_name.clone(),
            share_prefix: r.share_prefix.clone(),
            shared_catalog_prefix: r.shared_catalog_prefix.clone(),
        };
        pair.validate().map_err(|problem| setting("databricks", problem))?;
        Ok(Some(pair))
    }
}

/// A pair's location mapping may not point at a read-only secondary endpoint.
fn check_mapping(name: &str, mapping: &[(String, String)]) -> Result<(), ConfigError> {
    for (_, target) in mapping {
        if let Some(account) = read_only_secondary_endpoint(target) {
            return Err(setting(
                name,
                format!(
                    "{target} is the read-only secondary endpoint of the geo-redundant account {}; \
                     map to the account itself (it serves the secondary region after a storage failover) \
                     or to an account of the secondary region",
                    account.trim_end_matches("-secondary")
                ),
            ));
        }
    }
    Ok(())
}

/// Overrides from the environment, on top of the file's values.
fn apply_environment(table: &mut toml::Table, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for name in BOT_FRAMEWORK_ENV {
        if let Some(value) = env.get(name) {
            section(table, "bot")?.insert(name.to_string(), toml::Value::String(value.clone()));
        }
    }
    for (name, value) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        let Some((section_name, key)) = path.split_once("__") else {
            return Err(setting(name, "must look like DRBOT__SECTION__KEY"));
        };
        let section_name = section_name.to_ascii_lowercase();
        let key = if section_name == "bot" { key.to_string() } else { key.to_ascii_lowercase() };
        section(table, &section_name)?.insert(key, scalar(value));
    }
    Ok(())
}

fn section<'a>(table: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, ConfigError> {
    table
        .entry(name.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| setting(name, "must be a table"))
}

/// An environment value as the TOML scalar it looks like.
fn scalar(value: &str) -> toml::Value {
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(value.to_string())
}

/// The storage account of a location that names a geo-redundant account's
/// read-only secondary endpoint (`abfss://c@acct-secondary.dfs.core.windows.net/…`,
/// `https://acct-secondary.blob.core.windows.net/…`), if it does.
fn read_only_secondary_endpoint(location: &str) -> Option<&str> {
    let after_scheme = location.split_once("://").map_or(location, |(_, rest)| rest);
    let host = after_scheme.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let account = host.split('.').next().unwrap_or_default();
    let on_azure_storage = host.ends_with(".core.windows.net");
    (on_azure_storage && account.ends_with("-secondary")).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[bot]
MicrosoftAppId = "app"
MicrosoftAppPassword = "secret"
MicrosoftAppType = "SingleTenant"
MicrosoftAppTenantId = "tenant"
"#;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn file_values_with_defaults() {
        let config = Config::from_toml(MINIMAL, &env(&[])).unwrap();
        assert_eq!(config.bot.app_id, "app");
        assert_eq!(config.server.listen.port(), 3978);
        assert_eq!(config.endpoints.channel_issuer, "https://api.botframework.com");
        assert_eq!(config.token_tenant(), "tenant");
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::from_toml(
            MINIMAL,
            &env(&[
                ("MicrosoftAppId", "from-env"),
                ("DRBOT__SERVER__LISTEN", "127.0.0.1:4000"),
                ("DRBOT__SERVER__LOCAL_ANONYMOUS", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(config.bot.app_id, "from-env");
        assert_eq!(config.server.listen.port(), 4000);
        assert!(config.server.local_anonymous);
    }

    #[test]
    fn the_whole_config_can_come_from_the_environment() {
        let config = Config::from_toml(
            "",
            &env(&[("MicrosoftAppId", "a"), ("MicrosoftAppPassword", "p"), ("MicrosoftAppType", "MultiTenant")]),
        )
        .unwrap();
        assert_eq!(config.token_tenant(), "botframework.com");
    }

    fn error_of(text: &str, vars: &[(&str, &str)]) -> String {
        Config::from_toml(text, &env(vars)).unwrap_err().to_string()
    }

    /// Each zero names its own setting: `plan_ttl_secs = 0` used to be
    /// reported as `operations.lease_secs`.
    #[test]
    fn a_zero_names_exactly_the_setting_that_is_zero() {
        for (section, key) in [
            ("operations", "plan_ttl_secs"),
            ("operations", "lease_secs"),
            ("replication", "concurrency"),
            ("replication", "api_concurrency"),
            ("replication", "statement_timeout_secs"),
            ("replication", "action_budget_secs"),
        ] {
            let error = error_of(&format!("{MINIMAL}\n[{section}]\n{key} = 0\n"), &[]);
            assert!(error.contains(&format!("{section}.{key}:")), "{section}.{key} = 0 gave: {error}");
        }
        let error = error_of(&format!("{MINIMAL}\n[replication]\nrecipient_name = \" \"\n"), &[]);
        assert!(error.contains("replication.recipient_name:"), "{error}");
    }

    #[test]
    fn errors_name_the_setting() {
        assert!(error_of("", &[]).contains("bot"), "{}", error_of("", &[]));
        let no_password = MINIMAL.replace("MicrosoftAppPassword = \"secret\"\n", "");
        assert!(error_of(&no_password, &[]).contains("bot.MicrosoftAppPassword"));
        let no_tenant = MINIMAL.replace("MicrosoftAppTenantId = \"tenant\"\n", "");
        assert!(error_of(&no_tenant, &[]).contains("bot.MicrosoftAppTenantId"));
        let bad_type = MINIMAL.replace("SingleTenant", "Tenantless");
        assert!(
            error_of(&bad_type, &[]).contains("MicrosoftAppType") || error_of(&bad_type, &[]).contains("Tenantless")
        );
        assert!(error_of(MINIMAL, &[("DRBOT__SERVER__LISTEN", "nowhere")]).contains("listen"));
        assert!(error_of(&format!("{MINIMAL}\n[server]\nlisten_port = 1\n"), &[]).contains("listen_port"));
        assert!(
            error_of(MINIMAL, &[("DRBOT__ENDPOINTS__TOKEN_SERVICE", "not a url")]).contains("endpoints.token_service")
        );
        let public_anonymous = format!("{MINIMAL}\n[server]\nlisten = \"0.0.0.0:3978\"\nlocal_anonymous = true\n");
        assert!(error_of(&public_anonymous, &[]).contains("server.local_anonymous"));
        let read_only = format!(
            "{MINIMAL}\n[replication]\nlocation_mapping = [[\"abfss://g@st.dfs.core.windows.net/\", \"abfss://g@st-secondary.dfs.core.windows.net/\"]]\n"
        );
        assert!(error_of(&read_only, &[]).contains("replication.location_mapping"), "{}", error_of(&read_only, &[]));
        let same_account = read_only.replace("st-secondary", "st");
        assert!(Config::from_toml(&same_account, &env(&[])).is_ok());
    }

    #[test]
    fn a_pair_s_failover_settings_are_read_and_checked() {
        let zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/corp.example";
        let text = format!(
            "{MINIMAL}\n[failover]\nvalidate_jobs = {{ finance = \"smoke\" }}\n\n[failover.freeze.finance]\n\
             stop_warehouses = true\nrevoke_modify_except = \"dr-operators\"\n\n[[failover.aliases.finance]]\n\
             zone = \"{zone}\"\nname = \"sql\"\ntype = \"A\"\nprimary = \"10.1.0.4\"\nsecondary = \"10.2.0.4\"\n"
        );
        let config = Config::from_toml(&text, &env(&[])).unwrap();
        let settings = crate::failover::runbook::RunbookSettings::of_pair(&config.failover, "finance");
        assert_eq!(settings.validate_job.as_deref(), Some("smoke"));
        assert!(settings.freeze.stop_warehouses);
        assert_eq!(settings.aliases[0].fqdn(), "sql.corp.example");
        assert_eq!(settings.validate_job_timeout_ms, 1_800_000);
        let bad_address = text.replace("10.2.0.4", "adb-2.example");
        assert!(error_of(&bad_address, &[]).contains("failover.aliases.finance[0]"), "{}", error_of(&bad_address, &[]));
        let no_group = text.replace("\"dr-operators\"", "\" \"");
        assert!(error_of(&no_group, &[]).contains("failover.freeze.finance.revoke_modify_except"));
    }

    #[test]
    fn secrets_never_print() {
        let config =
            Config::from_toml(MINIMAL, &env(&[("DRBOT__STORE__URL", "postgres://drbot:hunter2@db:5432/drbot")]))
                .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret") && !printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("db:5432/drbot"));
    }

    #[test]
    fn the_idle_connection_time_is_bounded_and_never_zero() {
        assert_eq!(Config::from_toml(MINIMAL, &env(&[])).unwrap().server.idle_connection_ms, 120_000);
        for wrong in ["0", "99", "3600001"] {
            let error = error_of(MINIMAL, &[("DRBOT__SERVER__IDLE_CONNECTION_MS", wrong)]);
            assert!(error.contains("server.idle_connection_ms"), "{wrong}: {error}");
        }
        let fine = Config::from_toml(MINIMAL, &env(&[("DRBOT__SERVER__IDLE_CONNECTION_MS", "100")])).unwrap();
        assert_eq!(fine.server.idle_connection_ms, 100);
    }

    #[test]
    fn the_store_defaults_to_sqlite_under_the_data_dir() {
        let config = Config::from_toml(MINIMAL, &env(&[("DRBOT__STORE__DATA_DIR", "/var/lib/drbot")])).unwrap();
        assert_eq!(config.store.url(), "sqlite:///var/lib/drbot/drbot.db");
        assert!(error_of(MINIMAL, &[("DRBOT__STORE__URL", "mysql://x")]).contains("store.url"));
    }

    #[test]
    fn the_read_only_secondary_endpoint_is_recognised() {
        assert_eq!(
            read_only_secondary_endpoint("abfss://geo@stgeo-secondary.dfs.core.windows.net/x"),
            Some("stgeo-secondary")
        );
        assert_eq!(
            read_only_secondary_endpoint("https://stgeo-secondary.blob.core.windows.net/c"),
            Some("stgeo-secondary")
        );
        assert_eq!(read_only_secondary_endpoint("abfss://geo@stgeo.dfs.core.windows.net/x"), None);
        assert_eq!(read_only_secondary_endpoint("abfss://uc@stucsecondary.dfs.core.windows.net/"), None);
        assert_eq!(read_only_secondary_endpoint("abfss://a-secondary@st.dfs.core.windows.net/"), None);
    }

    #[test]
    fn pairs_are_seeded_from_the_pairs_table() {
        let text = format!(
            "{MINIMAL}
[[pairs]]
name = \"finance\"
primary = {{ url = \"https://adb-1.azuredatabricks.net\", region = \"westeurope\" }}
secondary = {{ url = \"https://adb-2.azuredatabricks.net\", workspace_id = \"2\" }}
warehouse_id = \"abc123\"
location_mapping = [[\"abfss://a@p.dfs.core.windows.net/\", \"abfss://a@s.dfs.core.windows.net/\"]]

[[pairs]]
name = \"hr-eu\"
primary = {{ url = \"https://adb-3.azuredatabricks.net\" }}
secondary = {{ url = \"https://adb-4.azuredatabricks.net\" }}
"
        );
        let config = Config::from_toml(&text, &env(&[])).unwrap();
        let pairs = config.pairs().unwrap();
        assert_eq!(pairs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["finance", "hr-eu"]);
        assert_eq!(pairs[0].primary.region.as_deref(), Some("westeurope"));
        assert_eq!(pairs[0].secondary.workspace_id.as_deref(), Some("2"));
        assert_eq!(pairs[0].warehouse_id.as_deref(), Some("abc123"));
        assert_eq!(pairs[0].location_mapping.len(), 1);
        assert_eq!(pairs[1].sharing.recipient, "hr_eu_secondary");
        assert!(config.legacy_pair().unwrap().is_none());

        let bad_name = text.replace("\"hr-eu\"", "\"HR EU\"");
        assert!(error_of(&bad_name, &[]).contains("pairs[1]:"), "{}", error_of(&bad_name, &[]));
        let twice = text.replace("\"hr-eu\"", "\"finance\"");
        assert!(error_of(&twice, &[]).contains("two pairs are named finance"));
        let read_only = text.replace("a@s.dfs", "a@s-secondary.dfs");
        assert!(error_of(&read_only, &[]).contains("pairs[0].location_mapping"));
    }

    #[test]
    fn the_old_single_pair_keys_are_the_pair_named_default() {
        let text = format!(
            "{MINIMAL}
[databricks]
primary_host = \"https://adb-1.azuredatabricks.net\"
secondary_host = \"https://adb-2.azuredatabricks.net\"

[replication]
warehouse_id = \"abc123\"
"
        );
        let config = Config::from_toml(&text, &env(&[])).unwrap();
        let pairs = config.pairs().unwrap();
        assert_eq!(pairs.len(), 1);
        let pair = &pairs[0];
        assert_eq!(pair.name, "default");
        assert_eq!(pair.primary.url, "https://adb-1.azuredatabricks.net");
        assert_eq!(pair.warehouse_id.as_deref(), Some("abc123"));
        // The names an existing secondary's shares were made under.
        assert_eq!(pair.sharing.recipient, "drbot_secondary");
        assert_eq!(pair.sharing.shared_catalog_prefix, "drbot_shared_");
        // Only one of the two keys is no pair at all; a bad URL names its key.
        let half = text.replace("secondary_host = \"https://adb-2.azuredatabricks.net\"\n", "");
        assert!(Config::from_toml(&half, &env(&[])).unwrap().pairs().unwrap().is_empty());
        let bad = text.replace("https://adb-2", "ftp://adb-2");
        assert!(error_of(&bad, &[]).contains("databricks.secondary_host"), "{}", error_of(&bad, &[]));
        let clash = format!(
            "{text}\n[[pairs]]\nname = \"default\"\nprimary = {{ url = \"https://x.example\" }}\nsecondary = {{ url = \"https://y.example\" }}\n"
        );
        assert!(error_of(&clash, &[]).contains("already named default"));
    }
}
